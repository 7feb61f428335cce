"""Federal Bailiff Service (FSSP): enforcement proceedings, exit bans, paid debts, alimony.

Calibration:
* proceedings: 15.4M new bank-debt proceedings in 2024 / the 27% bank-debt share -> 57.0M new
  proceedings a year (the 113M of 2025 were proceedings on hand, not new ones), split by kind
  with the FSSP shares (bank debts 27%, administrative fines 26%, housing/utilities 11%, tax
  6%, other 30%). The latent risk enters with an exponent (``risk_concentration``) so that
  proceedings fall on about as many people as the FSSP's 18.9M debtors.
  Who gets them follows the other agencies' true events: bank debts go mostly to people with
  90+ overdue loans, fines to people with traffic fines, utilities to households in arrears,
  tax to people with tax arrears, all times the latent risk.
* paid: a share per kind ends in full payment (``enforcement.debt_paid``, same proceeding_id)
  after an exponential delay.
* exit bans: for proceedings above 30,000 RUB (10,000 for alimony), 6-month rulings renewed
  while the debt is unpaid and the proceeding open (unpaid ones end as uncollectable after
  ``unpaid_end_days_mean``); the share of eligible proceedings banned is set so that rulings
  in the window's last year equal 2 x 6.6M (the stock with 6-month rulings) / 146.2M per person.
* alimony arrears: one record per open alimony proceeding per year, 723,100 open nationally.
Keyed by name + birth date (INN when known); ``proceeding_id`` is built from the extra
columns ``proceeding`` (number) and ``region`` (the debtor's region at opening).
"""

from __future__ import annotations

import numpy as np

from ._base import (
    Context, Events, bernoulli_share, concat, event_index, interp_profile, lognormal, part, poisson_events,
    yearly_status_days,
)

SOURCE = "bailiffs"
PROCEEDING = event_index(SOURCE, "enforcement.proceeding")
#: proceeding numbers per generation block: block b numbers from b * PROCEEDINGS_PER_BLOCK,
#: whatever the number of blocks (a block's world does not depend on the others). Proceeding
#: ids permute the numbers in 10**9 (9 digits), so a run has at most MAX_BLOCKS blocks:
#: 163.8M people at the calibration's block size of 131,072 (146M take 1,114). A block of
#: 131,072 people uses about 414k with 7 years of history. A run of one block numbers as
#: it always did, with no limit but the 9 digits.
PROCEEDINGS_PER_BLOCK = 800_000
MAX_BLOCKS = 10**9 // PROCEEDINGS_PER_BLOCK
EXIT_BAN = event_index(SOURCE, "enforcement.exit_ban")
PAID = event_index(SOURCE, "enforcement.debt_paid")
ALIMONY = event_index(SOURCE, "alimony.arrears")
KINDS = ("bank_debt", "administrative_fines", "housing_utilities", "tax", "other")
SUBTYPES = KINDS + ("alimony",)
RENEWAL_DAYS = 182


def proceedings_per_year(cal) -> float:
    """New proceedings a year: the published new bank-debt proceedings over the bank-debt share
    (15.4M / 0.27 = 57.0M; FSSP 2024-2025). Computed here so each figure lives in one place."""
    br = cal.base_rates
    return br.enforcement_new_bank_debt_per_year.value / br.enforcement_share_by_kind.value["bank_debt"]


def _count(ctx: Context, source: str, etype: int) -> np.ndarray:
    ev = ctx.outputs.get(source)
    if ev is None or len(ev) == 0:
        return np.zeros(ctx.n)
    return np.bincount(ev.person[ev.etype == etype], minlength=ctx.n).astype(np.float64)


