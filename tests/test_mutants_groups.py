"""audit/groups.py worked by hand: every figure and flag of a twelve-person table.

The mutation run (scripts/mutation.py, audit/groups.py) selects every function that
decides a figure or flag; these cases pin each one with values worked out below.

Twelve people, min_group_size 3:

citizen  1  2  3  4  5  6  7  8  9 10 11 12
district A  A  A  A  A  B  B  B  B  B  C  C      (C: 2 people, suppressed)
age      18-24 x2, 35-44 x3, 18-24 x2, 35-44 x2, under 18 x3 (10, 11, 12)

r (restriction): 1, 2, 3, 6 with months 2, 4, 6, 5
p (privilege):   1, 6, 7, 8, 9, 11, 12 with months 1, 2, 3, 4, 5, 0, 0
z (restriction): nobody
d (restriction): all of A;  q (privilege): all of B. Every group of d and q is all or
    nobody, so every bootstrap replicate is the same and the intervals are exact.

The references (lowest/highest rate, highest favourable rate) leave out suppressed
groups (district C) and children (under 18): both are chosen so that counting them would
change the figures.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from socialrating.audit import groups as G
from socialrating.audit.groups import COLUMNS, _bootstrap, disparity_summary, group_table

DISTRICT = ["A"] * 5 + ["B"] * 5 + ["C"] * 2
AGE = ["18-24", "18-24", "35-44", "35-44", "35-44", "18-24", "18-24", "35-44", "35-44",
       "under 18", "under 18", "under 18"]
KINDS = {"z": "restriction", "r": "restriction", "p": "privilege", "d": "restriction", "q": "privilege"}
OUTCOMES = ([(1, "r", 2), (2, "r", 4), (3, "r", 6), (6, "r", 5)]
            + [(c, "p", m) for c, m in zip([1, 6, 7, 8, 9, 11, 12], [1, 2, 3, 4, 5, 0, 0])]
            + [(c, "d", 1) for c in range(1, 6)] + [(c, "q", 1) for c in range(6, 11)]
            + [(3, "other", 9)])  # not in kinds: left out


def _groups() -> pl.DataFrame:
    return pl.DataFrame({"citizen_id": list(range(1, 13)), "district": DISTRICT, "age_band": AGE})


def _outcomes() -> pl.DataFrame:
    return pl.DataFrame(OUTCOMES, schema={"citizen_id": pl.Int64, "consequence_id": pl.String,
                                          "months": pl.Int64}, orient="row")


def _table(**kw) -> pl.DataFrame:
    opts = dict(dimensions=("district", "age_band"), intersections=[("district", "age_band")], min_group_size=3,
                replicates=40, seed=3) | kw
    return group_table(_groups(), _outcomes(), KINDS, **opts)


# function-scoped on purpose: mutmut maps a mutant to the tests that call the function, and
# a module-scoped table would be built inside the first test only
@pytest.fixture
def table() -> pl.DataFrame:
    return group_table(_groups(), _outcomes(), KINDS, dimensions=("district", "age_band"),
                       intersections=[("district", "age_band")], min_group_size=3, replicates=40, seed=3)


def row(t: pl.DataFrame, cid: str, dim: str, group: str) -> dict:
    r = t.filter((pl.col("consequence_id") == cid) & (pl.col("dimension") == dim) & (pl.col("group") == group))
    assert r.height == 1, (cid, dim, group)
    return r.row(0, named=True)


def test_columns_types_and_order(table):
    assert table.columns == COLUMNS
    assert table.schema["n"] == pl.Int64 and table.schema["affected"] == pl.Int64
    assert table.schema["four_fifths"] == pl.Boolean and table.schema["rate"] == pl.Float64
    # consequences in the order of `kinds`, then overall, the dimensions, the intersection
    firsts = table.select("consequence_id", "dimension").unique(maintain_order=True).rows()
    dims = ["overall", "district", "age_band", "district x age_band"]
    assert firsts == [(c, d) for c in KINDS for d in dims]
    ages = table.filter((pl.col("consequence_id") == "r") & (pl.col("dimension") == "age_band"))["group"]
    assert ages.to_list() == ["under 18", "18-24", "35-44"]
    cross = table.filter((pl.col("consequence_id") == "r") & (pl.col("dimension") == "district x age_band"))
    assert cross["group"].to_list() == ["A x 18-24", "A x 35-44", "B x under 18", "B x 18-24", "B x 35-44",
                                        "C x under 18"]
    assert cross["n"].to_list() == [2, 3, 1, 2, 2, 2]
    assert table.height == len(KINDS) * (1 + 3 + 3 + 6)


def test_overall_rows(table):
    o = row(table, "r", "overall", "all")
    assert (o["n"], o["affected"], o["suppressed"]) == (12, 4, False)
    assert o["rate"] == pytest.approx(1 / 3) and o["ratio_overall"] == pytest.approx(1.0)
    assert o["mean_months"] == 17 / 4
    assert o["impact_ratio"] is None and o["four_fifths"] is None
    assert o["harm_ratio"] is None and o["harm_flag"] is None
    assert o["harm_clear"] is False  # no flag (null) and an interval of exactly 1: Kleene's null & false
    # one group of everybody: each replicate's rate is its overall rate, so the ratio is 1
    assert o["ratio_lo"] == pytest.approx(1.0) and o["ratio_hi"] == pytest.approx(1.0)
    p = row(table, "p", "overall", "all")
    assert (p["n"], p["affected"]) == (12, 7) and p["mean_months"] == 15 / 7


def test_restriction_by_district(table):
    a, b, c = (row(table, "r", "district", g) for g in "ABC")
    assert (a["n"], a["affected"], a["rate"]) == (5, 3, 0.6)
    assert (b["n"], b["affected"], b["rate"]) == (5, 1, 0.2)
    assert a["ratio_overall"] == pytest.approx(1.8) and b["ratio_overall"] == pytest.approx(0.6)
    assert (a["mean_months"], b["mean_months"]) == (4.0, 5.0)
    # free of it: A 0.4, B 0.8 (C's 1.0 is suppressed, no reference)
    assert a["impact_ratio"] == pytest.approx(0.5) and a["four_fifths"] is True
    assert b["impact_ratio"] == 1.0 and b["four_fifths"] is False
    # harm: lowest rate 0.2 (C's 0 left out); A 0.6 / 0.2, flagged as 0.2 < 0.8 x 0.6
    assert a["harm_ratio"] == pytest.approx(3.0) and a["harm_flag"] is True
    assert b["harm_ratio"] == 1.0 and b["harm_flag"] is False
    assert b["harm_clear"] is False
    assert c["n"] == 2 and c["suppressed"] is True
    assert all(c[k] is None for k in ("affected", "rate", "rate_lo", "rate_hi", "ratio_overall", "ratio_lo",
                                      "ratio_hi", "mean_months", "impact_ratio", "four_fifths", "harm_ratio",
                                      "harm_flag", "harm_clear"))
    assert a["suppressed"] is False and b["suppressed"] is False


def test_restriction_by_age_leaves_children_out_of_the_reference(table):
    young, mid, child = (row(table, "r", "age_band", g) for g in ("18-24", "35-44", "under 18"))
    # children: 3 people, exactly min_group_size, so shown; nobody restricted
    assert (child["n"], child["affected"], child["rate"], child["suppressed"]) == (3, 0, 0.0, False)
    assert child["mean_months"] is None
    # adult reference: lowest rate 0.2 (35-44), highest free-of-it 0.8 (35-44)
    assert young["rate"] == 0.75 and mid["rate"] == 0.2
    assert young["impact_ratio"] == pytest.approx(0.3125) and young["four_fifths"] is True
    assert mid["impact_ratio"] == 1.0 and mid["four_fifths"] is False
    assert child["impact_ratio"] == pytest.approx(1.25) and child["four_fifths"] is False
    assert young["harm_ratio"] == pytest.approx(3.75) and young["harm_flag"] is True
    assert mid["harm_ratio"] == 1.0 and mid["harm_flag"] is False
    assert child["harm_ratio"] == 0.0 and child["harm_flag"] is False


def test_privilege_by_district_and_age(table):
    a, b = row(table, "p", "district", "A"), row(table, "p", "district", "B")
    assert (a["rate"], b["rate"]) == (0.2, 0.8)
    assert a["ratio_overall"] == pytest.approx(0.2 * 12 / 7) and b["ratio_overall"] == pytest.approx(0.8 * 12 / 7)
    assert (a["mean_months"], b["mean_months"]) == (1.0, 3.5)
    # having it: highest 0.8 (B; C's 1.0 suppressed)
    assert a["impact_ratio"] == pytest.approx(0.25) and a["four_fifths"] is True and a["harm_flag"] is True
    assert b["impact_ratio"] == 1.0 and b["four_fifths"] is False and b["harm_flag"] is False
    assert a["harm_ratio"] == pytest.approx(4.0) and b["harm_ratio"] == 1.0
    young, mid, child = (row(table, "p", "age_band", g) for g in ("18-24", "35-44", "under 18"))
    assert (young["rate"], mid["rate"]) == (0.75, 0.4) and child["rate"] == pytest.approx(2 / 3)
    assert mid["impact_ratio"] == pytest.approx(0.4 / 0.75) and mid["four_fifths"] is True
    assert child["impact_ratio"] == pytest.approx((2 / 3) / 0.75) and child["four_fifths"] is False
    assert mid["harm_ratio"] == pytest.approx(1.875) and child["harm_ratio"] == pytest.approx(1.125)
    assert young["harm_ratio"] == 1.0 and young["four_fifths"] is False
    assert child["mean_months"] == 0.0  # affected, for no months


def test_a_consequence_nobody_has(table):
    for g in ("A", "B"):
        z = row(table, "z", "district", g)
        assert (z["affected"], z["rate"], z["rate_lo"], z["rate_hi"]) == (0, 0.0, 0.0, 0.0)
        assert z["ratio_overall"] is None and z["ratio_lo"] is None and z["ratio_hi"] is None
        assert z["mean_months"] is None and z["harm_ratio"] is None
        assert z["impact_ratio"] == 1.0 and z["four_fifths"] is False and z["harm_flag"] is False
    o = row(table, "z", "overall", "all")
    assert (o["affected"], o["rate"], o["ratio_overall"], o["ratio_lo"]) == (0, 0.0, None, None)


def test_all_or_nobody_groups_have_exact_intervals_and_harm_clear(table):
    a, b = row(table, "d", "district", "A"), row(table, "d", "district", "B")
    # d: A all restricted, 5 of 12 overall: ratio 12/5 in every replicate
    assert (a["rate_lo"], a["rate"], a["rate_hi"]) == (1.0, 1.0, 1.0)
    assert a["ratio_lo"] == pytest.approx(2.4) and a["ratio_hi"] == pytest.approx(2.4)
    assert a["harm_flag"] is True and a["harm_clear"] is True and a["harm_ratio"] is None  # lowest rate is 0
    assert (b["rate_lo"], b["rate_hi"], b["ratio_lo"], b["ratio_hi"]) == (0.0, 0.0, 0.0, 0.0)
    assert b["harm_flag"] is False and b["harm_clear"] is False
    # q: B all privileged; A has none, ratio 0 in every replicate, wholly below 1
    qa, qb = row(table, "q", "district", "A"), row(table, "q", "district", "B")
    assert qa["four_fifths"] is True and qa["harm_flag"] is True and qa["harm_clear"] is True
    assert qa["harm_ratio"] is None and qa["ratio_hi"] == 0.0
    assert qb["harm_flag"] is False and qb["harm_clear"] is False and qb["ratio_lo"] == pytest.approx(2.4)


def test_intervals_are_drawn_from_the_seed_and_the_dimension(table):
    """Each dimension's replicates come from SeedSequence [seed, its index] (0 = overall)."""
    t = table.filter(pl.col("consequence_id") == "r")
    # district (index 1): A has 5 people, 3 restricted; replicate counts Binomial(5, 0.6)
    a = row(t, "r", "district", "A")
    # consequences sorted by id (d, p, q, r, z) x districts (A, B, C)
    n = np.array([[5, 5, 2]] * 5)
    p = np.array([[1, 0, 0], [0.2, 0.8, 1], [0, 1, 0], [0.6, 0.2, 0], [0, 0, 0]])
    draws = np.random.default_rng([3, 1]).binomial(n[None], p[None], size=(40, 5, 3))
    assert a["rate_lo"] == pytest.approx(np.percentile(draws[:, 3, 0] / 5, 2.5))
    assert a["rate_hi"] == pytest.approx(np.percentile(draws[:, 3, 0] / 5, 97.5))
    assert a["rate_lo"] < a["rate_hi"]
    assert _table().equals(table)
    assert not _table(seed=4)["rate_lo"].equals(table["rate_lo"])
    # the default seed is 0 and the default level 95%
    t0 = _table(seed=0)
    del_seed = group_table(_groups(), _outcomes(), KINDS, dimensions=("district", "age_band"),
                           intersections=[("district", "age_band")], min_group_size=3, replicates=40)
    assert del_seed.equals(t0) and _table(seed=0, level=0.95).equals(t0)
    assert not _table(seed=0, level=0.5)["rate_lo"].equals(t0["rate_lo"])


