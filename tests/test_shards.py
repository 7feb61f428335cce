"""Sharded runs and executors (issue #15): the same seed gives the same tables (as read back,
parts in shard order), linkage report, ledger store and manifest figures whatever the number
of shards and wherever they run (this process, a LocalCluster of worker processes, or a real
`dask scheduler` and `dask worker`s). Synthetic Russia is built shard by shard; the basic
world, generated whole, runs as coordinator-drawn shards, byte for byte the same folder."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from socialrating.simulate.shards import household_bounds
from socialrating.simulate.simulation import Feedback, SimConfig, simulate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from golden import _folder  # noqa: E402 - the golden test's file hashing (ledger.duckdb excluded)

# Synthetic Russia (source errors, linkage, feedback with household spill-over, appeals) in
# generation blocks of 2,048 people: 6 blocks, so 2 and 4 shards hold several blocks each
WE = SimConfig(policy="court-blacklist", people=12_000, years=0.75, seed=7, world="synthetic", block_size=2048,
               feedback=Feedback({"credit": 3.0, "travel": 3.0, "housing": 3.0}, household_spillover=1.0))
# the basic world (no blocks) with consequences that reach the household: the coordinator-drawn shards
CB = SimConfig(policy="court-blacklist", people=2500, years=1.0, seed=5, world="basic")
TABLES = ("citizens", "truth", "events", "ratings", "consequences", "wrongful", "ledger", "quarantine",
          "current_ratings", "current_consequences")
# read back in shard order these are the whole run's rows in the whole run's order
SAME_ORDER = {"citizens", "truth", "events", "ledger", "quarantine", "current_ratings", "ratings"}


def test_a_shard_is_whole_generation_blocks_as_even_as_they_can_be():
    from socialrating.simulate.shardworld import plan

    assert plan(12_000, 2048, 4) == [(0, 1), (2, 3), (4,), (5,)]  # 6 blocks, the last of 1,760 people
    assert plan(12_000, 2048, 1) == [(0, 1, 2, 3, 4, 5)]
    assert plan(4096, 2048, 3) == [(0,), (1,)]  # no more shards than blocks
    assert plan(10, 2048, 2) == [(0,)]
    with pytest.raises(ValueError, match="--shards"):
        plan(10, 2048, 0)


def test_linkage_reports_merge_by_counts_with_ratios_recomputed():
    from socialrating.simulate.shardworld import merge_linkage

    def report(correct, wrong, true, q):
        src = {"correct": correct, "wrongly_linked": wrong, "with_true_citizen": true, "linked": correct + wrong,
               "precision": 0.0, "recall": 0.0, "quarantined_by_reason": {"bad": q},
               "linked_by_method": {"inn": {"linked": correct + wrong, "correct": correct, "precision": 0.0}}}
        return {"overall": dict(src), "sources": {"tax": src}, "records_in": correct + wrong + q,
                "records_linked": correct + wrong, "records_quarantined": q}

    m = merge_linkage([report(9, 1, 10, 0), report(1, 3, 5, 2)])
    assert m["overall"]["precision"] == round(10 / 14, 6) and m["overall"]["recall"] == round(10 / 15, 6)
    assert m["sources"]["tax"]["linked_by_method"]["inn"] == {"linked": 14, "correct": 10, "precision": round(10 / 14, 6)}
    assert m["sources"]["tax"]["quarantined_by_reason"] == {"bad": 2}
    assert m["records_in"] == 16 and m["records_in == linked + quarantined"] is True


def test_household_bounds_cut_where_the_household_changes():
    hh = np.array([0, 0, 1, 1, 1, 2, 3, 3])
    assert household_bounds(hh, 1) == [(0, 8)]
    assert household_bounds(hh, 2) == [(0, 5), (5, 8)]       # 8/2 = 4 is inside household 1: cut at 5
    assert household_bounds(hh, 3) == [(0, 2), (2, 5), (5, 8)]
    # more shards than households: one household each, never an empty shard
    assert household_bounds(hh, 10) == [(0, 2), (2, 5), (5, 6), (6, 8)]
    with pytest.raises(ValueError, match="not contiguous"):
        household_bounds(np.array([0, 1, 0]), 2)
    with pytest.raises(ValueError, match="--shards"):
        household_bounds(hh, 0)


def _run(cfg: SimConfig, out: Path, **kw) -> dict[str, str]:
    t = time.perf_counter()
    simulate(cfg, out, **kw)
    print(f"{out.name}: {time.perf_counter() - t:.1f} s")
    return _folder(out)


def _tables(out: Path) -> dict:
    """Every table as read back (parts in shard order), the linkage report and the manifest's
    figures that must not depend on the sharding."""
    import json

    from socialrating.store.runfolder import RunFolder

    run = RunFolder(out)
    m = run.manifest()
    got = {t: run.read(t) for t in TABLES}
    got["linkage"] = json.loads((out / "linkage.json").read_text())
    got["manifest"] = {k: m[k] for k in ("people", "counts", "rows", "checks", "history", "seed_scheme")}
    got["heads"] = (m["ledger_store"]["head"], m["changes"]["head"], m["changes"]["count"])
    return got


def _same(ref: dict, got: dict) -> list[str]:
    """The tables and figures that differ (rows compared in order where the order is the
    whole run's, else as sorted rows)."""
    bad = []
    for key, a in ref.items():
        b = got[key]
        if key in TABLES and key not in SAME_ORDER:
            a, b = a.sort(a.columns), b.sort(b.columns)
        if not (a.equals(b) if key in TABLES else a == b):
            bad.append(key)
    return bad


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """The unsharded runs: WE in this process in one shard, CB whole (simulation.py)."""
    d = tmp_path_factory.mktemp("ref")
    _run(WE, d / "we")
    return {"WE": _tables(d / "we"), "CB": _run(CB, d / "cb"), "dir": d}


def test_shards_in_process_give_the_unsharded_tables(reference, tmp_path):
    from socialrating.simulate.executors import InProcess

    ref = reference["WE"]
    assert not (reference["dir"] / "we" / "ratings").exists()  # one shard: the single files
    for k in (1, 2, 4):
        out = tmp_path / f"we-{k}"
        _run(WE, out, shards=k, executor=InProcess())
        assert _same(ref, _tables(out)) == [], k
        if k > 1:  # parts, one per shard; no shuffle files left
            assert len(list((out / "ratings").glob("part-*.parquet"))) == k
            assert not (out / "ratings.parquet").exists() and not (out / "_work").exists()


def test_shards_side_by_side_on_the_pool_give_the_unsharded_tables(reference, tmp_path, monkeypatch):
    """With a pool of several threads, the in-process shards are built, and then run, that
    many at once (each on its own thread): two builds meet at a barrier, which one after the
    other never would, and two shards' months likewise. The tables, linkage report, store
    heads and manifest figures are still the unsharded run's, with 2 and 3 threads."""
    import threading

    from socialrating import parallel
    from socialrating.simulate import shardworld
    from socialrating.simulate.executors import InProcess

    build, run = shardworld.ShardWorld.build, shardworld.ShardWorld.run
    met: dict[str, threading.Barrier] = {}

    def meeting(name, fn):
        def wrapped(self, *a, **k):
            if self.job.index < 2:  # the first two shards start together
                met[name].wait()
            return fn(self, *a, **k)
        return wrapped

    from socialrating.identity import register_index as ri

    builders: list[int] = []
    init = ri.RegisterIndexBuilder.__init__
    monkeypatch.setattr(ri.RegisterIndexBuilder, "__init__", lambda self, *a, **kw: builders.append(1)
                        or init(self, *a, **kw))
    monkeypatch.setattr(shardworld.ShardWorld, "build", meeting("build", build))
    monkeypatch.setattr(shardworld.ShardWorld, "run", meeting("run", run))
    for threads, k in ((2, 4), (3, 2)):
        met.update(build=threading.Barrier(2, timeout=60), run=threading.Barrier(2, timeout=60))
        builders.clear()
        out = tmp_path / f"we-{k}-{threads}"
        with parallel.threads(threads):
            assert InProcess().side_by_side == threads
            _run(WE, out, shards=k, executor=InProcess())
        assert not met["build"].broken and not met["run"].broken
        assert builders == [1]  # the builds met at once, and the register index was still built once
        assert _same(reference["WE"], _tables(out)) == [], (threads, k)
        assert not (out / "_work").exists()


def test_a_shard_failing_side_by_side_stops_the_shards_not_started(tmp_path, monkeypatch):
    """A shard's months failing on the pool: the error is raised once every shard already
    running has stopped (no thread still writes into the folder), and shards not started
    never start."""
    from socialrating import parallel
    from socialrating.simulate import shardworld
    from socialrating.simulate.executors import InProcess

    run, started = shardworld.ShardWorld.run, []

    def failing(self, *a, **k):
        started.append(self.job.index)
        if self.job.index == 1:
            raise RuntimeError("shard 1 broke")
        return run(self, *a, **k)

    monkeypatch.setattr(shardworld.ShardWorld, "run", failing)
    cfg = SimConfig(policy="court-blacklist", people=6_000, years=0.25, seed=3, world="synthetic", block_size=1024)
    with parallel.threads(2), pytest.raises(RuntimeError, match="shard 1 broke"):
        simulate(cfg, tmp_path / "r", shards=6, executor=InProcess())
    assert sorted(started)[:2] == [0, 1] and len(started) <= 3, started  # 0 and 1 at once, maybe 2, never 3-5


def test_a_shard_deletes_its_shuffle_files_once_read(reference, tmp_path, monkeypatch):
    """Disk: a shard's inbox and error-free twin go as soon as it has read them, while the
    shards still to run keep theirs. Memory: the national register index is held while the
    shards are linked and dropped once they run. The tables are still the unsharded run's."""
    from socialrating.simulate import shardworld
    from socialrating.simulate import synthetic_world as sw
    from socialrating.simulate.executors import InProcess

    seen: list[tuple[int, bool, bool, list[str], bool]] = []
    held: list[bool] = []
    real, build = shardworld.ShardWorld._received, shardworld.ShardWorld.build

    def watched(self):
        world = real(self)
        work = self.folder.path / shardworld.WORK
        seen.append((self.job.index, (work / "to" / f"{self.job.index:05d}").exists(),
                     (work / "perfect" / f"{self.job.index:05d}.parquet").exists(),
                     sorted(p.name for p in (work / "to").iterdir()), "index" in sw._INDEX))
        return world

    def built(self):
        out = build(self)
        held.append("index" in sw._INDEX)
        left.extend((self.folder.path / shardworld.WORK).glob("register-index-*"))
        return out

    from socialrating.identity import register_index as ri

    spills: list = []
    left: list = []
    init = ri.RegisterIndexBuilder.__init__

    def builder(self, *a, **k):
        spills.append(k.get("spill_dir"))
        init(self, *a, **k)

    monkeypatch.setattr(ri.RegisterIndexBuilder, "__init__", builder)
    monkeypatch.setattr(shardworld.ShardWorld, "_received", watched)
    monkeypatch.setattr(shardworld.ShardWorld, "build", built)
    out = tmp_path / "we-3"
    _run(WE, out, shards=3, executor=InProcess())
    assert held == [True, True, True]
    # the index was built once, its parts' arrays spilled to the run's work area, then removed
    assert len(spills) == 1 and spills[0].name == shardworld.WORK and spills[0].parent.parent == out.parent
    assert left == []
    assert seen == [(0, False, False, ["00001", "00002"], False), (1, False, False, ["00002"], False),
                    (2, False, False, [], False)]
    assert _same(reference["WE"], _tables(out)) == [] and not (out / "_work").exists()


def test_the_sharded_run_had_what_the_merge_must_get_right(reference, tmp_path):
    """The equivalence above is not vacuous: feedback records and appeals in several blocks,
    household spells, records linked to a citizen of another shard."""
    import polars as pl

    from socialrating.store.runfolder import RunFolder

    ref = reference["WE"]
    c = ref["manifest"]["counts"]
    assert c["feedback_records_by_scenario"]["actual"] > 0 and c["appeals_by_scenario"]["actual"]["contested"] > 0
    events = ref["events"]
    blocks = events.filter(pl.col("record_id").str.starts_with("fb-"))["citizen_id"] // 2048
    assert blocks.n_unique() >= 4
    assert ref["consequences"]["via_citizen_id"].is_not_null().sum() > 0
    # entry ids are rows of the events table read in shard order (what contest and resolve use)
    ledger = ref["ledger"].with_columns(row=pl.col("entry_id") // 8)
    rows = events.with_row_index("row").with_columns(pl.col("row").cast(pl.Int64))
    both = ledger.join(rows, on="row", how="left", suffix="_event")
    assert both.height == ledger.height and both["citizen_id"].equals(both["citizen_id_event"], check_names=False)
    assert (both["occurred_on"] == both["occurred_on_event"]).all()
    # the ratings panel is person by person, each person's months in order (simulate/outputs.py)
    r = ref["ratings"]
    assert r.height == ref["citizens"].height * 9 and r.select("citizen_id", "month").equals(
        r.select("citizen_id", "month").sort("citizen_id", "month"))


def test_records_linked_to_another_shard_s_citizen_reach_it(tmp_path, monkeypatch):
    """The shuffle: at 12,000 people no record happens to be linked across shards, so the
    linkage is made to send one record in 40 to a citizen 4,096 further on (by record id,
    the same whatever the sharding): unsharded and 3 shards still give the same tables."""
    import dataclasses

    import polars as pl

    import socialrating.sources.link as link
    from socialrating.store.runfolder import RunFolder

    real = link.link_sources

    def elsewhere(records, register, **kw):
        moved = pl.col("record_id").hash(7) % 40 == 0
        far = pl.when(moved).then((pl.col("citizen_id") + 4096) % WE.people).otherwise("citizen_id")
        return {s: dataclasses.replace(r, linked=r.linked.with_columns(citizen_id=far))
                for s, r in real(records, register, **kw).items()}

    from socialrating.simulate import shardworld

    inboxes: dict[int, list[str]] = {}
    real_received, real_deliver = shardworld.ShardWorld._received, shardworld.deliver
    delivered: list[int] = []

    def received(self):  # what each shard reads: its own records and one file from the others
        inbox = self.folder.path / shardworld.WORK / "to" / f"{self.job.index:05d}"
        inboxes[self.job.index] = sorted(p.name for p in inbox.iterdir())
        return real_received(self)

    monkeypatch.setattr(link, "link_sources", elsewhere)
    monkeypatch.setattr(shardworld.ShardWorld, "_received", received)
    monkeypatch.setattr(shardworld, "deliver", lambda folder, k: delivered.append(real_deliver(folder, k))
                        or delivered[-1])
    simulate(WE, tmp_path / "one")
    simulate(WE, tmp_path / "three", shards=3)
    assert _same(_tables(tmp_path / "one"), _tables(tmp_path / "three")) == []
    # O(shards) files, not shards x shards: each inbox holds two, whatever the number of shards
    assert inboxes == {i: [f"{i:05d}.parquet", "from-others.parquet"] for i in range(3)}
    assert delivered[-1] > 1000  # the records moved to another shard's citizen went through deliver
    run = RunFolder(tmp_path / "three")
    truth = run.read("truth").select("record_id", "true_citizen_id")
    linked = run.read("events").join(truth, on="record_id")
    shard = lambda col: pl.col(col) // (2 * 2048)  # noqa: E731 - 6 blocks in 3 shards of 2
    assert linked.filter(shard("citizen_id") != shard("true_citizen_id")).height > 1000
    assert len(run.table_files("events")) == 3


def test_the_coordinator_drawn_shards_give_the_unsharded_run_folder(reference, tmp_path):
    """The basic world (generated whole) still runs as coordinator-drawn shards, byte for byte."""
    from socialrating.simulate.executors import InProcess

    for k in (1, 2, 4):
        got = _run(CB, tmp_path / f"cb-{k}", shards=k, executor=InProcess())
        assert got == reference["CB"], (k, [f for f in got if reference["CB"][f] != got.get(f)])
    import polars as pl

    assert pl.read_parquet(tmp_path / "cb-4" / "consequences.parquet")["via_citizen_id"].is_not_null().sum() > 0


def test_a_local_dask_cluster_of_two_processes_gives_the_same_tables(reference, tmp_path):
    from socialrating.simulate.executors import DaskExecutor

    with DaskExecutor("local", workers=2) as ex:
        assert ex.dashboard and ex.dashboard.startswith("http")
        assert len(ex.client.scheduler_info()["workers"]) == 2
        _run(WE, tmp_path / "local", shards=4, executor=ex)
    assert _same(reference["WE"], _tables(tmp_path / "local")) == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_workers(address: str, n: int, timeout: float = 60) -> None:
    from distributed import Client

    with Client(address, timeout=timeout) as c:
        c.wait_for_workers(n, timeout=timeout)


def test_a_real_dask_scheduler_and_two_workers_run_the_command(reference, tmp_path):
    """`dask scheduler` and two `dask worker` processes on 127.0.0.1, then the command line
    pointed at them: the same tables as the unsharded run."""
    dask = shutil.which("dask", path=os.path.dirname(sys.executable))
    assert dask, "the dask command comes with dask[distributed]"
    port, dash = _free_port(), _free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path / "logs"
    logs.mkdir()
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--dashboard-address", f"127.0.0.1:{dash}"],
                              stdout=subprocess.DEVNULL, stderr=open(logs / "scheduler", "wb"))]
    try:
        for i in range(2):
            procs.append(subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--nworkers", "1",
                                           "--host", "127.0.0.1", "--no-dashboard", "--local-directory",
                                           str(tmp_path / f"w{i}")],
                                          stdout=subprocess.DEVNULL, stderr=open(logs / f"worker{i}", "wb")))
        _wait_for_workers(address, 2)
        out = tmp_path / "tcp"
        fb = ["--credit-feedback", "3", "--employment-feedback", "0", "--feedback", "travel=3", "--feedback",
              "housing=3", "--household-spillover", "1"]
        cmd = [sys.executable, "-m", "socialrating.cli", "run", "--policy", WE.policy, "--people", str(WE.people),
               "--years", str(WE.years), "--seed", str(WE.seed), "--world", WE.world, *fb,
               "--block-size", str(WE.block_size),
               "--out", str(out), "--scheduler", address, "--shards", "2"]
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
        print(f"tcp: {time.perf_counter() - t:.1f} s")
        assert proc.returncode == 0, proc.stderr
        assert "Dask dashboard: http://127.0.0.1:" in proc.stderr
        assert "shard 2 of 2" in proc.stderr
        assert _same(reference["WE"], _tables(out)) == []
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)


