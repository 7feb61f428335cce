"""A small sealed run folder with a contest and an ingested file, for the integrity tests."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import polars as pl

from linkage_fixture import make_records
from socialrating.simulate.simulation import SimConfig, simulate
from socialrating.store.contest import contest
from socialrating.store.intake import ingest_into_run

CFG = SimConfig(policy="we-platform", people=1200, years=1.0, seed=5, world="synthetic")


def bailiff_file(folder: Path, path: Path, n: int = 40, seed: int = 1, prefix: str = "u") -> pl.DataFrame:
    """n bailiffs' records of people in the folder, dated when the penalties are in force."""
    people = pl.read_parquet(folder / "citizens.parquet")
    recs, _ = make_records(people, seed=seed, error_rate=0.0, foreign_rate=0.0, sources=["bailiffs"])
    df = recs["bailiffs"].head(n).with_columns(
        occurred_on=pl.lit(dt.date(2025, 3, 1)), reported_on=pl.lit(dt.date(2025, 3, 5)),
        record_id=pl.format(prefix + "{}", pl.int_range(pl.len())))
    df.write_csv(path)
    return df


def negative_entry(folder: Path) -> tuple[int, int, int]:
    led = pl.read_parquet(folder / "ledger.parquet").filter((pl.col("points") < 0) & (pl.col("state") == "active"))
    row = led.sort("entry_id").row(led.height // 2, named=True)
    return row["citizen_id"], row["entry_id"], row["points"]


def build(base: Path) -> dict:
    """Run, note the published head, contest one entry, ingest one file."""
    run = base / "run"
    simulate(CFG, run)
    head0 = json.loads((run / "manifest.json").read_text())["head"]
    cid, eid, _ = negative_entry(run)
    contest(run, cid, eid, "not me")
    bailiff_file(run, base / "bailiffs.csv")
    ingest_into_run("bailiffs", base / "bailiffs.csv", run)
    return {"run": run, "head0": head0, "contested": eid}


def copy(run: Path, dst: Path) -> Path:
    shutil.copytree(run, dst)
    return dst


def operator_public_key(_=None) -> bytes:
    """In a child process: the operator key's public half (made if absent)."""
    from socialrating.store import seal

    return seal.public_pem(seal.operator_key())
