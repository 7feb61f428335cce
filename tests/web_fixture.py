"""One small synthetic run for the web tests (built once per session), the people the
browser test needs found in it, and a real uvicorn server on a free port."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from socialrating.simulate.simulation import SimConfig, simulate

PEOPLE = 3000


@dataclass
class Wronged:
    """A citizen restricted in `context` only through one wrong entry: overturning it lifts it."""
    citizen_id: int
    snils: int
    entry_id: int
    consequence_id: str
    context: str


def build_run(base: Path) -> Path:
    out = base / "run"
    simulate(SimConfig(policy="we-platform", people=PEOPLE, years=2.0, seed=7, world="synthetic"), out)
    return out


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def find_wronged(run: Path) -> Wronged:
    """From the truth table (never shown to the service): a restriction in force whose
    recourse says one entry's overturning lifts it, that entry's record being erroneous."""
    from socialrating.engine.explain import explain
    from socialrating.policy.load import parse_policy
    import datetime as dt

    m = json.loads((run / "manifest.json").read_text())
    pol = parse_policy((run / "policy.yaml").read_text())
    cons = pl.read_parquet(run / "current_consequences.parquet").with_columns(pl.col("kind").cast(pl.String))
    truth = pl.read_parquet(run / "truth.parquet").filter(pl.col("erroneous")).select("source", "record_id")
    ledger = pl.read_parquet(run / "ledger.parquet")
    ledger = ledger.with_columns(pl.col("source").cast(pl.String), pl.col("record_id").cast(pl.String))
    bad = ledger.join(truth, on=["source", "record_id"], how="semi")
    ratings = pl.read_parquet(run / "current_ratings.parquet")
    people = pl.read_parquet(run / "citizens.parquet").select("citizen_id", "snils")
    for cid in cons.filter(pl.col("kind") == "restriction")["citizen_id"].unique().sort().to_list():
        if not bad.filter(pl.col("citizen_id") == cid).height:
            continue
        row = ratings.filter(pl.col("citizen_id") == cid).drop("citizen_id", "as_of").row(0, named=True)
        x = explain(pol, dt.date.fromisoformat(m["as_of"]), cid, ledger.filter(pl.col("citizen_id") == cid), row,
                    cons.filter(pl.col("citizen_id") == cid))
        wrong_ids = set(bad.filter(pl.col("citizen_id") == cid)["entry_id"].to_list())
        contexts = {}
        for c in x["consequences"]:
            if c["kind"] == "restriction":
                contexts.setdefault(c["context"], []).append(c)
        for ctx, cs in contexts.items():
            ov = [c["recourse"]["overturn"] for c in cs]
            if all(o and o["size"] == 1 and o["exact"] for o in ov):
                ids = {o["entries"][0]["entry_id"] for o in ov}
                if len(ids) == 1 and ids <= wrong_ids and x["entries"] and \
                        next(e for e in x["entries"] if e["entry_id"] in ids)["state"] == "active":
                    snils = people.filter(pl.col("citizen_id") == cid)["snils"].item()
                    return Wronged(cid, snils, ids.pop(), cs[0]["consequence_id"], ctx)
    raise AssertionError("no wrongly restricted citizen with a one-entry way out in the test run")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """uvicorn serving `app` in a thread of this process, on a free loopback port."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, access_log=False,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        for _ in range(200):
            if self.server.started:
                return self
            time.sleep(0.05)
        raise RuntimeError("uvicorn did not start")

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)