def test_the_command_line_refuses_a_bad_scheduler(tmp_path):
    from typer.testing import CliRunner

    from socialrating.cli import app

    res = CliRunner().invoke(app, ["run", "--people", "50", "--years", "0.1", "--out", str(tmp_path / "x"),
                                   "--scheduler", "http://nowhere"])
    assert res.exit_code == 2 and "--scheduler: expected local or tcp://HOST:PORT" in res.output
    res = CliRunner().invoke(app, ["run", "--people", "50", "--years", "0.1", "--out", str(tmp_path / "x"),
                                   "--workers", "2"])
    assert res.exit_code == 2 and "--workers needs --scheduler local" in res.output
    res = CliRunner().invoke(app, ["run", "--people", "50", "--years", "0.1", "--out", str(tmp_path / "x"),
                                   "--scheduler", "tcp://127.0.0.1:1", "--workers", "2"])
    assert res.exit_code == 2 and "--workers needs --scheduler local" in res.output
    assert not (tmp_path / "x").exists()


def test_the_store_takes_each_shards_ledger_while_the_next_shards_run(reference, tmp_path, monkeypatch):
    """Each shard's ledger goes to the store's writer as soon as the shard has finished,
    before the next shard runs its months; the store ends as the whole run's (same head as
    the unsharded run, which the tables' comparison includes)."""
    from socialrating.simulate import shardworld
    from socialrating.simulate.executors import InProcess

    order: list[str] = []
    run, add = shardworld.ShardWorld.run, shardworld.StoreWriter.add

    def running(self, *a, **k):
        order.append(f"run {self.job.index}")
        return run(self, *a, **k)

    def adding(self, finished):
        order.append(f"store {Path(finished['ledger']).stem}")
        return add(self, finished)

    monkeypatch.setattr(shardworld.ShardWorld, "run", running)
    monkeypatch.setattr(shardworld.StoreWriter, "add", adding)
    out = tmp_path / "we-3"
    _run(WE, out, shards=3, executor=InProcess())
    assert order == ["run 0", "store part-00000", "run 1", "store part-00001", "run 2", "store part-00002"]
    assert _same(reference["WE"], _tables(out)) == []


