"""Four-fifths and harm flags at and around their thresholds (issue #17).

The fixtures elsewhere give ratios of 0, 0.5 and 1 only, so a threshold of 0.75 or 0.85
in place of 0.8 would pass them. Here five groups of 1,000 people sit just below, on,
and just above four-fifths of the reference group, for a privilege and a restriction, and
every flag is worked out by hand. Rates are chosen so the ratios on the line are exact in
binary floating point (x / 0.5 and 0.8 x 0.5 are exact), so "on the line" is tested as
such: the rule says *less than* four-fifths.
"""

from __future__ import annotations

import polars as pl
import pytest

from socialrating.audit.groups import group_table

GROUPS = ["g1", "g2", "g3", "g4", "g5"]
# people affected of 1,000 in each group
PRIVILEGE = {"g1": 500, "g2": 400, "g3": 399, "g4": 390, "g5": 401}
RESTRICTION = {"g1": 400, "g2": 500, "g3": 501, "g4": 530, "g5": 499}


def _table(small: dict[str, int] | None = None) -> pl.DataFrame:
    sizes = {g: 1000 for g in GROUPS} | (small or {})
    cid, district = [], []
    for g in GROUPS + sorted(set(sizes) - set(GROUPS)):
        start = len(cid)
        cid += list(range(start, start + sizes[g]))
        district += [g] * sizes[g]
    groups = pl.DataFrame({"citizen_id": cid, "district": district})
    rows = []
    for kid, counts in (("p", PRIVILEGE), ("r", RESTRICTION)):
        for g, k in counts.items():
            first = GROUPS.index(g) * 1000
            rows += [(first + i, kid, 1) for i in range(k)]
    rows += [(5000 + i, "p", 1) for i in range(sum(sizes.values()) - 5000)]  # extra groups: all privileged
    outcomes = pl.DataFrame(rows, schema={"citizen_id": pl.Int64, "consequence_id": pl.String, "months": pl.Int64},
                            orient="row")
    return group_table(groups, outcomes, {"p": "privilege", "r": "restriction"}, dimensions=("district",),
                       intersections=(), replicates=20)


def _rows(t, kid):
    return {r["group"]: r for r in t.filter((pl.col("consequence_id") == kid)
                                            & (pl.col("dimension") == "district")).iter_rows(named=True)}


def test_privilege_four_fifths_at_and_around_the_line():
    rows = _rows(_table(), "p")
    # reference: the highest rate of having it, g1 0.5
    want = {"g1": (1.0, False), "g2": (0.8, False), "g3": (0.798, True), "g4": (0.78, True), "g5": (0.802, False)}
    for g, (ratio, flag) in want.items():
        assert rows[g]["impact_ratio"] == pytest.approx(ratio, abs=1e-12), g
        assert rows[g]["four_fifths"] is flag, g
        # for a privilege the harm flag is the four-fifths flag
        assert rows[g]["harm_flag"] is flag, g
    assert rows["g2"]["impact_ratio"] == 0.8  # exactly on the line, and not flagged
    assert rows["g4"]["harm_ratio"] == pytest.approx(0.5 / 0.39)


def test_restriction_harm_flag_at_and_around_the_line():
    rows = _rows(_table(), "r")
    # harm: the least restricted group (g1, 0.4) against 0.8 x this group's rate
    want = {"g1": (1.0, False), "g2": (1.25, False), "g3": (0.501 / 0.4, True), "g4": (0.53 / 0.4, True),
            "g5": (0.499 / 0.4, False)}
    for g, (ratio, flag) in want.items():
        assert rows[g]["harm_ratio"] == pytest.approx(ratio, abs=1e-12), g
        assert rows[g]["harm_flag"] is flag, g
    # the standard rule on being free of it: reference g1 0.6; only g4 (0.47 / 0.6) is below
    fav = {"g1": 1.0, "g2": 0.5 / 0.6, "g3": 0.499 / 0.6, "g4": 0.47 / 0.6, "g5": 0.501 / 0.6}
    for g, ratio in fav.items():
        assert rows[g]["impact_ratio"] == pytest.approx(ratio, abs=1e-12), g
        assert rows[g]["four_fifths"] is (g == "g4"), g


def test_overall_row_has_no_flags_and_counts_add_up():
    t = _table()
    for kid, counts in (("p", PRIVILEGE), ("r", RESTRICTION)):
        o = t.filter((pl.col("consequence_id") == kid) & (pl.col("dimension") == "overall")).row(0, named=True)
        assert (o["n"], o["affected"]) == (5000, sum(counts.values()))
        assert o["four_fifths"] is None and o["harm_flag"] is None


def test_a_suppressed_group_is_no_reference():
    # 99 people, every one of them privileged and none restricted: if it counted as the
    # reference every other group would be flagged
    t = _table({"tiny": 99})
    tiny = _rows(t, "p")["tiny"]
    assert tiny["suppressed"] is True and tiny["four_fifths"] is None and tiny["n"] == 99
    assert t.filter(pl.col("dimension") == "overall", pl.col("consequence_id") == "p")["affected"].item() == 2189
    assert _rows(t, "p")["g2"]["four_fifths"] is False and _rows(t, "r")["g2"]["harm_flag"] is False
