"""Wrongful consequences: those that erroneous records alone caused, and what feedback added.

Read from wrongful.parquet, one row per (citizen, consequence) in force at some time in the
actual scenario, with the months it held in each scenario.

wholly wrongful
    wrongful_months > 0 and months_perfect_data == 0: with error-free records the person
    would never have been under it. These are the "wrongly restricted" people.
partly wrongful
    wrongful_months > 0 but months_perfect_data > 0: the person would have been under it
    anyway, but erroneous records added months.
added by feedback
    feedback_months > 0: months in force in the actual run but not in the run where the
    rating does not feed back into behaviour and opportunities; "only by feedback" when
    months_no_feedback == 0.

Person-months are summed over consequences ("consequence-months"): a person under two
restrictions for 3 months counts 6 in the 'any-restriction' rows. People are counted
once per row. By source: a record with several erroneous sources counts under each, so
the source rows do not add up to the total.

appeals (when the run has the no-appeals scenario)
    appeals_prevented_months: wrongful months that would have happened had nobody
    contested anything but did not happen in the actual run.
"""

from __future__ import annotations

import polars as pl

from ..store.runfolder import RunFolder
from ._run import KINDS, RunData
from .groups import group_table

NO_SOURCE = "(not recorded)"


def _with_kind(w: pl.DataFrame, kinds: dict[str, str]) -> pl.DataFrame:
    return w.with_columns(pl.col("consequence_id").replace_strict(kinds, default=None, return_dtype=pl.String)
                          .alias("kind"))


def _flags(w: pl.DataFrame) -> pl.DataFrame:
    return w.with_columns(
        ((pl.col("wrongful_months") > 0) & (pl.col("months_perfect_data") == 0)).alias("wholly"),
        ((pl.col("wrongful_months") > 0) & (pl.col("months_perfect_data") > 0)).alias("partly"),
        ((pl.col("feedback_months") > 0) & (pl.col("months_no_feedback") == 0)).alias("feedback_only"),
    )


def _with_any(w: pl.DataFrame) -> pl.DataFrame:
    """Append 'any-restriction' / 'any-privilege' copies of each row (for summaries)."""
    anyk = w.filter(pl.col("kind").is_in(KINDS)).with_columns(
        pl.concat_str(pl.lit("any-"), pl.col("kind")).alias("consequence_id"))
    return pl.concat([w, anyk], how="vertical_relaxed")


def _order(kinds: dict[str, str]) -> dict[str, int]:
    ids = list(kinds) + [f"any-{k}" for k in KINDS]
    return {c: i for i, c in enumerate(ids)}


def wrongful_summary(run: RunData) -> pl.DataFrame:
    """Per consequence: people under it, wholly/partly wrongful people and months, feedback."""
    if run.wrongful is None:
        return pl.DataFrame()
    w_all = _with_any(_flags(_with_kind(run.wrongful, run.kinds)))
    w = w_all.filter(pl.col("months_actual") > 0)  # rows only in force without appeals count below
    kinds = {**run.kinds, **{f"any-{k}": k for k in KINDS}}
    base = pl.DataFrame({"consequence_id": list(kinds), "kind": list(kinds.values())})
    agg = w.group_by("consequence_id").agg(
        pl.col("citizen_id").n_unique().alias("people"),
        pl.col("months_actual").sum().alias("person_months"),
        pl.col("citizen_id").filter(pl.col("wholly")).n_unique().alias("wrongful_people"),
        pl.col("wrongful_months").filter(pl.col("wholly")).sum().alias("wrongful_person_months"),
        pl.col("citizen_id").filter(pl.col("partly")).n_unique().alias("extended_people"),
        pl.col("wrongful_months").filter(pl.col("partly")).sum().alias("extended_person_months"),
        pl.col("wrongful_months").sum().alias("all_wrongful_months"),
        pl.col("citizen_id").filter(pl.col("feedback_months") > 0).n_unique().alias("feedback_people"),
        pl.col("citizen_id").filter(pl.col("feedback_only")).n_unique().alias("feedback_only_people"),
        pl.col("feedback_months").sum().alias("feedback_person_months"),
    )
    if "appeals_prevented_months" in w.columns:
        agg = agg.join(w_all.group_by("consequence_id").agg(
            pl.col("citizen_id").filter(pl.col("appeals_prevented_months") > 0).n_unique()
            .alias("appeals_prevented_people"),
            pl.col("appeals_prevented_months").sum().alias("appeals_prevented_months")), on="consequence_id",
            how="full", coalesce=True)
    out = base.join(agg, on="consequence_id", how="left").with_columns(
        pl.exclude("consequence_id", "kind").fill_null(0).cast(pl.Int64))
    return out.with_columns(
        pl.when(pl.col("people") > 0).then(pl.col("wrongful_people") / pl.col("people")).alias("wrongful_share"),
        pl.when(pl.col("person_months") > 0).then(pl.col("all_wrongful_months") / pl.col("person_months"))
        .alias("wrongful_months_share"),
        pl.when(pl.col("person_months") > 0).then(pl.col("feedback_person_months") / pl.col("person_months"))
        .alias("feedback_months_share"),
    )


