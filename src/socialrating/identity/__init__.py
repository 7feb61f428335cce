"""identity stage: Russian personal identifiers and names, generated and validated over whole arrays.

Identifiers are stored as int64 (SNILS body*100+check; INN; passport series*10**6+number;
phone 79XXXXXXXXX) and formatted to strings only for output.  Names are small integer codes
with a dictionary (see :mod:`socialrating.identity.names`).
"""

from .inn import format_inn, generate_inn, inn_check_digits, inn_expr, inn_from_index, inn_region, make_inn, validate_inn
from .passport import (
    format_passport,
    generate_passports,
    make_passport,
    passport_blank_year,
    passport_expr,
    passport_from_index,
    passport_issue_year,
    passport_series,
    validate_passport,
)
from .phone import format_phone, generate_phones, phone_expr, phone_from_index, validate_phone
from .snils import format_snils, generate_snils, make_snils, snils_check, snils_expr, snils_from_index, validate_snils

__all__ = [
    "format_inn", "generate_inn", "inn_check_digits", "inn_expr", "inn_from_index", "inn_region", "make_inn", "validate_inn",
    "format_passport", "generate_passports", "make_passport", "passport_blank_year", "passport_expr",
    "passport_from_index", "passport_issue_year", "passport_series", "validate_passport",
    "format_phone", "generate_phones", "phone_expr", "phone_from_index", "validate_phone",
    "format_snils", "generate_snils", "make_snils", "snils_check", "snils_expr", "snils_from_index", "validate_snils",
]
