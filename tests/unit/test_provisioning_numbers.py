"""Phone number normalisation for Belgium (country code 32)."""

from __future__ import annotations

import pytest

from provisioning.numbers import (
    EMERGENCY_NUMBERS,
    NumberError,
    is_e164,
    is_emergency,
    is_extension,
    to_e164,
    to_national,
)


@pytest.mark.parametrize("text", [
    "022211089", "02 221 10 89", "02/221.10.89", "02-221-10-89", "+3222211089", "+32 2 221 10 89",
    "+32 (0)2 221 10 89", "0032 2 221 10 89", "003222211089", " 022211089 ",
])
def test_to_e164_accepts_every_written_form(text: str) -> None:
    assert to_e164(text, "32") == "+3222211089"


def test_mobile_and_foreign_numbers() -> None:
    assert to_e164("0470 12 34 56", "32") == "+32470123456"
    assert to_e164("+33 1 23 45 67 89", "32") == "+33123456789"
    assert to_e164("0033123456789", "32") == "+33123456789"


@pytest.mark.parametrize("text", ["abc", "02 221 10 8x", "", "+", "0", "22211089", "201", "+0123456789",
                                  "+1234567890123456", "02 221 10 89 ext 5", "++3222211089"])
def test_garbage_raises(text: str) -> None:
    with pytest.raises(NumberError):
        to_e164(text, "32")


@pytest.mark.parametrize("text", sorted(EMERGENCY_NUMBERS))
def test_emergency_numbers_are_not_subscriber_numbers(text: str) -> None:
    assert is_emergency(text)
    with pytest.raises(NumberError, match="emergency"):
        to_e164(text, "32")


def test_bad_country_code() -> None:
    with pytest.raises(NumberError):
        to_e164("022211089", "+32")
    with pytest.raises(NumberError):
        to_national("+3222211089", "0032")


def test_to_national() -> None:
    assert to_national("+3222211089", "32") == "022211089"
    assert to_national("+32470123456", "32") == "0470123456"
    assert to_national("+33123456789", "32") == "0033123456789"
    with pytest.raises(NumberError):
        to_national("022211089", "32")


def test_round_trip() -> None:
    for national in ("022211089", "0470123456", "0033123456789"):
        assert to_national(to_e164(national, "32"), "32") == national


def test_extensions_are_not_numbers() -> None:
    assert is_extension("201", {3})
    assert is_extension("89", {2, 3})
    assert not is_extension("201", {2})
    assert not is_extension("112", {3})
    assert not is_extension("20a", {3})
    assert not is_extension("\uff12\uff10\uff11", {3})  # full-width digits
    assert not is_e164("201")
    assert is_e164("+3222211089")
    assert not is_e164("+32 2 221 10 89")
