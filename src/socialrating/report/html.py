"""One self-contained HTML report of a run: open it offline, send it by e-mail.

`write_report(run_dir)` audits the run (socialrating.audit) and writes `report.html` into
the run folder. Charts are Plotly figures; plotly.js is embedded once, inline, so the
file loads nothing from the network. Everything else is plain HTML and CSS.

Written for readers who are not statisticians: every number says what it counts, and a
"How to read this report" section explains shares, ratios, intervals and the versions
of the run (the scenarios of store.runfolder.SCENARIOS).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Callable

import polars as pl

from ..atomic import write_atomic
from ..audit import AuditResult, audit_run
from ..audit.calibration import calibration_section
from ..audit.figures import (BY_NAME, DENOMINATOR_WORDS, FIGURES, SCENARIO_WORDS, SETTLE_MONTHS, SETTLE_TOLERANCE,
                             label, settling_note)
from ..audit.wrongful import MIN_EXPECTED, worked_example

try:  # plotly is needed to draw; the import error says how to get it
    import plotly.graph_objects as go
    from plotly.offline import get_plotlyjs
    from plotly.subplots import make_subplots
except ImportError as exc:  # pragma: no cover
    raise ImportError("the HTML report needs plotly: pip install plotly") from exc

ANY_NAME = {"any-restriction": "any restriction", "any-privilege": "any privilege"}
SCENARIO_LABEL = {"actual": "as run (with data errors and feedback)", "perfect_data": "with error-free data",
                  "no_feedback": "without feedback", "no_appeals": "if nobody appealed"}
SCENARIO_STYLE = {"actual": dict(color="#b2182b", width=3), "perfect_data": dict(color="#2166ac", dash="dash"),
                  "no_feedback": dict(color="#4d9221", dash="dot"), "no_appeals": dict(color="#7b3294", dash="dashdot")}
DIM_LABEL = {"overall": "Everyone", "district": "Federal district", "age_band": "Age", "sex": "Sex",
             "income_decile": "Income decile (1 = poorest tenth)", "area": "Urban or rural"}
PLOT_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["sendDataToCloud"]}

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:0;color:#1b1b1b;background:#fafafa;line-height:1.45}
main{max-width:1100px;margin:0 auto;padding:1.5rem 1.2rem 4rem;background:#fff}
h1{font-size:1.7rem;margin:.2rem 0 .4rem} h2{margin-top:2.4rem;border-bottom:2px solid #ddd;padding-bottom:.2rem}
h3{margin-top:1.6rem} .lede{color:#444;font-size:1.05rem}
.banner{background:#fff4e5;border-left:5px solid #e08a00;padding:.6rem .9rem;margin:1rem 0}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(245px,1fr));gap:.8rem;margin:1rem 0}
.card{border:1px solid #ddd;border-radius:8px;padding:.7rem .8rem;background:#fcfcfc}
.card .v{font-size:1.6rem;font-weight:700} .card .k{font-weight:600;margin:.1rem 0 .25rem} .card .d{font-size:.86rem;color:#444}
table{border-collapse:collapse;margin:.6rem 0 1rem;font-size:.86rem;width:100%}
th,td{border:1px solid #ddd;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#f0f0f0} td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.flag td{background:#fdecea} tr.sup td{color:#888;font-style:italic}
details{margin:.5rem 0} summary{cursor:pointer;font-weight:600}
.chart{margin:.8rem 0 1.4rem;border:1px solid #eee} .note{font-size:.88rem;color:#444}
pre{background:#f6f6f6;padding:.8rem;overflow:auto;font-size:.8rem;max-height:32rem}
nav ol{columns:2;font-size:.95rem} code{background:#f3f3f3;padding:0 .2rem}
.unsettled{color:#b35900;font-weight:600}
.sev-error{color:#b2182b;font-weight:700} .sev-warning{color:#b35900;font-weight:600}
"""


# ------------------------------------------------------------------ formatting
def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def _int(x: Any) -> str:
    return "–" if x is None else f"{int(x):,}"


def _pct(x: Any, d: int = 1) -> str:
    return "–" if x is None else f"{100 * float(x):.{d}f}%"


def _num(x: Any, d: int = 2) -> str:
    return "–" if x is None else f"{float(x):.{d}f}"


def _flag(x: Any) -> str:
    return "–" if x is None else ("yes" if x else "no")


Col = tuple[str, str, Callable[[Any], str], bool]  # column, header, formatter, numeric


def _table(frame: pl.DataFrame, cols: list[Col], *, row_class: Callable[[dict], str] | None = None,
           limit: int | None = None) -> str:
    if frame.height == 0:
        return '<p class="note">(no rows)</p>'
    head = "".join(f"<th>{_e(h)}</th>" for _, h, _, _ in cols)
    rows = []
    for i, r in enumerate(frame.iter_rows(named=True)):
        if limit is not None and i >= limit:
            break
        cls = row_class(r) if row_class else ""
        cells = "".join(f'<td class="n">{f(r.get(c))}</td>' if num else f"<td>{f(r.get(c))}</td>"
                        for c, _, f, num in cols)
        rows.append(f'<tr class="{cls}">{cells}</tr>' if cls else f"<tr>{cells}</tr>")
    more = ""
    if limit is not None and frame.height > limit:
        more = f'<p class="note">First {limit} of {frame.height:,} rows; all rows are in the audit folder.</p>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}"


def _data(fid: str) -> str:
    return f' data-figure="{_e(fid)}"' if fid else ""


def _t(x: Any) -> str:
    return _e(x)


TOOLBAR = 30  # px: plotly's toolbar row at the top right of every chart
TITLE_TOP = 80  # px above the plot: the toolbar row, then the title
MENU_TOP = 150  # px above the plot when there is a menu: toolbar row, title, menu


def _title(text: str) -> dict:
    """A chart title at the left, in its own row under the toolbar's and above the menu's."""
    return dict(text=text, x=0, xref="paper", xanchor="left", y=1, yref="container", yanchor="top",
                pad=dict(t=TOOLBAR + 4))


def _menu(buttons: list[dict], active: int) -> dict:
    """A drop-down menu on its own row between the title and the plot, at the left: the
    toolbar (top right) and the title (top) stay clear of it."""
    return dict(buttons=buttons, active=active, x=0, xanchor="left", y=1.03, yanchor="bottom", direction="down",
                pad=dict(t=0, b=0))


