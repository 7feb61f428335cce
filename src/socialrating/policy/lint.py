"""Policy linter: what a demanding regulator would object to, before any citizen is scored.

`lint(policy)` reads a validated `Policy` and returns `Finding`s. Nothing is executed;
the checks reason about the rules, the rating scale and the conditions exactly (the
disproportion figures are the result of an exhaustive search, not a sample).

Severities
----------
- ``error``: the policy, as written, conflicts with a prohibition or a mandatory
  safeguard named in the anchor (EU AI Act Art. 5 prohibitions, 152-FZ Art. 10/16,
  GDPR Art. 9/22, the FCRA/218-FZ retention limits). A regulator would not let it run.
- ``warning``: a safeguard is weaker than the anchor's benchmark, or a legal basis must be
  shown before it may run (e.g. criminal-record data, review slower than 30 days).
- ``info``: worth a look in an audit, not a breach by itself.

Codes (stable; tests and reports rely on them)
----------------------------------------------
==============================  ========  ==================================================
code                            severity  rationale
==============================  ========  ==================================================
special-category                error     health data (and any special category that slipped
                                          past the loader) is scored; 152-FZ Art. 10 needs
                                          written consent, GDPR Art. 9 prohibits processing
                                          save narrow exceptions; a score built on it cannot
                                          rest on consent given under pressure of the score.
criminal-record                 warning   criminal-record data may be processed only by state
                                          bodies where a federal law says so (152-FZ Art.
                                          10(3); GDPR Art. 10): the basis must be shown.
unrelated-context               error     a restriction can be triggered by behaviour from a
                                          category unrelated to its context (AI Act Art.
                                          5(1)(c)(i) prohibits exactly this).
unrelated-privilege             info      a privilege granted for unrelated behaviour is
                                          unfavourable treatment of everyone else; audit it.
restriction-by-default          error     the restriction already holds for a citizen with no
                                          entries at all: it punishes no behaviour (Art.
                                          5(1)(c)(ii)).
disproportionate-single-event   error     one minor event (|points| at or below
                                          MINOR_FRACTION of the status scale) is enough to
                                          trigger the restriction (Art. 5(1)(c)(ii)). Events
                                          that are themselves the court-ordered measure for
                                          the context (EVENT_TYPE_CONTEXTS) are exempt: the
                                          court weighed proportionality.
disproportionate-fines          error     a restriction in a severe context (travel, housing,
                                          employment, education) can be triggered by
                                          administrative fines alone (Art. 5(1)(c)(ii); in
                                          Russia an exit ban needs a court-enforced debt over
                                          30,000 RUB, 229-FZ Art. 67).
no-expiry                       error     a negative entry never expires: no rule expiry
                                          and no bound (218-FZ Art. 7, FCRA s.605: 7 years).
expiry-too-long                 error     a negative entry outlives 84 months (120 for
                                          bankruptcy, FCRA s.605(a)(1)).
expiry-bounded                  info      a negative rule's own expiry is absent or longer
                                          than rating.negative_expiry_bound_months, which
                                          the engine applies instead (no-expiry and
                                          expiry-too-long judge the bounded expiry).
no-contest                      error     citizens cannot contest entries (GDPR Art. 22(3),
                                          FCRA s.611).
slow-review                     warning   contests are reviewed in more than 30 days (FCRA
                                          s.611(a)(1); GDPR Art. 12(3): one month).
overdue-against-citizen         warning   when the review deadline passes the entry stands;
                                          FCRA s.611(a)(5)(A) deletes unverified items.
no-suspension-while-contested   info      contested entries keep counting; GDPR Art. 18(1)(a)
                                          restricts processing while accuracy is contested.
automated-decision              error     a restriction takes effect without a person
                                          reviewing it (152-FZ Art. 16; GDPR Art. 22(1)).
household-spillover             error     a consequence also hits the citizen's household:
                                          people are treated by others' behaviour (Art.
                                          5(1)(c)(i); personal liability).
household-points                error     a rule scores an event about *another* member of
                                          the citizen's household (event types under
                                          ``household.``): points for others' behaviour
                                          (Art. 5(1)(c)(i); personal liability).
unknown-event-type              warning   a condition tests an event type that no rule
                                          scores: it can never hold as intended (typo?).
unsourced-restriction           warning   a restriction's reference has neither a URL nor a
                                          publisher, so it cannot be checked.
policy-expired                  warning   the policy's effective_to is in the past.
proportionality-unchecked       warning   the balances that matter lie more than 100,000
                                          points from the base: too wide for the exact
                                          search, so disproportion was not checked.
==============================  ========  ==================================================

Relatedness (check ``unrelated-context``)
-----------------------------------------
A restriction's context is *related* to a rule's category when the data come from the
same domain of life in which the sanction is imposed, i.e. the body imposing it would
itself lawfully look at that data. `RELATED_CONTEXTS` is the table; `EVENT_TYPE_CONTEXTS`
adds contexts for event types that are themselves the court-ordered measure (an exit
ban ordered by a bailiff for a debt *is* a travel restriction, so a travel restriction
keyed on it is related; a traffic fine is not). Health, awards and "other" relate to no
restriction context at all. The rules that feed a restriction are: every rule of the
policy when the condition tests status, level, a balance or a band (the score mixes them
all, so a score-keyed restriction over several categories is fed by unrelated
behaviour); the rules scoring X for ``has_active: X``.

Disproportion search (checks ``restriction-by-default``, ``disproportionate-*``)
---------------------------------------------------------------------------------
A fresh citizen starts at the base balances with no entries. Each event of a rule adds
its points to both balances (the events are recent, inside the level window) and one
active entry of its type. A per-unit rule's event can carry any integer number of
points of its sign up to its cap (unlimited without a cap); caps limit one event only,
because events may fall in different cap periods. Expiry and closures are ignored (they
only delay). Under these assumptions the search over multisets of events is exhaustive
up to `MAX_EVENTS`: balances are clamped just beyond every threshold the condition, the
scales and the bands use, which does not change any condition's truth.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .conditions import describe, flag_column, reads_score, walk
from .model import Consequence, Policy, Rule, Scale
from .refused import refusal_reason

Severity = Literal["error", "warning", "info"]
SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}

#: An event is "minor" when its |points| is at most this share of the status scale's
#: balance range (first to last breakpoint): about five score points on a linear 00-99
#: scale. One such event must not be enough for a sanction.
MINOR_FRACTION = 0.05
#: Contexts in which a restriction is severe (freedom of movement, home, work, study).
SEVERE_CONTEXTS = frozenset({"travel", "housing", "employment", "education"})
#: The disproportion search looks at up to this many events.
MAX_EVENTS = 24
#: The exact search holds one flag per balance within +-L of the base; past this L it
#: would take gigabytes (a base of 1e9 points), so the check is skipped and said so.
MAX_SEARCH_SPAN = 100_000
#: Negative entries older than this are obsolete (218-FZ Art. 7; FCRA s.605(a)(5)).
MAX_EXPIRY_MONTHS = 84
#: Bankruptcies may be reported for 10 years (FCRA s.605(a)(1)).
MAX_EXPIRY_MONTHS_BANKRUPTCY = 120

#: category -> restriction contexts that draw on the same domain of life.
RELATED_CONTEXTS: dict[str, frozenset[str]] = {
    "finance": frozenset({"credit", "housing", "finance"}),  # lenders, landlords, brokers check payment history
    "housing": frozenset({"housing", "services"}),  # rent / utility arrears -> tenancy, supply
    "law": frozenset(),  # offences are punished by courts, not by the score (see EVENT_TYPE_CONTEXTS)
    "civic": frozenset({"public_office"}),
    "health": frozenset(),  # special category: never a ground for detriment
    "education": frozenset({"education"}),
    "family": frozenset({"family", "social_benefits"}),
    "mobility": frozenset({"travel"}),  # road behaviour -> transport
    "work": frozenset({"employment"}),
    "sport": frozenset({"leisure"}),
    "awards": frozenset(),
    "public_office": frozenset({"public_office"}),
    "other": frozenset(),  # unknown provenance cannot be shown to be related
}

#: dotted part of an event type -> contexts related because the event *is* the measure
#: a court or bailiff ordered for that debt (229-FZ Art. 67 exit bans; the SPC list of
#: dishonest judgment debtors restricts travel and credit).
EVENT_TYPE_CONTEXTS: dict[str, frozenset[str]] = {
    "exit_ban": frozenset({"travel"}),
    "travel_ban": frozenset({"travel"}),
    # the SPC list bars "high consumption" that spends money owed to creditors: flights,
    # hotels and holidays, buying property; and credit (the debt itself). Not education:
    # fee-paying schools hit the debtor's children (see household-spillover).
    "dishonest_debtor": frozenset({"travel", "credit", "housing", "leisure"}),
    "judgment_debtor": frozenset({"travel", "credit", "housing", "leisure"}),
}

#: substrings of an event type's dotted parts that reveal health data.
HEALTH_MARKERS = (
    "health", "medic", "checkup", "check_up", "dispans", "vaccin", "diagnos", "disease",
    "illness", "sick", "hospital", "clinic", "disab", "pregnan", "mental", "psychiatr",
    "narcolog", "addict", "hiv", "genetic",
)
#: dotted parts that reveal other special categories (GDPR Art. 9: trade-union membership).
OTHER_SPECIAL_PARTS = {"trade_union": "trade-union membership (GDPR Art. 9(1))"}
#: dotted parts that reveal criminal-record data.
CRIMINAL_PARTS = frozenset({"criminal", "conviction", "convicted", "criminal_record", "crime"})
#: dotted parts that mark an administrative fine.
FINE_PARTS = frozenset({"fine", "fines"})


@dataclass(frozen=True)
class Finding:
    """One thing wrong (or worth a look) in a policy."""

    severity: Severity
    code: str
    target: str
    message: str
    anchor: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.code} at {self.target}: {self.message} [{self.anchor}]"


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)


def format_findings(findings: Iterable[Finding]) -> str:
    """Plain text for a terminal: one block per finding, errors first, then a summary."""
    items = sorted(findings, key=lambda f: SEVERITY_RANK[f.severity])
    if not items:
        return "no findings"
    lines = []
    for f in items:
        lines.append(f"{f.severity.upper():7} {f.code}  {f.target}")
        lines.append(f"        {f.message}")
        lines.append(f"        anchor: {f.anchor}")
    counts = {s: sum(f.severity == s for f in items) for s in SEVERITY_RANK}
    lines.append(f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info")
    return "\n".join(lines)


def lint(policy: Policy, *, today: dt.date | None = None) -> list[Finding]:
    """All findings for `policy`, errors first (stable within a severity)."""
    today = today or dt.date.today()
    out: list[Finding] = []
    out += _special_categories(policy)
    out += _expiry(policy)
    out += _contest(policy)
    an = _Analyser(policy)
    for i, c in enumerate(policy.consequences):
        target = f"consequences[{i}] {c.id}"
        out += _consequence_basics(policy, c, target)
        out += _relatedness(policy, c, target)
        if c.kind == "restriction":
            out += an.disproportion(c, target) if an.feasible else [_unchecked(an, target)]
    out += _household_points(policy)
    out += _unknown_types(policy)
    if policy.effective_to is not None and policy.effective_to < today:
        out.append(Finding(
            "warning", "policy-expired", "policy",
            f"the policy ended on {policy.effective_to} (before {today}); running it models rules "
            "no longer in force. Fix: set effective_to to a later date or model the newer version.",
            "policy effective dates",
        ))
    return sorted(out, key=lambda f: SEVERITY_RANK[f.severity])


def _household_points(policy: Policy) -> list[Finding]:
    """Rules whose event is about someone else in the household: the citizen is scored for
    behaviour that is not theirs, which the consequence-level household-spillover check
    cannot see because the points arrive as the citizen's own entries."""
    return [
        Finding(
            "error", "household-points", f"rules[{i}] {r.id}",
            f"scores '{r.event_type}', an event about another member of the citizen's household: "
            "points for someone else's behaviour. Fix: drop the rule.",
            "EU AI Act Art. 5(1)(c)(i); personal liability",
        )
        for i, r in enumerate(policy.rules) if _parts(r.event_type)[0] == "household"
    ]


