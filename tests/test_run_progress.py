"""`run`'s progress: the pace of the months and the time left, sane when piped."""

from __future__ import annotations

import io

from rich.console import Console

from socialrating import cli
from socialrating.cli import MonthRate, RunProgress


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_rate_and_time_left_from_the_months_stepped():
    clock = Clock()
    r = MonthRate(12, 1_000_000, clock)
    assert r.tick(0) is None            # the world is built: timing starts
    clock.t += 4.0
    rate, left = r.tick(2)              # 2 months in 4 s
    assert rate == 0.5 and left == 20.0
    assert r.line(2, rate, left) == "0.50 months/s, 500.0k citizen-months/s, about 0:20 left"
    assert r.short(2, rate, left) == "500.0k cit-mo/s, 0:20 left"
    clock.t += 3600 * 2
    rate, left = r.tick(12)
    assert r.line(12, rate, left).endswith("citizen-months/s")  # done: no time left to show


def test_no_month_zero_times_from_the_first_month_seen():
    clock = Clock()
    r = MonthRate(10, 3_000, clock)
    assert r.tick(3) is None
    clock.t += 10.0
    rate, left = r.tick(5)
    assert rate == 0.2 and left == 25.0
    assert cli._clock(3725) == "1:02:05" and cli._count(2_500_000_000) == "2.5G"


def test_piped_progress_prints_one_short_line_per_month(monkeypatch):
    clock = Clock()
    out = io.StringIO()
    monkeypatch.setattr(cli, "err", Console(file=out, width=80))  # piped: not a terminal
    with RunProgress(3, 3_000, clock) as prog:
        prog.update(0, 3)
        for m in (1, 2, 3):
            clock.t += 2.0
            prog.update(m, 3)
    lines = out.getvalue().splitlines()
    assert lines == ["building Synthetic Russia: 3,000 people, their records, linkage ...",
                     "simulating 3 months ...",
                     "month 1 of 3 (0.50 months/s, 1.5k citizen-months/s, about 0:04 left)",
                     "month 2 of 3 (0.50 months/s, 1.5k citizen-months/s, about 0:02 left)",
                     "month 3 of 3 (0.50 months/s, 1.5k citizen-months/s)",
                     "writing the ledger, the store and the run folder ..."]
    assert all(len(x) <= 80 for x in lines)


def test_the_pace_follows_the_last_months():
    clock = Clock()
    r = MonthRate(24, 1_000, clock)
    r.tick(0)
    clock.t += 20.0          # month 1: slow (compiling)
    r.tick(1)
    for m in range(2, 6):    # then 1 s a month
        clock.t += 1.0
        rate, left = r.tick(m)
    assert rate == 1.0 and left == 19.0  # the last 3 months only


def test_piped_progress_of_a_sharded_run_says_the_shards_built_and_run_with_the_time_left(monkeypatch):
    """One line for the first and last shard of each stage, and every twentieth of the shards
    (or a minute) between; the pace is shards a minute since the stage began (the builds:
    since the run began; the months: since the last build)."""
    clock = Clock()
    out = io.StringIO()
    monkeypatch.setattr(cli, "err", Console(file=out, width=80))
    with RunProgress(3, 3_000, clock) as prog:
        for n in range(1, 41):  # 2 s a build
            clock.t += 2.0
            prog.shards("built", n, 40)
        prog.update(0, 3)  # every shard built: the months start
        for n in range(1, 41):  # then 1 s a shard's months
            clock.t += 1.0
            for k in range(3):
                prog.shard(k, n, 40)  # said by the shards' lines, not month by month
                if n == 40:
                    prog.update(k + 1, 3)
            prog.shards("run", n, 40)
    lines = out.getvalue().splitlines()[1:]
    assert lines[:3] == ["built shard 1 of 40 (30.0 shards/min, about 1:18 left)",
                         "built shard 3 of 40 (30.0 shards/min, about 1:14 left)",
                         "built shard 5 of 40 (30.0 shards/min, about 1:10 left)"]
    assert lines[20:22] == ["built shard 40 of 40 (30.0 shards/min)", "simulating 3 months, shard by shard ..."]
    assert lines[22:24] == ["ran shard 1 of 40 (60.0 shards/min, about 0:39 left)",
                            "ran shard 3 of 40 (60.0 shards/min, about 0:37 left)"]
    assert lines[-2:] == ["ran shard 40 of 40 (60.0 shards/min)",
                          "writing the ledger, the store and the run folder ..."] and len(lines) == 44
    assert all(len(x) <= 80 for x in lines)
    # a minute without a line gets one, whatever the count: 1,000 shards, 61 s for the second
    out.truncate(0), out.seek(0)
    with RunProgress(3, 3_000, clock) as prog:
        clock.t += 1.0
        prog.shards("built", 1, 1000)
        clock.t += 61.0
        prog.shards("built", 2, 1000)
        clock.t += 1.0
        prog.shards("built", 3, 1000)
    assert [x.split(" (")[0] for x in out.getvalue().splitlines()[1:]] == ["built shard 1 of 1,000",
                                                                          "built shard 2 of 1,000"]


def test_live_progress_of_a_sharded_run_counts_shards_then_months_then_writing(monkeypatch):
    """On a terminal the bar counts the shards built, then the shards run (from 0 again),
    and ends on the writing; a shard's month only changes the description."""
    clock = Clock()
    monkeypatch.setattr(cli, "err", Console(file=io.StringIO(), width=80, force_terminal=True))
    with RunProgress(3, 3_000, clock) as prog:
        task = lambda: prog.prog.tasks[0]  # noqa: E731
        clock.t += 2.0
        prog.shards("built", 1, 4)
        assert (task().description, task().completed, task().total) == ("built shard 1 of 4", 1, 4)
        assert task().fields["pace"] == "30.0 shards/min, about 0:06 left"
        for n in (2, 3, 4):
            prog.shards("built", n, 4)
        prog.update(0, 3)
        assert (task().description, task().completed) == ("simulating months, shard by shard", 0)
        prog.shard(1, 1, 4)
        assert task().description == "month 2: shard 1 of 4" and task().completed == 0
        clock.t += 3.0
        prog.shards("run", 1, 4)
        assert (task().description, task().completed, task().fields["pace"]) == (
            "ran shard 1 of 4", 1, "20.0 shards/min, about 0:09 left")
        prog.update(3, 3)  # the last shard's last month: the bar stays on the shards
        assert task().completed == 1
        prog.shards("run", 4, 4)
        assert (task().description, task().completed, task().fields["pace"]) == (cli.WRITING, 4, "")