def generate(ctx: Context) -> Events:
    from . import bank, housing, tax, traffic_police

    rng = ctx.rng(SOURCE, 0)
    adult = ctx.adult.astype(np.float64) * ctx.risk ** (float(ctx.param(SOURCE, "risk_concentration")) - 1.0)
    shares = dict(ctx.base("enforcement_share_by_kind"))
    shares["other"] = float(ctx.param(SOURCE, "kind_share_other"))
    weights = {
        "bank_debt": adult * ctx.risk * (0.3 + ctx.borrower + 8.0 * _count(ctx, "bank", bank.OVERDUE)),
        "administrative_fines": adult * ctx.risk * (0.2 + _count(ctx, "traffic_police", traffic_police.FINE)),
        "housing_utilities": adult * (ctx.role <= 1) * ctx.risk * (0.2 + 6.0 * _count(ctx, "housing", housing.ARREARS)),
        "tax": adult * ctx.risk * (0.3 + 5.0 * _count(ctx, "tax", tax.ARREARS)),
        "other": adult * ctx.risk,
    }
    per_year = ctx.per_capita(proceedings_per_year(ctx.cal))
    amounts = ctx.param(SOURCE, "amount_by_kind")
    paid_share = ctx.param(SOURCE, "paid_share_by_kind")
    persons, kinds, amts, paid_p = [], [], [], []
    for k, kind in enumerate(KINDS):
        p = poisson_events(ctx, rng, weights[kind], per_year * shares[kind])
        persons.append(p)
        kinds.append(np.full(p.size, k, dtype=np.int8))
        amts.append(lognormal(rng, amounts[kind], p.size))
        paid_p.append(np.full(p.size, paid_share[kind]))
    person = np.concatenate(persons)
    kind = np.concatenate(kinds)
    amount = np.concatenate(amts)
    opened = ctx.uniform_days(rng, person.size)
    # full payment
    rng = ctx.rng(SOURCE, 1)
    pays = rng.random(person.size) < np.concatenate(paid_p)
    paid_day = opened + np.ceil(rng.exponential(ctx.param(SOURCE, "paid_delay_days_mean"), person.size)).astype(np.int64)
    paid_day = np.where(pays, paid_day, np.iinfo(np.int32).max).astype(np.int64)
    # alimony: yearly arrears status of open alimony proceedings
    rng = ctx.rng(SOURCE, 2)
    aw = ctx.param(SOURCE, "alimony_weights")
    elig = ctx.adult & (ctx.age <= 70)
    w = interp_profile(aw["age"], ctx.age) * np.where(ctx.female, 1.0, aw["male"]) * np.where(ctx.employed, 1.0, aw["unemployed"]) * ctx.risk
    share = ctx.per_capita(ctx.base("alimony_proceedings_open")) * ctx.n / max(int(elig.sum()), 1)
    debtor = np.flatnonzero(rng.random(ctx.n) < bernoulli_share(w, elig, share))
    a_person, a_day = yearly_status_days(ctx, rng, debtor)
    a_amount = lognormal(rng, ctx.param(SOURCE, "alimony_amount"), a_person.size)
    # exit bans: first ruling after a lag, renewed every 6 months while unpaid, inside the window
    rng = ctx.rng(SOURCE, 3)
    end = ctx.d0 + ctx.span
    all_open = np.concatenate((opened, a_day)).astype(np.int64)
    all_amt = np.concatenate((amount, a_amount))
    all_paid = np.concatenate((paid_day, np.full(a_day.size, np.iinfo(np.int32).max, dtype=np.int64)))
    threshold = np.concatenate((np.full(opened.size, ctx.base("exit_ban_threshold_rub")), np.full(a_day.size, ctx.base("exit_ban_threshold_alimony_rub"))))
    first = all_open + 1 + np.ceil(rng.exponential(ctx.param(SOURCE, "exit_ban_lag_days"), all_open.size)).astype(np.int64)
    # unpaid proceedings end too (closed as uncollectable), and their bans with them
    ended = all_open + np.ceil(rng.exponential(ctx.param(SOURCE, "unpaid_end_days_mean"), all_open.size)).astype(np.int64)
    stop = np.minimum(np.minimum(all_paid, ended), end)
    eligible = all_amt > threshold
    n_rulings = np.where(eligible & (first < stop), (stop - first - 1) // RENEWAL_DAYS + 1, 0)
    # the share banned is set on the last year of the window, where the stock of open
    # proceedings has built up (a window with years of history before it is in steady state)
    last = max(ctx.d0, end - 365)
    before = np.minimum(stop, last)
    n_before = np.where(eligible & (first < before), (before - first - 1) // RENEWAL_DAYS + 1, 0)
    years = (end - last) / 365.25
    target = ctx.per_capita(ctx.param(SOURCE, "exit_ban_rulings_per_year")) * ctx.n * years
    p_ban = min(1.0, target / max(float((n_rulings - n_before).sum()), 1.0))
    banned = np.flatnonzero((rng.random(all_open.size) < p_ban) & (n_rulings > 0))
    reps = n_rulings[banned]
    src = np.repeat(banned, reps)
    j = np.arange(src.size) - np.repeat(np.cumsum(reps) - reps, reps)
    ban_day = first[src] + j * RENEWAL_DAYS
    all_person = np.concatenate((person, a_person))
    all_kind = np.concatenate((kind, np.full(a_person.size, len(KINDS), dtype=np.int8)))
    if ctx.blocks > MAX_BLOCKS:
        raise ValueError(f"bailiffs: a run of {ctx.blocks:,} generation blocks; 9-digit proceeding numbers "
                         f"number at most {MAX_BLOCKS:,} blocks (use a larger --block-size or fewer people)")
    if ctx.blocks > 1 and all_open.size > PROCEEDINGS_PER_BLOCK:
        raise ValueError(f"bailiffs: {all_open.size:,} enforcement proceedings in generation block {ctx.block}, "
                         f"more than the {PROCEEDINGS_PER_BLOCK:,} numbers a block has; run fewer years "
                         "(--years, --history-years) or a smaller --block-size")
    number = ctx.block * PROCEEDINGS_PER_BLOCK + np.arange(all_open.size, dtype=np.int64)
    region = ctx.region[all_person]
    got_paid = np.flatnonzero(all_paid < end)
    parts = [
        part(person, PROCEEDING, opened, amount, kind, proceeding=number[: person.size], region=region[: person.size]),
        part(a_person, ALIMONY, a_day, a_amount, np.full(a_person.size, len(KINDS)), proceeding=number[person.size:], region=region[person.size:]),
        part(all_person[src], EXIT_BAN, ban_day, all_amt[src], all_kind[src], proceeding=number[src], region=region[src]),
        part(all_person[got_paid], PAID, all_paid[got_paid], all_amt[got_paid], all_kind[got_paid], proceeding=number[got_paid], region=region[got_paid]),
    ]
    return concat(parts, SUBTYPES)