# ---------------------------------------------------------------- checks 1, 4, 5


def _parts(event_type: str) -> list[str]:
    return event_type.lower().split(".")


def _health_part(event_type: str) -> str | None:
    for part in _parts(event_type):
        if any(m in part for m in HEALTH_MARKERS):
            return part
    return None


def _special_categories(policy: Policy) -> list[Finding]:
    out = []
    items: list[tuple[str, str, str | None]] = [
        (f"rules[{i}] {r.id}", r.event_type, r.category) for i, r in enumerate(policy.rules)
    ] + [(f"closures[{i}] {c.id}", c.event_type, None) for i, c in enumerate(policy.closures)]
    for target, et, category in items:
        why = None
        refused = refusal_reason(et) or (refusal_reason(category) if category else None)
        if refused:
            why = f"it names a refused category ({refused})"
        elif category == "health":
            why = "its category is health"
        elif (part := _health_part(et)) is not None:
            why = f"its event type '{et}' concerns health ('{part}')"
        else:
            for part in _parts(et):
                if part in OTHER_SPECIAL_PARTS:
                    why = f"its event type '{et}' reveals {OTHER_SPECIAL_PARTS[part]}"
        if why:
            out.append(Finding(
                "error", "special-category", target,
                f"scores special-category data: {why}. Health data may only be processed with "
                "written consent, which a score that rewards or punishes cannot obtain freely. "
                "Fix: remove the rule (or keep it out of the score and out of every condition).",
                "152-FZ Art. 10; GDPR Art. 9",
            ))
        elif any(p in CRIMINAL_PARTS for p in _parts(et)):
            out.append(Finding(
                "warning", "criminal-record", target,
                f"scores criminal-record data ('{et}'): only state bodies may process it, and only "
                "where a federal law provides for it. Fix: cite that law in the reference, or "
                "remove the rule.",
                "152-FZ Art. 10(3); GDPR Art. 10",
            ))
    return out


