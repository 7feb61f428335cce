"""A sharded run's tables as parts (one per shard) work with every command exactly as one file.

The same finished run, once as single files and once split into 3 parts per table
(tests/parts_fixture.partition_run), goes through every command that reads or writes a
run folder; what each prints and every table it leaves are compared. Tables are compared
as read back (RunFolder.read), sorted: the parts hold each shard's rows in the run's order,
so a table not in citizen order (the ratings panel, events, ledger) reads back in another
row order, with the same rows.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow.dataset as ds
import pytest
from typer.testing import CliRunner

import integrity_fixture as fx
from parts_fixture import CITIZEN_COLUMN, partition_run
from socialrating.audit import audit_run
from socialrating.cli import app
from socialrating.simulate.simulation import simulate
from socialrating.store.contest import verify_run
from socialrating.store.runfolder import RunFolder
from socialrating.web.service import load_snapshot

K = 3


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same run as single files (one/run) and as 3 parts (three/run)."""
    base = tmp_path_factory.mktemp("parts")
    simulate(fx.CFG, base / "src")
    (base / "one").mkdir()
    shutil.copytree(base / "src", base / "one" / "run", ignore=shutil.ignore_patterns(".lock"))
    (base / "three").mkdir()
    bounds = partition_run(base / "src", base / "three" / "run", K)
    return base, bounds


def _fresh(runs, tmp_path) -> tuple[Path, Path]:
    base, _ = runs
    for name in ("one", "three"):
        shutil.copytree(base / name, tmp_path / name)
    return tmp_path / "one", tmp_path / "three"


def _cli(cwd: Path, monkeypatch, *args) -> str:
    monkeypatch.chdir(cwd)
    res = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    # the file count of `verify` is the one thing the layout changes (3 parts for 1 file)
    return re.sub(r"ok: \d+ files", "ok: N files", res.output)


def _tables(run: Path) -> dict[str, pl.DataFrame]:
    folder = RunFolder(run)
    out = {t: folder.read(t) for t in CITIZEN_COLUMN if folder.has(t)}
    for p in sorted((run / "audit").glob("*.parquet")) + sorted((run / "ingested").glob("*.parquet")):
        out[str(p.relative_to(run))] = pl.read_parquet(p)
    return out


