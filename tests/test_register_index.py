"""The national register index: linkage against it equals linkage against the whole register.

The oracle is the whole-register path (``link_sources(records, build_register(people))``),
which the golden outputs pin; every comparison is exact (frames, probabilities, reasons,
pair counts).
"""

from __future__ import annotations

import copy

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkage_fixture import make_records
from socialrating.identity.linkage import AMBIGUOUS
from socialrating.identity.linkage_settings import DEFAULT_SETTINGS
from socialrating.identity.probabilistic import score_pairs
from socialrating.identity.register import build_register
from socialrating.identity.register_index import (RegisterIndex, RegisterIndexBuilder, SortedKeys, _expand,
                                                  blocking_keys, build_register_index)
from socialrating.population.generate import generate_population, iter_population_shards
from socialrating.sources.link import link_sources


def _with_namesakes_and_duplicates(people: pl.DataFrame, seed: int, share: float = 0.05) -> pl.DataFrame:
    """Give ``share`` of the people the full name, sex and birth date of another person
    (namesakes), and as many again the SNILS and phone of another (a broken register)."""
    rng = np.random.default_rng(seed)
    n = people.height
    k = max(1, int(share * n))
    dst, src = rng.choice(n, 2 * k, replace=False), rng.integers(0, n, 2 * k)
    cols = ["sex", "birth_date", "surname", "given_name", "patronymic"]
    out = people.to_dict(as_series=True)
    for c in cols:
        out[c] = out[c].scatter(dst[:k], out[c].gather(src[:k]))
    for c in ("snils", "phone"):
        out[c] = out[c].scatter(dst[k:], out[c].gather(src[k:]))
    return pl.DataFrame(out)


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for s in a:
        assert a[s].linked.equals(b[s].linked), s
        assert a[s].quarantine.equals(b[s].quarantine), s
        assert a[s].stats == b[s].stats, s


@pytest.mark.parametrize("n, seed, broken", [(2500, 1, False), (4000, 5, True), (3000, 11, True)])
def test_linkage_over_the_index_equals_the_whole_register(n, seed, broken):
    people = generate_population(n, seed)
    if broken:
        people = _with_namesakes_and_duplicates(people, seed)
    records, _ = make_records(people, seed=seed, error_rate=0.15)
    whole = link_sources(records, build_register(people))
    index = build_register_index([people.slice(i, 997) for i in range(0, n, 997)])
    _assert_same(whole, link_sources(records, index))
    counts = pl.concat([r.quarantine.select("reason") for r in whole.values()])["reason"].value_counts()
    reasons = dict(counts.iter_rows())
    assert sum(r.stats["candidate_pairs"] for r in whole.values()) > 0
    if broken:  # the case this test exists for: namesakes and shared identifiers were met
        assert reasons.get(AMBIGUOUS, 0) > 0


def test_the_index_is_a_semi_join_of_a_larger_register():
    """Records of the first 3,000 people against a register of 9,000: the index scores only the
    candidates, with the prior from all 9,000 people, and equals the whole register."""
    people = generate_population(9000, 2)
    records, _ = make_records(people.head(3000), seed=2, error_rate=0.2)
    whole = link_sources(records, build_register(people))
    index = build_register_index(iter_population_shards(9000, 2, shard_size=2500))
    assert index.n_people == 9000 and index.n_scoreable == 9000
    _assert_same(whole, link_sources(records, index))
    index.tuples_per_run = 333  # Splink over slices of the name tuples: the same result
    _assert_same(whole, link_sources(records, index))


def test_the_prior_comes_from_the_national_size_not_the_candidates():
    people = generate_population(3000, 4)
    index = build_register_index(people)
    reg = build_register(people).head(1)
    left = reg.select(pl.lit(0, pl.Int64).alias("unique_id"), "surname", "given_name", "patronymic", "birth_date")
    cand = index.candidates(left)
    assert 0 in cand["citizen_id"].to_list()
    national = score_pairs(left, cand, DEFAULT_SETTINGS, n_register=3000)
    whole = score_pairs(left, build_register(people), DEFAULT_SETTINGS)
    local = score_pairs(left, cand, DEFAULT_SETTINGS)
    assert national.sort("citizen_id").equals(whole.sort("citizen_id"))
    # a prior of 1/len(candidates) would make the same pair weigh log2(3000/len) more
    w_nat = national.filter(pl.col("citizen_id") == 0)["match_weight"][0]
    w_loc = local.filter(pl.col("citizen_id") == 0)["match_weight"][0]
    assert w_loc - w_nat == pytest.approx(np.log2(2999 / max(cand.height - 1, 1)), abs=1e-6)


def _frozen(index: RegisterIndex) -> dict:
    return {"keys": index.keys, "n": (index.n_people, index.n_scoreable),
            "ident": {k: _keys(v) for k, v in index.identifiers.items()},
            "blocks": [_keys(b) for b in index.blocks], "rows": index.rows.to_dicts()}


