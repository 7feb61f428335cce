"""Policy A against policy B on the same synthetic people: one self-contained HTML page.

`write_compare_page(result, out)` takes `audit.compare.compare_runs`'s result and writes
`compare.html` (same style and offline rule as the run report: plotly.js inline, nothing
fetched). It leads with what a reader quotes: how many people each policy restricts, at
the end, ever and wrongly, per consequence; then winners and losers, band moves, and who
gains or loses a restriction by group, with 95% intervals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import polars as pl
from plotly.offline import get_plotlyjs

from ..atomic import write_atomic
from .html import CSS, DIM_LABEL, _Charts, _e, _int, _pct, _table

__all__ = ["write_compare_page", "render_compare", "restricted_rows", "side_name", "HEADLINE_FIGURES"]

#: The figures the page and the terminal lead with, in this order.
HEADLINE_FIGURES = ("at_end", "ever", "wrongly")


def restriction_ids(run_dir: str | Path) -> set[str]:
    """The restrictions of the policy a run folder ran under (from its policy.yaml)."""
    from ..policy.load import parse_policy

    path = Path(run_dir) / "policy.yaml"
    pol = parse_policy(path.read_text(encoding="utf-8"), str(path))
    return {c.id for c in pol.consequences if c.kind == "restriction"}


def restricted_rows(res) -> pl.DataFrame:
    """One row per restriction (any-restriction first) with A, B and B - A of each headline figure."""
    keep = ["any-restriction", *sorted(restriction_ids(res.run_a) | restriction_ids(res.run_b))]
    f = res.tables["figures"].filter(pl.col("figure").is_in(HEADLINE_FIGURES) & pl.col("consequence_id").is_in(keep))
    wide = f.pivot(on="figure", index="consequence_id", values=["a", "b"], aggregate_function="first",
                   maintain_order=True)
    for name in HEADLINE_FIGURES:
        wide = wide.with_columns((pl.col(f"b_{name}") - pl.col(f"a_{name}")).alias(f"d_{name}"))
    return wide


def side_name(res, side: str) -> str:
    """'we-platform (A)', or with the run folder's name when both runs share a policy name."""
    s = res.summary
    name = s.get(f"policy_{side}")
    if s.get("policy_a") == s.get("policy_b"):
        name = f"{name}, {Path(res.run_a if side == 'a' else res.run_b).name}"
    return f"{name} ({side.upper()})"


def _signed(x: Any) -> str:
    return "–" if x is None else f"{int(x):+,}"


def _headline(res, rows: pl.DataFrame) -> str:
    s = res.summary
    a, b = _e(side_name(res, "a")), _e(side_name(res, "b"))
    anyr = rows.filter(pl.col("consequence_id") == "any-restriction")
    lead = ""
    if anyr.height:
        r = anyr.row(0, named=True)
        d = r["d_at_end"]
        more = "more" if d >= 0 else "fewer"
        lead = (f"<p class=\"lede\">Under <b>{b}</b>, <b>{abs(d):,}</b> {more} of the {s['citizens']:,} synthetic "
                f"people are under at least one restriction at the end than under <b>{a}</b> "
                f"({r['a_at_end']:,} against {r['b_at_end']:,}); {r['a_ever']:,} against {r['b_ever']:,} were "
                f"ever restricted, and {r['a_wrongly']:,} against {r['b_wrongly']:,} wrongly "
                "(restricted only because records were wrong).</p>")
    cols = [("consequence_id", "consequence", _e, False)]
    for name, word in zip(HEADLINE_FIGURES, ("at the end", "ever", "wrongly")):
        cols += [(f"a_{name}", f"A: {word}", _int, True), (f"b_{name}", f"B: {word}", _int, True),
                 (f"d_{name}", "B - A", _signed, True)]
    note = ("<p class=\"note\"><b>At the end</b>: people under it in the last month. <b>Ever</b>: in any month "
            "of the run. <b>Wrongly</b>: under it in the run as operated, never with every record corrected. "
            "Consequences are compared by id where both policies have it; the full list of figures is in "
            "<code>figures.parquet</code>.</p>")
    return lead + _table(rows, cols) + note


def _winners(res, chart: _Charts) -> str:
    s = res.summary
    sc = res.tables["status_change"].sort("difference")
    fig = go.Figure(go.Bar(x=sc["difference"].to_list(), y=sc["people"].to_list(), marker_color="#4d4d4d"))
    fig.update_layout(title="People by change in status, B minus A (last month)",
                      xaxis_title="status under B minus status under A", yaxis_title="people", yaxis_type="log")
    return (f"<p>Winners (higher status under B): <b>{s['winners']:,}</b>; losers: <b>{s['losers']:,}</b>; "
            f"unchanged: <b>{s['unchanged']:,}</b>. Median change {s['median_difference']:+.0f}, "
            f"10th-90th percentile {s['p10_difference']:+.0f} to {s['p90_difference']:+.0f}.</p>"
            + chart(fig, "status-change", 380))