class _Draws:
    """A stand-in generator: records its arguments, returns the counts it was given."""

    def __init__(self, counts):
        self.counts, self.args = np.array(counts), None

    def binomial(self, n, p, size):
        self.args = (n, p, size)
        return self.counts


def test_bootstrap_percentiles_by_hand():
    t = pl.DataFrame({"consequence_id": ["a", "a", "b", "b", "c", "c"], "group": ["g1", "g2"] * 3,
                      "n": [4, 6, 4, 6, 4, 6], "affected": [2, 3, 0, 6, 0, 0]})
    # 4 replicates x 3 consequences x 2 groups; a's last replicate has nobody (ratio undefined)
    rng = _Draws([[[1, 3], [0, 6], [0, 0]], [[2, 2], [0, 6], [0, 0]], [[3, 4], [0, 6], [0, 0]],
                  [[0, 0], [0, 6], [0, 0]]])
    out = _bootstrap(t, 10, 4, rng, 0.5)
    n, p, size = rng.args
    assert size == (4, 3, 2) and n.tolist() == [[[4, 6]] * 3] and p.tolist() == [[[0.5, 0.5], [0.0, 1.0], [0, 0]]]
    # level 0.5: the 25th and 75th percentiles, linear between the sorted replicates
    # a/g1 rates 0.25 0.5 0.75 0: sorted 0 .25 .5 .75 -> .1875, .5625
    # a/g2 rates .5 1/3 2/3 0: sorted 0 1/3 .5 2/3 -> .25, .5 + .25/6
    assert out["rate_lo"].to_list() == pytest.approx([0.1875, 0.25, 0.0, 1.0, 0.0, 0.0])
    assert out["rate_hi"].to_list() == pytest.approx([0.5625, 0.5 + 0.25 / 6, 0.0, 1.0, 0.0, 0.0])
    # a's overall rates .4 .4 .7 (and 0: left out); a/g1 ratios .625 1.25 .75/.7 -> sorted, 25th/75th of 3
    r1 = sorted([0.625, 1.25, 0.75 / 0.7])
    r2 = sorted([1.25, (1 / 3) / 0.4, (2 / 3) / 0.7])
    lo = [(r1[0] + r1[1]) / 2, (r2[0] + r2[1]) / 2, 0.0, 1 / 0.6, None, None]
    hi = [(r1[1] + r1[2]) / 2, (r2[1] + r2[2]) / 2, 0.0, 1 / 0.6, None, None]
    got_lo, got_hi = out["ratio_lo"].to_list(), out["ratio_hi"].to_list()
    assert got_lo[4:] == [None, None] and got_hi[4:] == [None, None]
    assert got_lo[:4] == pytest.approx(lo[:4]) and got_hi[:4] == pytest.approx(hi[:4])


