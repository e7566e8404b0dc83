"""Phone number normalisation for one group's country (E.164, ITU-T E.164 / E.123 written forms).

`to_e164("022211089", "32") == "+3222211089"`: national numbers carry the trunk prefix 0, international
ones `+` or `00`; spaces, dots, dashes, slashes and an `(0)` after the country code are visual only.
`to_national("+3222211089", "32") == "022211089"` (a foreign number keeps its `00` international form).
Extensions are not numbers: `is_extension(text, lengths)` decides those, and emergency numbers
(`EMERGENCY_NUMBERS`) are neither. Bad input raises `NumberError` with a message for people.

Pure functions: nothing here knows about users, groups, SIP or storage.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Final

__all__ = [
    "EMERGENCY_NUMBERS",
    "NumberError",
    "clean_number",
    "is_e164",
    "is_emergency",
    "is_extension",
    "to_e164",
    "to_national",
]

EMERGENCY_NUMBERS: Final = frozenset({"112", "100", "101"})
"""Belgium: 112 (European emergency), 100 (ambulance, fire), 101 (police)."""

_MAX_DIGITS: Final = 15  # E.164 §6: at most 15 digits after the +
_MIN_DIGITS: Final = 6  # shorter "numbers" are service codes or typos, not subscriber numbers
_SEPARATORS: Final = str.maketrans("", "", " .-/()\u00a0\t")
_E164: Final = re.compile(rf"\+[1-9][0-9]{{{_MIN_DIGITS - 1},{_MAX_DIGITS - 1}}}")
_COUNTRY: Final = re.compile(r"[1-9][0-9]{0,2}")


class NumberError(ValueError):
    """Text that is not a phone number we can normalise."""


def clean_number(text: str) -> str:
    """Remove the visual separators (and the `(0)` people write after a country code)."""
    return text.replace("(0)", "").translate(_SEPARATORS)


def _check_country(country_code: str) -> None:
    if _COUNTRY.fullmatch(country_code) is None:
        raise NumberError(f"country code must be 1 to 3 digits without + or 00, got {country_code!r}")


def is_e164(text: str) -> bool:
    """`+` then 6..15 digits, no separators: the stored form of every number."""
    return _E164.fullmatch(text) is not None


def to_e164(text: str, country_code: str) -> str:
    """Normalise a number written nationally (`02 221 10 89`) or internationally (`+32 2...`, `0032 2...`)."""
    _check_country(country_code)
    cleaned = clean_number(text.strip())
    if cleaned.startswith("+"):
        digits = cleaned[1:]
    elif cleaned.startswith("00"):
        digits = cleaned[2:]
    elif cleaned.startswith("0"):
        digits = country_code + cleaned[1:]
    elif cleaned in EMERGENCY_NUMBERS:
        raise NumberError(f"{text!r} is an emergency number, not a subscriber number")
    elif cleaned.isdigit():
        raise NumberError(f"{text!r} is neither national (starting with 0) nor international (+ or 00)")
    else:
        raise NumberError(f"{text!r} is not a phone number")
    if not digits.isascii() or not digits.isdigit():
        raise NumberError(f"{text!r} is not a phone number (only digits, spaces, . - / and a leading +)")
    result = "+" + digits
    if not is_e164(result):
        raise NumberError(
            f"{text!r} is not a valid number: international numbers have {_MIN_DIGITS} to {_MAX_DIGITS} "
            f"digits after the + (got {len(digits)}), the first not 0"
        )
    return result


def to_national(e164: str, country_code: str) -> str:
    """The form dialled inside the country: `+3222211089` -> `022211089`; foreign numbers -> `00...`."""
    _check_country(country_code)
    if not is_e164(e164):
        raise NumberError(f"{e164!r} is not an E.164 number (+ and digits)")
    if e164.startswith("+" + country_code):
        return "0" + e164[1 + len(country_code):]
    return "00" + e164[1:]


def is_emergency(text: str) -> bool:
    return clean_number(text.strip()) in EMERGENCY_NUMBERS


def is_extension(text: str, lengths: Collection[int]) -> bool:
    """An extension: only ASCII digits, one of the group's extension `lengths`, not an emergency number."""
    return (
        text.isascii() and text.isdigit() and len(text) in lengths and text not in EMERGENCY_NUMBERS
    )