class _Charts:
    """Collects figures as <div>s; numbered ids."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, fig: "go.Figure", name: str, height: int = 420) -> str:
        self.n += 1
        if fig.layout.title.text and fig.layout.title.yref is None:
            fig.update_layout(title=_title(fig.layout.title.text))
        # the title sits under the toolbar's row (so they never meet, however narrow the page); a chart with
        # a menu or subplot titles asks for more room
        top = max(fig.layout.margin.t if fig.layout.margin.t is not None else 0, TITLE_TOP)
        fig.update_layout(template="plotly_white", height=height, margin=dict(l=60, r=30, t=top, b=60),
                          font=dict(family="system-ui, Arial, sans-serif", size=13))
        div = fig.to_html(include_plotlyjs=False, full_html=False, div_id=f"chart-{self.n}-{name}",
                          config=PLOT_CONFIG, default_height=f"{height}px", default_width="100%")
        return f'<div class="chart">{div}</div>'


# ------------------------------------------------------------------ the report
def write_report(run_dir: str | Path, *, audit: AuditResult | None = None, out: str | Path | None = None,
                 **audit_options: Any) -> Path:
    """Audit `run_dir` (unless `audit` is given) and write one self-contained HTML file,
    `report.html` in the run folder by default. Returns its path."""
    run_dir = Path(run_dir)
    if audit is None:
        audit = audit_run(run_dir, **audit_options)
    from ..audit._run import load_run

    run = load_run(run_dir)
    page = _Page(run, audit)
    path = Path(out) if out is not None else run_dir / "report.html"
    text = page.render()
    write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))
    return path


# ------------------------------------------------------------------ record linkage
def _linkage(data: dict) -> str:
    """The record-linkage tables: one row per source (linkage.json 'sources') plus all
    sources together ('overall'), then what happened to each kind of generated error."""
    def row(name: str, v: dict) -> dict:
        q = v.get("quarantined_by_reason") or {}
        return {"source": name, "records": v.get("records", (v.get("linked") or 0) + (v.get("quarantined") or 0)),
                "linked": v.get("linked"), "quarantined": v.get("quarantined"),
                "reasons": ", ".join(f"{k}: {n:,}" for k, n in sorted(q.items())),
                "wrong": v.get("wrongly_linked", (v.get("linked") or 0) - (v.get("correct") or 0)),
                "precision": v.get("precision"), "recall": v.get("recall")}

    sources = data.get("sources") or {}
    rows = [row(k, v) for k, v in sorted(sources.items()) if isinstance(v, dict)]
    if isinstance(data.get("overall"), dict):
        rows.append(row("all sources", data["overall"]))
    if not rows:
        return ""
    out = ("<h3>Record linkage</h3><p>Each source's records have to be matched to a person (by SNILS, INN, passport, "
           "phone or name). Precision is the share of matches that were right; recall the share of records that "
           f"found their right person. Wrong matches are one source of wrong records. {len(sources)} sources.</p>"
           + _table(pl.DataFrame(rows, infer_schema_length=None), [
               ("source", "source", _t, False), ("records", "records", _int, True), ("linked", "linked", _int, True),
               ("wrong", "linked to the wrong person", _int, True), ("quarantined", "set aside", _int, True),
               ("reasons", "why set aside", _t, False), ("precision", "precision", lambda x: _pct(x, 2), True),
               ("recall", "recall", lambda x: _pct(x, 2), True)]))
    kinds = data.get("by_error_kind") or {}
    if kinds:
        ek = pl.DataFrame([{"kind": k, **{c: v.get(c) for c in ("linked_correct", "linked_wrong", "quarantined")}}
                           for k, v in sorted(kinds.items()) if isinstance(v, dict)], infer_schema_length=None)
        out += ("<p>What became of each kind of error the synthetic sources made (\"none\": correct records):</p>"
                + _table(ek, [("kind", "kind of error", _t, False),
                              ("linked_correct", "linked to the right person", _int, True),
                              ("linked_wrong", "linked to the wrong person", _int, True),
                              ("quarantined", "set aside", _int, True)]))
    return out


# ------------------------------------------------------------------ extra sections
def extra_sections(run, audit: AuditResult) -> list[tuple[str, str, str]]:
    """(id, title, html) of sections other modules add, placed before "The run".

    Each block below is delimited and owned by the work that adds it; a block returns
    nothing when its inputs are absent from the run folder."""
    out: list[tuple[str, str, str]] = []
    # the run against the published figures (audit/calibration.py)
    out.append(("calibration", "Calibration: the run against published figures", calibration_section(run.path)))
    return out


class _Page:
    def __init__(self, run, audit: AuditResult):
        self.run, self.a, self.h = run, audit, audit.headline
        self.chart = _Charts()
        self.min_n = audit.parameters.get("min_group_size", 100)
        self.names = self._names()

    def _names(self) -> dict[str, str]:
        names = {"any-restriction": "Any restriction", "any-privilege": "Any privilege"}
        if self.run.policy is not None:
            for c in self.run.policy.consequences:
                names[c.id] = f"{c.id}: {c.description}"
        return names

    def name(self, cid: str) -> str:
        return self.names.get(cid, cid)

    # -------------------------------------------------------------- assembly
    def render(self) -> str:
        sections = [
            ("how", "How to read this report", self.how_to_read()),
            ("headline", "The main numbers", self.headline()),
            ("figures", "Every figure, defined once", self.figures()),
            ("distribution", "Status and level", self.distribution()),
            ("consequences", "Who is under which consequence", self.consequences()),
            ("groups", "Which groups bear it", self.groups()),
            ("wrongful", "Wrongly affected: data errors", self.wrongful()),
            ("mobility", "Traps: moving between bands and getting out", self.mobility()),
            ("policy", "The policy: rules, consequences and their sources", self.policy()),
            ("lint", "Problems the policy linter found", self.lint()),
        ]
        sections += extra_sections(self.run, self.a)
        sections.append(("run", "The run: manifest, record linkage and files", self.manifest()))
        nav = "".join(f'<li><a href="#{k}">{_e(t)}</a></li>' for k, t, _ in sections)
        body = "".join(f'<section id="{k}"><h2>{_e(t)}</h2>{s}</section>' for k, t, s in sections)
        m = self.run.manifest
        pol = m.get("policy") or {}
        title = f"Audit of a simulated social rating: {pol.get('name') or self.h.get('policy') or 'run'}"
        return (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(title)}</title><style>{CSS}</style>"
            f"<script>{get_plotlyjs()}</script></head><body><main>"
            f"<h1>{_e(title)}</h1>"
            f"<p class=\"lede\">Policy <b>{_e(pol.get('name'))}</b> version {_e(pol.get('version'))}, "
            f"{_int(self.h['citizens'])} synthetic people, {self.h['months']} months "
            f"({_e(self.h['first_month'])} to {_e(self.h['last_month'])}), seed {_e(m.get('seed'))}.</p>"
            "<p class=\"banner\"><b>Simulation on synthetic data.</b> Nobody in this report exists. The people, "
            "their records and the errors in those records are generated; the rules are a model of a proposed "
            "or reported rating scheme. The numbers show what the rules would do to a population like this, not "
            "what has happened to anyone.</p>"
            f"<nav><b>Contents</b><ol>{nav}</ol></nav>{body}"
            f"<p class=\"note\">Made by socialrating {_e((m.get('software') or {}).get('socialrating', ''))}".rstrip() + ". "
            "All tables are also in the run folder's <code>audit/</code> directory as Parquet files, and the "
            "headline numbers in <code>audit.json</code>.</p>"
            "</main></body></html>\n"
        )

    # -------------------------------------------------------------- sections
    def how_to_read(self) -> str:
        n = self.min_n
        return f"""