def _expiry(policy: Policy) -> list[Finding]:
    """Judged on the expiry the engine applies: the rule's own, bounded by
    rating.negative_expiry_bound_months (see Policy.expiry_months)."""
    out = []
    bound = policy.rating.negative_expiry_bound_months
    for i, r in enumerate(policy.rules):
        if r.sign > 0:
            continue
        target = f"rules[{i}] {r.id}"
        bankrupt = any("bankrupt" in p for p in _parts(r.event_type))
        limit = MAX_EXPIRY_MONTHS_BANKRUPTCY if bankrupt else MAX_EXPIRY_MONTHS
        months = policy.expiry_months(r)
        if months is None:
            out.append(Finding(
                "error", "no-expiry", target,
                f"negative entries of '{r.event_type}' never expire, so they count for life "
                "(and rating.negative_expiry_bound_months is null). "
                f"Fix: set expires_after_months to at most {limit}.",
                "218-FZ Art. 7; FCRA s.605",
            ))
        elif months > limit:
            out.append(Finding(
                "error", "expiry-too-long", target,
                f"negative entries of '{r.event_type}' count for {months} months, "
                f"beyond the {limit}-month limit"
                + (" for bankruptcies" if bankrupt else " (7 years)")
                + f". Fix: set expires_after_months (and rating.negative_expiry_bound_months) "
                f"to at most {limit}.",
                "218-FZ Art. 7; FCRA s.605",
            ))
        elif months != r.expires_after_months:
            own = "no expiry" if r.expires_after_months is None else f"{r.expires_after_months} months"
            out.append(Finding(
                "info", "expiry-bounded", target,
                f"the rule gives {own}, but rating.negative_expiry_bound_months ends its entries "
                f"after {bound} months; the rule as written overstates how long they count. "
                f"Fix: set expires_after_months to {bound} or less.",
                "218-FZ Art. 7; FCRA s.605",
            ))
    return out


