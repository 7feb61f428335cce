"""Linkage settings as plain data (JSON-compatible): decision rules and the Splink model.

Everything that decides whether a record is linked is here, so a run can write it next
to its results and an analyst can change it (``link_records(..., settings=...)`` takes a
dict of the same shape; missing keys fall back to these defaults).

Probabilistic model (Fellegi-Sunter, scored by Splink on DuckDB)
----------------------------------------------------------------
Record side: the source's surname, given name, patronymic (normalised: upper case,
Ё->Е, blanks trimmed) and birth date. Register side: the same four fields of every
citizen. Parameters are *fixed*: no EM training, no random sampling, so the same input
always gives the same output.

* ``u`` (chance that two different people agree at a level) was measured once on
  3M random pairs of ``generate_population(300_000, seed=1)`` (numbers below, rounded).
  They follow the synthetic name distribution (Zipf-Mandelbrot, see names.py); for real
  data they would be re-estimated.
* ``m`` (chance that a record and its own person agree at a level) are assumptions
  about data-entry quality in agencies: about 90-95% exact, a few per cent near-miss
  (typo, masculine/feminine surname form), about 1% completely different value.
* Swapped surname and given name count as one piece of evidence on the surname
  comparison (level "swapped"); the given-name comparison is neutral (m = u) there.
* The prior ``probability_two_random_records_match`` is set at run time to
  ``1 / (number of people in the register)``: each record belongs to at most one person.

Blocking (which register people a record is compared with): birth date plus one exact
name field (surname; or given name and patronymic initial; or surname = the other's
given name, for swaps), and surname + given name plus the birth year (wrong day or
month) or plus day and month (wrong year). A record with a single error meets its
person in at least one rule; two errors in different fields can escape all of them
(recall loss, counted as ``no candidate in register``). Plain "same birth date" and
"same surname and year" rules, as first planned, gave ~5 times more pairs at 1M people
(Splink 11 s instead of 3 s) for the same links.

Decision rule
-------------
For each record, every register candidate produced by blocking gets Splink's match
weight ``w`` (log2 posterior odds for that pair alone). Candidates compete: the record
belongs to at most one person, so the probability that the best candidate is the right
one is ``2**w_best / (1 + sum_j 2**w_j)`` (equal to Splink's pairwise probability when
there is a single candidate). The record is linked if that probability is at least
``threshold`` (0.95). If the best candidate alone would pass (pairwise probability
>= threshold) but competitors pull it below, the record is quarantined as
``ambiguous``: two namesakes with the same full name and birth date give 0.5 each.
Otherwise it is ``below match threshold`` (or ``no candidate in register`` if blocking
found nobody).

Why 0.95, and what it means. Match probabilities of a record against its own person
when it is the only candidate (register of 1M people / of 146M people, since the prior
is 1/N):

    all four fields exact                          0.99999 / 0.9986
    surname and given name swapped                 0.99998 / 0.998
    surname near-miss (Jaro-Winkler >= 0.92)       0.9986  / 0.83
    no patronymic in the record                    0.9995  / 0.93
    one birth-date component wrong                 0.976   / 0.22
    given name completely different                0.969   / 0.18
    patronymic completely different                0.954   / 0.13
    no patronymic and a surname near-miss          0.933   / 0.09
    surname only similar (Jaro-Winkler 0.8-0.92)   0.900   / 0.06
    birth date completely different                0.04    / 0.0003

So at 0.95 one error in one field is tolerated in a 1M register, but a record with a
weak name match or two errors is held back; in a register of the whole country the
same record needs near-perfect agreement, because namesakes become likely. The
calibration file gives 88% as the central precision of weak-identifier linkage in
practice (ONS); 0.95 is deliberately stricter, trading recall for fewer wrong people.
"""

from __future__ import annotations

import copy
from typing import Any

_JW = "jaro_winkler_similarity"


def _name_levels(col: str, exact_u: float, jw: list[tuple[float, float, float]], else_m: float,
                 swapped: tuple[float, float] | None = None, swapped_with: str | None = None,
                 swap_label: str = "swapped") -> dict[str, Any]:
    levels: list[dict[str, Any]] = [
        {"sql_condition": f'"{col}_l" IS NULL OR "{col}_r" IS NULL', "label_for_charts": "null", "is_null_level": True},
        {"sql_condition": f'"{col}_l" = "{col}_r"', "label_for_charts": "exact",
         "m_probability": None, "u_probability": exact_u},
    ]
    if swapped is not None and swapped_with is not None:
        levels.append({
            "sql_condition": f'"{col}_l" = "{swapped_with}_r" AND "{swapped_with}_l" = "{col}_r"',
            "label_for_charts": swap_label, "m_probability": swapped[0], "u_probability": swapped[1],
        })
    for thr, m, u in jw:
        levels.append({"sql_condition": f'{_JW}("{col}_l", "{col}_r") >= {thr}', "label_for_charts": f"jaro-winkler >= {thr}",
                       "m_probability": m, "u_probability": u})
    levels.append({"sql_condition": "ELSE", "label_for_charts": "different", "m_probability": else_m, "u_probability": None})
    # fill exact m and else u so that each comparison's m and u sum to 1
    ms = [lv["m_probability"] for lv in levels[1:] if lv.get("m_probability") is not None]
    us = [lv["u_probability"] for lv in levels[1:] if lv.get("u_probability") is not None]
    levels[1]["m_probability"] = round(1.0 - sum(ms), 6)
    levels[-1]["u_probability"] = round(1.0 - sum(us), 9)
    return {"output_column_name": col, "comparison_levels": levels}


