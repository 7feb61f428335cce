"""The calibration check of a run: each anchored quantity, scaled to Russia, against its source.

``calibration_table(run_dir)`` reads the run folder (``citizens.parquet``, ``truth.parquet``,
``events.parquet``, ``manifest.json``) and returns one row per anchored quantity: what the
run shows, scaled from its N synthetic people to the population of Russia
(``population.total_2024`` in ``calibration.yaml``), the published value, the ratio and the
source, all read from ``calibration.yaml`` so that each figure lives in one place.

What counts as a real event. ``truth.parquet`` lists every record the agencies sent, with
its error kind. Records that are not events at all are left out: duplicates, camera fines
issued in error, exit-ban renewals of debts already paid (``stale_unpaid`` exit bans), and a
loan year reported overdue by mistake (``wrong_status``) when counting overdue people.
Only events that occurred inside the run's months count (the history before the start is
the records on file, not the run's behaviour), so yearly figures are per year of the run.

Quantities of people (households, licence holders) come from ``citizens.parquet``; the
error rates are shares of records, and the credit-report figures are the FTC's share of
consumers with at least one error among the 7 years of records a report holds:
``1 - (1 - p)^7`` for a per-borrower-year rate ``p`` (see ``source_errors.credit_error_mapping``).
"""

from __future__ import annotations

import datetime as dt
import html
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

from ..population.calibration import Calibration, load_calibration
from ..store.runfolder import RunFolder

#: a quantity is "within" when run / published lies in [1 / TOLERANCE, TOLERANCE]
TOLERANCE = 1.25
NOT_EVENTS = ("duplicate", "camera_error")


@dataclass(frozen=True)
class Anchored:
    """One anchored quantity: the run's value (scaled to Russia), the published one, the ratio."""

    key: str
    label: str
    run_value: float
    published: float
    unit: str
    source: str
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.run_value / self.published if self.published else float("nan")

    @property
    def within(self) -> bool:
        return 1.0 / TOLERANCE <= self.ratio <= TOLERANCE

    def as_dict(self) -> dict:
        return {**asdict(self), "ratio": round(self.ratio, 4), "within_tolerance": self.within}


class CalibrationCheckError(ValueError):
    """The run folder lacks what the check needs (e.g. a run of the basic world)."""


@dataclass(frozen=True)
class _Run:
    citizens: pl.DataFrame
    truth: pl.DataFrame
    events: pl.DataFrame
    start: dt.date
    end: dt.date  # the last day of the run
    years: float
    scale: float  # Russians per synthetic person