def _bands(res) -> str:
    bt = res.tables["band_transitions"]
    if bt.height == 0:
        return "<p class=\"note\">(no bands)</p>"
    order = bt.sort("to_index")["to_band"].unique(maintain_order=True).to_list()
    grid = bt.pivot(on="to_band", index="from_band", values="people", aggregate_function="sum",
                    maintain_order=True).select("from_band", *[c for c in order if c in bt["to_band"].to_list()])
    cols = [("from_band", "status band under A", _e, False)] + [(c, f"to {c} under B", _int, True)
                                                                 for c in grid.columns[1:]]
    return ("<p>People by status band in A's last month (rows) and B's (columns); the diagonal is people whose "
            "band did not change.</p>" + _table(grid, cols))


def _groups(res, chart: _Charts) -> str:
    g = res.tables["changes_by_group"].filter((pl.col("outcome") == "any-restriction") & ~pl.col("suppressed")
                                              & ~pl.col("dimension").str.contains(" x "))
    if g.height == 0:
        return "<p class=\"note\">(no group large enough)</p>"
    g = g.with_columns(pl.col("dimension").replace_strict(DIM_LABEL, default=pl.col("dimension")).alias("dim"))
    fig = go.Figure()
    for name, lo, hi, rate, color in (("gain a restriction under B", "gained_lo", "gained_hi", "gained_rate",
                                       "#b2182b"),
                                      ("lose it under B", "lost_lo", "lost_hi", "lost_rate", "#2166ac")):
        fig.add_trace(go.Bar(
            name=name, x=[f"{d}: {grp}" for d, grp in zip(g["dim"], g["group"])], y=g[rate].to_list(),
            marker_color=color,
            error_y=dict(type="data", symmetric=False, array=(g[hi] - g[rate]).to_list(),
                         arrayminus=(g[rate] - g[lo]).to_list())))
    fig.update_layout(title="Share of each group gaining or losing a restriction under B (95% intervals)",
                      barmode="group", yaxis_tickformat=".1%", xaxis_tickangle=-45)
    cols = [("dim", "dimension", _e, False), ("group", "group", _e, False), ("n", "people", _int, True),
            ("gained", "gain", _int, True), ("gained_rate", "share", _pct, True),
            ("gained_lo", "95% low", _pct, True), ("gained_hi", "95% high", _pct, True),
            ("lost", "lose", _int, True), ("lost_rate", "share", _pct, True),
            ("lost_lo", "95% low", _pct, True), ("lost_hi", "95% high", _pct, True)]
    return (chart(fig, "groups", 520) + _table(g, cols)
            + "<p class=\"note\">Groups under 100 people are left out (their rates are too uncertain); every "
              "group, two-way intersections and every outcome are in <code>changes_by_group.parquet</code>.</p>")


def _winner_groups(res) -> str:
    w = res.tables["winners_by_group"].filter(~pl.col("suppressed")).with_columns(
        pl.col("dimension").replace_strict(DIM_LABEL, default=pl.col("dimension")).alias("dim"))
    cols = [("outcome", "who", _e, False), ("dim", "dimension", _e, False), ("group", "group", _e, False),
            ("n", "people", _int, True), ("affected", "of them", _int, True), ("rate", "share", _pct, True),
            ("rate_lo", "95% low", _pct, True), ("rate_hi", "95% high", _pct, True)]
    return _table(w, cols)


def render_compare(res) -> str:
    """The whole page as one string."""
    s = res.summary
    chart = _Charts()
    rows = restricted_rows(res)
    title = f"{side_name(res, 'a')} against {side_name(res, 'b')}"
    sections = [
        ("restricted", "How many people each policy restricts", _headline(res, rows)),
        ("winners", "Winners and losers", _winners(res, chart)),
        ("bands", "Moves between status bands", _bands(res)),
        ("groups", "Who gains or loses a restriction, by group", _groups(res, chart)),
        ("winner-groups", "Winners and losers by group", _winner_groups(res)),
    ]
    nav = "".join(f'<li><a href="#{k}">{_e(t)}</a></li>' for k, t, _ in sections)
    body = "".join(f'<section id="{k}"><h2>{_e(t)}</h2>{x}</section>' for k, t, x in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{_e(title)}</title><style>{CSS}</style><script>{get_plotlyjs()}</script></head><body><main>"
        f"<h1>{_e(title)}</h1>"
        f"<p class=\"lede\">The same {s['citizens']:,} synthetic people, records and behaviour under two policies: "
        f"A is <code>{_e(res.run_a)}</code>, B is <code>{_e(res.run_b)}</code>. Every difference is the policy's "
        "doing.</p>"
        "<p class=\"banner\"><b>Simulation on synthetic data.</b> Nobody on this page exists.</p>"
        f"<nav><b>Contents</b><ol>{nav}</ol></nav>{body}</main></body></html>\n")


def write_compare_page(res, out: str | Path) -> Path:
    """Write compare.html, summary.json and the comparison's tables into `out`."""
    import json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in res.tables.items():
        write_atomic(out / f"{name}.parquet", lambda p, f=frame: f.write_parquet(p))
    text = json.dumps(res.summary, indent=2, default=str) + "\n"
    write_atomic(out / "summary.json", lambda p: p.write_text(text))
    page = render_compare(res)
    path = out / "compare.html"
    write_atomic(path, lambda p: p.write_text(page, encoding="utf-8"))
    return path