def _birth_date_comparison() -> dict[str, Any]:
    l, r = '"birth_date_l"', '"birth_date_r"'
    same = f"(year({l}) = year({r}))::INT + (month({l}) = month({r}))::INT + (day({l}) = day({r}))::INT"
    return {
        "output_column_name": "birth_date",
        "comparison_levels": [
            {"sql_condition": f"{l} IS NULL OR {r} IS NULL", "label_for_charts": "null", "is_null_level": True},
            {"sql_condition": f"{l} = {r}", "label_for_charts": "exact", "m_probability": 0.95, "u_probability": 3.8e-5},
            {"sql_condition": f"{same} = 2 OR (year({l}) = year({r}) AND month({l}) = day({r}) AND day({l}) = month({r}))",
             "label_for_charts": "one of day/month/year differs, or day and month swapped",
             "m_probability": 0.04, "u_probability": 0.0041},
            {"sql_condition": "ELSE", "label_for_charts": "different", "m_probability": 0.01, "u_probability": 0.995862},
        ],
    }


SPLINK_MODEL: dict[str, Any] = {
    "link_type": "link_only",
    "unique_id_column_name": "unique_id",
    "retain_matching_columns": False,
    "retain_intermediate_calculation_columns": False,
    # Every rule asks for two exact fields, so that any record with a single error
    # (a typo in one name, a swap, one wrong birth-date component) meets its person in
    # at least one rule, while the number of pairs stays near the number of records.
    "blocking_rules_to_generate_predictions": [
        # errors anywhere but the surname or birth date
        {"blocking_rule": 'l."birth_date" = r."birth_date" AND l."surname" = r."surname"'},
        # surname typo or masculine/feminine form
        {"blocking_rule": 'l."birth_date" = r."birth_date" AND l."given_name" = r."given_name"'
                          ' AND left(l."patronymic", 1) = left(r."patronymic", 1)'},
        # surname and given name swapped
        {"blocking_rule": 'l."birth_date" = r."birth_date" AND l."surname" = r."given_name"'},
        # wrong birth day or month
        {"blocking_rule": 'l."surname" = r."surname" AND l."given_name" = r."given_name"'
                          ' AND year(l."birth_date") = year(r."birth_date")'},
        # wrong birth year
        {"blocking_rule": 'l."surname" = r."surname" AND l."given_name" = r."given_name"'
                          ' AND month(l."birth_date") = month(r."birth_date") AND day(l."birth_date") = day(r."birth_date")'},
    ],
    "comparisons": [
        _name_levels("surname", 0.00058, [(0.92, 0.06, 0.0055), (0.8, 0.02, 0.148)], else_m=0.01,
                     swapped=(0.005, 1e-7), swapped_with="given_name"),
        # neutral (m = u) when swapped: the surname comparison counts that evidence
        _name_levels("given_name", 0.0186, [(0.9, 0.03, 0.0062)], else_m=0.015, swapped=(0.005, 0.005),
                     swapped_with="surname", swap_label="swapped (counted on surname)"),
        _name_levels("patronymic", 0.0184, [(0.9, 0.035, 0.0242)], else_m=0.01),
        _birth_date_comparison(),
    ],
}

DEFAULT_SETTINGS: dict[str, Any] = {
    # link if the best candidate's competing probability is at least this
    "threshold": 0.95,
    # pairs scored below this match weight are dropped before the decision (they cannot
    # change it: 2**-10 is negligible against the 1 in the denominator)
    "min_match_weight": -10.0,
    # strong identifiers in the order they are tried; exact joins on the register
    "strong_keys": ["snils", "inn", "passport", "phone"],
    # match_probability written for a deterministic (exact strong-identifier) link
    "deterministic_probability": 1.0,
    # records whose strong identifiers fail (missing, invalid, not in register) go to
    # name + birth date linkage if the source has those columns and they are filled
    "fallback_to_names": True,
    "splink": SPLINK_MODEL,
}


def resolve_settings(settings: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults overlaid with the given (top-level) keys; a deep copy, safe to mutate."""
    out = copy.deepcopy(DEFAULT_SETTINGS)
    if settings:
        unknown = set(settings) - set(DEFAULT_SETTINGS)
        if unknown:
            raise ValueError(f"unknown linkage setting(s) {sorted(unknown)}; known: {sorted(DEFAULT_SETTINGS)}")
        out.update(copy.deepcopy(settings))
    return out