def _load(run_dir: Path, cal: Calibration) -> _Run:
    run_dir = Path(run_dir)
    folder = RunFolder(run_dir)
    missing = [] if (run_dir / "manifest.json").is_file() else ["manifest.json"]
    missing += [f"{t}.parquet" for t in ("citizens", "truth", "events") if not folder.has(t)]
    if missing:
        if "manifest.json" in missing:
            raise CalibrationCheckError(f"{run_dir}: not a run folder (no manifest.json)")
        raise CalibrationCheckError(f"{run_dir}: a run without source records (basic world?): missing {', '.join(missing)}")
    try:
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
        start = dt.date.fromisoformat(manifest["start"])
        end = dt.date.fromisoformat(manifest["as_of"])
        months = int(manifest["months"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CalibrationCheckError(f"{run_dir / 'manifest.json'}: unreadable manifest ({exc})") from None
    citizens = folder.read("citizens", columns=["citizen_id", "age", "sex", "household_id", "driver", "borrower"])
    truth = folder.scan("truth").filter(
        pl.col("occurred_on").is_between(start, end) & ~pl.col("error_kind").cast(pl.String).is_in(NOT_EVENTS)).collect()
    events = folder.read("events", columns=["citizen_id", "source", "record_id", "occurred_on"])
    return _Run(citizens, truth, events, start, end, months / 12.0, cal.population.total_2024.value / max(citizens.height, 1))


def _count(run: _Run, source: str, event_type: str, exclude: tuple[str, ...] = ()) -> pl.DataFrame:
    return run.truth.filter((pl.col("source") == source) & (pl.col("event_type") == event_type)
                            & pl.col("true_citizen_id").is_not_null()
                            & ~pl.col("error_kind").cast(pl.String).is_in(exclude))


def _last_year(frame: pl.DataFrame, run: _Run) -> pl.DataFrame:
    first = max(run.start, run.end - dt.timedelta(days=365))
    return frame.filter(pl.col("occurred_on") >= first)


def _src(s) -> str:
    return s.source or ("assumption: " + (s.assumption or ""))


def _behaviour(run: _Run, cal: Calibration) -> list[Anchored]:
    br = cal.base_rates
    per_year = run.scale / run.years
    procs = _count(run, "bailiffs", "enforcement.proceeding")
    bank_debt = procs.filter(pl.col("subtype") == "bank_debt")
    debtors = _last_year(procs, run)["true_citizen_id"].n_unique() * run.scale
    drunk = _count(run, "traffic_police", "traffic.drunk_driving").height * per_year
    fines = _count(run, "traffic_police", "fine.traffic").height * per_year
    conv = _count(run, "courts", "court.conviction").height * per_year
    overdue = _last_year(_count(run, "bank", "loan.overdue_90d", ("wrong_status",)), run)["true_citizen_id"].n_unique() * run.scale
    bans_first = max(run.start, run.end - dt.timedelta(days=182))
    bans = _count(run, "bailiffs", "enforcement.exit_ban", ("stale_unpaid",)).filter(pl.col("occurred_on") >= bans_first)
    short = " (run shorter than a year: people over the whole run)" if run.years < 1 else ""
    return [
        Anchored("enforcement_new_per_year", "new enforcement proceedings a year", procs.height * per_year,
                 br.enforcement_new_per_year_2017.value, "proceedings", _src(br.enforcement_new_per_year_2017)),
        Anchored("enforcement_new_bank_debt_per_year", "new bank-debt proceedings a year", bank_debt.height * per_year,
                 br.enforcement_new_bank_debt_per_year.value, "proceedings", _src(br.enforcement_new_bank_debt_per_year)),
        Anchored("enforcement_debtors", "people with a proceeding opened in the last 12 months", debtors,
                 br.enforcement_debtors.value, "people", _src(br.enforcement_debtors),
                 "proxy: FSSP counts debtors with proceedings on hand" + short),
        Anchored("exit_bans_stock", "proceedings with an exit-ban ruling in the last 6 months",
                 bans["record_id"].n_unique() * run.scale, br.exit_bans_stock.value, "proceedings", _src(br.exit_bans_stock),
                 "rulings last 6 months, so those in the last 6 months are the bans in force"),
        Anchored("overdue_90_people_bank", "borrowers with a 90+ days overdue loan year", overdue,
                 br.overdue_90_people_bank.value, "people", _src(br.overdue_90_people_bank)),
        Anchored("drunk_driving_per_year", "drunk drivers caught a year", drunk, br.drunk_driving_per_year.value,
                 "cases", _src(br.drunk_driving_per_year)),
        Anchored("traffic_fines_per_year", "traffic fines a year", fines, br.traffic_fines_per_year.value, "fines",
                 _src(br.traffic_fines_per_year)),
        Anchored("convictions_per_year", "criminal convictions a year", conv, br.convictions_per_year.value,
                 "convictions", _src(br.convictions_per_year)),
    ]


def _people(run: _Run, cal: Calibration) -> list[Anchored]:
    br = cal.base_rates
    c = run.citizens
    hh = c.group_by("household_id").len()
    adults = c.filter(pl.col("age") >= 18)
    return [
        Anchored("households", "households", hh.height * run.scale, br.households.value, "households",
                 _src(br.households)),
        Anchored("single_person_household_share", "single-person households, share",
                 float((hh["len"] == 1).mean()) if hh.height else 0.0, br.single_person_household_share.value, "share",
                 _src(br.single_person_household_share)),
        Anchored("licence_holders_share_adults", "adults holding a driving licence, share",
                 float(adults["driver"].mean()) if adults.height else 0.0,
                 br.licence_holders_share_adults.value, "share", _src(br.licence_holders_share_adults)),
        Anchored("active_borrowers", "people with a loan", float(c["borrower"].sum()) * run.scale,
                 br.active_borrowers.value, "people", _src(br.active_borrowers)),
    ]


def _errors(run: _Run, cal: Calibration) -> list[Anchored]:
    er = cal.error_rates
    years = float((cal.source_errors or {})["credit_history_years"].value) if cal.source_errors else 7.0
    bank = run.truth.filter((pl.col("source") == "bank") & pl.col("true_citizen_id").is_not_null())
    n = max(bank.height, 1)
    kind = bank["error_kind"].cast(pl.String)
    # the wrong-status rate is per on-time borrower-year (what could be misreported as overdue)
    on_time = float(((bank["event_type"] == "loan.repaid_on_time") | (kind == "wrong_status")).sum())
    p_worse = float((kind == "wrong_status").sum()) / max(on_time, 1.0)
    p_any = float(bank["erroneous"].sum()) / n
    named = run.truth.filter(pl.col("source").is_in(["courts", "bailiffs"]) & pl.col("true_citizen_id").is_not_null())
    linked = run.events.with_columns(pl.col("source").cast(pl.String)).join(
        named.select(pl.col("source").cast(pl.String), "record_id", "true_citizen_id"), on=["source", "record_id"])
    false_pos = float((linked["citizen_id"] != linked["true_citizen_id"]).mean()) if linked.height else 0.0
    note7 = f"1 - (1 - p)^{years:g} over the {years:g} years of records a report holds; p per borrower-year"
    return [
        Anchored("credit_report_material_error", f"borrowers with an erroneous bank record in {years:g} years, share",
                 1 - (1 - p_any) ** years, er.credit_report_material_error.value, "share",
                 _src(er.credit_report_material_error), note7),
        Anchored("credit_report_worse_tier", f"borrowers wrongly reported 90+ overdue in {years:g} years, share",
                 1 - (1 - p_worse) ** years, er.credit_report_worse_tier.value, "share",
                 _src(er.credit_report_worse_tier), note7),
        Anchored("name_check_false_positive", "court and bailiff records linked to the wrong person, share",
                 false_pos, er.name_check_false_positive.value, "share", _src(er.name_check_false_positive),
                 "after linkage, against the truth"),
    ]


def calibration_table(run_dir: str | Path, calibration: Calibration | None = None) -> list[Anchored]:
    """Every anchored quantity of the run (see the module docstring)."""
    cal = calibration or load_calibration()
    run = _load(Path(run_dir), cal)
    return _behaviour(run, cal) + _people(run, cal) + _errors(run, cal)


def calibration_json(run_dir: str | Path) -> dict:
    """The table as JSON-ready data, with the tolerance and the scale used."""
    rows = calibration_table(run_dir)
    cal = load_calibration()
    return {"tolerance": TOLERANCE, "scaled_to": cal.population.total_2024.value,
            "scaled_to_source": cal.population.total_2024.source,
            "all_within": all(r.within for r in rows), "quantities": [r.as_dict() for r in rows]}


def fmt_value(v: float, unit: str) -> str:
    """Shares as percentages, counts in millions or thousands (what people quote)."""
    if unit == "share":
        return f"{100 * v:.1f}%"
    if abs(v) >= 1e6:
        return f"{v / 1e6:,.1f}M"
    return f"{v / 1e3:,.0f}k"


def calibration_section(run_dir: str | Path) -> str:
    """The calibration table as HTML for the report (the body of its section): each
    anchored quantity, the run scaled to Russia, the published figure, the ratio, the source."""
    try:
        rows = calibration_table(run_dir)
    except CalibrationCheckError as exc:
        return f"<p>No calibration check for this run: {html.escape(str(exc))}.</p>"
    e = html.escape
    body = "".join(
        f"<tr><td>{e(r.label)}</td><td class='n'>{e(fmt_value(r.run_value, r.unit))}</td>"
        f"<td class='n'>{e(fmt_value(r.published, r.unit))}</td>"
        f"<td class='n'>{r.ratio:.2f}{'' if r.within else ' (outside)'}</td>"
        f"<td>{e(r.source)}{(' <em>(' + e(r.note) + ')</em>') if r.note else ''}</td></tr>" for r in rows)
    off = [r.label for r in rows if not r.within]
    verdict = (f"All {len(rows)} quantities are within {TOLERANCE}x of the published figures." if not off else
               f"{len(off)} of {len(rows)} quantities are outside {TOLERANCE}x: {', '.join(off)}.")
    return ("<p>What the synthetic population and its records show, scaled to the population of Russia, "
            "against the published figures the model is calibrated to (each with its source in "
            f"<code>calibration.yaml</code>). {e(verdict)} The same table: <code>socialrating calibration "
            "RUN_DIR</code>.</p><table><thead><tr><th>quantity</th><th>run, scaled</th><th>published</th>"
            f"<th>ratio</th><th>source</th></tr></thead><tbody>{body}</tbody></table>")
