"""One module per agency: each models the true events its source records (see ``_base``).

``AGENCIES`` lists them in generation order: the bailiffs come after the bank, the tax
service, the traffic police and housing because whom they pursue follows those debts.
"""

from __future__ import annotations

from . import (
    awards, bailiffs, bank, civil_registry, courts, education, gto, housing, medical, police,
    public_office, social_fund, taxi, tax, traffic_police, volunteering,
)
from . import conscription, marketplace, residence  # issue 14
from ._base import Context, Events

AGENCIES = (
    bank, tax, traffic_police, police, housing, courts, bailiffs, social_fund, civil_registry,
    education, volunteering, gto, awards, public_office, taxi, medical,
    marketplace, conscription, residence,  # residence reads the courts' events
)

__all__ = ["AGENCIES", "Context", "Events"]
