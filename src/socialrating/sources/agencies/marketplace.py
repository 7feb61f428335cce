"""Online marketplace: yearly orders and returns, buy-now-pay-later plans repaid or in
default. Keyed by the phone number of the customer account (and the account number).

Calibration (assumptions, ``sources.marketplace`` in calibration.yaml; none of these is in
calibration.md): a share of adults 16-75 shop online, more in towns, at younger ages and
in higher income deciles; each shopper's account has a yearly statement of orders kept
(Poisson) and of orders returned (a share of orders); a share of shoppers take buy-now-pay-later plans, which end
repaid or, weighted by the risk propensity, in default.

Its own error model (``apply_errors``; called by the error model for this source): a
recycled phone number attaches an account's records to the number's new holder (kind
``recycled_phone``), and a plan paid in time reported in default (``wrong_status``).
"""

from __future__ import annotations

import numpy as np

from ._base import Context, Events, bernoulli_share, concat, event_index, lognormal, part, poisson_events, yearly_status_days

SOURCE = "marketplace"
ORDERS = event_index(SOURCE, "market.order_completed")
RETURNS = event_index(SOURCE, "market.return")
DEFAULT = event_index(SOURCE, "market.bnpl_default")
REPAID = event_index(SOURCE, "market.bnpl_repaid")


def _shoppers(ctx: Context, rng: np.random.Generator, share: float) -> np.ndarray:
    w = np.where(ctx.urban, 1.3, 0.8) * np.where(ctx.age < 45, 1.2, 0.8) * (0.6 + 0.08 * ctx.decile)
    eligible = (ctx.age >= 16) & (ctx.age <= 75)
    return np.flatnonzero(rng.random(ctx.n) < bernoulli_share(w, eligible, share))


def generate(ctx: Context) -> Events:
    """Yearly order and return records of shoppers, and their BNPL plans' outcomes."""
    p = ctx.param(SOURCE, "behaviour")
    rng = ctx.rng(SOURCE, 0)
    shoppers = _shoppers(ctx, rng, float(p["shopper_share_16_75"]))
    person, day = yearly_status_days(ctx, rng, shoppers)  # one yearly statement per account
    orders = rng.poisson(float(p["orders_per_year"]) * (0.5 + 0.1 * ctx.decile[person]))
    returned = rng.binomial(orders, float(p["return_share"]))
    kept, r = orders - returned > 0, returned > 0
    out = [part(person[kept], ORDERS, day[kept], (orders - returned)[kept].astype(np.float64)),
           part(person[r], RETURNS, day[r], returned[r].astype(np.float64))]
    rng = ctx.rng(SOURCE, 1)
    users = np.zeros(ctx.n)
    users[shoppers] = 1.0
    plans = poisson_events(ctx, rng, users, float(p["bnpl_plans_per_shopper_year"]) * shoppers.size / max(ctx.n, 1))
    pday = ctx.uniform_days(rng, plans.size)
    pd = np.clip(float(p["bnpl_default_share"]) * ctx.risk[plans] * (1.0 + 0.1 * np.clip(5 - ctx.decile[plans], 0, None)), 0, 0.9)
    bad = rng.random(plans.size) < pd
    end = pday + np.where(bad, 90, 120).astype(np.int32)
    inw = ctx.in_window(end)
    amount = lognormal(rng, p["bnpl_amount"], plans.size)
    out.append(part(plans[bad & inw], DEFAULT, end[bad & inw], amount[bad & inw]))
    out.append(part(plans[~bad & inw], REPAID, end[~bad & inw]))
    return concat(out)


def apply_errors(rec, ctx: Context, rng: np.random.Generator, kinds: dict[str, int]):
    """The marketplace's own errors, over whole arrays: recycled phone numbers (the record
    carries the phone of the number's new holder, another adult) and plans repaid in time
    reported in default. Rates: ``sources.marketplace.errors``."""
    from ..errors import ctx_ids

    e = ctx.param(SOURCE, "errors")
    none = rec.kind == kinds["none"]
    adults = np.flatnonzero(ctx.adult & ctx_ids(ctx, "phone")[1])  # new holders have the number
    hit = np.flatnonzero(none & (rng.random(len(rec)) < float(e["recycled_phone_share"])))
    if hit.size and adults.size:
        rec.subject[hit] = adults[rng.integers(0, adults.size, hit.size)]
        rec.kind[hit] = kinds["recycled_phone"]
    none = rec.kind == kinds["none"]
    wrong = np.flatnonzero(none & (rec.etype == REPAID) & (rng.random(len(rec)) < float(e["repaid_reported_default"])))
    rec.etype[wrong] = DEFAULT
    rec.amount[wrong] = lognormal(rng, ctx.param(SOURCE, "behaviour")["bnpl_amount"], wrong.size)
    rec.kind[wrong] = kinds["wrong_status"]
    return rec