def test_summary_by_hand(table):
    s = disparity_summary(table)
    assert s.columns == ["consequence_id", "kind", "dimension", "groups", "rate_min", "rate_max", "least_affected",
                         "most_affected", "flagged_groups", "flagged", "ratio_min_max", "difference"]
    assert s.filter(pl.col("dimension") == "district")["kind"].to_list() == list(KINDS.values())
    r = s.filter((pl.col("consequence_id") == "r") & (pl.col("dimension") == "district")).row(0, named=True)
    assert r["groups"] == 2 and (r["rate_min"], r["rate_max"]) == (0.2, 0.6)
    assert (r["least_affected"], r["most_affected"]) == ("B", "A")
    assert r["ratio_min_max"] == pytest.approx(1 / 3) and r["difference"] == pytest.approx(0.4)
    assert (r["flagged_groups"], r["flagged"]) == (1, "A")
    a = s.filter((pl.col("consequence_id") == "r") & (pl.col("dimension") == "age_band")).row(0, named=True)
    assert a["groups"] == 2 and a["flagged"] == "18-24"  # children left out
    z = s.filter((pl.col("consequence_id") == "z") & (pl.col("dimension") == "district")).row(0, named=True)
    assert z["ratio_min_max"] is None and z["difference"] == 0.0 and z["flagged"] == ""
    assert s.filter(pl.col("dimension") == "overall").height == 0
    assert s["consequence_id"].unique(maintain_order=True).to_list() == list(KINDS)


