"""The one thread pool: none at import, opened and shut by the command, and outputs that do
not depend on its size."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from socialrating import parallel
from socialrating.cli import app

PACKAGE = Path(parallel.__file__).resolve().parent


def _pool_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("socialrating")]


def test_importing_every_module_starts_no_thread():
    modules = sorted("socialrating." + ".".join(p.relative_to(PACKAGE).with_suffix("").parts)
                     for p in PACKAGE.rglob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    # a pool starts its threads only when given work, so no new pool may exist either (polars
    # keeps one of its own from import: counted before)
    code = ("import gc, importlib, threading\n"
            "from concurrent.futures import ThreadPoolExecutor\n"
            "import duckdb, numba, numpy, polars, pyarrow\n"
            "pools = lambda: sum(isinstance(o, ThreadPoolExecutor) for o in gc.get_objects())\n"
            "before = pools()\n"
            f"for m in {modules!r}:\n"
            "    importlib.import_module(m)\n"
            "print(sorted(t.name for t in threading.enumerate()))\n"
            "print(pools() - before)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert len(modules) > 40  # every module really was imported
    assert out.split("\n")[:2] == ["['MainThread']", "0"]


def test_without_an_open_pool_work_runs_on_the_calling_thread():
    assert parallel.current().threads == 1
    here = threading.get_ident()
    assert parallel.current().map(lambda _: threading.get_ident(), range(3)) == [here] * 3


def test_the_pool_is_open_for_the_block_and_shut_after_it():
    with parallel.threads(2) as pool:
        assert parallel.current() is pool and pool.threads == 2
        with parallel.threads(5) as inner:  # a command calling another: the open pool
            assert inner is pool
        names = pool.map(lambda _: threading.current_thread().name, range(4))
        assert all(n.startswith("socialrating") for n in names)
    assert parallel.current().threads == 1
    assert _pool_threads() == []


def test_work_submitted_from_a_worker_runs_at_once_so_nothing_deadlocks():
    """Two workers, each running a task that waits on sub-tasks: queued sub-tasks would wait
    for a free worker forever; run on the worker itself they finish."""
    def outer(i):
        subs = [parallel.current().submit(lambda j=j: (i, j, threading.current_thread().name)) for j in range(3)]
        time.sleep(0.05)  # both workers are now busy with outer tasks
        return [f.result(timeout=5) for f in subs]

    with parallel.threads(2) as pool:
        got = pool.map(outer, range(2))
    assert [[(i, j) for i, j, _ in r] for r in got] == [[(0, 0), (0, 1), (0, 2)], [(1, 0), (1, 1), (1, 2)]]
    # each sub-task ran on the worker that submitted it
    assert all(len({name for *_, name in r}) == 1 for r in got)


def test_errors_reach_the_caller_whichever_thread_ran_the_work():
    def boom(x):
        raise ValueError(f"bad {x}")

    for n in (1, 2):
        with parallel.threads(n) as pool, pytest.raises(ValueError, match="bad 1"):
            pool.map(boom, [1, 2])
    with pytest.raises(ValueError, match="threads: expected 1 or more"):
        parallel.Pool(0)


def test_the_default_is_the_cpus_available_to_the_process():
    import os

    assert parallel.available_cpus() == len(os.sched_getaffinity(0))


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if p.is_file() and p.name not in ("ledger.duckdb", ".lock")}


def test_one_thread_and_two_threads_write_byte_identical_run_folders(tmp_path):
    outs = {}
    for n in (1, 2):
        out = tmp_path / f"t{n}"
        res = CliRunner().invoke(app, ["--threads", str(n), "run", "--people", "1500", "--years", "0.5",
                                       "--seed", "9", "--world", "synthetic", "--household-spillover", "0.2",
                                       "--out", str(out)])
        assert res.exit_code == 0, res.output
        outs[n] = (_digests(out), res.stdout.replace(str(out), "OUT"))
        assert _pool_threads() == []  # the command shut its pool
    assert len(outs[1][0]) >= 12 and "manifest.json" in outs[1][0]
    assert outs[1] == outs[2]


def test_threads_must_be_positive():
    res = CliRunner().invoke(app, ["--threads", "0", "run", "--people", "10"])
    assert res.exit_code == 2 and "--threads" in res.output
