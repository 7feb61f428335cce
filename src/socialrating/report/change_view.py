"""What one contest or review changed for the citizen concerned, on a terminal.

A contest re-scores the whole run, but the person acting wants to know what *their*
action did: the entry's state, their status and level before and after, and which
consequences were lifted or added. Both pictures come from the run folder's tables
(current_ratings, current_consequences) read before and after the action.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
from rich.console import Console

from ..store.runfolder import RunFolder

__all__ = ["snapshot", "entry_owner", "entry_brief", "change_summary", "render_change"]


def snapshot(run_dir: str | Path, citizen: int) -> dict[str, Any]:
    """The citizen's rating and the consequences in force on the rating date."""
    run = RunFolder(run_dir)
    r = run.scan("current_ratings").filter(pl.col("citizen_id") == citizen).collect()
    c = (run.scan("current_consequences").filter(pl.col("citizen_id") == citizen)
         .select(pl.col("consequence_id").cast(pl.String), "until").collect())
    row = r.row(0, named=True) if r.height else {}
    return {"status": row.get("status"), "level": row.get("level"),
            "band": None if row.get("band") is None else str(row["band"]),
            "consequences": {cid: (u.isoformat() if u else None) for cid, u in c.iter_rows()}}


def entry_brief(run_dir: str | Path, entry: int) -> str:
    """'exit-ban -20 on 2026-04-24 (bailiffs record FSP-1157...)': the entry acted on."""
    e = RunFolder(run_dir).scan("ledger").filter(pl.col("entry_id") == entry).collect()
    if not e.height:
        return f"entry {entry}"
    r = e.row(0, named=True)
    return (f"entry {entry}: {r['rule_id']} {r['points']:+d} on {r['occurred_on']} "
            f"({r['source']} record {r['record_id']}), now {r['state']}")


def entry_owner(run_dir: str | Path, entry: int) -> int | None:
    """The citizen an entry belongs to (None if the ledger has no such entry)."""
    hit = (RunFolder(run_dir).scan("ledger").filter(pl.col("entry_id") == entry)
           .select("citizen_id").collect())
    return int(hit.item()) if hit.height else None


def change_summary(before: dict, after: dict) -> dict[str, Any]:
    """Before/after numbers and the consequences lifted and added (plain data for --json)."""
    b, a = set(before["consequences"]), set(after["consequences"])
    out = {k: {"before": before[k], "after": after[k]} for k in ("status", "level", "band") if before[k] is not None}
    out["consequences_lifted"] = sorted(b - a)
    out["consequences_added"] = sorted(a - b)
    out["consequences_still_in_force"] = sorted(a & b)
    return out


def render_change(console: Console, citizen: int, ch: dict, entry: str) -> None:
    def arrow(k: str) -> str:
        v = ch[k]
        fmt = (lambda x: f"{x:02d}") if k != "band" else str
        return f"{k} {fmt(v['before'])}" + ("" if v["before"] == v["after"] else f" -> {fmt(v['after'])}")

    nums = ", ".join(arrow(k) for k in ("status", "level", "band") if k in ch)
    console.print(f"  {entry}", highlight=False)
    console.print(f"  citizen {citizen}: {nums}", highlight=False)
    for label, key in (("lifted", "consequences_lifted"), ("added", "consequences_added"),
                       ("still in force", "consequences_still_in_force")):
        if ch[key]:
            console.print(f"  consequences {label}: {', '.join(ch[key])}", highlight=False)
    if not ch["consequences_lifted"] and not ch["consequences_added"]:
        console.print("  no consequence was lifted or added", highlight=False)
