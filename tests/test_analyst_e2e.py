"""From the demo to a finding, end to end through the command line at 80 columns:

demo -> citizens -> explain -> contest -> explain -> compare -> ingest (an example file).

Every command's output is checked for lines wider than 80 columns, and for the things a
person needs being there whole (ids, dates, the restricted counts).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from socialrating.cli import app
from socialrating.policy.load import builtin_path

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, code: int = 0) -> str:
    res = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "80"})
    assert res.exit_code == code, res.output
    long = [line for line in res.stdout.splitlines() if len(line) > 80]
    assert not long, f"cut at 80 columns: {long[:2]}"
    return res.stdout


def flat(text: str) -> str:
    return " ".join(text.split())


def test_demo_to_a_finding(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    demo = cli("demo")
    run = Path("runs/demo")
    hints = re.findall(r"socialrating explain runs/demo --citizen (\d+)", demo)
    assert len(hints) == 2 and hints[0] != hints[1]  # a restricted and a wrongly restricted citizen
    restricted, wrongly = int(hints[0]), int(hints[1])
    cur = pl.read_parquet(run / "current_consequences.parquet").filter(pl.col("kind") == "restriction")
    assert restricted in cur["citizen_id"].to_list()
    w = pl.read_parquet(run / "wrongful.parquet").filter(
        (pl.col("kind") == "restriction") & (pl.col("months_actual") > 0) & (pl.col("months_perfect_data") == 0))
    assert wrongly in w["citizen_id"].to_list()

    listed = cli("citizens", run, "--wrongly", "--limit", "5")
    assert f"{w['citizen_id'].n_unique():,} (synthetic) people wrongly" in flat(listed)

    # read the wrongly restricted person's record, contest their most recent active negative entry
    before = cli("explain", run, "--citizen", wrongly)
    led = pl.read_parquet(run / "ledger.parquet").filter(
        (pl.col("citizen_id") == wrongly) & (pl.col("points") < 0) & (pl.col("state") == "active"))
    entry = led.sort("occurred_on")["entry_id"][-1]
    assert f"entry {entry} " in flat(before)
    acted = cli("contest", run, "--citizen", wrongly, "--entry", entry, "--reason", "not my record")
    assert f"citizen {wrongly}: status" in flat(acted) and "re-scored:" not in acted
    after = cli("explain", run, "--citizen", wrongly)
    assert f"contested by citizen {wrongly}: not my record" in flat(after)

    # compare with the restriction threshold raised from 25 to 35
    pol = tmp_path / "we35.yaml"
    pol.write_text(builtin_path("we-platform").read_text(encoding="utf-8").replace("lt: 25", "lt: 35"),
                   encoding="utf-8")
    cli("run", "--policy", pol, "--out", "runs/we35")
    cmp = cli("compare", run, "runs/we35", "--out", "runs/cmp")
    row = next(x.split() for x in cmp.splitlines() if x.strip().startswith("any-restriction"))
    a_end, b_end = (int(v.replace(",", "")) for v in row[1:3])
    assert b_end > a_end and (Path("runs/cmp") / "compare.html").exists()
    summary = json.loads((Path("runs/cmp") / "summary.json").read_text())
    assert summary["citizens"] == 100_000

    # bring data: the documented schema and its example file, which links to the demo's people
    schema = cli("ingest", "--schema", "--source", "bailiffs")
    assert "examples/ingest/bailiffs.csv" in schema and "enforcement.proceeding" in schema
    got = cli("ingest", ROOT / "examples" / "ingest" / "bailiffs.csv", "--source", "bailiffs", "--into", run)
    assert re.search(r"accepted \(linked\)\W+4\b", got)
    ingested = pl.read_parquet(run / "ingested" / "events.parquet")
    who = ingested.filter(pl.col("record_id") == "EX-BAILIFFS-0001")["citizen_id"][0]
    assert "record EX-BAILIFFS-0001" in flat(cli("explain", run, "--citizen", who))
    assert "ok:" in cli("verify", run)