def _keys(k) -> tuple:
    return k.base, k.shift, k.offsets.tolist(), k.low.tolist(), k.low.dtype, k.ids.tolist(), k.ids.dtype, k.drop


@pytest.fixture(scope="module")
def small_people() -> pl.DataFrame:
    return _with_namesakes_and_duplicates(generate_population(700, 9), 9)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(0, 700), max_size=6))
def test_parts_of_any_size_give_the_same_index(small_people, cuts):
    bounds = [0, *sorted(cuts), 700]
    parts = [small_people.slice(a, b - a) for a, b in zip(bounds, bounds[1:])]
    assert _frozen(build_register_index(parts)) == _frozen(build_register_index(small_people))


def test_spilled_parts_give_the_same_index(small_people, tmp_path):
    parts = [small_people.slice(a, 150) for a in range(0, 700, 150)]
    spilled = build_register_index(parts, spill_dir=tmp_path)
    assert _frozen(spilled) == _frozen(build_register_index(small_people))
    assert list(tmp_path.iterdir()) == []  # the spill files are gone once the index is built


def test_parts_out_of_citizen_order_are_refused(small_people):
    with pytest.raises(ValueError, match="citizen order"):
        build_register_index([small_people.slice(300, 100), small_people.slice(0, 300)])


def test_identifier_lookup_by_hand():
    people = generate_population(50, 3)
    snils = people["snils"].to_list()
    shared = next(s for s in snils if s is not None)
    people = people.with_columns(snils=pl.Series(snils[:40] + [shared] * 10, dtype=pl.Int64))
    holders = [i for i, s in enumerate(people["snils"].to_list()) if s == shared]
    index = build_register_index(people)
    other = next(s for s in people["snils"].to_list() if s not in (None, shared))
    found, cid, n = index.lookup("snils", np.array([shared, other, 1], dtype=np.int64))
    assert found.tolist() == [True, True, False]
    assert cid[:2].tolist() == [min(holders), people["snils"].to_list().index(other)]
    assert n.tolist() == [len(holders), 1, 0]


def test_swapped_names_find_their_person_through_the_swap_rule():
    people = generate_population(400, 6)
    reg = build_register(people)
    row = reg.filter(pl.col("patronymic").is_not_null()).row(0, named=True)
    swapped = pl.DataFrame({"surname": [row["given_name"]], "given_name": [row["surname"]],
                            "patronymic": [None], "birth_date": [row["birth_date"]]},
                           schema={"surname": pl.String, "given_name": pl.String, "patronymic": pl.String,
                                   "birth_date": pl.Date})
    ids = build_register_index(people).candidate_ids(swapped)
    same_day = reg.filter(pl.col("birth_date") == row["birth_date"])
    expected = same_day.filter((pl.col("given_name") == row["surname"]) | (pl.col("surname") == row["given_name"])
                               | (pl.col("given_name") == row["given_name"]))  # the last: the reverse swap
    assert row["citizen_id"] in ids.tolist()
    assert set(expected["citizen_id"].to_list()) <= set(ids.tolist())


def test_blocking_keys_read_both_orientations_and_refuse_what_they_cannot_index():
    keys = blocking_keys(DEFAULT_SETTINGS["splink"])
    regs = {k.register for k in keys}
    assert ('"birth_date"', '"given_name"') in regs and ('"birth_date"', '"surname"') in regs
    assert len(keys) == 6  # five rules, the swap rule in both orientations
    for bad in ('l."surname" = r."surname" OR l."given_name" = r."given_name"',
                'l."surname" = l."given_name"',
                'jaro_winkler_similarity(l."surname", r."surname") > 0.9'):
        model = {**DEFAULT_SETTINGS["splink"], "blocking_rules_to_generate_predictions": [{"blocking_rule": bad}]}
        with pytest.raises(ValueError, match="blocking rule"):
            blocking_keys(model)


def test_index_refuses_settings_it_was_not_built_for():
    people = generate_population(200, 1)
    records, _ = make_records(people, seed=1)
    index = build_register_index(people)
    model = copy.deepcopy(DEFAULT_SETTINGS["splink"])
    model["blocking_rules_to_generate_predictions"] = model["blocking_rules_to_generate_predictions"][:2]
    with pytest.raises(ValueError, match="other blocking rules"):
        link_sources(records, index, settings={"splink": model})
    tf = copy.deepcopy(DEFAULT_SETTINGS["splink"])
    tf["comparisons"][0]["comparison_levels"][1]["tf_adjustment_column"] = "surname"
    with pytest.raises(ValueError, match="term-frequency"):
        link_sources(records, index, settings={"splink": tf})


def test_other_rules_and_threshold_still_equal_the_whole_register():
    people = _with_namesakes_and_duplicates(generate_population(2000, 8), 8)
    records, _ = make_records(people, seed=8, error_rate=0.2)
    model = copy.deepcopy(DEFAULT_SETTINGS["splink"])
    model["blocking_rules_to_generate_predictions"] = [
        {"blocking_rule": 'l."birth_date" = r."birth_date"'},
        {"blocking_rule": 'l."surname" = r."surname" AND year(l."birth_date") = year(r."birth_date")'},
    ]
    st_ = {"splink": model, "threshold": 0.8}
    index = build_register_index(people, settings=st_)
    _assert_same(link_sources(records, build_register(people), settings=st_),
                 link_sources(records, index, settings=st_))


