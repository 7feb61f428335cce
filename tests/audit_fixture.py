"""Small synthetic run folders with the exact schemas the audit reads (for tests and demos).

`write_run` writes given rows with the run-folder types; `synthetic_run` makes a
plausible random run (status random walks, consequences from thresholds, data errors
and feedback) of any size, vectorised. Neither runs the rating engine: they exist so the
audit and the report can be tested against the file contract alone (store/runfolder.py FILES).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from socialrating.engine.monthly import month_ends, spells_from_panel
from socialrating.population.calibration import DISTRICTS
from socialrating.store.runfolder import FILES, SCENARIOS

# The run folder's contract (store/runfolder.py FILES): policy-dependent text as String.
CITIZENS_SCHEMA = FILES["citizens"].dtypes()
RATINGS_SCHEMA = {c: t for c, t in FILES["ratings"].dtypes().items() if c not in FILES["ratings"].optional_columns}
CONSEQUENCES_SCHEMA = FILES["consequences"].dtypes()
# the columns the audit reads (a run folder written by another tool may have no more)
WRONGFUL_SCHEMA = {c: FILES["wrongful"].dtypes()[c] for c in FILES["wrongful"].needed}
ERROR_SOURCES = ("bank", "traffic_police", "bailiffs", "courts", "tax", "utilities")


def _typed(df: pl.DataFrame | dict, schema: dict) -> pl.DataFrame:
    df = pl.DataFrame(df) if isinstance(df, dict) else df
    extra = [c for c in df.columns if c not in schema]
    return df.select(*(pl.col(c).cast(t) if c in df.columns else pl.lit(None, t).alias(c)
                       for c, t in schema.items()), *extra)


def complete_citizens(df: pl.DataFrame | dict, as_of: dt.date = dt.date(2026, 7, 1)) -> pl.DataFrame:
    """Fill the citizen columns the audit does not use with plausible values."""
    df = pl.DataFrame(df) if isinstance(df, dict) else df
    fill = {
        "region_code": pl.lit(77, pl.Int8),
        "birth_date": pl.lit(as_of) - pl.duration(days=pl.col("age").cast(pl.Int64) * 365 + 100),
        "household_id": pl.col("citizen_id").cast(pl.Int32),
        "household_role": pl.lit("head"),
        "employed": pl.lit(True), "driver": pl.lit(False), "borrower": pl.lit(False),
    }
    df = df.with_columns(e.alias(c) for c, e in fill.items() if c not in df.columns)
    return _typed(df, CITIZENS_SCHEMA)


def write_run(path: str | Path, *, citizens: pl.DataFrame, ratings: pl.DataFrame,
              consequences: pl.DataFrame, wrongful: pl.DataFrame | None = None,
              manifest: dict | None = None, policy_text: str | None = None,
              linkage: dict | None = None, band: pl.Enum | None = None) -> Path:
    """Write a run folder with the run-folder types (casting the given columns)."""
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    complete_citizens(citizens).write_parquet(p / "citizens.parquet")
    rs = dict(RATINGS_SCHEMA)
    if band is not None:
        rs["band"] = band
    _typed(ratings, rs).write_parquet(p / "ratings.parquet")
    _typed(consequences, CONSEQUENCES_SCHEMA).write_parquet(p / "consequences.parquet")
    if wrongful is not None:
        _typed(wrongful, WRONGFUL_SCHEMA).write_parquet(p / "wrongful.parquet")
    (p / "manifest.json").write_text(json.dumps(manifest or {}, indent=2, sort_keys=True, default=str) + "\n")
    if policy_text is not None:
        (p / "policy.yaml").write_text(policy_text, encoding="utf-8")
    if linkage is not None:
        (p / "linkage.json").write_text(json.dumps(linkage, indent=2, sort_keys=True) + "\n")
    return p


def _spells(holds: np.ndarray, ends: list[dt.date], ids: np.ndarray) -> pl.DataFrame:
    ci, s, e = spells_from_panel(holds, ends)
    m = holds.shape[0]
    months = np.where(e < 0, m, e) - s
    end_dates = np.array(ends, dtype="datetime64[D]")
    return pl.DataFrame({
        "citizen_id": ids[ci], "start_month": end_dates[s],
        "end_month": pl.Series(np.where(e < 0, end_dates[0], end_dates[np.maximum(e, 0)])),
        "months": months, "_ongoing": e < 0,
    }).with_columns(pl.when(~pl.col("_ongoing")).then(pl.col("end_month")).alias("end_month")).drop("_ongoing")


def synthetic_run(path: str | Path, *, people: int = 2000, months: int = 24, seed: int = 1,
                  policy: str = "we-platform", start: dt.date = dt.date(2024, 7, 1), shift: int = 0) -> Path:
    """A random but internally consistent run folder of `people` citizens.

    Status is a random walk per citizen; some citizens carry erroneous records that pull
    their status down (removed in the perfect-data scenario), and a feedback term pushes
    low statuses lower (removed in the no-feedback scenario). A restriction holds while
    status is below its threshold, a privilege while status is 70 or more; has_active
    conditions are drawn as rare independent spells. `shift` adds that many points to every
    adult's status (to make two runs of the same seed differ, as two policies would).
    """
    from socialrating.policy.conditions import event_types_used
    from socialrating.policy.lint import lint
    from socialrating.policy.load import parse_policy, policy_hash, read_policy_text

    text, origin = read_policy_text(policy)
    pol = parse_policy(text, origin)
    rng = np.random.default_rng(seed)
    n, m = people, months
    ids = np.arange(1, n + 1, dtype=np.int64)
    ends = month_ends(start, m)
    as_of = ends[-1] + dt.timedelta(days=1)
    age = rng.integers(0, 91, n)
    citizens = complete_citizens({
        "citizen_id": ids,
        "district": np.array(DISTRICTS)[rng.choice(len(DISTRICTS), n, p=[.27, .10, .11, .07, .20, .08, .11, .06])],
        "urban": rng.random(n) < 0.75,
        "sex": np.where(rng.random(n) < 0.54, "F", "M"),
        "age": age,
        "income_decile": rng.integers(1, 11, n),
        "household_id": (ids + 1) // 2,
    }, as_of)
    decile = citizens["income_decile"].to_numpy().astype(float)
    adult = age >= 18
    drift = (decile - 5.5) * 0.15 + np.where(citizens["urban"].to_numpy(), 0.1, -0.2)
    steps = rng.normal(drift, 3.0, (m, n))
    base = np.cumsum(steps, axis=0) + 50 + rng.normal(0, 8, n)
    has_err = rng.random(n) < 0.06
    err_start = rng.integers(0, m, n)
    err = np.where(has_err[None] & (np.arange(m)[:, None] >= err_start[None]), -22.0, 0.0)
    feedback = -np.cumsum(np.where(base + err < 35, 1.5, 0.0), axis=0)
    scen_status = {
        "actual": base + err + feedback,
        "perfect_data": base + np.minimum(0, -np.cumsum(np.where(base < 35, 1.5, 0.0), axis=0)),
        "no_feedback": base + err,
    }
    scen_status = {k: np.where(adult[None], np.clip(np.rint(v) + shift, 0, 99), 50).astype(np.int64)
                   for k, v in scen_status.items()}
    status = scen_status["actual"]
    level = np.clip(status + rng.integers(-6, 7, (m, n)), 0, 99)
    ratings = pl.DataFrame({
        "citizen_id": np.tile(ids, m), "month": np.repeat(np.array(ends, dtype="datetime64[D]"), n),
        "balance_status": ((status.ravel() - 50) * 4), "balance_level": ((level.ravel() - 50) * 2),
        "status": status.ravel(), "level": level.ravel(),
    })
    flag = rng.random((m, n)) < 0.004
    active = np.zeros((m, n), bool)
    for lag in range(6):  # a drawn entry stays active 6 months (loop over 6 lags, not citizens)
        active[lag:] |= flag[: m - lag]
    active &= adult[None]

    frames, wrong = [], []
    for j, c in enumerate(pol.consequences):
        holds = {}
        for sc, st in scen_status.items():
            if event_types_used(c.when):
                h = active.copy()
            elif c.kind == "restriction":
                h = (st < 25 + (j % 3)) & adult[None]
            else:
                h = (st >= 70) & adult[None]
            holds[sc] = h
            sp = _spells(h, ends, ids)
            frames.append(sp.with_columns(pl.lit(sc).alias("scenario"), pl.lit(c.id).alias("consequence_id"),
                                          pl.lit(c.kind).alias("kind"), pl.lit(c.context).alias("context"),
                                          pl.lit(None, pl.Int64).alias("via_citizen_id")))
        a, pd_, nf = holds["actual"], holds["perfect_data"], holds["no_feedback"]
        who = np.flatnonzero(a.any(axis=0))
        src_pick = rng.integers(0, len(ERROR_SOURCES), (2, n))
        second = rng.random(n) < 0.3
        sources = np.where(has_err, np.char.add(np.array(ERROR_SOURCES)[src_pick[0]],
                                                np.where(second, np.char.add(",", np.array(ERROR_SOURCES)[src_pick[1]]), "")), "")
        wm = (a & ~pd_).sum(axis=0)
        wrong.append(pl.DataFrame({
            "citizen_id": ids[who], "consequence_id": c.id,
            "months_actual": a.sum(axis=0)[who], "months_perfect_data": pd_.sum(axis=0)[who],
            "months_no_feedback": nf.sum(axis=0)[who], "wrongful_months": wm[who],
            "feedback_months": (a & ~nf).sum(axis=0)[who],
            "error_sources": np.where(wm[who] > 0, sources[who], ""),
        }))
    consequences = pl.concat([_typed(f, CONSEQUENCES_SCHEMA) for f in frames])
    wrongful = pl.concat([_typed(f, WRONGFUL_SCHEMA) for f in wrong])
    lint_findings = [dataclasses.asdict(f) for f in lint(pol, today=as_of)]
    manifest: dict[str, Any] = {
        "people": n, "months": m, "start": start.isoformat(), "as_of": as_of.isoformat(),
        "policy": {"name": pol.name, "version": pol.version, "sha256": policy_hash(pol)},
        "seed": seed, "counts": {"consequence_spells": consequences.height},
        "lint": lint_findings, "synthetic_fixture": True,
        "data_sha256": hashlib.sha256(ratings["status"].to_numpy().tobytes()).hexdigest(),
    }
    # linkage.json as the simulation writes it: per source, overall, by error kind, totals
    per = {"records": 10_000, "linked": 9_700, "correct": 9_652, "wrongly_linked": 48, "quarantined": 300,
           "quarantined_by_reason": {"below match threshold": 200, "ambiguous": 100}, "precision": 0.995,
           "recall": 0.9652}
    k = len(ERROR_SOURCES)
    linkage = {"sources": {s: dict(per) for s in ERROR_SOURCES},
               "overall": {**{c: k * per[c] for c in ("records", "linked", "correct", "wrongly_linked",
                                                      "quarantined")},
                           "quarantined_by_reason": {"below match threshold": k * 200, "ambiguous": k * 100},
                           "precision": 0.995, "recall": 0.9652},
               "by_error_kind": {"none": {"linked_correct": k * 9_652, "linked_wrong": 0, "quarantined": k * 250},
                                 "namesake_merge": {"linked_correct": 0, "linked_wrong": k * 48, "quarantined": k * 50}},
               "records_in": k * 10_000, "records_linked": k * 9_700, "records_quarantined": k * 300,
               "records_in == linked + quarantined": True}
    band = None
    if pol.rating.bands is not None:
        names = pol.rating.bands.names
        band = pl.Enum(names)
        cut = np.linspace(99, 0, len(names) + 1)[1:-1]
        idx = np.searchsorted(-cut, -status.ravel(), side="right")
        ratings = ratings.with_columns(pl.Series("band", np.array(names)[idx]))
    return write_run(path, citizens=citizens, ratings=ratings, consequences=consequences, wrongful=wrongful,
                     manifest=manifest, policy_text=text, linkage=linkage, band=band)
