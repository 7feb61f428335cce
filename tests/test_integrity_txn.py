"""A command killed at any point leaves its run folder before or after it, never between:
`verify` passes afterwards and the record shows the command wholly or not at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import polars as pl
import pytest

import integrity_fixture as fx
from socialrating.simulate.simulation import simulate
from socialrating.store.contest import contest, verify_run
from socialrating.store.ledger_store import LedgerStore

CHILD = textwrap.dedent("""
    import os, sys
    import socialrating.atomic as A
    import socialrating.store.contest as C
    run, cid, eid, point = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    die = lambda *a, **k: os._exit(9)   # as kill -9: no clean-up, no finally
    if point == "rescoring":            # inside the store transaction, files half staged
        C.score = die
    elif point == "planned":            # plan written, store not yet committed
        orig = A.FolderTxn.prepare
        def prepare(self, expect):
            orig(self, expect); os._exit(9)
        A.FolderTxn.prepare = prepare
    elif point == "committed":          # store committed, no file swapped in yet
        A.FolderTxn.apply = die
    elif point == "swapping":           # store committed, two files swapped in
        n = [0]
        real = os.replace
        def replace(a, b):
            n[0] += 1
            if n[0] > 2:
                os._exit(9)
            real(a, b)
        A.os.replace = replace
    C.contest(run, cid, eid, "killed mid-way")
    """)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    d = tmp_path_factory.mktemp("txn") / "run"
    simulate(fx.CFG, d)
    return d


@pytest.mark.parametrize("point,done", [("rescoring", False), ("planned", False), ("committed", True),
                                        ("swapping", True)])
def test_killed_contest_leaves_before_or_after(base, tmp_path, point, done):
    run = fx.copy(base, tmp_path / "run")
    cid, eid, _ = fx.negative_entry(run)
    with LedgerStore.open(run) as s:
        n0 = s.changes().height
    p = subprocess.run([sys.executable, "-c", CHILD, str(run), str(cid), str(eid), point], capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 9, p.stderr
    v = verify_run(run)  # finishes or discards what the killed command left
    assert v["ok"], (point, v["problems"])
    assert not (run / ".txn").exists()
    with LedgerStore.open(run) as s:
        assert s.changes().height == n0 + done
    state = pl.read_parquet(run / "ledger.parquet").filter(pl.col("entry_id") == eid)["state"].cast(pl.String).item()
    assert state == ("contested" if done else "active")
    assert json.loads((run / "manifest.json").read_text())["changes"]["count"] == n0 + done
    if not done:  # the command can simply be given again
        contest(run, cid, eid, "again")
        assert verify_run(run)["ok"]


def test_files_slipped_into_the_staging_area_are_not_swapped_in(base, tmp_path):
    """A forged .txn/ whose plan matches the store: its files carry no signed manifest, so
    recovery discards them instead of swapping them in."""
    run = fx.copy(base, tmp_path / "run")
    before = (run / "ledger.parquet").read_bytes()
    stage = run / ".txn"
    stage.mkdir()
    led = pl.read_parquet(run / "ledger.parquet")
    led.with_columns(pl.col("points").abs()).write_parquet(stage / "ledger.parquet")
    with LedgerStore.open(run) as s:
        expect = s.state()
    (stage / "PLAN.json").write_text(json.dumps({"files": ["ledger.parquet"], "expect": expect}))
    v = verify_run(run)
    assert v["ok"], v["problems"]
    assert (run / "ledger.parquet").read_bytes() == before and not stage.exists()