def _same_rows(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    cols = [c for c in a.columns if not isinstance(a.schema[c], (pl.List, pl.Struct))]
    return a.schema == b.schema and a.sort(cols, nulls_last=True).equals(b.sort(cols, nulls_last=True))


def test_the_parts_are_the_run_cut_at_households(runs):
    base, bounds = runs
    three = RunFolder(base / "three" / "run")
    assert [p.name for p in three.table_files("ledger")] == [f"part-0000{k}.parquet" for k in range(K)]
    assert not (three.path / "ledger.parquet").exists()
    people = three.read("citizens")
    assert people.equals(pl.read_parquet(base / "src" / "citizens.parquet"))  # citizens stay in order
    for k, (lo, hi) in enumerate(bounds):
        part = pl.read_parquet(three.table_files("citizens")[k])
        assert part.height == hi - lo > 0
        later = people.slice(hi)["household_id"]
        assert not part["household_id"].is_in(later.implode()).any()  # no household split


def test_every_command_prints_and_writes_the_same(runs, tmp_path, monkeypatch):
    one, three = _fresh(runs, tmp_path)
    people = pl.read_parquet(runs[0] / "src" / "citizens.parquet")
    fx.bailiff_file(runs[0] / "src", tmp_path / "b.csv", n=30)
    printed: dict[str, list[str]] = {}
    for where in (one, three):
        out = printed.setdefault(where.name, [])
        wrongly = json.loads(_cli(where, monkeypatch, "citizens", "run", "--wrongly", "--json"))
        cid = wrongly["citizens"][0]["citizen_id"] if wrongly.get("citizens") else int(people["citizen_id"][0])
        entry = int(RunFolder(where / "run").read("ledger").filter(pl.col("citizen_id") == cid)
                    .sort("entry_id")["entry_id"][0])
        for args in (["citizens", "run", "--wrongly"], ["explain", "run", "--citizen", cid],
                     ["contest", "run", "--citizen", cid, "--entry", entry, "--reason", "not me", "--json"],
                     ["resolve", "run", "--entry", entry, "--overturned", "--reviewer", "R. Eviewer",
                      "--reason", "namesake", "--json"],
                     ["explain", "run", "--citizen", cid],
                     ["ingest", tmp_path / "b.csv", "--source", "bailiffs", "--into", "run"],
                     ["verify", "run"], ["audit", "run", "--json"], ["report", "run"],
                     ["calibration", "run"], ["compare", "run", "run", "--out", "cmp", "--json"]):
            out.append(_cli(where, monkeypatch, *args))
    for a, b in zip(printed["one"], printed["three"], strict=True):
        assert a == b
    ta, tb = _tables(one / "run"), _tables(three / "run")
    assert set(ta) == set(tb) and {"ledger", "current_ratings", "ingested/events.parquet"} <= set(ta)
    for name in ta:
        assert _same_rows(ta[name], tb[name]), name
    # the report shows the manifest, whose file list names the parts: the rest is the same
    html = [re.sub(r"&quot;files&quot;: \{.*?\n    \}", "", (w / "run" / "report.html").read_text(), flags=re.S)
            for w in (one, three)]
    assert html[0] == html[1] and "part-00000" not in html[1]
    # still two layouts: the commands wrote parts into the sharded run, files into the other
    assert not list((three / "run").glob("ledger*.parquet")) and (one / "run" / "ledger.parquet").is_file()
    assert len(RunFolder(three / "run").table_files("current_ratings")) == K


def test_a_contest_rewrites_only_its_shards_parts(runs, tmp_path, monkeypatch):
    _, three = _fresh(runs, tmp_path)
    run = RunFolder(three / "run")
    led = run.read("ledger").filter((pl.col("points") < 0) & (pl.col("state") == "active")).sort("entry_id")
    last = pl.read_parquet(run.table_files("citizens")[K - 1])["citizen_id"]
    row = led.filter(pl.col("citizen_id").is_in(last.implode())).row(0, named=True)
    before = {p: p.read_bytes() for t in ("ledger", "current_ratings", "current_consequences")
              for p in run.table_files(t)}
    _cli(three, monkeypatch, "contest", "run", "--citizen", row["citizen_id"], "--entry", row["entry_id"],
         "--reason", "not me")
    changed = sorted(f"{p.parent.name}/{p.name}" for p, b in before.items() if p.read_bytes() != b)
    assert changed and all(c.endswith(f"part-0000{K - 1}.parquet") for c in changed)
    state = run.read("ledger").filter(pl.col("entry_id") == row["entry_id"])["state"].cast(pl.String).item()
    assert state == "contested"
    assert verify_run(three / "run")["ok"]


@pytest.mark.parametrize("change", ["edit", "remove", "add", "rename", "both"])
def test_verify_catches_a_changed_part(runs, tmp_path, change):
    _, three = _fresh(runs, tmp_path)
    parts = three / "run" / "ratings"
    p = parts / "part-00001.parquet"
    if change == "edit":
        frame = pl.read_parquet(p)
        frame.with_columns(pl.col("status").clip(upper_bound=50)).write_parquet(p)
    elif change == "remove":
        (parts / "part-00002.parquet").unlink()
    elif change == "add":
        pl.read_parquet(p).write_parquet(parts / "part-00003.parquet")
    elif change == "rename":
        p.rename(parts / "part-00007.parquet")
    else:  # the table as one file beside its parts: read twice
        RunFolder(three / "run").read("ratings").write_parquet(three / "run" / "ratings.parquet")
    res = verify_run(three / "run")
    assert not res["ok"]
    want = {"edit": ["ratings/part-00001.parquet: its sha256 is not the manifest's (the file was changed)"],
            "remove": ["ratings/part-00002.parquet: listed in the manifest but missing"],
            "add": ["ratings/part-00003.parquet: not listed in the manifest (a file was added)"],
            "rename": ["ratings/part-00001.parquet: listed in the manifest but missing",
                       "ratings/part-00007.parquet: not listed in the manifest (a file was added)"],
            "both": ["ratings.parquet: not listed in the manifest (a file was added)"]}[change]
    assert [q.removeprefix("file:") for q in res["problems"] if q.startswith("file:ratings")] == want


def test_the_manifest_lists_every_part(runs):
    base, _ = runs
    m = json.loads((base / "three" / "run" / "manifest.json").read_text())
    assert {f"ledger/part-0000{k}.parquet" for k in range(K)} <= set(m["files"])
    assert not any(f.startswith("ledger.parquet") for f in m["files"])


def test_audit_is_the_same_whatever_the_sharding(runs, tmp_path):
    """audit/groups.py's bootstrap draws from merged counts only: identical intervals."""
    one, three = _fresh(runs, tmp_path)
    a = audit_run(one / "run", write=False)
    b = audit_run(three / "run", write=False)
    assert json.dumps(a.headline, sort_keys=True, default=str) == json.dumps(b.headline, sort_keys=True, default=str)
    assert set(a.tables) == set(b.tables)
    for name in a.tables:
        assert a.tables[name].equals(b.tables[name]), name
    g = a.tables["groups"]
    assert g["rate_lo"].is_not_null().sum() > 0 and (g["rate_lo"] < g["rate_hi"]).any()  # real intervals


def test_the_web_snapshot_is_the_same(runs):
    base, _ = runs
    a, b = load_snapshot(base / "one" / "run"), load_snapshot(base / "three" / "run")
    for name in ("ratings", "cons", "ledger", "restrictions"):
        assert _same_rows(getattr(a, name), getattr(b, name)), name
    for name in ("snils", "snils_citizen", "cons_citizen", "ledger_citizen", "restr_citizen"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_parts_read_as_one_table_in_polars_duckdb_pyarrow_and_dask(runs):
    base, _ = runs
    folder = RunFolder(base / "three" / "run")
    whole = pl.read_parquet(base / "src" / "ratings.parquet")
    key = ["citizen_id", "month"]
    want = whole.select(*key, "status").sort(key)
    glob = str(folder.path / "ratings" / "*.parquet")
    got_pl = pl.scan_parquet(glob).select(*key, "status").collect().sort(key)
    got_duck = pl.from_arrow(duckdb.sql(f"SELECT citizen_id, month, status FROM read_parquet('{glob}')").arrow())
    got_arrow = pl.from_arrow(ds.dataset(folder.path / "ratings", format="parquet").to_table(
        columns=["citizen_id", "month", "status"]))
    import dask.dataframe as dd

    got_dask = pl.from_pandas(dd.read_parquet(str(folder.path / "ratings"), columns=["citizen_id", "month", "status"])
                              .compute().reset_index(drop=True))
    for got in (got_pl, got_duck, got_arrow, got_dask):
        got = got.with_columns(pl.col("month").cast(pl.Date)).sort(key)
        assert got.height == whole.height
        assert np.array_equal(got["citizen_id"].to_numpy(), want["citizen_id"].to_numpy())
        assert np.array_equal(got["status"].to_numpy(), want["status"].to_numpy())
        assert got["month"].equals(want["month"])