def test_an_empty_register_index_leaves_every_name_record_without_candidate():
    people = generate_population(300, 2)
    records, _ = make_records(people, seed=2)
    builder = RegisterIndexBuilder()
    index = builder.finish()
    assert index.n_people == 0 and index.n_scoreable == 0
    _assert_same(link_sources(records, build_register(people.clear())), link_sources(records, index))


@given(lens=st.lists(st.integers(0, 5), max_size=20), start=st.integers(0, 100))
def test_expand_concatenates_ranges(lens, start):
    lo = np.array([start + 3 * i for i in range(len(lens))], dtype=np.int64)
    hi = lo + np.array(lens, dtype=np.int64)
    want = [x for a, b in zip(lo, hi) for x in range(a, b)]
    assert _expand(lo, hi).tolist() == want


def test_index_is_far_smaller_than_the_register():
    people = generate_population(20_000, 1)
    index = build_register_index(people)
    sizes = index.nbytes()
    assert sizes["total"] == sizes["identifiers"] + sizes["blocking"] + sizes["rows"]
    assert index.bytes_per_person() < build_register(people).estimated_size() / 20_000


@settings(max_examples=60, deadline=None)
@given(keys=st.lists(st.integers(-2**40, 2**40), max_size=300), probes=st.lists(st.integers(-2**41, 2**41), max_size=40),
       drop=st.integers(0, 8), as_hash=st.booleans())
def test_sorted_keys_find_what_searchsorted_finds(keys, probes, drop, as_hash):
    """The bucketed keys against an independent oracle: numpy's searchsorted on the full keys."""
    keys = keys + keys[:1] * 3  # some repeats
    if as_hash:
        keys, probes = [x & 0xFFFFFFFF for x in keys], [x & 0xFFFFFFFF for x in probes]
    dtype = np.uint64 if as_hash else np.int64
    k = np.sort(np.array(keys, dtype=dtype))
    p = np.array(probes + k[::7].tolist(), dtype=dtype)
    drop = drop if as_hash else 0
    sk = SortedKeys.build(k, np.arange(k.size, dtype=np.int64), drop=drop)
    lo, hi = sk.ranges(p)
    kk, pp = k >> dtype(drop), p >> dtype(drop)
    want_lo, want_hi = np.searchsorted(kk, pp, "left"), np.searchsorted(kk, pp, "right")
    assert (hi - lo).tolist() == (want_hi - want_lo).tolist()
    found = hi > lo
    assert lo[found].tolist() == want_lo[found].tolist()
    assert sk.ids[lo[found]].tolist() == want_lo[found].tolist()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ids=st.lists(st.integers(-5, 1300), max_size=60), shuffled=st.booleans())
def test_register_rows_by_search_equal_the_filter(ids, shuffled):
    """register_rows finds the people by binary search in the rows' citizen order: the same
    rows, in the same order, as a filter of every row (ids absent, repeated, unsorted, and
    rows not in citizen order, which take the filter)."""
    people = _PEOPLE
    if shuffled:
        people = people.sample(fraction=1.0, shuffle=True, seed=len(ids))
    index = build_register_index(people)
    want = build_register(_population_rows(index, ids))
    got = index.register_rows(np.array(ids, dtype=np.int64))
    assert got.equals(want)
    assert (index._row_ids() is None) == (shuffled and people["citizen_id"].is_sorted() is False)


_PEOPLE = generate_population(1200, 21)


def _population_rows(index: RegisterIndex, ids: list[int]) -> pl.DataFrame:
    from socialrating.identity.register_index import _population_view

    keep = pl.Series("citizen_id", ids, dtype=pl.Int64)
    return _population_view(index.rows.filter(pl.col("citizen_id").cast(pl.Int64).is_in(keep.implode())))


def test_register_rows_follow_the_rows_the_index_has_now():
    """The rows' order is checked once per rows: an index copied with other rows (shuffled,
    or fewer) searches those, not the first ones'."""
    import dataclasses

    index = build_register_index(_PEOPLE)
    ids = np.array([3, 10, 500, 1199], dtype=np.int64)
    first = index.register_rows(ids)
    fewer = dataclasses.replace(index, rows=index.rows.filter(pl.col("citizen_id") != 10))
    assert fewer.register_rows(ids).equals(first.filter(pl.col("citizen_id") != 10))
    shuffled = copy.copy(index)
    shuffled.rows = index.rows.sample(fraction=1.0, shuffle=True, seed=2)
    assert shuffled._row_ids() is None
    assert shuffled.register_rows(ids).sort("citizen_id").equals(first.sort("citizen_id"))
    assert index.register_rows(ids).equals(first)
