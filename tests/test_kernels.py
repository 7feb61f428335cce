"""The compiled engine gives the same answer however the work is split and the input laid out.

The kernels run on chunks of rows on a thread pool once the input is large, and read
Arrow buffers in place (nulls from validity bitmaps, sliced columns through their
offsets). These tests force every one of those paths on small inputs and compare with
the plain path and with the per-event oracle.
"""

from __future__ import annotations

import contextlib
import datetime as dt

import numpy as np
import polars as pl
import pytest
import yaml
from case_runner import events_frame
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socialrating import parallel
from socialrating.engine import kernels as K
from socialrating.engine.allocator import keep_freed_memory
from socialrating.engine.reference import reference_score
from socialrating.engine.score import score
from socialrating.policy.load import builtin_names, load_policy, parse_policy, read_policy_text
from socialrating.population.basic import basic_population
from socialrating.sources.basic import basic_events

AS_OF = dt.date(2026, 7, 1)


@contextlib.contextmanager
def split_work(threads: int = 3):
    """Chunk everything, however small, into `threads` uneven parts, on a pool of that many."""
    with pytest.MonkeyPatch.context() as mp, parallel.threads(threads):
        mp.setattr(K, "MIN_CHUNK", 1)
        yield


def assert_same(a, b) -> None:
    assert a.counts == b.counts
    for name in ("ledger", "ratings", "consequences", "quarantine"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.schema == y.schema, name
        assert x.equals(y), name


@pytest.fixture(scope="module")
def world():
    pop = basic_population(3000, 11)
    events = basic_events(pop, dt.date(2024, 7, 1), 2.0, 12)
    return pop, events


@pytest.mark.parametrize("name", builtin_names())
def test_chunked_on_threads_equals_one_chunk(world, name):
    pop, events = world
    policy = load_policy(name)
    cit, hh = pop["citizen_id"].to_numpy(), pop["household_id"].to_numpy()
    plain = score(events, policy, AS_OF, cit, households=hh)
    assert plain.ledger.height > 50 and plain.consequences.height > 50  # something to compare
    with split_work():
        assert K.chunks(events.height)[0] != (0, events.height)
        split = score(events, policy, AS_OF, cit, households=hh)
    assert_same(plain, split)


def test_caps_sorted_without_the_totals_table_agree(world):
    """Records spread over many periods (stray dates) make the totals table too large; the
    caps are then worked out by sorting every capped entry, with the same result."""
    from socialrating.engine import ledger as L
    pop, events = world
    policy = load_policy("we-platform")
    cit = pop["citizen_id"].to_numpy()
    stray = events.with_columns(occurred_on=pl.when(pl.int_range(pl.len()) % 501 == 0)
                                .then(pl.date(1931, 5, 17)).otherwise(pl.col("occurred_on")))
    a = score(stray, policy, AS_OF, cit)
    assert (a.ledger["points"] != a.ledger["points_raw"]).sum() > 20  # caps do cut here
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(L, "MAX_CAP_CELLS", 0)
        b = score(stray, policy, AS_OF, cit)
    assert_same(a, b)


def test_caps_when_a_group_total_saturates_agree(world):
    """The int32 group totals saturate; a saturated total sends every capped entry to the
    exact sort. With the bound lowered so that volunteering totals hit it, same result."""
    from socialrating.engine import ledger as L
    pop, events = world
    policy = load_policy("we-platform")
    cit = pop["citizen_id"].to_numpy()
    a = score(events, policy, AS_OF, cit)
    assert (a.ledger["points"] != a.ledger["points_raw"]).sum() > 20
    calls = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(L, "CAP_SATURATED", 60)  # above every cap (50, 30), below many group totals
        real = K.cap_totals
        mp.setattr(K, "cap_totals", lambda *args: calls.append(real(*args)) or calls[-1])
        b = score(events, policy, AS_OF, cit)
    assert any(calls)  # the saturation was seen, and the sort path ran
    assert_same(a, b)


def _with_nulls(events: pl.DataFrame) -> pl.DataFrame:
    i = pl.int_range(pl.len())
    return events.with_columns(
        citizen_id=pl.when(i % 97 == 5).then(None).otherwise(pl.col("citizen_id")),
        occurred_on=pl.when(i % 89 == 7).then(None).otherwise(pl.col("occurred_on")),
        amount=pl.when(i % 13 == 3).then(None).otherwise(pl.col("amount")),
    )


def test_sliced_columns_with_nulls_read_in_place(world):
    pop, events = world
    policy = load_policy("we-platform")
    cit = pop["citizen_id"].to_numpy()
    sliced = _with_nulls(events).slice(37)
    assert sliced["amount"].to_arrow().offset == 37  # the kernels must honour the offset
    fresh = pl.DataFrame(sliced.to_dict(as_series=False), schema=sliced.schema)
    assert fresh["amount"].to_arrow().offset == 0
    a = score(sliced, policy, AS_OF, cit)
    with split_work():
        b = score(fresh, policy, AS_OF, cit)
    assert_same(a, b)
    # independent count of what must be quarantined, by the first reason that applies
    unit_types = [r.event_type for r in policy.rules if r.points_per_unit is not None]
    want = fresh.filter(
        pl.col("citizen_id").is_null() | pl.col("occurred_on").is_null()
        | (pl.col("event_type").cast(pl.String).is_in(unit_types) & ~(pl.col("amount") >= 0).fill_null(False))
    ).height
    assert want > 50
    assert a.counts["quarantined"] == want == a.quarantine.height
    assert a.counts["accepted"] + a.counts["quarantined"] == sliced.height


def test_row_order_does_not_change_ratings_or_consequences(world):
    pop, events = world
    policy = load_policy("we-platform")
    cit, hh = pop["citizen_id"].to_numpy(), pop["household_id"].to_numpy()
    a = score(events, policy, AS_OF, cit, households=hh)
    shuffled = events.sample(fraction=1.0, shuffle=True, seed=3)
    with split_work():
        b = score(shuffled, policy, AS_OF, cit, households=hh)
    assert a.ratings.equals(b.ratings)
    assert a.consequences.equals(b.consequences)
    key = ["record_id", "rule_id"]
    cols = key + ["points_raw", "expires_on", "closed_on", "state"]
    assert a.ledger.select(cols).sort(key).equals(b.ledger.select(cols).sort(key))


def test_sparse_citizen_ids_give_the_same_ratings(world):
    pop, events = world
    policy = load_policy("rongcheng")
    cit, hh = pop["citizen_id"].to_numpy(), pop["household_id"].to_numpy()
    a = score(events, policy, AS_OF, cit, households=hh)
    sparse = events.with_columns(citizen_id=pl.col("citizen_id") * 7 + 1000)
    with split_work():
        b = score(sparse, policy, AS_OF, cit * 7 + 1000, households=hh)
    back = pl.col("citizen_id") * 7 + 1000
    assert a.ratings.with_columns(citizen_id=back).equals(b.ratings)
    assert a.ledger.with_columns(citizen_id=back).equals(b.ledger)
    assert a.consequences.with_columns(citizen_id=back,
                                       via_citizen_id=pl.col("via_citizen_id") * 7 + 1000).equals(b.consequences)


def _two_rules_per_type():
    """we-platform plus second rules on event types that already score: two slots each."""
    doc = yaml.safe_load(read_policy_text("we-platform")[0])
    doc["name"] = "we-platform-two-slots"
    doc["rules"] += [
        {"id": "volunteering-level", "event_type": "volunteer.hours", "category": "civic", "points": 2,
         "expires_after_months": 6, "cap": {"points": 5, "period_months": 3}, "reference": "assumption"},
        {"id": "fine-extra", "event_type": "fine.traffic", "category": "law", "points_per_unit": 0.1, "unit": "roubles",
         "expires_after_months": 3, "reference": "assumption"},
    ]
    return parse_policy(yaml.safe_dump(doc), "two-slots")


TWO_SLOTS = _two_rules_per_type()
CITIZENS = np.arange(4, dtype=np.int64)
D0 = dt.date(2023, 1, 1)
TYPES = ["volunteer.hours", "fine.traffic", "enforcement.exit_ban", "enforcement.debt_paid", "court.conviction",
         "loan.repaid_on_time"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 4), st.sampled_from(TYPES),
                          st.integers(0, 1300).map(lambda d: D0 + dt.timedelta(days=d)),
                          st.one_of(st.none(), st.integers(0, 40).map(float))), max_size=40))
def test_two_slots_split_over_threads_match_the_oracle(rows):
    as_of = dt.date(2026, 1, 1)
    with split_work():
        res = score(events_frame(rows), TWO_SLOTS, as_of, CITIZENS)
    entries, ratings, cons = reference_score(rows, TWO_SLOTS, as_of, CITIZENS.tolist())
    got = {(int(e) // 8, int(e) % 8): (p, str(s)) for e, p, s in
           res.ledger.select("entry_id", "points", "state").iter_rows()}
    assert got == entries
    assert res.ledger["record_id"].to_list() == [f"r{int(e) // 8}" for e in res.ledger["entry_id"]]
    for row in res.ratings.iter_rows(named=True):
        want = ratings[row["citizen_id"]]
        assert (row["status"], row["level"], row["balance_status"], row["balance_level"]) == \
            (want["status"], want["level"], want["balance_status"], want["balance_level"])
    got_cons = {c: set() for c in CITIZENS.tolist()}
    for cid, k in res.consequences.select("citizen_id", "consequence_id").iter_rows():
        got_cons[cid].add(str(k))
    assert got_cons == cons


def test_allocator_setting_applies_once_on_glibc():
    first = keep_freed_memory()
    assert keep_freed_memory() is first
    import platform
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert first is True
