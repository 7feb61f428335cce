"""Sharded runs and executors (issue #15, first landing): the same seed gives the same run
folder, byte for byte, whatever the number of shards and wherever they run (this process,
a LocalCluster of worker processes, or a real `dask scheduler` and `dask worker`s)."""

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

# Synthetic Russia (source errors, linkage, feedback with household spill-over, appeals)
WE = SimConfig(policy="rongcheng", people=2500, years=0.75, seed=7, world="synthetic",
               feedback=Feedback({"credit": 0.5, "employment": 0.3}, household_spillover=0.2))
# consequences that reach the household (spells held via another member)
CB = SimConfig(policy="court-blacklist", people=2500, years=1.0, seed=5, world="synthetic")


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


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, dict[str, str]]:
    """The unsharded runs (simulation.py's default path)."""
    d = tmp_path_factory.mktemp("ref")
    return {"WE": _run(WE, d / "we"), "CB": _run(CB, d / "cb")}


@pytest.mark.parametrize("name,cfg", [("WE", WE), ("CB", CB)])
def test_shards_in_process_give_the_unsharded_run_folder(reference, tmp_path, name, cfg):
    ref = reference[name]
    assert {"ratings.parquet", "events.parquet", "consequences.parquet", "wrongful.parquet",
            "ledger.parquet", "manifest.json"} <= set(ref)
    for k in (1, 2, 4):
        # shards=1 with an explicit executor goes through shards.py too
        from socialrating.simulate.executors import InProcess

        got = _run(cfg, tmp_path / f"{name}-{k}", shards=k, executor=InProcess())
        assert got == ref, (k, [f for f in ref if ref[f] != got.get(f)])


def test_the_run_had_what_the_merge_must_get_right(tmp_path):
    """The equivalence above is not vacuous: the run has feedback records, appeals and
    household spells, and the 4 shards hold households whole."""
    import json

    import polars as pl

    out = tmp_path / "cb"
    simulate(CB, out, shards=4)
    m = json.loads((out / "manifest.json").read_text())
    assert m["counts"]["feedback_records_by_scenario"]["actual"] > 0
    spells = pl.read_parquet(out / "consequences.parquet")
    assert spells["via_citizen_id"].is_not_null().sum() > 0
    out = tmp_path / "we"
    simulate(WE, out, shards=4)
    m = json.loads((out / "manifest.json").read_text())
    assert m["counts"]["appeals_by_scenario"]["actual"]["contested"] > 0
    assert m["counts"]["feedback_records_by_scenario"]["actual"] > 0
    people = pl.read_parquet(out / "citizens.parquet")
    bounds = household_bounds(people["household_id"].to_numpy(), 4)
    assert len(bounds) == 4 and bounds[0][0] == 0 and bounds[-1][1] == people.height


def test_a_local_dask_cluster_of_two_processes_gives_the_same_run_folder(reference, tmp_path):
    from socialrating.simulate.executors import DaskExecutor

    with DaskExecutor("local", workers=2) as ex:
        assert ex.dashboard and ex.dashboard.startswith("http")
        assert len(ex.client.scheduler_info()["workers"]) == 2
        got = _run(WE, tmp_path / "local", shards=4, executor=ex)
    assert got == reference["WE"], [f for f in got if reference["WE"][f] != got.get(f)]


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
    pointed at them: the same run folder as the unsharded run."""
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
        fb = ["--credit-feedback", "0.5", "--employment-feedback", "0.3", "--household-spillover", "0.2"]
        cmd = [sys.executable, "-m", "socialrating.cli", "run", "--policy", WE.policy, "--people", str(WE.people),
               "--years", str(WE.years), "--seed", str(WE.seed), "--world", WE.world, *fb,
               "--out", str(out), "--scheduler", address, "--shards", "2"]
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
        print(f"tcp: {time.perf_counter() - t:.1f} s")
        assert proc.returncode == 0, proc.stderr
        assert "Dask dashboard: http://127.0.0.1:" in proc.stderr
        assert "shard 2 of 2" in proc.stderr
        got = _folder(out)
        assert got == reference["WE"], [f for f in got if reference["WE"][f] != got.get(f)]
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
