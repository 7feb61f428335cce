"""The league page: every built-in scheme on the same synthetic nation, on one HTML page.

`write_league_page(out)` reads `league.json` (written by `audit.league.run_league`) and
writes `league.html` into the league folder: one self-contained file in the style of the
run report (same CSS, plotly.js inline, nothing fetched from the network). A reader
comparing schemes first wants to know, per scheme, how many people it restricts now and
ever, how many of them only because the records were wrong, which group it hits hardest,
how much feedback adds, what the linter objects to, and what the rules actually say; the
page gives exactly that, one scheme per row and one section per scheme.
"""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from ..audit.league import MIN_AFFECTED, SchemeRow, read_league
from .html import CSS, PLOT_CONFIG, _e, _int

FIGURE_HELP = (
    "<p class=\"note\"><b>Restricted now</b>: people under at least one restriction on the last day. "
    "<b>Ever</b>: at any month end of the run. <b>Wrongly</b>: restricted in some month only because "
    "records were wrong (the same month with error-free records shows no restriction). <b>Most affected "
    "group</b>: of the groups by federal district, age, sex, income decile and urban/rural with at least "
    "100 people, the one most often restricted, and how many times the overall share that is (only "
    f"when at least {MIN_AFFECTED} people were restricted). "
    "<b>Feedback</b>: share of restriction person-months that exist only because earlier restrictions "
    "changed people's records (lost credit or work). <b>Lint</b>: errors and warnings of "
    "<code>socialrating policy lint</code>.</p>"
)


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _share(n: int, people: int) -> str:
    return f"{n:,} ({100 * n / people:.1f}%)" if people else f"{n:,}"


def _row(r: SchemeRow) -> str:
    grp = (f"– (fewer than {MIN_AFFECTED} restricted)" if r.group is None
           else f"{_e(r.group)} (&times;{r.group_ratio:.2f})")
    lint_cls = ' class="n sev-error"' if r.lint_errors else ' class="n"'
    return (f'<tr><td><a href="#s-{_e(r.name)}">{_e(r.name)}</a></td>'
            f'<td class="n">{_share(r.restricted_end, r.people)}</td>'
            f'<td class="n">{_share(r.restricted_ever, r.people)}</td>'
            f'<td class="n">{_int(r.wrongful)}</td><td>{grp}</td>'
            f'<td class="n">{_pct(r.feedback_share)}</td>'
            f"<td{lint_cls}>{r.lint_errors} / {r.lint_warnings}</td></tr>")


def _table(rows: list[SchemeRow]) -> str:
    head = ("<tr><th>scheme</th><th>restricted now</th><th>ever</th><th>wrongly</th>"
            "<th>most affected group (ratio to all)</th><th>feedback</th><th>lint errors / warnings</th></tr>")
    return f'<table id="league-table"><thead>{head}</thead><tbody>{"".join(_row(r) for r in rows)}</tbody></table>'


def _chart(rows: list[SchemeRow]) -> str:
    names = [r.name for r in rows]
    fig = go.Figure()
    for label, vals, color in (("restricted ever", [r.restricted_ever for r in rows], "#b2182b"),
                               ("restricted now", [r.restricted_end for r in rows], "#ef8a62"),
                               ("wrongly restricted", [r.wrongful for r in rows], "#2166ac")):
        fig.add_trace(go.Bar(name=label, x=names, y=vals, marker_color=color))
    fig.update_layout(barmode="group", template="plotly_white", height=420, yaxis_title="people",
                      title="People restricted by each scheme (same synthetic nation)",
                      margin=dict(l=60, r=30, t=60, b=120), font=dict(family="system-ui, Arial, sans-serif", size=13))
    div = fig.to_html(include_plotlyjs=False, full_html=False, div_id="chart-league", config=PLOT_CONFIG,
                      default_height="420px", default_width="100%")
    return f'<div class="chart">{div}</div>'


def _scheme(r: SchemeRow) -> str:
    rules = "".join(f"<li><code>{_e(x)}</code></li>" for x in r.rules)
    cons = "".join(f"<li>{_e(x)}</li>" for x in r.consequences) or "<li>(none)</li>"
    findings = [f for f in r.lint if f["severity"] in ("error", "warning")]
    lint = "".join(f'<li><span class="sev-{_e(f["severity"])}">{_e(f["severity"])}</span> '
                   f'<code>{_e(f["code"])}</code> at {_e(f["target"])} [{_e(f["anchor"])}]</li>' for f in findings)
    return (f'<section id="s-{_e(r.name)}"><h3>{_e(r.name)} <small>{_e(r.version)}</small></h3>'
            f"<p>{_e(r.title)}. {r.assumptions} assumption(s) where the sources give no number "
            f"(see the policy file in <code>{_e(r.name)}/policy.yaml</code>).</p>"
            f"<p><b>Rules</b>, one per line:</p><ul>{rules}</ul>"
            f"<p><b>Consequences</b>:</p><ul>{cons}</ul>"
            f"<details><summary>Linter: {r.lint_errors} error(s), {r.lint_warnings} warning(s)</summary>"
            f"<ul>{lint or '<li>(none)</li>'}</ul></details>"
            f"<p class=\"note\">Full report of this scheme: <code>socialrating report {_e(r.name)}</code> "
            "in the league folder.</p></section>")


def render_league(params: dict, rows: list[SchemeRow]) -> str:
    """The whole page as one string (no file access)."""
    people = rows[0].people if rows else params.get("people", 0)
    title = "All schemes side by side"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{title}</title><style>{CSS}</style>"
        f"<script>{get_plotlyjs()}</script></head><body><main>"
        f"<h1>{title}</h1>"
        f"<p class=\"lede\">{len(rows)} rating schemes, each run on the same {people:,} synthetic people "
        f"and the same records for {_e(params.get('years'))} year(s) from {_e(params.get('start'))} "
        f"(seed {_e(params.get('seed'))}, world {_e(params.get('world'))}).</p>"
        "<p class=\"banner\"><b>Simulation on synthetic data.</b> Nobody on this page exists. Each scheme is "
        "modelled as reported, with its references and the assumptions made where the reports give no number; "
        "some claims have no primary source, and their policies say so.</p>"
        f'<section id="league"><h2>The league</h2>{_table(rows)}{FIGURE_HELP}{_chart(rows)}</section>'
        f'<section id="schemes"><h2>The schemes and their rules</h2>{"".join(_scheme(r) for r in rows)}</section>'
        "</main></body></html>\n"
    )


def write_league_page(out: str | Path) -> Path:
    """Write `league.html` in the league folder from its `league.json`."""
    params, rows = read_league(out)
    path = Path(out) / "league.html"
    path.write_text(render_league(params, rows), encoding="utf-8")
    return path