def _contest(policy: Policy) -> list[Finding]:
    c = policy.contest
    if not c.allowed:
        return [Finding(
            "error", "no-contest", "contest",
            "citizens cannot contest an entry, so errors in the source data (26% of credit "
            "reports had one, FTC 2012) stand. Fix: set contest.allowed: true.",
            "GDPR Art. 22(3); FCRA s.611",
        )]
    out = []
    if c.review_deadline_days > 30:
        out.append(Finding(
            "warning", "slow-review", "contest",
            f"contests are reviewed within {c.review_deadline_days} days, more than 30. "
            "Fix: set contest.review_deadline_days to 30 or less.",
            "FCRA s.611(a)(1); GDPR Art. 12(3)",
        ))
    if not c.overdue_resolves_for_citizen:
        out.append(Finding(
            "warning", "overdue-against-citizen", "contest",
            "when the review deadline passes, the contested entry stands. Fix: set "
            "contest.overdue_resolves_for_citizen: true (unverified items are deleted).",
            "FCRA s.611(a)(5)(A)",
        ))
    if not c.suspend_while_contested:
        out.append(Finding(
            "info", "no-suspension-while-contested", "contest",
            "contested entries keep counting until the review ends. Consider "
            "contest.suspend_while_contested: true.",
            "GDPR Art. 18(1)(a)",
        ))
    return out