def wrongful_outcomes(run: RunData, wrong: pl.DataFrame | None = None) -> pl.DataFrame:
    """citizen_id, consequence_id, months: people wrongly under each consequence (incl.
    any-*), as figures.wrong_people defines them (wrong: its result, if computed)."""
    from .figures import wrong_people

    w = wrong_people(run) if wrong is None else wrong
    return w.filter(pl.col("wholly")).select("citizen_id", "consequence_id", pl.col("months").cast(pl.Int32))


MIN_EXPECTED = 5  # a group is flagged only if at least this many would be affected at the overall rate


def wrongful_by_group(run: RunData, wrong: pl.DataFrame | None = None, **kw) -> pl.DataFrame:
    """The group table (see groups.py) of wholly wrongful consequences: rate = share of the
    group wrongly under it; mean_months = mean wrongful months per wrongly affected person.

    Adult-only consequences (no child under them in their own right, see
    figures.adult_only) are measured on adults: the overall rate is then a share of adults,
    and under-18 rows are absent. Two extra columns:
    expected
        people the group would have wrongly affected at the overall rate (n x rate).
    flag_clear
        the group's 95% interval lies wholly on the worse side of the overall rate (above
        it for a restriction, below for a privilege) and expected >= MIN_EXPECTED (5): a
        difference neither chance nor a tiny cell explains. Never true when both rates
        are 0."""
    if run.wrongful is None:
        return pl.DataFrame()
    from .figures import adult_only

    kinds = {**run.kinds, **{f"any-{k}": k for k in KINDS}}
    adults = adult_only(run)
    outcomes = wrongful_outcomes(run, wrong)
    parts = []
    for only_adults in (True, False):
        ks = {c: k for c, k in kinds.items() if adults.get(c, False) == only_adults}
        if not ks:
            continue
        people = run.citizens.filter(pl.col("age_band") != "under 18") if only_adults else run.citizens
        parts.append(group_table(people, outcomes.join(people.select("citizen_id"), on="citizen_id", how="semi"),
                                 ks, **kw))
    order = {c: i for i, c in enumerate(kinds)}
    t = pl.concat(parts, how="vertical_relaxed").with_row_index("_i").with_columns(
        pl.col("consequence_id").replace_strict(order, return_dtype=pl.Int32).alias("_c")).sort("_c", "_i")
    overall = t.filter(pl.col("dimension") == "overall").select("consequence_id", pl.col("rate").alias("_o"))
    t = t.join(overall, on="consequence_id", how="left")
    worse = (pl.when(pl.col("kind") == "restriction").then(pl.col("rate_lo") > pl.col("_o"))
             .otherwise(pl.col("rate_hi") < pl.col("_o")))
    return t.with_columns((pl.col("n") * pl.col("_o")).alias("expected")).with_columns(
        pl.when((pl.col("dimension") != "overall") & ~pl.col("suppressed"))
        .then(worse & (pl.col("expected") >= MIN_EXPECTED)).alias("flag_clear")).drop("_i", "_c", "_o")


