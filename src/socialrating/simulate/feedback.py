"""Feedback as data: how the restrictions in force change next month's behaviour.

A restriction makes life harder, and a harder life shows in the records: while a person
is under a restriction in a consequence context (credit, employment, or any context a
policy names), their arrears-type records (overdue loans, utility and tax arrears,
enforcement) are more frequent by that context's uplift; uplifts of contexts held at
once add up. A policy whose consequences use a new context gets feedback by
configuration alone (`Feedback(uplift={..., "housing": 0.2})`, `--feedback housing=0.2`).

Each uplift is an assumption, not a measurement; its wording goes into the manifest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

#: context -> uplift of arrears-type record rates while a restriction in it is held
DEFAULT_UPLIFT = {"credit": 0.5, "employment": 0.3}
# Manifest names and reasons of the contexts the built-in policies use; any other context
# is written as "<context>_uplift" with the generic reason.
_NAMES = {"credit": "credit_arrears_uplift", "employment": "employment_risk_uplift"}
_REASONS = {
    "credit": "a person refused credit cannot refinance, so arrears-type records (overdue loans, utility and "
              "tax arrears, enforcement) become {pct} more frequent while the restriction lasts (assumption; "
              "no published estimate).",
    "employment": "a person barred from jobs loses income, and arrears-type records become {pct} more "
                  "frequent (assumption).",
}
_GENERIC = ("while a restriction in the '{context}' context lasts, arrears-type records become {pct} more "
            "frequent (assumption, set by configuration).")
_SPILLOVER = ("household_spillover: with a value above 0, household members of a restricted person see their "
              "arrears-type rates rise by that share ('joint punishment'); off by default.")


def _uplift(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"feedback {name}: expected a number 0 or above, got {value:g}")
    return value


@dataclass(frozen=True)
class Feedback:
    """Uplift per consequence context, plus the household spill-over share."""

    uplift: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_UPLIFT))
    household_spillover: float = 0.0

    def __post_init__(self) -> None:
        clean = {}
        for context, value in dict(self.uplift).items():
            if not isinstance(context, str) or not context:
                raise ValueError(f"feedback: a context must be a non-empty name, got {context!r}")
            clean[context] = _uplift(context, value)
        object.__setattr__(self, "uplift", clean)
        object.__setattr__(self, "household_spillover", _uplift("household_spillover", self.household_spillover))

    @staticmethod
    def key(context: str) -> str:
        """The context's name in the manifest."""
        return _NAMES.get(context, f"{context}_uplift")

    def assumptions(self) -> tuple[str, ...]:
        said = []
        for context, u in self.uplift.items():
            pct = f"{100 * u:g}%"
            reason = _REASONS.get(context, _GENERIC).format(pct=pct, context=context)
            said.append(f"{self.key(context)}: {reason}")
        return (*said, _SPILLOVER)

    def manifest(self) -> dict:
        """The manifest's record of the feedback: each uplift by name, and the assumptions."""
        return {**{self.key(c): u for c, u in self.uplift.items()},
                "household_spillover": self.household_spillover, "assumptions": list(self.assumptions())}


def parse_feedback(items: list[str]) -> dict[str, float]:
    """`CONTEXT=UPLIFT` strings (the repeatable `--feedback` option) -> {context: uplift}."""
    out: dict[str, float] = {}
    for item in items:
        context, sep, value = item.partition("=")
        context = context.strip()
        try:
            if not sep or not context:
                raise ValueError
            out[context] = _uplift(context, float(value))
        except ValueError:
            raise ValueError(f"--feedback: expected CONTEXT=UPLIFT (e.g. housing=0.2), got {item!r}") from None
    return out


class FeedbackModel:
    """Feedback compiled for one policy's consequences and one shard's households."""

    def __init__(self, feedback: Feedback, consequences, hh_idx: np.ndarray):
        restrict = np.array([c.kind == "restriction" for c in consequences], bool)
        # one term per configured context: its uplift and which consequences are restrictions in it
        self.terms = [(u, restrict & np.array([c.context == context for c in consequences], bool))
                      for context, u in feedback.uplift.items()]
        self.restrict = restrict
        self.spillover = feedback.household_spillover
        self.hh_idx = hh_idx

    def scale(self, held: np.ndarray) -> np.ndarray:
        """Per person: the uplift of their arrears-type rates given last month's holds (C x N)."""
        scale = np.zeros(held.shape[1])
        for u, which in self.terms:
            scale = scale + u * held[which].any(axis=0)
        if self.spillover > 0 and self.restrict.any():
            restricted = held[self.restrict].any(axis=0)
            hh_hit = np.bincount(self.hh_idx, weights=restricted, minlength=self.hh_idx.max() + 1) > 0
            scale = scale + self.spillover * (hh_hit[self.hh_idx] & ~restricted)
        return scale