# ---------------------------------------------------------------- checks 2, 6, 7, 8


def _consequence_basics(policy: Policy, c: Consequence, target: str) -> list[Finding]:
    out = []
    if c.applies_to_household:
        out.append(Finding(
            "error", "household-spillover", target,
            f"the {c.kind} '{c.id}' also applies to the citizen's household, so people are "
            "treated by someone else's record. Fix: set applies_to_household: false.",
            "EU AI Act Art. 5(1)(c)(i)",
        ))
    if c.kind == "restriction":
        if not c.human_review:
            out.append(Finding(
                "error", "automated-decision", target,
                f"the restriction '{c.id}' ({c.context}) takes effect on the score alone, with no "
                "person reviewing it. Fix: set human_review: true.",
                "152-FZ Art. 16; GDPR Art. 22(1)",
            ))
        ref = policy.references[c.reference]
        if not ref.url and not ref.publisher:
            out.append(Finding(
                "warning", "unsourced-restriction", target,
                f"the reference '{c.reference}' ({ref.title!r}) has neither a url nor a publisher, "
                "so nobody can check where the restriction comes from. Fix: add them.",
                "auditability",
            ))
    return out


def related_contexts(rule: Rule) -> frozenset[str]:
    """Contexts related to a rule: by its category, plus court-ordered measure types."""
    out = set(RELATED_CONTEXTS.get(rule.category, frozenset()))
    for p in _parts(rule.event_type):
        out |= EVENT_TYPE_CONTEXTS.get(p, frozenset())
    return frozenset(out)


def feeding_rules(policy: Policy, cond) -> list[tuple[int, Rule]]:
    """The rules whose events can make `cond` hold or not (see the module docstring)."""
    if reads_score(cond):
        return list(enumerate(policy.rules))
    types = {t for n in walk(cond) for t in n.event_counts()}
    return [(i, r) for i, r in enumerate(policy.rules) if r.event_type in types]


def _relatedness(policy: Policy, c: Consequence, target: str) -> list[Finding]:
    feeders = feeding_rules(policy, c.when)
    bad = [(i, r) for i, r in feeders if c.context not in related_contexts(r)]
    if not bad:
        return []
    cats = sorted({r.category for _, r in bad})
    listed = ", ".join(f"{r.id} ({r.category})" for _, r in bad[:6]) + (
        f" and {len(bad) - 6} more" if len(bad) > 6 else "")
    via = ("the score, which every rule feeds" if reads_score(c.when)
           else "the event types it tests")
    if c.kind == "restriction":
        return [Finding(
            "error", "unrelated-context", target,
            f"the restriction '{c.id}' in context '{c.context}' is triggered via {via} "
            f"({describe(c.when)}); rules from categories unrelated to {c.context} feed it: "
            f"{listed} [{', '.join(cats)}]. Fix: key it with has_active on event types of a "
            f"related category, or drop it.",
            "EU AI Act Art. 5(1)(c)(i)",
        )]
    return [Finding(
        "info", "unrelated-privilege", target,
        f"the privilege '{c.id}' in context '{c.context}' is granted via {via}; unrelated "
        f"categories feed it: {listed} [{', '.join(cats)}]. Those without it are treated "
        "less favourably for unrelated behaviour.",
        "EU AI Act Art. 5(1)(c)(i)",
    )]


def _unknown_types(policy: Policy) -> list[Finding]:
    scored = set(policy.scored_event_types)
    out = []
    where: list[tuple[str, object]] = [
        (f"consequences[{i}] {c.id}", c.when) for i, c in enumerate(policy.consequences)]
    if policy.rating.bands:
        where += [(f"rating.bands.caps[{i}]", cap.when) for i, cap in enumerate(policy.rating.bands.caps)]
    for target, cond in where:
        for t in (t for n in walk(cond) for t in n.event_counts()):
            if t not in scored:
                out.append(Finding(
                    "warning", "unknown-event-type", target,
                    f"the condition tests '{t}', which no rule scores, so no "
                    "entry of that type can exist. Fix: correct the event type or add a rule.",
                    "policy consistency",
                ))
    return out


