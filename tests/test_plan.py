"""The pre-flight plan: a run that cannot fit is refused at once, with the figures."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from socialrating.cli import app
from socialrating.simulate import plan as P


def test_estimates_reproduce_the_measurements_they_come_from(monkeypatch):
    monkeypatch.setattr(P, "memory_available", lambda: None)
    monkeypatch.setattr(P, "disk_free", lambda out: None)
    # 1M people, 1 year, no history: 7.0 GB and 174 MB (the folder at its largest); with 7 years of
    # history: 10.8 GB, 309 MB (+/- rounding)
    a, b = P.plan(1_000_000, 1, 0, "x"), P.plan(1_000_000, 1, 7, "x")
    assert a.memory_bytes == pytest.approx(7.02e9) and a.disk_bytes == pytest.approx(174.3e6)
    assert b.memory_bytes == pytest.approx(10.8e9) and b.disk_bytes == pytest.approx(309.4e6)
    assert P.plan(146_000_000, 1, 7, "x").memory_bytes == pytest.approx(146 * 10.8e9)
    assert a.problems == [] and b.problems == []  # nothing known about the machine: nothing refused


def test_refuses_what_does_not_fit_and_says_how_many_would(monkeypatch):
    monkeypatch.setattr(P, "memory_available", lambda: 21_600_000_000)  # 21.6 GB: 2,000,000 people at 10.8 kB
    monkeypatch.setattr(P, "disk_free", lambda out: 500_000_000)
    p = P.plan(3_000_000, 1, 7, "x")
    assert p.problems == ["about 32.4 GB of memory in one process but 21.6 GB is available (about 2,000,000 people fit)",
                          "about 928.2 MB of disk but 500.0 MB is free there"]
    assert p.message().startswith("3,000,000 people over 8 years of records need about 32.4 GB")
    assert "or in shards (--shards)" in p.message()
    assert not any("memory" in m for m in P.plan(2_000_000, 1, 7, "x").problems)
    assert any("memory" in m for m in P.plan(2_000_001, 1, 7, "x").problems)


def test_rounding_and_sizes():
    assert P._round3(2_130_238.4) == 2_130_000 and P._round3(999.9) == 999 and P._round3(12_345) == 12_300
    assert P._size(1.6e12) == "1.6 TB" and P._size(61.0e9) == "61.0 GB" and P._size(471e6) == "471.0 MB"


def test_negative_inputs_are_refused():
    with pytest.raises(ValueError):
        P.plan(-1, 1, 0, "x")


def test_machine_figures_are_read(tmp_path):
    assert P.disk_free(tmp_path / "not" / "yet") > 0  # the nearest existing parent's file system
    m = P.memory_available()
    assert m is None or m > 0


def test_run_refuses_at_once_and_no_preflight_skips_the_check(monkeypatch, tmp_path):
    monkeypatch.setattr(P, "memory_available", lambda: 1_000_000_000)
    monkeypatch.setattr(P, "disk_free", lambda out: None)
    r = CliRunner().invoke(app, ["run", "--people", "146000000", "--years", "1", "--shards", "1",
                                 "--out", str(tmp_path / "r")])
    assert r.exit_code == 2
    assert "146,000,000 people over 8 years of records need about 1.6 TB of memory" in r.output
    assert not (tmp_path / "r").exists()
    ok = CliRunner().invoke(app, ["run", "--people", "300", "--years", "0.25", "--world", "basic",
                                  "--out", str(tmp_path / "s")])
    assert ok.exit_code == 0, ok.output
    monkeypatch.setattr(P, "memory_available", lambda: 1)  # even a tiny run is refused when nothing is free
    r2 = CliRunner().invoke(app, ["run", "--people", "300", "--years", "0.25", "--world", "basic",
                                  "--out", str(tmp_path / "t")])
    assert r2.exit_code == 2 and "--no-preflight" in r2.output
    r3 = CliRunner().invoke(app, ["run", "--people", "300", "--years", "0.25", "--world", "basic", "--no-preflight",
                                  "--out", str(tmp_path / "t")])
    assert r3.exit_code == 0, r3.output


def test_a_run_in_shards_needs_its_shards_memory_plus_the_national_register(monkeypatch):
    monkeypatch.setattr(P, "memory_available", lambda: 21_600_000_000)
    monkeypatch.setattr(P, "disk_free", lambda out: None)
    whole = P.plan(3_000_000, 1, 7, "x")
    sharded = P.plan(3_000_000, 1, 7, "x", shard_people=131_072)
    # the store's pool of 1 GB + the larger of the index's build (3M x 93.5 B = 0.28 GB) and the
    # index built and the linkage's growth (3M x 81.4 B) beside one shard (131,072 x 10.8 kB): the
    # national part grows with the nation
    assert sharded.memory_bytes == pytest.approx(1e9 + 3_000_000 * 81.4 + 131_072 * 10_800)
    assert whole.problems and not sharded.problems
    assert P.plan(3_000_000, 1, 7, "x", shard_people=3_000_000).memory_bytes == whole.memory_bytes
    # two side by side: a second shard's memory
    two = P.plan(3_000_000, 1, 7, "x", shard_people=131_072, side_by_side=2)
    assert two.memory_bytes == pytest.approx(sharded.memory_bytes + 131_072 * 10_800) and two.side_by_side == 2
    # no more side by side than there are shards: 200,000 people are two shards
    assert P.plan(200_000, 1, 7, "x", shard_people=131_072, side_by_side=8).side_by_side == 2
    # the nation in shards of one block, two at a time: the index built and the shards' linkage
    # (146M x 81.4 B = 11.88 GB) beside two shards (2.83 GB), 14.72 GB as measured at 146M by
    # benchmarks/national_sample.py, is larger than the index's build (146M x 93.5 B = 13.65 GB): 15.72 GB
    nation = P.plan(146_000_000, 1, 7, "x", shard_people=131_072, side_by_side=2)
    assert nation.memory_bytes == pytest.approx(1e9 + 146_000_000 * 81.4 + 2 * 131_072 * 10_800)
    assert not nation.problems
    # one small shard at a time: the index's build is the larger, 1 GB + 146M x 93.5 B = 14.65 GB
    # (measured in national_sample.py's run one shard at a time: 13.65 GB for the build), against 1 GB + 11.88 GB +
    # 10,000 x 10.8 kB = 12.99 GB for the index held while the shard links
    small = P.plan(146_000_000, 1, 7, "x", shard_people=10_000, side_by_side=1)
    assert small.memory_bytes == pytest.approx(1e9 + 146_000_000 * 93.5)
    # 1 GB + 146M x 81.4 B + 2 x 500,000 x 10.8 kB = 23.7 GB; (21.6 - 1 - 10.8) GB / 81.4 B = 120M people fit
    big = P.plan(146_000_000, 1, 7, "x", shard_people=500_000, side_by_side=2)
    assert big.problems == ["about 23.7 GB of memory with shards of 500,000 people, 2 at a time but 21.6 GB is "
                            "available (about 120,000,000 people fit in shards of this size)"]
    assert "or in shards" not in big.message()
    huge = P.plan(60_000_000, 1, 7, "x", shard_people=2_000_000)  # 21.6 GB for the shard alone
    assert huge.problems == ["about 27.5 GB of memory with shards of 2,000,000 people but 21.6 GB is available "
                             "(the shards alone do not fit: smaller shards need less)"]
    with pytest.raises(ValueError, match="side_by_side"):
        P.plan(10, 1, 0, "x", side_by_side=0)


def test_the_command_plans_the_shards_it_will_run(monkeypatch, tmp_path):
    """`run --shards` is planned with its largest shard (whole blocks of --block-size)."""
    from socialrating import cli

    seen = []
    # a plan that does not fit: the command stops there, having said how it planned
    monkeypatch.setattr(P, "plan", lambda *a: seen.append(a) or P.Plan(10, 1, 2e9, 0, 10**9, None, a[4]))
    res = CliRunner().invoke(app, ["run", "--people", "10", "--years", "0.1", "--out", str(tmp_path / "r"),
                                   "--shards", "3", "--block-size", "4", "--no-store"])
    assert res.exit_code == 2 and "with shards of 4 people" in res.output, res.output
    assert not (tmp_path / "r").exists()
    assert seen[0][4] == 4  # 10 people in blocks of 4: 3 shards of one block, the largest 4 people
    assert cli._shard_people(10, 1, 4) == 10 and cli._shard_people(10, 2, 4) == 8


def test_without_shards_a_run_too_big_for_one_process_goes_in_shards_of_one_block(monkeypatch, tmp_path):
    """`run --people 146000000` as a newcomer types it: planned in 1,114 shards of one
    generation block (146M / 131,072, rounded up), said on stderr, then refused here only
    for the disk: 146M x (155 + 19.3 x 8) B = 45.2 GB, with 40.0 GB free."""
    from socialrating import cli

    monkeypatch.setattr(P, "memory_available", lambda: 100_000_000_000)  # < 1.6 TB in one process
    monkeypatch.setattr(P, "disk_free", lambda out: 40_000_000_000)
    seen = []
    real = cli._preflight
    monkeypatch.setattr(cli, "_preflight", lambda *a: seen.append(a[-2:]) or real(*a))
    r = CliRunner().invoke(app, ["--threads", "2", "run", "--people", "146000000", "--years", "1",
                                 "--out", str(tmp_path / "r")])
    assert r.exit_code == 2 and seen == [(131_072, 2)]  # shards of one block, two at a time (the pool's threads)
    out = " ".join(r.output.split())
    assert ("146,000,000 people need about 1.6 TB in one process, more than the 100.0 GB available here: "
            "running in 1,114 shards of one generation block each (--shards 1 to insist on one process)") in out
    assert ("146,000,000 people over 8 years of records need about 45.2 GB of disk but 40.0 GB is free there."
            in out) and "of memory" not in out
    assert not (tmp_path / "r").exists()
    # a run that fits in one process stays in one; the basic world is always built whole
    monkeypatch.setattr(P, "memory_available", lambda: 2_000_000_000_000)
    assert cli._auto_shards(None, 146_000_000, 1, 7, tmp_path, None) == 1
    monkeypatch.setattr(P, "memory_available", lambda: None)  # nothing known: as before, one process
    assert cli._auto_shards(None, 146_000_000, 1, 7, tmp_path, None) == 1
    monkeypatch.setattr(P, "memory_available", lambda: 1_000_000_000)
    assert cli._auto_shards(None, 1_000_000, 1, 7, tmp_path, 100_000) == 10
    assert cli._auto_shards(None, 50_000, 1, 7, tmp_path, 100_000) == 1  # one block: nothing to shard


def test_more_blocks_than_identifiers_can_number_are_refused_at_once(tmp_path):
    """30,000 people in blocks of 2 are 15,000 blocks; the bailiffs' 9-digit proceeding
    numbers have room for 1,250 (and record offices for 10,000): one line, before anything
    is generated (it used to stop there after 90 s of records)."""
    from socialrating.sources.synthetic import max_blocks

    assert max_blocks() == 1_250
    res = CliRunner().invoke(app, ["run", "--people", "30000", "--block-size", "2", "--out", str(tmp_path / "r")])
    out = " ".join(res.output.split())
    assert res.exit_code == 2 and ("run: 30,000 people in generation blocks of 2 make 15,000 blocks; identifiers "
                                   "numbered per block have room for 1,250 (use --block-size 24 or more, or "
                                   "fewer people)") in out, out
    assert not (tmp_path / "r").exists()
    # exactly at the limit it goes on; one person more is one block too many
    from socialrating import cli

    cli._check_blocks(2_500, 2)
    with pytest.raises(typer.Exit):
        cli._check_blocks(2_501, 2)