def test_summary_of_a_table_by_hand():
    """Three adult groups, two flagged; a child group and a suppressed one are left out even
    when they have the extreme rates."""
    t = pl.DataFrame({
        "consequence_id": ["r"] * 6, "kind": ["restriction"] * 6, "dimension": ["overall"] + ["age_band"] * 5,
        "group": ["all", "18-24", "25-34", "35-44", "under 18", "65+"],
        "rate": [0.3, 0.5, 0.1, 0.4, 0.9, 0.0], "suppressed": [False, False, False, False, False, True],
        "harm_flag": [None, True, False, True, True, None]})
    r = disparity_summary(t).row(0, named=True)
    assert r == {"consequence_id": "r", "kind": "restriction", "dimension": "age_band", "groups": 3,
                 "rate_min": 0.1, "rate_max": 0.5, "least_affected": "25-34", "most_affected": "18-24",
                 "flagged_groups": 2, "flagged": "18-24, 35-44", "ratio_min_max": pytest.approx(0.2),
                 "difference": pytest.approx(0.4)}


def test_defaults_are_the_documented_ones():
    assert (G.MIN_GROUP_SIZE, G.REPLICATES, G.FOUR_FIFTHS, G.SEP) == (100, 400, 0.8, " x ")
    assert G.DIMENSIONS == ("district", "age_band", "sex", "income_decile", "area")
    everyone = _groups().with_columns(pl.lit("F").alias("sex"), pl.lit("1").alias("income_decile"),
                                      pl.lit("urban").alias("area"))
    t = group_table(everyone, _outcomes(), {"r": "restriction"})
    assert t.filter(pl.col("dimension") != "overall")["suppressed"].all()
    assert t["dimension"].unique(maintain_order=True).to_list() == [
        "overall", "district", "age_band", "sex", "income_decile", "area", "sex x age_band", "district x area",
        "income_decile x area"]