<p>A <b>social rating</b> turns records about a person (fines, debts, court cases, volunteering,
awards...) into points, the points into a score, and the score into <b>consequences</b>:
<b>restrictions</b> (for example no plane tickets, no loans) and <b>privileges</b> (for example priority
for jobs or housing). This report follows a synthetic population month by month under one such policy.</p>
<ul>
<li><b>Status</b> and <b>level</b> are the two scores, from 00 (worst) to 99 (best). Status counts every
record still in force; level only the recent ones.</li>
<li><b>People affected</b> ("ever") counts a person once if a consequence applied to them in any month of
the run; "at the end" counts those under it in the last month. Every such figure is defined once, in the
section "Every figure, defined once". <b>Share</b> is that count divided by everyone in the group
(children included, unless the row is a children's group); in the figures and in "Who is wrongly
restricted", a consequence no child is under in their own right is a share of the adults. <b>Mean months</b> is how long it lasted on average for those affected, counting
only months inside the run.</li>
<li><b>Three versions of the same run.</b> "As run" is the rating as it would operate: some records are
wrong (a debt that was paid, a fine of someone with the same name), and the rating feeds back into life
(a restricted person finds it harder to keep a job and pay debts, which lowers the score further).
"With error-free data" is the same people with every wrong record corrected. "Without feedback" is the
same people where the score changes nothing in their lives. The difference between "as run" and the
other two shows what errors and feedback do.</li>
<li><b>Wrongly affected</b> means the consequence happened only because of wrong records: with correct
data it would not have applied at all.</li>
<li><b>Ratio to overall</b>: 1.0 means a group is affected as often as the population as a whole; 2.0
means twice as often; 0.5 half as often.</li>
<li><b>The four-fifths rule</b> is the usual test for unequal treatment in US employment law: a group
is flagged when its rate of the good outcome is below 80% (four fifths) of the best-off group's.
For rare restrictions that test hardly ever fires (being free of a restriction 90% vs 98% of the time
is a ratio of 0.92), so for restrictions we also flag a group when the least-affected group's rate is
below four fifths of its own ("harm flag"; for example 10% against 2%). Flagged rows are shaded.
A flag is a reason to look closer, not proof: it ignores chance. The column "beyond chance" says
whether the group's 95% interval also lies wholly on the worse side of everyone's rate.</li>
<li><b>95% intervals</b> (the ranges in brackets or the whiskers on bars) show how much a rate could
move by chance alone in a population of this size: we re-draw the people of each group at random
{self.a.parameters.get('replicates', 400)} times (a "bootstrap") and keep the middle 95% of results. Wide
intervals mean small groups; do not read much into differences whose intervals overlap a lot.</li>
<li><b>Suppressed</b>: groups with fewer than {n} people are not shown (rates of tiny groups jump around
and could single out individuals); the group size is still given.</li>
<li><b>Settled</b>: a run that starts with nobody restricted fills up month by month. A headline figure is
marked "not settled" when its series still moved by more than {int(SETTLE_TOLERANCE * 100)}% of its level over
the last {SETTLE_MONTHS} months (along a straight-line fit): the figure then depends on when the run stopped.</li>
<li><b>Recovery</b>: of the people who enter a restriction, the share still restricted after 3, 6, 12 and
24 months. People still restricted when the run ends are counted for the months we saw and no further
(a "Kaplan-Meier" estimate), so the curve is not biased by the end of the run.</li>
</ul>"""

    # -------------------------------------------------------------- figures
    def fig(self, cid: str) -> dict[str, Any]:
        """The figures of one consequence (audit/figures.py), as {name: value}."""
        r = self.a.tables["figures"].filter(pl.col("consequence_id") == cid)
        return r.row(0, named=True) if r.height else {}

    def settle(self, cid: str, series: str) -> str:
        """'' when the series has settled, else a warning to print next to the figure."""
        st = self.a.tables.get("settling")
        if st is None:
            return ""
        r = st.filter((pl.col("consequence_id") == cid) & (pl.col("series") == series))
        note = settling_note(r.row(0, named=True) if r.height else None)
        return f' <span class="unsettled">({_e(note)})</span>' if note else ""

    def _share(self, f: dict[str, Any], name: str) -> str:
        den = BY_NAME[name].denominator
        if not den or f.get(name) is None:
            return ""
        d = f["population"] if den == "population" else f.get(den)
        if not d:
            return ""
        what = {"population": "adults" if f.get("adult_only") else "everyone",
                "ever": label("ever", f["consequence_id"]), "at_end": label("at_end", f["consequence_id"]),
                "person_months": label("person_months", f["consequence_id"])}[den]
        return f" That is {_pct(f[name] / d, 2)} of {_e(what)} ({_int(d)})."

    def headline(self) -> str:
        h = self.h
        cards: list[tuple[str, str, str, str]] = []

        def add(value: str, key: str, desc: str, fid: str = "") -> None:
            cards.append((value, key, desc, fid))

        r = self.fig("any-restriction")
        notes = {"at_end": self.settle("any-restriction", "under it"),
                 "wrongly": self.settle("any-restriction", "wrongly under it")}
        for name in ("at_end", "ever", "wrongly", "wrongful_months", "longer", "feedback_months",
                     "prevented_by_appeals"):
            if r.get(name) is None:
                continue
            f = BY_NAME[name]
            add(_int(r[name]), label(name, "any-restriction"),
                f"{_e(f.definition[0].upper() + f.definition[1:])}.{self._share(r, name)}{notes.get(name, '')}",
                f"any-restriction:{name}")
        p = self.fig("any-privilege")
        if p:
            add(_int(p["ever"]), label("ever", "any-privilege"),
                f"{_e(BY_NAME['ever'].definition.capitalize())}.{self._share(p, 'ever')}", "any-privilege:ever")
        if h.get("top_error_source"):
            add(_e(h["top_error_source"]), "source behind most wrongful restrictions",
                f"its wrong records are behind {_int(h.get('top_error_source_people'))} people wrongly under a "
                "restriction (a person with wrong records from several sources counts under each).")
        ld = h.get("largest_disparity")
        if ld:
            add(f"{ld['times']:.1f}×", "largest gap between groups",
                f"by {DIM_LABEL.get(ld['dimension'], ld['dimension']).lower()}: {_pct(ld['rate_most'])} of "
                f"'{_e(ld['most_affected'])}' were restricted against {_pct(ld['rate_least'])} of "
                f"'{_e(ld['least_affected'])}'.")
        add(_int(h.get("groups_clearly_flagged_any_restriction")), "groups clearly over-restricted",
            "groups (including two-way combinations such as women aged 25-34) that the four-fifths harm test "
            "flags and whose 95% interval lies wholly above everyone's rate; "
            f"{_int(h.get('groups_flagged_any_restriction'))} groups are flagged before allowing for chance.")
        add(_pct(h.get("still_restricted_after_12_months")), "still restricted after a year",
            "of restriction spells, the estimated share lasting more than 12 months"
            + (f"; half are over within {h['restriction_median_months']} months." if h.get("restriction_median_months")
               is not None else "; more than half were still running at the end of the run."))
        if h.get("started_in_worst_band"):
            add(_pct(h.get("still_in_worst_band_share")), f"stuck in the lowest band ({_e(h['worst_band'])})",
                f"of the {_int(h['started_in_worst_band'])} people who started the run in the lowest band, "
                "this share was still there at the end.")
        add(_num(h.get("status_mean_last_month"), 1), "average status in the last month",
            f"median {_num(h.get('status_median_last_month'), 0)}, on the 00-99 scale.")
        html_cards = "".join(f'<div class="card"{_data(fid)}><div class="v">{v}</div>'
                             f'<div class="k">{_e(k)}</div><div class="d">{d}</div></div>' for v, k, d, fid in cards)
        return f'<div class="cards">{html_cards}</div>'

    def figures(self) -> str:
        """Every figure for every consequence, with its definition: the numbers to quote."""
        t = self.a.tables["figures"]
        cols: list[Col] = [("consequence_id", "consequence", _t, False)] + [
            (f.name, f.short, _int, True) for f in FIGURES]
        gloss = "".join(
            f"<li><b>{_e(f.short)}</b> ({_e(f.unit)}; {_e(SCENARIO_WORDS.get(f.scenario, f.scenario))}): "
            f"{_e(f.definition)}."
            + (f" Its share is of {_e(DENOMINATOR_WORDS.get(f.denominator, f.denominator))}." if f.denominator else "")
            + "</li>" for f in FIGURES)
        return ("<p>These are the figures to quote. Each is defined once (in <code>audit/figures.py</code>) and the "
                "terminal summary, <code>socialrating audit</code>, <code>socialrating compare</code> and this "
                "report all print the same numbers under the same names. <b>any-restriction</b> counts a person "
                "once for all restrictions together: \"wrongly under any restriction\" means restricted in the "
                "run and under no restriction at all with correct records. The population of an adult-only "
                "consequence (no child under it in their own right) is the adults.</p>"
                + _table(t.with_columns(pl.col("consequence_id").alias("consequence_id")), cols)
                + f"<ul>{gloss}</ul>")

    def distribution(self) -> str:
        r = self.run.ratings
        last = r.filter(pl.col("t") == r["t"].max())
        fig = go.Figure()
        for col, color in (("status", "#b2182b"), ("level", "#2166ac")):
            c = last.group_by(col).agg(pl.len().alias("people")).sort(col)
            fig.add_bar(x=c[col].to_list(), y=c["people"].to_list(), name=col, marker_color=color, opacity=0.75)
        fig.update_layout(barmode="overlay", title=f"Status and level in the last month ({self.h['last_month']})",
                          xaxis_title="score (00 worst, 99 best)", yaxis_title="people (log scale)", yaxis_type="log")
        out = self.chart(fig, "distribution")
        bands = last.group_by("band").agg(pl.len().alias("people")).sort("band")
        names = list(self.run.bands)
        fig2 = go.Figure(go.Bar(x=[names[i] for i in bands["band"].to_list() if i is not None],
                                y=bands.filter(pl.col("band").is_not_null())["people"].to_list(),
                                marker_color="#555"))
        what = "the policy's named bands" if self.run.named_bands else "20-point status bands"
        fig2.update_layout(title=f"People by band in the last month ({what})", yaxis_title="people (log scale)",
                           yaxis_type="log")
        out += self.chart(fig2, "bands", 340)
        counts = {names[i]: n for i, n in zip(bands["band"].to_list(), bands["people"].to_list()) if i is not None}
        n = max(last.height, 1)
        bt = pl.DataFrame({"band": names, "people": [counts.get(b, 0) for b in names]}).with_columns(
            (pl.col("people") / n).alias("share"))
        table = _table(bt, [("band", "band", _t, False), ("people", "people", _int, True),
                            ("share", "share", lambda x: _pct(x, 2), True)])
        return ('<p>How the scores are spread in the last month of the run. Each bar counts the people with that '
                'score. Children have scores too in this model but few records. The axes are logarithmic (each '
                'gridline ten times the last), so that the few people at the bottom of the scale stay visible next '
                'to the many in the middle; the table gives the exact counts.</p>' + out + table)

    def consequences(self) -> str:
        ot = self.a.tables["over_time"]
        present = set(self.h.get("scenarios") or [])
        ids = self.a.tables["consequences"]["consequence_id"].to_list()
        fig = go.Figure()
        vis_groups = []
        for i, cid in enumerate(ids):
            idx = []
            for sc in self.run.scenarios:
                d = ot.filter((pl.col("consequence_id") == cid) & (pl.col("scenario") == sc)).sort("t")
                fig.add_scatter(x=[m.isoformat() for m in d["month"].to_list()], y=d["people"].to_list(),
                                mode="lines", name=SCENARIO_LABEL.get(sc, sc), line=SCENARIO_STYLE.get(sc, {}),
                                visible=(cid == "any-restriction"), legendgroup=sc)
                idx.append(len(fig.data) - 1)
            vis_groups.append(idx)
        buttons = []
        for i, cid in enumerate(ids):
            vis = [False] * len(fig.data)
            for j in vis_groups[i]:
                vis[j] = True
            buttons.append(dict(label=self.name(cid)[:60], method="update",
                                args=[{"visible": vis}, {"title": f"People under: {self.name(cid)}"}]))
        default = ids.index("any-restriction") if "any-restriction" in ids else 0
        fig.update_layout(title=_title(f"People under: {self.name(ids[default])}"), yaxis_title="people",
                          xaxis_title="month", updatemenus=[_menu(buttons, default)],
                          legend=dict(orientation="h", y=-0.2), margin=dict(t=MENU_TOP))
        chart = self.chart(fig, "over-time", 500)
        f = self.a.tables["figures"].with_columns(
            pl.when(pl.col("population") > 0).then(pl.col("ever") / pl.col("population")).alias("share"),
            pl.when(pl.col("adult_only")).then(pl.lit("adults")).otherwise(pl.lit("everyone")).alias("of"))
        cons = self.a.tables["consequences"].select("consequence_id", "description").join(
            f, on="consequence_id", how="right").join(
            self.a.tables["scenarios"].drop("kind"), on="consequence_id", how="left")
        table = _table(cons, [
            ("consequence_id", "consequence", _t, False), ("kind", "kind", _t, False), ("context", "area of life", _t, False),
            ("description", "what it means", _t, False), ("at_end", BY_NAME["at_end"].short, _int, True),
            ("ever", BY_NAME["ever"].short, _int, True), ("share", "ever, share of", _pct, True),
            ("of", "(population)", _t, False), ("person_months", BY_NAME["person_months"].short, _int, True),
            ("people_perfect_data", "people, error-free data", _int, True),
            ("people_no_feedback", "people, without feedback", _int, True),
        ] + ([("people_no_appeals", "people, if nobody appealed", _int, True)] if "no_appeals" in present else []))
        missing = [SCENARIO_LABEL[s] for s in ("perfect_data", "no_feedback") if s not in present]
        note = (f'<p class="note">This run has no "{", ".join(missing)}" scenario, so those lines and columns '
                "are empty.</p>") if missing else ""
        unsettled = self.settle("any-restriction", "under it")
        if unsettled:
            unsettled = f"<p>People under any restriction{unsettled}: the figures at the end depend on when the run stopped.</p>"
        return ("<p>How many people were under each consequence, month by month. Pick a consequence in the menu. "
                "The red line is the rating as run; the blue dashed line the same people with error-free data; "
                "the green dotted line the same people if the score did not feed back into their lives; where the run "
                "has it, the purple line shows what would have happened if nobody had appealed.</p>"
                + chart + unsettled + note + "<h3>Every consequence, over the whole run</h3>" + table)

    def _group_chart(self, table: pl.DataFrame, dim: str, ids: list[str], title: str) -> str:
        fig = go.Figure()
        vis_groups = []
        for cid in ids:
            d = table.filter((pl.col("consequence_id") == cid) & (pl.col("dimension") == dim))
            o = table.filter((pl.col("consequence_id") == cid) & (pl.col("dimension") == "overall"))
            labels = [g if not s else f"{g} (suppressed)" for g, s in zip(d["group"], d["suppressed"])]
            rate = [None if x is None else 100 * x for x in d["rate"].to_list()]
            lo = [None if (x is None or y is None) else 100 * (x - y) for x, y in zip(d["rate"], d["rate_lo"])]
            hi = [None if (x is None or y is None) else 100 * (y - x) for x, y in zip(d["rate"], d["rate_hi"])]
            colors = ["#b2182b" if f else "#777" for f in d["harm_flag"].fill_null(False).to_list()]
            visible = cid == ids[0]
            fig.add_bar(x=labels, y=rate, marker_color=colors, name="share of group",
                        error_y=dict(type="data", symmetric=False, array=hi, arrayminus=lo, color="#222"),
                        visible=visible, customdata=d["n"].to_list(),
                        hovertemplate="%{x}: %{y:.1f}% of %{customdata:,} people<extra></extra>")
            ov = 100 * (o["rate"].item() or 0) if o.height else 0
            fig.add_scatter(x=labels, y=[ov] * len(labels), mode="lines", name="everyone",
                            line=dict(color="#2166ac", dash="dash"), visible=visible)
            vis_groups.append((len(fig.data) - 2, len(fig.data) - 1))
        buttons = []
        for i, cid in enumerate(ids):
            vis = [False] * len(fig.data)
            for j in vis_groups[i]:
                vis[j] = True
            buttons.append(dict(label=self.name(cid)[:60], method="update", args=[{"visible": vis}]))
        fig.update_layout(title=_title(title), yaxis_title="% of the group", showlegend=False,
                          updatemenus=[_menu(buttons, 0)], margin=dict(t=MENU_TOP))
        return self.chart(fig, f"groups-{dim}", 440)

    def groups(self) -> str:
        g = self.a.tables["groups"]
        ids = ["any-restriction"] + [c for c in self.a.tables["consequences"]["consequence_id"].to_list()
                                     if c != "any-restriction"]
        charts = "".join(self._group_chart(g, d, ids, f"Share affected by {DIM_LABEL.get(d, d).lower()}")
                         for d in ("district", "age_band", "sex", "income_decile", "area")
                         if g.filter(pl.col("dimension") == d).height)
        cols: list[Col] = [
            ("group", "group", _t, False), ("n", "people in group", _int, True), ("affected", "affected", _int, True),
            ("rate", "share", _pct, True),
            ("rate_lo", "95% interval", lambda x: x, True),
            ("ratio_overall", "ratio to overall", _num, True),
            ("impact_ratio", "four-fifths ratio", _num, True), ("four_fifths", "four-fifths flag", _flag, True),
            ("harm_ratio", "times the least affected", _num, True), ("harm_flag", "harm flag", _flag, True),
            ("harm_clear", "beyond chance", _flag, True),
        ]

        def fmt(frame: pl.DataFrame) -> pl.DataFrame:
            return frame.with_columns(pl.struct("rate_lo", "rate_hi").map_elements(
                lambda s: "–" if s["rate_lo"] is None else f"{_pct(s['rate_lo'])} – {_pct(s['rate_hi'])}",
                return_dtype=pl.String).alias("rate_lo"))

        def cls(r: dict) -> str:
            return "sup" if r["suppressed"] else ("flag" if r.get("harm_flag") else "")

        blocks = []
        for cid in ids:
            sub = g.filter(pl.col("consequence_id") == cid)
            parts = []
            for dim in sub["dimension"].unique(maintain_order=True).to_list():
                d = fmt(sub.filter(pl.col("dimension") == dim))
                label = " × ".join(DIM_LABEL.get(p, p) for p in dim.split(" x "))
                parts.append(f"<h4>{_e(label)}</h4>" + _table(d, cols, row_class=cls))
            body = "".join(parts)
            open_ = " open" if cid == "any-restriction" else ""
            blocks.append(f"<details{open_}><summary>{_e(self.name(cid))}</summary>{body}</details>")
        disp = self.a.tables["disparities"].filter(~pl.col("dimension").str.contains(" x ", literal=True))
        dtable = _table(disp, [
            ("consequence_id", "consequence", _t, False), ("dimension", "by", lambda x: _e(DIM_LABEL.get(x, x)), False),
            ("least_affected", "least affected", _t, False), ("rate_min", "its share", _pct, True),
            ("most_affected", "most affected", _t, False), ("rate_max", "its share", _pct, True),
            ("ratio_min_max", "lowest ÷ highest", _num, True), ("flagged", "flagged groups", _t, False),
        ], row_class=lambda r: "flag" if r.get("flagged_groups") else "")
        return (f"<p>For each group: how many people it has, the share of them affected, and how that compares "
                f"with everyone. Red bars and shaded rows are groups the four-fifths harm test flags. The black "
                f"whiskers are 95% intervals. Groups under {self.min_n} people are suppressed. Use the menu to "
                f"switch consequence.</p>{charts}<h3>Gaps between groups</h3>"
                f"<p>For each consequence and way of grouping: the least and most affected group. "
                f"\"Lowest ÷ highest\" near 1 means equal treatment; 0.5 means one group is affected twice as "
                f"often as another.</p>{dtable}"
                f"<h3>Full tables with group sizes</h3><p class=\"note\">Click a consequence to open its table. "
                f"Children (under 18) are shown but not used as the yardstick.</p>{''.join(blocks)}")

    def wrongful(self) -> str:
        t = self.a.tables
        if "wrongful_sources" not in t:
            return "<p>This run has no wrongful.parquet, so wrongful consequences cannot be counted.</p>"
        names = ("ever", "wrongly", "wrongful_months", "longer", "longer_months", "feedback_months",
                 "prevented_by_appeals")
        table = _table(t["figures"], [("consequence_id", "consequence", _t, False)]
                       + [(n, BY_NAME[n].short, _int, True) for n in names])
        src = t["wrongful_sources"].filter(pl.col("consequence_id") == "any-restriction").sort("wrongful_people")
        fig = make_subplots(rows=1, cols=2, subplot_titles=("people wrongly restricted", "wrongful restriction-months"),
                            horizontal_spacing=0.18)
        fig.add_bar(y=src["source"].to_list(), x=src["wrongful_people"].to_list(), orientation="h",
                    marker_color="#b2182b", row=1, col=1, name="people")
        fig.add_bar(y=src["source"].to_list(), x=src["wrongful_person_months"].to_list(), orientation="h",
                    marker_color="#e08a00", row=1, col=2, name="months")
        fig.update_layout(title="Wrongful restrictions by the source of the wrong records", showlegend=False,
                          margin=dict(t=TITLE_TOP + 30))  # room for the subplot titles under the title
        chart = self.chart(fig, "wrongful-sources", max(320, 40 * src.height + 140))
        stable = _table(t["wrongful_sources"], [
            ("source", "source of wrong records", _t, False), ("consequence_id", "consequence", _t, False),
            ("wrongful_people", "people wrongly under it", _int, True),
            ("wrongful_person_months", "wrongful months", _int, True),
            ("extended_people", "people whose time was lengthened", _int, True),
            ("extended_person_months", "months added", _int, True),
        ], limit=200)
        return ("<p>A person is <b>wrongly</b> under a consequence when wrong records alone caused it: with every "
                "record correct they would never have been under it. A person is under it <b>longer</b> when they "
                "would have been under it anyway but wrong records kept it in force for more months; the two are "
                "different people and their months are counted apart. <b>Feedback months</b> would not have "
                "happened if the score did not change people's lives. A person counts once a month.</p>" + table
                + self._wrongly_over_time() + self._example()
                + "<h3>Which sources' errors</h3><p>A wrong record can come from several sources; it is counted "
                "under each, so the bars do not add up to the total.</p>" + chart + stable
                + "<h3>Who is wrongly restricted</h3>" + self._wrongful_groups())

    def _wrongly_over_time(self) -> str:
        w = self.a.tables.get("wrongly_over_time")
        if w is None or w.height == 0:
            return ""
        fig = go.Figure()
        for cid in ["any-restriction"] + [c for c in self.run.kinds if self.run.kinds[c] == "restriction"]:
            d = w.filter(pl.col("consequence_id") == cid).sort("t")
            fig.add_scatter(x=[m.isoformat() for m in d["month"].to_list()], y=d["people"].to_list(), mode="lines",
                            name=ANY_NAME.get(cid, cid), line=dict(width=4 if cid == "any-restriction" else 1.5),
                            visible=True if cid == "any-restriction" else "legendonly")
        fig.update_layout(title=_title("People restricted that month only because of wrong records"),
                          yaxis_title="people", xaxis_title="month", yaxis_rangemode="tozero",
                          legend=dict(orientation="h", y=-0.25))
        note = self.settle("any-restriction", "wrongly under it")
        return ("<h3>Wrongly restricted, month by month</h3><p>Each month, the people under a restriction that month "
                "who would not have been under it that month with correct records (this includes months that wrong "
                "records added for people restricted anyway). Next to the thousands restricted in the chart above, "
                f"this gap is small, so it gets a chart of its own.{note}</p>" + self.chart(fig, "wrongly-over-time", 420))

    def _example(self) -> str:
        wr = self._wrongly_ids()
        ex = worked_example(self.run, wr) if wr is not None else None
        if ex is None:
            return ""
        p = ex["person"]
        recs = _table(ex["records"], [
            ("occurred_on", "date", _t, False), ("source", "source", _t, False), ("record_id", "record", _t, False),
            ("event_type", "record type", _t, False), ("error_kind", "what was wrong", _t, False),
            ("true_citizen_id", "whose record it really was", _t, True), ("entry_id", "ledger entry", _t, True),
            ("rule_id", "rule", _t, False),
            ("points", "points", _t, True), ("expires_on", "counts until", _t, False), ("state", "state now", _t, False)])
        sp = _table(ex["spells"].with_columns(pl.col("scenario").replace(SCENARIO_LABEL)), [
            ("scenario", "version of the run", _t, False), ("consequence_id", "restriction", _t, False),
            ("start_month", "from", _t, False), ("months", "months", _int, True)])
        return (f"<h3>One example: citizen {ex['citizen_id']}</h3><p>Citizen {ex['citizen_id']} (synthetic: "
                f"{_e(p.get('sex'))}, aged {_e(p.get('age_band'))}, {_e(p.get('area'))}, {_e(p.get('district'))} "
                "district) was restricted in the run, and would not have been under any restriction with correct "
                "records. These are their wrong records (from the run's ground truth, <code>truth.parquet</code>, "
                "which the rating never sees; a record with no rule scored nothing itself, for example a repayment "
                "that arrived late and so ended a debt entry late):</p>" + recs
                + "<p>Their restrictions in each version of the run (none with error-free data):</p>" + sp
                + f'<p class="note">See every entry and the arithmetic: <code>socialrating explain '
                f'{_e(self.run.path)} --citizen {ex["citizen_id"]}</code></p>')

    def _wrongly_ids(self) -> pl.DataFrame | None:
        c = self.run.consequences.filter(pl.col("kind") == "restriction")
        if "perfect_data" not in self.run.scenarios:
            return None
        act = c.filter(pl.col("scenario") == "actual").select("citizen_id").unique()
        return act.join(c.filter(pl.col("scenario") == "perfect_data").select("citizen_id"), on="citizen_id",
                        how="anti")

    def _wrongful_groups(self) -> str:
        t = self.a.tables["wrongful_groups"]
        g = t.filter((pl.col("consequence_id") == "any-restriction")
                     & ~pl.col("dimension").str.contains(" x ", literal=True))
        o = g.filter(pl.col("dimension") == "overall")
        base = "adults" if self.fig("any-restriction").get("adult_only") else "everyone"
        rate = _pct(o["rate"][0], 2) if o.height else "–"
        flagged = t.filter(pl.col("flag_clear").fill_null(False))
        fl = flagged.filter(pl.col("consequence_id") == "any-restriction")
        gtable = _table(g.with_columns(pl.col("dimension").replace(DIM_LABEL),
                                       pl.struct("rate_lo", "rate_hi").map_elements(
                                           lambda x: "–" if x["rate_lo"] is None else
                                           f"{_pct(x['rate_lo'], 2)} – {_pct(x['rate_hi'], 2)}",
                                           return_dtype=pl.String).alias("interval")), [
            ("dimension", "by", _t, False), ("group", "group", _t, False), ("n", "people in group", _int, True),
            ("affected", "wrongly restricted", _int, True), ("rate", "share of group", lambda x: _pct(x, 2), True),
            ("interval", "95% interval", _t, True), ("expected", "expected at the overall rate", lambda x: _num(x, 1), True),
            ("flag_clear", "differs beyond chance", _flag, True),
        ], row_class=lambda r: "sup" if r["suppressed"] else ("flag" if r.get("flag_clear") else ""))
        return (f"<p>The share of each group wrongly under any restriction, against the overall {rate} of {base}"
                f"{' (no child is restricted in their own right, so adults are the denominator)' if base == 'adults' else ''}. "
                f"A group is flagged (shaded) only when its 95% interval lies wholly above the overall rate "
                f"<b>and</b> the group is large enough: at least {self.min_n} people, and at least {MIN_EXPECTED} "
                f"people expected to be wrongly restricted at the overall rate. Two rates of 0.0% are never "
                f"flagged. {fl.height} group(s) flagged here; {flagged.height} across all consequences and "
                "two-way combinations (in <code>audit/wrongful_groups.parquet</code>).</p>" + gtable)

    def _heatmap(self, m: pl.DataFrame, value: str, title: str, fmt: str, name: str,
                 from_labels: list[str] | None = None, to_labels: list[str] | None = None,
                 axis=("band in the first month", "band in the last month")) -> str:
        fl = from_labels or list(self.run.bands)
        tl = to_labels or list(self.run.bands)
        share = [[None] * len(tl) for _ in fl]
        text = [[""] * len(tl) for _ in fl]
        for r in m.iter_rows(named=True):
            i, j = r["from_index"], r["to_index"]
            share[i][j] = None if r["share"] is None else 100 * r["share"]
            text[i][j] = fmt.format(share=0 if r["share"] is None else 100 * r["share"], v=r[value])
        fig = go.Figure(go.Heatmap(z=share, x=tl, y=fl, text=text, texttemplate="%{text}", colorscale="Reds",
                                   zmin=0, zmax=100, colorbar=dict(title="% of row")))
        fig.update_layout(title=title, xaxis_title=axis[1], yaxis_title=axis[0], yaxis_autorange="reversed")
        return self.chart(fig, name, 460)

    def mobility(self) -> str:
        t = self.a.tables
        h = self.h
        fl = self._heatmap(t["transitions_first_last"], "people", "From the first month to the last",
                           "{share:.0f}%<br>({v:,})", "transitions")
        mm = self._heatmap(t["transitions_monthly"], "people_per_month", "From one month to the next (average)",
                           "{share:.1f}%", "transitions-monthly",
                           axis=("band this month", "band next month"))
        curve = t["recovery_curve"]
        fig = go.Figure()
        ids = t["recovery"]["consequence_id"].to_list()
        for cid in ["any-restriction"] + [c for c in ids if c != "any-restriction"]:
            d = curve.filter(pl.col("consequence_id") == cid).sort("months")
            if d.height == 0:
                continue
            fig.add_scatter(x=d["months"].to_list(), y=[100 * v for v in d["still_restricted"].to_list()],
                            mode="lines", line_shape="hv", name=self.name(cid)[:50],
                            line=dict(width=4 if cid == "any-restriction" else 1.5))
        fig.update_layout(title="Share of restriction spells still running after ... months",
                          xaxis_title="months since the restriction began", yaxis_title="% still restricted",
                          yaxis_range=[0, 102], legend=dict(orientation="h", y=-0.25))
        rc = self.chart(fig, "recovery", 480)
        rt = _table(t["recovery"], [
            ("consequence_id", "restriction", _t, False), ("spells", "spells", _int, True),
            ("ended", "ended in the run", _int, True), ("censored", "still running at the end", _int, True),
            ("median_months", "half over within (months)", lambda x: "not reached" if x is None else _int(x), True),
            ("still_after_3", "still after 3 months", _pct, True), ("still_after_6", "after 6", _pct, True),
            ("still_after_12", "after 12", _pct, True), ("still_after_24", "after 24", _pct, True),
        ])
        stuck = ""
        if h.get("started_in_worst_band"):
            stuck = (f"<p>Of the {_int(h['started_in_worst_band'])} people who started in the lowest band "
                     f"({_e(h['worst_band'])}), {_int(h['still_in_worst_band'])} ({_pct(h['still_in_worst_band_share'])}) "
                     f"were still there in the last month.</p>")
        fb = ""
        if h.get("restriction_months_feedback_share") is not None:
            fb = (f"<p>Feedback — the score making life harder, which lowers the score again — accounts for "
                  f"{_pct(h['restriction_months_feedback_share'])} of all months spent under restrictions.</p>")
        return ("<p>A rating <b>traps</b> people when those who fall low stay low. The grids show where people "
                "ended up: each row is a starting band, and the cells say what share of that row moved to each "
                "band (the diagonal is \"stayed put\").</p>" + stuck + fl + mm + "<h3>Getting out of a restriction</h3>"
                "<p>The curve starts at 100% when a restriction begins and falls as people leave it. A flat curve "
                "means people stay restricted. Restrictions still running when the run ended are counted for the "
                "months observed only.</p>" + fb + rc + rt)

    def policy(self) -> str:
        p = self.run.policy
        if p is None:
            return "<p>The run folder has no readable policy.yaml.</p>"
        from ..policy.conditions import describe

        refs = p.references

        def ref(key: str) -> str:
            r = refs.get(key)
            if r is None:
                return _e(key)
            bits = [f"<b>{_e(r.title)}</b>"]
            if r.publisher:
                bits.append(_e(r.publisher))
            if r.year:
                bits.append(str(r.year))
            text = ", ".join(bits)
            if r.url:
                text += f' (<a href="{_e(r.url)}" rel="noreferrer">{_e(r.url)}</a>)'
            if r.note:
                text += f" — {_e(r.note)}"
            return text

        rules = pl.DataFrame([{
            "id": r.id, "event_type": r.event_type, "category": r.category, "description": r.description,
            "points": r.points if r.points is not None else f"{r.points_per_unit} per {r.unit}",
            "expiry": p.expiry_months(r), "cap": (f"{r.cap.points} per {r.cap.period_months} months" if r.cap else ""),
            "dates": " ".join(x for x in (f"from {r.valid_from}" if r.valid_from else "",
                                         f"until {r.valid_until}" if r.valid_until else "") if x),
            "reference": r.reference} for r in p.rules])
        rtable = _table(rules, [
            ("id", "rule", _t, False), ("event_type", "record type", _t, False), ("category", "category", _t, False),
            ("description", "what it says", _t, False), ("points", "points", _t, True),
            ("expiry", "counts for (months)", lambda x: "never expires" if x is None else _int(x), True),
            ("cap", "cap", _t, False), ("dates", "valid", _t, False), ("reference", "source", ref, False),
        ])
        cons = pl.DataFrame([{
            "id": c.id, "kind": c.kind, "context": c.context, "description": c.description,
            "when": describe(c.when), "term": c.term_months, "review": c.human_review,
            "household": c.applies_to_household, "reference": c.reference} for c in p.consequences],
            schema_overrides={"term": pl.Int64}) if p.consequences else pl.DataFrame()
        ctable = _table(cons, [
            ("id", "consequence", _t, False), ("kind", "kind", _t, False), ("context", "area of life", _t, False),
            ("description", "what it means", _t, False), ("when", "applies while", _t, False),
            ("term", "imposed for (months)", lambda x: "while it holds" if x is None else _int(x), True),
            ("review", "a person reviews it", _flag, False), ("household", "hits the household too", _flag, False),
            ("reference", "source", ref, False),
        ])
        closures = ""
        if p.closures:
            cl = pl.DataFrame([{"id": c.id, "event_type": c.event_type, "closes": ", ".join(c.closes),
                                "within": c.within_days, "reference": c.reference} for c in p.closures])
            closures = "<h3>Records that end other records</h3>" + _table(cl, [
                ("id", "closure", _t, False), ("event_type", "record type", _t, False),
                ("closes", "ends", _t, False), ("within", "after (days)", _int, True), ("reference", "source", ref, False)])
        bands = ""
        if p.rating.bands is not None:
            b = p.rating.bands
            bands = "<h3>Bands</h3><p>" + ", ".join(
                f"<b>{_e(c.band)}</b> " + (f"from {c.min_balance}" if c.min_balance is not None else "below")
                for c in b.cutoffs) + f" points ({_e(b.basis)}). Source: {ref(b.reference)}</p>"
        scale = ", ".join(f"{bp.balance}→{bp.score}" for bp in p.rating.status_scale.breakpoints)
        assumptions = "".join(f"<li>{_e(a)}</li>" for a in p.assumptions)
        references = "".join(f"<li><code>{_e(k)}</code>: {ref(k)}</li>" for k in refs)
        return (f"<p><b>{_e(p.title)}</b> (<code>{_e(p.name)}</code> version {_e(p.version)}, effective from "
                f"{p.effective_from}). {_e(p.description)}</p>"
                f"<p>Points become the status score along these steps (points→score): {_e(scale)}; the level "
                f"counts only records from the last {p.rating.level_window_months} months.</p>"
                f"<h3>Rules: what scores</h3>{rtable}<h3>Consequences</h3>{ctable}{closures}{bands}"
                f"<h3>Assumptions the model makes where sources are silent</h3><ul>{assumptions}</ul>"
                f"<h3>Sources</h3><ul>{references}</ul>")

    def lint(self) -> str:
        findings = self.run.manifest.get("lint")
        if findings is None:
            return "<p>The run's manifest carries no linter findings.</p>"
        if not findings:
            return "<p>The linter found nothing to report.</p>"
        f = pl.DataFrame(findings, schema={"severity": pl.String, "code": pl.String, "target": pl.String,
                                           "message": pl.String, "anchor": pl.String})
        counts = f.group_by("severity").len()
        summary = ", ".join(f"{n} {s}" for s, n in counts.sort("severity").iter_rows())
        return ("<p>The linter checks the policy against data-protection and proportionality principles (for "
                "example: special categories of data, records that never expire, restrictions unrelated to what "
                f"was recorded). Findings: {_e(summary)}.</p>" + _table(f, [
                    ("severity", "severity", lambda x: f'<span class="sev-{_e(x)}">{_e(x)}</span>', False),
                    ("code", "check", _t, False), ("target", "where", _t, False), ("message", "finding", _t, False),
                    ("anchor", "principle", _t, False)]))

    def manifest(self) -> str:
        m = {k: v for k, v in self.run.manifest.items() if k != "lint"}
        link = ""
        lp = self.run.path / "linkage.json"
        if lp.exists():
            try:
                link = _linkage(json.loads(lp.read_text()))
            except (ValueError, TypeError, AttributeError):
                link = "<p class=\"note\">linkage.json could not be read.</p>"
        files = "".join(f"<li><code>audit/{_e(n)}.parquet</code>: {f.height:,} rows</li>"
                        for n, f in self.a.tables.items())
        params = self.a.parameters
        return (f"{link}<h3>Audit settings</h3><p>Groups under {params.get('min_group_size')} people suppressed; "
                f"{params.get('replicates')} bootstrap replicates, seed {params.get('seed')}.</p>"
                f"<h3>Audit tables</h3><ul>{files}</ul>"
                f"<h3>Run manifest</h3><p>Everything needed to reproduce the run: the same software, policy "
                f"(its sha256) and seed give the same files.</p><pre>{_e(json.dumps(m, indent=2, sort_keys=True, default=str))}</pre>")