# ---------------------------------------------------------------- check 3: exact search


def scale_scores(scale: Scale, balance: np.ndarray) -> np.ndarray:
    """The model's piecewise-linear, clamped, integer scale, over an array of balances."""
    bps = scale.breakpoints
    b = np.asarray(balance, dtype=np.int64)
    out = np.full(b.shape, bps[0].score, dtype=np.int64)
    for lo, hi in zip(bps, bps[1:]):
        seg = (b >= lo.balance) & (b < hi.balance)
        val = lo.score + ((b - lo.balance) * (hi.score - lo.score)) // (hi.balance - lo.balance)
        out = np.where(seg, val, out)
    return np.where(b >= bps[-1].balance, bps[-1].score, out)


def _is_court_measure(r: Rule, context: str) -> bool:
    """The event is itself a court/bailiff measure for this context (EVENT_TYPE_CONTEXTS)."""
    return any(context in EVENT_TYPE_CONTEXTS.get(p, ()) for p in _parts(r.event_type))


def _fixed_points(r: Rule) -> int:
    """Points of one event of a fixed-points rule, after its cap."""
    return r.sign * (min(abs(r.points), abs(r.cap.points)) if r.cap else abs(r.points))


def _unchecked(an: "_Analyser", target: str) -> Finding:
    return Finding(
        "warning", "proportionality-unchecked", target,
        f"the policy's thresholds lie up to {an.L - 2:,} points from the base balance, beyond the "
        f"{MAX_SEARCH_SPAN:,} the exact search covers: whether minor events alone can trigger this "
        "restriction was not checked. Fix: express the scale in fewer points.",
        "AI Act Art. 5(1)(c)(ii)",
    )


class _DeltaColumns(Mapping):
    """The columns a condition reads, over every clamped point delta of `an` at once, with
    `counts` entries in force by type; each column is made when a condition asks for it."""

    def __init__(self, an: "_Analyser", counts: dict[str, int]):
        self.an, self.counts = an, counts
        self.made: dict[str, np.ndarray] = {}
        self.flags = {flag_column(t): n for t, n in counts.items()}

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self.made:
            self.made[key] = self._make(key)
        return self.made[key]

    def _make(self, key: str) -> np.ndarray:
        an, rs = self.an, self.an.p.rating
        if key == "status":
            return scale_scores(rs.status_scale, rs.base_status + an.delta)
        if key == "level":
            return scale_scores(rs.level_scale, rs.base_level + an.delta)
        if key == "balance_status":
            return rs.base_status + an.delta
        if key == "balance_level":
            return rs.base_level + an.delta
        if key == "band":
            return an._band_index(self.counts)
        if key.startswith(flag_column("")):
            return np.full(an.delta.shape, self.flags.get(key, 0))
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(("status", "level", "balance_status", "balance_level", "band", *self.flags))

    def __len__(self) -> int:
        return 5 + len(self.flags)