def test_harm_clear_with_an_exact_ratio_between_one_and_two_and_nobody_free():
    """X (4 people) and Z (2) all restricted by h, Y (4) none: every replicate is the same,
    overall 6/10, X's ratio 1 / 0.6 = 5/3 on both ends of its interval. `everyone` restricts
    all ten: nobody is free of it anywhere, so no group has a favourable rate to compare."""
    groups = pl.DataFrame({"citizen_id": list(range(10)), "district": ["X"] * 4 + ["Y"] * 4 + ["Z"] * 2})
    rows = [(c, "h", 1) for c in (0, 1, 2, 3, 8, 9)] + [(c, "everyone", 1) for c in range(10)]
    outcomes = pl.DataFrame(rows, schema={"citizen_id": pl.Int64, "consequence_id": pl.String, "months": pl.Int64},
                            orient="row")
    t = group_table(groups, outcomes, {"h": "restriction", "everyone": "restriction"}, dimensions=("district",),
                    intersections=(), min_group_size=1, replicates=10)
    x = row(t, "h", "district", "X")
    assert x["ratio_lo"] == pytest.approx(5 / 3) and x["ratio_hi"] == pytest.approx(5 / 3)
    assert x["harm_flag"] is True and x["harm_clear"] is True
    for g in ("X", "Y", "Z"):
        e = row(t, "everyone", "district", g)
        assert e["rate"] == 1.0 and e["impact_ratio"] is None and e["four_fifths"] is None
        assert e["harm_ratio"] == 1.0 and e["harm_flag"] is False


def test_one_person_and_a_population_below_the_group_size():
    groups = pl.DataFrame({"citizen_id": [7], "district": ["X"]})
    outcomes = pl.DataFrame({"citizen_id": [7], "consequence_id": ["r"], "months": [2]})
    t = group_table(groups, outcomes, {"r": "restriction"}, dimensions=("district",), intersections=(),
                    min_group_size=1, replicates=5)
    o = row(t, "r", "overall", "all")
    assert (o["rate"], o["ratio_overall"], o["mean_months"]) == (1.0, 1.0, 2.0)
    x = row(t, "r", "district", "X")
    # a group of one, affected: every replicate draws 1 of 1, the whole population
    assert (x["ratio_overall"], x["rate_lo"], x["rate_hi"], x["ratio_lo"], x["ratio_hi"]) == (1.0,) * 5
    # 12 people, groups of at least 100: every group is suppressed, the overall row never is
    t = _table(min_group_size=100)
    o = row(t, "r", "overall", "all")
    assert o["suppressed"] is False and o["rate"] == pytest.approx(1 / 3) and o["affected"] == 4
    assert t.filter(pl.col("dimension") != "overall")["suppressed"].all()


