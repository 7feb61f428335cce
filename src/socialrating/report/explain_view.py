"""One citizen's record on a terminal: `socialrating explain` as text.

Laid out as one block per entry, not as a table, because a table at 80 columns cuts
the very things a person needs to contest an entry (seven-digit entry ids, full dates,
the source and the record id). Each block is a few short lines that wrap but are never
cut, piped or not, and carries the entry's contest history from the ledger store.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

__all__ = ["render_explain", "render_recourse", "contest_lines"]


def _p(console: Console, text: str) -> None:
    console.print(text, highlight=False, overflow="fold")


def contest_lines(history: list[dict]) -> list[str]:
    """The contest history of one entry, one line per recorded change, oldest first."""
    lines = []
    for h in history:
        verb = {"contested": "contested by", "overturned": "overturned by",
                "upheld": "upheld by"}.get(h["new_state"], f"{h['new_state']} by")
        lines.append(f"{h['at']}  {verb} {h['actor']}: {h['reason']} (change {h['change_id']})")
    return lines


def _entry_block(console: Console, i: int, e: dict, refs: dict[str, int], history: list[dict]) -> None:
    cnt = ("counts in status and level" if e["counts_in_level"]
           else "counts in status" if e["counts_in_status"] else "does not count")
    pts = f"{e['points']:+d}"
    if e["points"] != e["points_before_cap"]:
        pts += f" (capped from {e['points_before_cap']:+d})"
    ends = (f"closed {e['closed_on']}" if e["closed_on"]
            else f"expires {e['expires_on']}" if e["expires_on"] else "never expires")
    k = refs.setdefault(e["reference"], len(refs) + 1)
    _p(console, f"[bold]{i}. entry {e['entry_id']}[/]  {e['occurred_on']}  {escape(e['rule_id'])}  "
                f"[bold]{pts}[/]  {e['state']}")
    _p(console, f"   {cnt}; {ends}")
    _p(console, f"   source {escape(e['source'])}, record {escape(str(e['record_id']))}")
    _p(console, f"   rule: {escape(e['rule'])} [{k}]")
    for line in contest_lines(history):
        _p(console, f"   {escape(line)}")


def render_explain(console: Console, x: dict) -> None:
    """Print the record `engine.explain.explain` built (plus its `contest_history`)."""
    _p(console, f"[bold]Citizen {x['citizen_id']}[/] (synthetic) under {x['policy']}, as of {x['as_of']}")
    rc = x["recomputed"]
    band = f", band {rc['band']}" if "band" in rc else ""
    match = {True: "matches the rating on file", False: "DOES NOT match the rating on file",
             None: "no rating on file"}[x["matches_rating_on_file"]]
    _p(console, f"status [bold]{rc['status']:02d}[/], level [bold]{rc['level']:02d}[/]{band}"
                f"  (recomputed from the entries below; {match})")
    _p(console, f"  status: {x['arithmetic']['status']}")
    _p(console, f"  level:  {x['arithmetic']['level']}")
    history = x.get("contest_history", {})
    _p(console, f"\n[bold]Entries ({len(x['entries'])})[/], oldest first")
    refs: dict[str, int] = {}
    for i, e in enumerate(x["entries"], 1):
        _entry_block(console, i, e, refs, history.get(str(e["entry_id"]), []))
    if refs:
        _p(console, "References:")
        for ref, k in refs.items():
            _p(console, f"  [{k}] {escape(ref)}")
    if x.get("contest_history_note"):
        _p(console, f"({x['contest_history_note']})")
    if not x["consequences"]:
        _p(console, "\nNo consequence in force.")
        return
    _p(console, f"\n[bold]Consequences in force ({len(x['consequences'])})[/]")
    for c in x["consequences"]:
        via = (f" (via household member {c['via_household_member']})"
               if c["via_household_member"] is not None else "")
        review = "human review" if c["human_review"] else "automatic, no human review"
        _p(console, f"[bold]{c['consequence_id']}[/] ({c['kind']}, {c['context']}): {escape(c['because'])}{via}")
        _p(console, f"   since {c['since'] or 'unknown'}; until {c['until'] or 'while it holds'}; {review}")
        render_recourse(console, c)


def _lifts_line(c: dict, lifts: dict) -> str:
    if lifts["on"] is None:
        never = ", ".join(str(e["entry_id"]) for e in lifts["never_ending_entries"])
        return ("(a) with no new events it does not lift by itself"
                + (f" (entries that never end: {never})" if never else ""))
    ending, leaving = lifts["entries_ending"], lifts.get("entries_leaving_level_window", [])
    last = [f"{e['entry_id']} ({e['rule_id']} {e['points']:+d}) ends" for e in ending
            if e["ends_on"] == lifts["on"]]
    last += [f"{e['entry_id']} ({e['rule_id']} {e['points']:+d}) leaves the level window" for e in leaving
             if e["leaves_level_window_on"] == lifts["on"]]
    verb = "lifts" if c["kind"] == "restriction" else "lapses"
    more = (f" (by then {len(ending)} entr{'y ends' if len(ending) == 1 else 'ies end'}"
            + (f" and {len(leaving)} leave the level window" if leaving else "") + "; --json lists them)")
    return f"(a) with no new events it {verb} on {lifts['on']}" + (f" when {', '.join(last)}" if last else "") + more


def _offset_line(off: dict | None) -> str:
    if off is None:
        return "(c) no amount of new positive points lifts it (the condition is not score-based)"
    ways = []
    for w in off["rules"]:
        if w.get("events") is not None:
            ways.append(f"{w['events']} x {w['rule_id']} ({w['points_per_event']:+d} each)")
        elif w.get("units") is not None:
            ways.append(f"{w['rule_id']}: {w['units']} {w['unit']} in one event ({w['points_per_unit']:g} a unit)")
        else:
            ways.append(f"not {w['rule_id']} ({w['why_not']})")
    return f"(c) offset: {off['points']} new positive points; e.g. " + "; ".join(ways)


def render_recourse(console: Console, c: dict) -> None:
    """The ways out of one consequence: when it lifts, what to overturn, what offsets it."""
    r = c.get("recourse")
    if not r:
        return
    _p(console, f"   condition: {escape(r['condition'])}")
    if "via_household_member" in r:
        _p(console, f"   {escape(r['note'])}")
        return
    _p(console, "   " + escape(_lifts_line(c, r["lifts_without_new_events"])))
    if c["kind"] != "restriction":
        return
    ov = r["overturn"]
    if ov is None:
        _p(console, "   (b) overturning entries cannot lift it: the condition holds with no entries at all")
    else:
        ids = ", ".join(f"{e['entry_id']} ({e['rule_id']}, {e['points']:+d}, {e['occurred_on']})"
                        for e in ov["entries"])
        after = ", ".join(f"{k} {v}" for k, v in ov["after"].items())
        proven = "" if ov["exact"] else ", search truncated: not proven smallest"
        _p(console, f"   (b) smallest set to overturn ({ov['size']} entr{'y' if ov['size'] == 1 else 'ies'}"
                    f"{proven}): {escape(ids)}; then {after}")
    _p(console, "   " + escape(_offset_line(r["offset"])))
