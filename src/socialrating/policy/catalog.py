"""The event types socialrating knows: what each means, its unit and the agency that reports it.

The synthetic sources and ingest produce only these, so a policy file must name only
these (load.parse_policy refuses others, suggesting the nearest: a rule on a type no
source reports would never fire); the Python API may pass known_types=False to score a
user's own events table with types of its own. Every input the We platform names is covered
except social-media posts, which are refused (see refused.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EventType:
    name: str
    source: str
    category: str
    unit: str | None
    description: str


CATALOG: tuple[EventType, ...] = (
    EventType("loan.repaid_on_time", "bank", "finance", None, "a loan instalment year with no arrears"),
    EventType("loan.overdue_90d", "bank", "finance", "roubles", "a loan more than 90 days overdue"),
    EventType("bills.utility_arrears", "housing", "finance", "roubles", "housing and utility bills unpaid for 3+ months"),
    EventType("tax.arrears", "tax", "finance", "roubles", "tax arrears assessed"),
    EventType("fine.traffic", "traffic_police", "law", "roubles", "a traffic fine (camera or officer)"),
    EventType("traffic.drunk_driving", "traffic_police", "law", None, "driving while intoxicated"),
    EventType("public_order.offence", "police", "law", None, "an administrative public-order offence (hooliganism)"),
    EventType("court.conviction", "courts", "law", None, "a criminal conviction"),
    EventType("court.dishonest_debtor", "courts", "law", "roubles", "listed as a dishonest judgment debtor"),
    EventType("enforcement.proceeding", "bailiffs", "law", "roubles", "an enforcement proceeding opened"),
    EventType("enforcement.exit_ban", "bailiffs", "law", "roubles", "a temporary ban on leaving the country for debt"),
    EventType("enforcement.debt_paid", "bailiffs", "law", "roubles", "the enforced debt paid in full"),
    EventType("alimony.arrears", "bailiffs", "family", "roubles", "alimony arrears enforced"),
    EventType("volunteer.hours", "volunteering", "civic", "hours", "verified volunteering hours"),
    EventType("civic.heroic_act", "awards", "civic", None, "a recognised heroic or good-samaritan act"),
    EventType("civic.blood_donation", "medical", "civic", None, "a blood donation"),
    EventType("award.state", "awards", "awards", None, "a state award"),
    EventType("public_office.held", "public_office", "public_office", None, "a year in public office"),
    EventType("sport.gto_badge", "gto", "sport", "badge", "a GTO fitness badge (1 bronze, 2 silver, 3 gold)"),
    EventType("health.checkup", "medical", "health", None, "a medical check-up (special-category data)"),
    EventType("education.diploma", "education", "education", None, "a diploma awarded"),
    EventType("taxi.unpaid_fare", "taxi", "mobility", "roubles", "a taxi fare left unpaid"),
    EventType("tax.income_declared", "tax", "finance", "roubles", "yearly income declared to the tax service"),
    EventType("benefit.granted", "social_fund", "family", "roubles", "a social benefit granted"),
    EventType("family.child_born", "civil_registry", "family", None, "a child's birth registered"),
    EventType("education.academic_record", "education", "education", "grade", "a year's academic record (mean grade 2-5)"),
    EventType("education.language_certificate", "education", "education", None, "a foreign-language certificate"),
    # issue 14: the student's "personal development trajectory" (digital profile)
    EventType("education.term_result", "education", "education", "grade", "a term's results (mean grade 2-5)"),
    EventType("education.exam_failed", "education", "education", None, "an examination failed"),
    EventType("education.resit_passed", "education", "education", None, "a failed examination passed at a resit"),
    EventType("education.expelled", "education", "education", None, "expelled from a school, college or university"),
    EventType("education.olympiad_win", "education", "education", None, "a win or prize at an olympiad or competition"),
    EventType("education.honours", "education", "education", None, "a diploma or certificate with honours"),
    # issue 14: an online marketplace (Sesame-style commercial score, the UK claim)
    EventType("market.order_completed", "marketplace", "finance", "orders", "orders received and kept in a year (the account's yearly statement)"),
    EventType("market.return", "marketplace", "finance", "orders", "orders returned in a year"),
    EventType("market.bnpl_default", "marketplace", "finance", "roubles", "a buy-now-pay-later instalment 60+ days overdue"),
    EventType("market.bnpl_repaid", "marketplace", "finance", None, "a buy-now-pay-later plan repaid on time"),
    # issue 14: the conscription register (We platform, later stage)
    EventType("conscription.failure_to_appear", "conscription", "law", None, "failed to appear at the military commissariat when summoned (KoAP 21.5)"),
    EventType("conscription.travel_ban", "conscription", "law", None, "barred from leaving the country after a summons was deemed delivered"),
    EventType("conscription.service_completed", "conscription", "civic", None, "military or alternative civil service completed"),
    # issue 14: standing of one's household (China's "interpersonal relationships")
    EventType("household.member_sanctioned", "residence", "family", None, "another adult of one's registered household was convicted or listed as a debtor that year"),
)

BY_NAME = {e.name: e for e in CATALOG}

#: What one record's ``amount`` can be, by unit: (lowest, highest). No unit's amount is
#: negative (a debt, a fine, hours, a badge, a grade). Roubles stop at a trillion (no
#: person's fine, debt or income comes near); hours at a century of hours; GTO badges are
#: 1-3 and mean grades 2-5. Event types without a unit take the roubles bound (the amount
#: is not scored, but it must still be a plausible number).
AMOUNT_RANGE: dict[str | None, tuple[float, float]] = {
    "roubles": (0.0, 1e12),
    "hours": (0.0, 876_600.0),
    "badge": (1.0, 3.0),
    "grade": (2.0, 5.0),
    None: (0.0, 1e12),
}