def test_no_replicates_no_intervals():
    """replicates=0 asks for the figures without intervals (it used to raise IndexError
    inside numpy's percentile of zero replicates)."""
    t = _table(replicates=0)
    assert t.columns == COLUMNS
    for c in ("rate_lo", "rate_hi", "ratio_lo", "ratio_hi"):
        assert t[c].null_count() == t.height, c
    a = row(t, "r", "district", "A")
    assert (a["rate"], a["harm_flag"], a["four_fifths"]) == (0.6, True, True)
    assert a["harm_clear"] is None  # flagged, but no interval to tell
    assert row(t, "r", "district", "B")["harm_clear"] is False  # not flagged
    assert t.drop("rate_lo", "rate_hi", "ratio_lo", "ratio_hi", "harm_clear").equals(
        _table().drop("rate_lo", "rate_hi", "ratio_lo", "ratio_hi", "harm_clear"))


def test_harm_clear_on_the_line_by_hand():
    """_finish on a hand-made table: a privilege's interval must lie wholly below 1, a
    restriction's wholly above (1 itself is not enough)."""
    t = pl.DataFrame({
        "consequence_id": ["p"] * 4 + ["r"] * 4, "kind": ["privilege"] * 4 + ["restriction"] * 4,
        "dimension": ["overall", "d", "d", "d"] * 2, "group": ["all", "g1", "g2", "g3"] * 2,
        "n": [300, 100, 100, 100] * 2, "affected": [150, 90, 30, 30, 150, 10, 70, 70],
        "months_sum": [0.0] * 8,
        "rate_lo": [0.0] * 8, "rate_hi": [1.0] * 8,
        "ratio_lo": [1.0, 1.0, 0.2, 0.3, 1.0, 0.1, 1.0, 1.2],
        "ratio_hi": [1.0, 2.0, 1.0, 0.9, 1.0, 0.9, 1.5, 1.9]})
    out = G._finish(t, 300, 100, ["p", "r"], [("overall",), ("d",)])
    got = {(r["consequence_id"], r["group"]): (r["harm_flag"], r["harm_clear"]) for r in out.iter_rows(named=True)}
    # p: g2 and g3 (0.3 of the best 0.9) flagged; g2's interval reaches 1, g3's stays below
    assert got[("p", "g1")] == (False, False) and got[("p", "g2")] == (True, False) and got[("p", "g3")] == (True, True)
    # r: lowest rate 0.1 < 0.8 x 0.7: g2 and g3 flagged; g2's interval starts at 1, g3's above it
    assert got[("r", "g1")] == (False, False) and got[("r", "g2")] == (True, False) and got[("r", "g3")] == (True, True)


def test_summary_breaks_ties_in_the_table_s_group_order_every_time():
    """Groups with the same rate: the least and the most affected are each the first of
    the tied groups in the table's order, on every call (the audit's printed summary must
    not change from run to run). 2,000 tied groups make polars' sort multithreaded."""
    n = 2000
    groups = [f"g{i:04d}" for i in range(n)]
    t = pl.DataFrame({"consequence_id": ["r"] * n, "kind": ["restriction"] * n, "dimension": ["district"] * n,
                      "group": groups, "rate": [0.25] * (n // 2) + [0.5] * (n // 2), "suppressed": [False] * n,
                      "harm_flag": [False] * n})
    for _ in range(20):
        r = disparity_summary(t).row(0, named=True)
        assert (r["least_affected"], r["most_affected"]) == ("g0000", "g1000")
    rev = disparity_summary(t.reverse()).row(0, named=True)  # the first of each in that order
    assert (rev["least_affected"], rev["most_affected"]) == ("g0999", "g1999")
    flat = disparity_summary(t.with_columns(pl.lit(0.0).alias("rate"))).row(0, named=True)
    assert (flat["least_affected"], flat["most_affected"]) == ("g0000", "g0000")  # nobody differs: one group named