def wrongful_by_source(run: RunData, wrong: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per error source and consequence: people wrongly under it and their months, people
    under it longer and the months added (figures.wrong_people), counted under every
    source that sent the person an erroneous record (wrongful.parquet error_sources)."""
    if run.wrongful is None:
        return pl.DataFrame()
    from .figures import wrong_people

    w = wrong_people(run) if wrong is None else wrong
    src = run.wrongful.group_by("citizen_id").agg(pl.col("error_sources").first())
    w = (w.join(src, on="citizen_id", how="left").with_row_index("_row")
         .with_columns(pl.col("error_sources").fill_null("").str.split(",")).explode("error_sources")
         .with_columns(pl.col("error_sources").str.strip_chars())
         .with_columns(pl.when(pl.col("error_sources") == "").then(pl.lit(NO_SOURCE))
                       .otherwise(pl.col("error_sources")).alias("source"))
         .unique(["_row", "source"], keep="first", maintain_order=True))  # 'bank,bank' counts once
    kinds = {**run.kinds, **{f"any-{k}": k for k in KINDS}}
    out = w.group_by("source", "consequence_id").agg(
        pl.col("citizen_id").filter(pl.col("wholly")).n_unique().alias("wrongful_people"),
        pl.col("months").filter(pl.col("wholly")).sum().alias("wrongful_person_months"),
        pl.col("citizen_id").filter(~pl.col("wholly")).n_unique().alias("extended_people"),
        pl.col("months").filter(~pl.col("wholly")).sum().alias("extended_person_months"),
    ).with_columns(pl.exclude("source", "consequence_id").cast(pl.Int64),
                   pl.col("consequence_id").replace_strict(kinds, default=None, return_dtype=pl.String).alias("kind"))
    order = _order(run.kinds)
    return (out.with_columns(pl.col("consequence_id").replace_strict(order, default=len(order),
                                                                      return_dtype=pl.Int32).alias("_c"))
            .sort("_c", pl.col("wrongful_people"), "source", descending=[False, True, False])
            .drop("_c").select("source", "consequence_id", "kind", "wrongful_people", "wrongful_person_months",
                               "extended_people", "extended_person_months"))


def worked_example(run: RunData, wrongly: pl.DataFrame) -> dict | None:
    """One (synthetic) person wrongly under a restriction, with the wrong records behind it.

    wrongly: citizen_id of the people wrongly under any restriction (audit/figures.py).
    A wrong record (from truth.parquet) is erroneous, linked to the wrong person, or
    flawed in another way the generator recorded (error_kind other than 'none', such as
    a debt repayment that arrived late). Picks, deterministically, the lowest citizen_id
    with a wrong record that scored negative points, else the lowest with any wrong
    record. None when the run lacks events, truth or ledger files, or nobody qualifies."""
    folder = RunFolder(run.path)
    if wrongly.height == 0 or not all(folder.has(n) for n in ("events", "truth", "ledger")):
        return None
    ids = wrongly["citizen_id"].implode()
    ev = (folder.scan("events").filter(pl.col("citizen_id").is_in(ids))
          .select("citizen_id", pl.col("source").cast(pl.String), "record_id",
                  pl.col("event_type").cast(pl.String), "occurred_on").collect())
    truth = folder.read("truth", columns=["source", "record_id", "true_citizen_id", "erroneous",
                                                      "error_kind"]).with_columns(
        pl.col("source").cast(pl.String), pl.col("error_kind").cast(pl.String))
    bad = (ev.join(truth, on=["source", "record_id"])
           .filter(pl.col("erroneous") | (pl.col("true_citizen_id") != pl.col("citizen_id"))
                   | (pl.col("error_kind") != "none")))
    if bad.height == 0:
        return None
    led = (folder.scan("ledger").filter(pl.col("citizen_id").is_in(ids))
           .select("citizen_id", pl.col("source").cast(pl.String), "record_id", "entry_id",
                   pl.col("rule_id").cast(pl.String), "points", "expires_on", pl.col("state").cast(pl.String))
           .collect())
    cause = bad.join(led, on=["citizen_id", "source", "record_id"], how="left")
    rank = cause.group_by("citizen_id").agg((pl.col("points") < 0).any().alias("neg")).sort(
        "neg", "citizen_id", descending=[True, False], nulls_last=True)
    who = int(rank["citizen_id"][0])
    spells = (run.consequences.filter((pl.col("citizen_id") == who) & (pl.col("kind") == "restriction"))
              .select("scenario", "consequence_id", "start_month", "months").sort("scenario", "start_month"))
    person = run.citizens.filter(pl.col("citizen_id") == who).row(0, named=True)
    return {"citizen_id": who, "person": person,
            "records": cause.filter(pl.col("citizen_id") == who).drop("citizen_id", "erroneous").sort(
                "occurred_on", "record_id"),
            "spells": spells}