def test_a_failed_append_stops_the_store_writer(tmp_path, monkeypatch):
    """An append that fails (an entry already stored with other content) is raised, and the
    writer's thread and store are closed: nothing keeps running or holds the file."""
    import datetime as dt
    import threading

    from socialrating.store import ledger_store as L

    import polars as pl

    from socialrating.simulate.runner import Calendar
    from socialrating.simulate.shardworld import StoreWriter
    from socialrating.store.ledger_store import LedgerConflict, LedgerStore
    from socialrating.store.runfolder import RunFolder
    from test_store_layout import ledger

    folder = RunFolder(tmp_path)
    first, clash = tmp_path / "a.parquet", tmp_path / "b.parquet"
    ledger(5).write_parquet(first)
    ledger(5).with_columns(points=pl.col("points") - 1).write_parquet(clash)
    monkeypatch.setattr(L, "BLOCK_SIZE", 5)  # each part is one whole block: appended as it comes
    writer = StoreWriter(folder, None)
    writer.add({"ledger": str(first)})
    writer.add({"ledger": str(clash)})
    with pytest.raises(LedgerConflict, match="already stored with different content"):
        writer.close([], Calendar(dt.date(2024, 7, 1), 1, 1, None), 30)
    assert not [t for t in threading.enumerate() if t.name.startswith("socialrating-store")]
    with LedgerStore.open(tmp_path) as s:  # the file is free again; the conflicting part left nothing
        assert len(s) == 5 and s.verify().ok


def test_a_store_that_cannot_be_opened_leaves_no_writer_thread(tmp_path):
    """An unreachable PostgreSQL store is said at once (before any shard runs), and the
    writer's thread does not outlive the error."""
    import threading

    from socialrating.simulate.shardworld import StoreWriter
    from socialrating.store.ledger_store import StoreUnavailable
    from socialrating.store.runfolder import RunFolder

    with pytest.raises(StoreUnavailable, match="cannot reach the ledger store"):
        StoreWriter(RunFolder(tmp_path), "postgresql://nobody@127.0.0.1:1/none")
    assert not [t for t in threading.enumerate() if t.name.startswith("socialrating-store")]
