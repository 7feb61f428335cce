"""Policy -> CompiledPolicy: the validated rules turned, once, into the arrays the engine runs.

A `Policy` is what an author writes and pydantic checks: readable, nested, one object per
rule. The engine needs the same rules as columns (points, expiry, validity per rule index),
lookup tables (which flag a rule raises, which rules a closure ends, which rules are
capped) and the consequences' text. Building those used to happen inside every call to
the ledger, the ratings, the spells and every month of the monthly engine, each with its
own copy of the code. `compile_policy` builds them once per policy (cached on the policy's
hash), so authoring stays separate from execution and each table has one definition.

A new rule feature is added here (its per-rule array, in RuleArrays if a kernel reads
it), in policy/model.py (the field), in the kernel that applies it, and in
engine/reference.py (the oracle).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ..policy.conditions import describe
from ..policy.load import policy_hash
from ..policy.model import Closure, Policy
from .bundles import RuleArrays
from .dates import to_days

NEVER = np.iinfo(np.int32).max  # "no expiry" / "not closed" / "no end of validity" inside the engine


@dataclass(frozen=True, eq=False)
class CapRules:
    """The policy's capped rules: positions, and per capped rule its period, size and sign."""

    rules: tuple[int, ...]   # rule indices of the capped rules, in policy order
    capk: np.ndarray         # int8 per rule: its position in `rules`, -1 if uncapped
    period_months: np.ndarray  # int64 per capped rule
    lim: np.ndarray          # int64 |cap.points|
    sign: np.ndarray         # int64 sign of cap.points


@dataclass(frozen=True, eq=False)
class ClosureRule:
    """A closure with the rules it ends, as a mask over rule indices."""

    closure: Closure
    targets: np.ndarray  # bool per rule: the rule's event type is in closure.closes


@dataclass(frozen=True, eq=False)
class CompiledPolicy:
    """Everything the engine derives from a policy, built once (see compile_policy)."""

    policy: Policy
    digest: str                        # policy.load.policy_hash: the cache key
    rules: RuleArrays                  # per-rule pricing and validity, as the kernels read it
    rule_event_types: tuple[str, ...]  # event type per rule
    closure_event_types: frozenset[str]
    max_expiry_months: int
    flag_types: tuple[str, ...]        # event types conditions test with has_active
    flag_of_rule: np.ndarray           # int8 per rule: its index in flag_types, -1 if none
    caps: CapRules
    closures: tuple[ClosureRule, ...]
    closable_rules: np.ndarray         # bool per rule: some closure ends it
    band_names: list[str] | None
    # the ledger table's codes
    rule_ids: tuple[str, ...]
    types: tuple[str, ...]             # sorted distinct event types of the rules
    categories: tuple[str, ...]        # sorted distinct categories of the rules
    type_of_rule: np.ndarray           # per rule: index in types (uint8 / uint32)
    cat_of_rule: np.ndarray            # per rule: index in categories
    # the consequences table's text, per consequence
    condition_keys: tuple[str, ...]    # canonical JSON of each consequence's condition
    because: tuple[str, ...]           # describe(condition) of each consequence

    @property
    def rating(self):
        return self.policy.rating

    @property
    def n_rules(self) -> int:
        return len(self.rule_event_types)


def code_dtype(n: int):
    """The narrowest unsigned dtype for codes 0..n-1 of a table's Enum columns."""
    return np.uint8 if n <= 255 else np.uint32


def _rule_arrays(policy: Policy) -> RuleArrays:
    rules = policy.rules
    return RuleArrays(
        fixed=np.clip([r.points if r.points is not None else 0 for r in rules], -32768, 32767).astype(np.int16),
        per_unit=np.array([r.points_per_unit or 0.0 for r in rules], dtype=np.float64),
        is_unit=np.array([r.points_per_unit is not None for r in rules], dtype=np.bool_),
        exp_m=np.array([policy.expiry_months(r) or 0 for r in rules], dtype=np.int32),  # bounded by the model
        vfrom=np.array([to_days(r.valid_from) if r.valid_from else -NEVER for r in rules], dtype=np.int32),
        vuntil=np.array([to_days(r.valid_until) if r.valid_until else NEVER for r in rules], dtype=np.int32),
    )


def _cap_rules(policy: Policy) -> CapRules:
    capped = tuple(i for i, r in enumerate(policy.rules) if r.cap is not None)
    caps = [policy.rules[i].cap for i in capped]
    capk = np.full(len(policy.rules), -1, np.int8)
    capk[list(capped)] = np.arange(len(capped))
    return CapRules(
        rules=capped, capk=capk,
        period_months=np.array([c.period_months for c in caps], np.int64),
        lim=np.array([abs(c.points) for c in caps], np.int64),
        sign=np.array([1 if c.points > 0 else -1 for c in caps], np.int64),
    )


def _flag_of_rule(rule_types: tuple[str, ...], flag_types: tuple[str, ...]) -> np.ndarray:
    return np.array([flag_types.index(t) if t in flag_types else -1 for t in rule_types], dtype=np.int8)


def build_compiled(policy: Policy) -> CompiledPolicy:
    """Compile a validated policy (uncached; compile_policy caches)."""
    rules = policy.rules
    rule_types = tuple(r.event_type for r in rules)
    flag_types = tuple(policy.flag_event_types)
    closures = tuple(ClosureRule(c, np.array([t in c.closes for t in rule_types], dtype=np.bool_))
                     for c in policy.closures)
    types = tuple(sorted(set(rule_types)))
    cats = tuple(sorted({r.category for r in rules}))
    ra = _rule_arrays(policy)
    return CompiledPolicy(
        policy=policy, digest=policy_hash(policy), rules=ra, rule_event_types=rule_types,
        closure_event_types=frozenset(c.event_type for c in policy.closures),
        max_expiry_months=int(ra.exp_m.max(initial=0)),
        flag_types=flag_types, flag_of_rule=_flag_of_rule(rule_types, flag_types),
        caps=_cap_rules(policy), closures=closures,
        closable_rules=np.logical_or.reduce([c.targets for c in closures]) if closures
        else np.zeros(len(rules), np.bool_),
        band_names=policy.rating.bands.names if policy.rating.bands else None,
        rule_ids=tuple(r.id for r in rules), types=types, categories=cats,
        type_of_rule=np.array([types.index(t) for t in rule_types], dtype=code_dtype(len(types))),
        cat_of_rule=np.array([cats.index(r.category) for r in rules], dtype=code_dtype(len(cats))),
        condition_keys=tuple(c.when.model_dump_json() for c in policy.consequences),
        because=tuple(describe(c.when) for c in policy.consequences),
    )


_CACHE: OrderedDict[str, CompiledPolicy] = OrderedDict()
_CACHE_SIZE = 32  # policies kept compiled (a league run holds one per built-in scheme)
_LOCK = threading.Lock()


def compile_policy(policy: Policy | CompiledPolicy) -> CompiledPolicy:
    """The compiled form of `policy`, built on first use and then reused for every policy
    with the same canonical JSON (policy.load.policy_hash). A CompiledPolicy passes through."""
    if isinstance(policy, CompiledPolicy):
        return policy
    key = policy_hash(policy)
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    compiled = build_compiled(policy)
    with _LOCK:
        _CACHE[key] = compiled
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return compiled