class _Analyser:
    """Evaluates conditions over every clamped point delta at once (numpy arrays)."""

    def __init__(self, policy: Policy):
        self.p = policy
        rs = policy.rating
        consts = [bp.balance - rs.base_status for bp in rs.status_scale.breakpoints]
        consts += [bp.balance - rs.base_level for bp in rs.level_scale.breakpoints]
        if rs.bands:
            base = rs.base_status if rs.bands.basis == "balance_status" else rs.base_level
            consts += [c.min_balance - base for c in rs.bands.cutoffs if c.min_balance is not None]
        base = {"balance_status": rs.base_status, "balance_level": rs.base_level}
        for c in policy.consequences:
            consts += [v - base[col] for n in walk(c.when) for col, v in n.balance_bounds()]
        # deltas run over [-L, L]; the two ends stand for "L or more beyond" (clamped).
        self.L = max(abs(v) for v in consts) + 2
        self.feasible = self.L <= MAX_SEARCH_SPAN + 2
        if not self.feasible:
            return
        self.delta = np.arange(-self.L, self.L + 1, dtype=np.int64)
        sb = policy.rating.status_scale.breakpoints
        self.minor = max(1, int((sb[-1].balance - sb[0].balance) * MINOR_FRACTION))

    # -- evaluation --------------------------------------------------------

    def _band_index(self, counts: dict[str, int]) -> np.ndarray:
        rs = self.p.rating
        bands = rs.bands
        base = rs.base_status if bands.basis == "balance_status" else rs.base_level
        bal = base + self.delta
        idx = np.full(bal.shape, len(bands.cutoffs) - 1, dtype=np.int64)
        for k in range(len(bands.cutoffs) - 2, -1, -1):
            idx = np.where(bal >= bands.cutoffs[k].min_balance, k, idx)
        for cap in bands.caps:
            capped = self.eval(cap.when, counts)
            idx = np.where(capped, np.maximum(idx, bands.names.index(cap.band)), idx)
        return idx

    def eval(self, cond, counts: dict[str, int]) -> np.ndarray:
        """Where `cond` holds at every delta, given counts of entries in force by type."""
        names = self.p.rating.bands.names if self.p.rating.bands else None
        return cond.holds(_DeltaColumns(self, counts), names)

    # -- moves -------------------------------------------------------------

    def _interval(self, r: Rule) -> tuple[int, int]:
        """Signed points one event of `r` can carry, as [lo, hi] (clamped to 2L+1)."""
        big = 2 * self.L + 1
        if r.points is not None:
            mag = abs(r.points) if r.cap is None else min(abs(r.points), abs(r.cap.points))
            mag = min(mag, big)
            return (r.sign * mag, r.sign * mag)
        top = big if r.cap is None else min(abs(r.cap.points), big)
        return (1, top) if r.sign > 0 else (-top, -1)

    def _shift(self, reach: np.ndarray, lo: int, hi: int) -> np.ndarray:
        """Deltas reachable from `reach` by adding any v in [lo, hi], clamped at the ends."""
        n = reach.size
        # out_ext[t] for t = lo .. n-1+hi (index offset lo): any reach[j] with t-hi <= j <= t-lo
        cs = np.concatenate([[0], np.cumsum(reach, dtype=np.int64)])
        t = np.arange(lo, n + hi)
        j_hi = np.clip(t - lo, -1, n - 1)
        j_lo = np.clip(t - hi, 0, n)
        ext = (cs[j_hi + 1] - cs[j_lo]) > 0
        ext &= (t - lo >= 0) & (t - hi <= n - 1)
        out = np.zeros(n, dtype=bool)
        inside = (t >= 0) & (t < n)
        out[t[inside]] = ext[inside]
        out[0] |= ext[t < 0].any()
        out[-1] |= ext[t >= n].any()
        return out

    def min_events(self, cond, rules: list[tuple[int, Rule]]):
        """Fewest events drawn from `rules` that make `cond` hold, from a fresh citizen.

        Returns (n, witness) with witness a list of (rule, points) or None if not reachable
        within MAX_EVENTS. Counts of event types the condition tests are tracked exactly
        (capped at the largest at_least that matters).
        """
        conds = [cond] + ([cap.when for cap in self.p.rating.bands.caps] if self.p.rating.bands else [])
        need: dict[str, int] = {}
        for c in conds:
            for n in walk(c):
                for t, k in n.event_counts().items():
                    need[t] = max(need.get(t, 0), k)
        types = sorted(need)
        moves = [(r, self._interval(r), types.index(r.event_type) if r.event_type in need else None)
                 for _, r in rules]
        start = np.zeros(self.delta.size, dtype=bool)
        start[self.L] = True
        layers: list[dict[tuple, np.ndarray]] = [{tuple(0 for _ in types): start}]
        for n in range(0, MAX_EVENTS + 1):
            layer = layers[n]
            for counts, reach in layer.items():
                ok = reach & self.eval(cond, dict(zip(types, counts)))
                if ok.any():
                    i = int(np.flatnonzero(ok)[np.argmin(np.abs(np.flatnonzero(ok) - self.L))])
                    return n, self._witness(layers, moves, types, need, counts, i)
            if n == MAX_EVENTS or not moves:
                break
            nxt: dict[tuple, np.ndarray] = {}
            for counts, reach in layer.items():
                for r, (lo, hi), slot in moves:
                    c2 = list(counts)
                    if slot is not None:
                        c2[slot] = min(c2[slot] + 1, need[types[slot]])
                    key = tuple(c2)
                    new = self._shift(reach, lo, hi)
                    nxt[key] = nxt[key] | new if key in nxt else new
            layers.append(nxt)
        return None, None

    def _witness(self, layers, moves, types, need, counts, i):
        """Walk back through the layers to one multiset of events reaching (counts, i)."""
        out = []
        idx = np.arange(self.delta.size)
        for n in range(len(layers) - 1, 0, -1):
            found = False
            for r, (lo, hi), slot in moves:
                cands = [counts]
                if slot is not None:
                    c = counts[slot]
                    cands = []
                    if c >= 1:
                        cands.append(counts[:slot] + (c - 1,) + counts[slot + 1:])
                    if c == need[types[slot]]:
                        cands.append(counts)
                for pc in cands:
                    prev = layers[n - 1].get(pc)
                    if prev is None:
                        continue
                    a = np.clip(idx + lo, 0, idx.size - 1)
                    b = np.clip(idx + hi, 0, idx.size - 1)
                    ok = prev & (a <= i) & (i <= b)
                    if ok.any():
                        j = int(np.flatnonzero(ok)[0])
                        v = int(np.clip(i - j, lo, hi))
                        if r.points is not None:
                            v = _fixed_points(r)
                        out.append((r, v))
                        counts, i, found = pc, j, True
                        break
                if found:
                    break
            if not found:  # cannot happen: every state has a predecessor
                raise AssertionError("witness reconstruction failed")
        return out[::-1]

    # -- the check ---------------------------------------------------------

    def _explain(self, witness) -> str:
        rs = self.p.rating
        total = sum(v for _, v in witness)
        bal = rs.base_status + total
        s0 = int(scale_scores(rs.status_scale, np.array([rs.base_status]))[0])
        s1 = int(scale_scores(rs.status_scale, np.array([bal]))[0])
        ev = ", ".join(f"{r.id} ({v:+d})" for r, v in witness)
        return (f"{ev}: status balance {rs.base_status} -> {bal}, status {s0:02d} -> {s1:02d}")

    def disproportion(self, c: Consequence, target: str) -> list[Finding]:
        out = []
        zero = self.eval(c.when, {})[self.L]
        if zero:
            return [Finding(
                "error", "restriction-by-default", target,
                f"the restriction '{c.id}' ({describe(c.when)}) already holds for a citizen with no "
                f"entries (base status balance {self.p.rating.base_status}): it punishes no behaviour. "
                "Fix: move the threshold below the base.",
                "EU AI Act Art. 5(1)(c)(ii)",
            )]
        # least severe single event
        best = None
        start = np.zeros(self.delta.size, dtype=bool)
        start[self.L] = True
        for r in self.p.rules:
            if _is_court_measure(r, c.context):
                continue  # the court weighed proportionality when it ordered the measure
            lo, hi = self._interval(r)
            ok = self._shift(start, lo, hi) & self.eval(c.when, {r.event_type: 1})
            if not ok.any():
                continue
            if r.points is not None:
                v = _fixed_points(r)
            else:
                vals = self.delta[ok]
                v = int(vals[np.argmin(np.abs(vals))])
            if best is None or abs(v) < abs(best[1]):
                best = (r, v)
        if best is not None and abs(best[1]) <= self.minor:
            out.append(Finding(
                "error", "disproportionate-single-event", target,
                f"one minor event is enough for the restriction '{c.id}' ({c.context}): "
                f"{self._explain([best])}, so '{describe(c.when)}' holds. Minor means |points| "
                f"<= {self.minor} (5% of the status scale). Fix: require more, or more serious, "
                "behaviour related to the context.",
                "EU AI Act Art. 5(1)(c)(ii)",
            ))
        if c.context in SEVERE_CONTEXTS:
            fines = [(i, r) for i, r in enumerate(self.p.rules)
                     if r.sign < 0 and FINE_PARTS & set(_parts(r.event_type))]
            if fines:
                n, witness = self.min_events(c.when, fines)
                if n is not None:
                    out.append(Finding(
                        "error", "disproportionate-fines", target,
                        f"administrative fines alone trigger the severe restriction '{c.id}' "
                        f"({c.context}): {n} fine(s) are enough, e.g. {self._explain(witness)}. "
                        "Fix: key it on a court-ordered measure related to the context, not on fines.",
                        "EU AI Act Art. 5(1)(c)(ii); 229-FZ Art. 67",
                    ))
        return out
