"""Feature access codes (features.md table): recognition in each style, malformed codes and their statuses,
what `*67` means, and the settings a code leaves behind."""

from __future__ import annotations

from dataclasses import replace

import pytest

from features.codes import (
    CODE_STYLES,
    CodeRefused,
    CodeService,
    CodeStyle,
    FeatureCode,
    apply_feature_code,
    parse_feature_code,
)
from features.model import (
    CallWaiting,
    DoNotDisturb,
    ForwardAlways,
    ForwardBusy,
    ForwardNoAnswer,
    ServiceSettings,
)
from sipserver.b2bua.routing import parse_dialled

STAR_OK: tuple[CodeStyle, ...] = ("both", "star")
GSM_OK: tuple[CodeStyle, ...] = ("both", "gsm")
ANY: tuple[CodeStyle, ...] = CODE_STYLES

# dialled, styles that accept it, service, activate, number
CODES: list[tuple[str, tuple[CodeStyle, ...], CodeService, bool, str | None]] = [
    ("*720470123456", STAR_OK, "forward_always", True, "0470123456"),
    ("*72+32470123456", STAR_OK, "forward_always", True, "+32470123456"),
    ("*73", STAR_OK, "forward_always", False, None),
    ("*21*0470123456#", GSM_OK, "forward_always", True, "0470123456"),
    ("*21*+32470123456#", GSM_OK, "forward_always", True, "+32470123456"),
    ("#21#", GSM_OK, "forward_always", False, None),
    ("*90201", STAR_OK, "forward_busy", True, "201"),
    ("*91", STAR_OK, "forward_busy", False, None),
    ("*67*201#", GSM_OK, "forward_busy", True, "201"),
    ("#67#", GSM_OK, "forward_busy", False, None),
    ("*92+3222211089", STAR_OK, "forward_no_answer", True, "+3222211089"),
    ("*93", STAR_OK, "forward_no_answer", False, None),
    ("*61*+3222211089#", GSM_OK, "forward_no_answer", True, "+3222211089"),
    ("#61#", GSM_OK, "forward_no_answer", False, None),
    ("*78", ANY, "dnd", True, None),
    ("*79", ANY, "dnd", False, None),
    ("*43", ANY, "call_waiting", True, None),
    ("*44", ANY, "call_waiting", False, None),
    # separators people type are dropped, as in every number of the settings model
    ("*72 0470 12 34 56", STAR_OK, "forward_always", True, "0470123456"),
    ("*21*0470.12.34.56#", GSM_OK, "forward_always", True, "0470123456"),
    ("*92 02/221-10-89", STAR_OK, "forward_no_answer", True, "022211089"),
    # a trailing "#" (a phone's send key) after a star code is ignored
    ("*720470123456#", STAR_OK, "forward_always", True, "0470123456"),
    ("*73#", STAR_OK, "forward_always", False, None),
    ("*78#", ANY, "dnd", True, None),
]


@pytest.mark.parametrize(("dialled", "styles", "service", "activate", "number"), CODES)
@pytest.mark.parametrize("style", CODE_STYLES)
def test_every_code_in_every_style(dialled: str, styles: tuple[CodeStyle, ...], service: CodeService,
                                   activate: bool, number: str | None, style: CodeStyle) -> None:
    found = parse_feature_code(dialled, style)
    if style in styles:
        assert found == FeatureCode(service=service, activate=activate, number=number)
    else:
        assert found is None  # a code of the other style is routed as dialled (and is not found)


def test_both_is_the_default_style() -> None:
    assert parse_feature_code("*73") == parse_feature_code("#21#") == FeatureCode(service="forward_always",
                                                                                   activate=False)


@pytest.mark.parametrize("dialled", [
    "", "201", "0470123456", "+32470123456", "jean.dupont", "1969",  # numbers, extensions, voicemail
    "*98", "*97201", "*97",  # voicemail, directed pickup
    "*67", "*670470123456", "*650470123456", "#31#0470123456",  # per-call CLIR prefixes (routing.py)
    "*", "#", "*6", "*9", "#3",  # could still become someone else's code
    "*75", "*99", "*50#",  # codes we do not implement
    "**21*0470#", "*#21#", "##21#",  # GSM register / interrogate / erase: not supported
])
@pytest.mark.parametrize("style", CODE_STYLES)
def test_not_a_feature_code(dialled: str, style: CodeStyle) -> None:
    assert parse_feature_code(dialled, style) is None


def test_star_67_hides_the_number_but_star_67_star_forwards_on_busy() -> None:
    assert parse_feature_code("*670470123456") is None
    assert parse_dialled("*670470123456").hide_identity is True  # routing.py owns it
    assert parse_feature_code("*67*0470123456#") == FeatureCode(service="forward_busy", activate=True,
                                                                number="0470123456")
    assert parse_feature_code("*67*0470123456#", "star") is None  # a star-only group has no GSM codes
    assert parse_feature_code("*67*0470123456") == CodeRefused(status=484,
                                                               reason="'*67*0470123456' must end with #")


# dialled, style, status, words of the reason
MALFORMED: list[tuple[str, CodeStyle, int, str]] = [
    ("*72", "both", 484, "number missing after *72"),
    ("*72#", "star", 484, "number missing after *72"),
    ("*90", "both", 484, "number missing after *90"),
    ("*92", "star", 484, "number missing after *92"),
    ("*21*#", "both", 484, "number missing after *21*"),
    ("*21*", "gsm", 484, "number missing after *21*"),
    ("*67*", "both", 484, "number missing after *67*"),
    ("*61*#", "gsm", 484, "number missing after *61*"),
    ("*21*0470123456", "gsm", 484, "must end with #"),
    ("*21*12a#", "both", 484, "must be a number (digits, optional leading +), got '12a'"),
    ("*7212a", "both", 484, "must be a number (digits, optional leading +), got '12a'"),
    ("*72+", "star", 484, "got '+'"),
    ("*72++32470", "star", 484, "got '++32470'"),
    ("*61*0470*20#", "gsm", 484, "got '0470*20'"),  # no-answer timer: not supported
    ("*7", "both", 484, "incomplete feature code '*7'"),
    ("*7", "gsm", 484, "incomplete"),  # *78 / *79 are accepted in every style
    ("*4", "star", 484, "incomplete"),
    ("*2", "gsm", 484, "incomplete"),
    ("*21", "both", 484, "incomplete"),
    ("*61", "gsm", 484, "incomplete"),
    ("#2", "gsm", 484, "incomplete"),
    ("#67", "both", 484, "incomplete"),
    ("*7312", "both", 404, "*73 takes no number"),
    ("*78201", "gsm", 404, "*78 takes no number"),
    ("*44#1", "star", 404, "*44 takes no number"),
    ("#21#0470", "gsm", 404, "#21# takes no number"),
    ("*21*0470#5", "both", 404, "characters after the closing #"),
]


@pytest.mark.parametrize(("dialled", "style", "status", "words"), MALFORMED)
def test_malformed_codes_are_refused_with_a_status(dialled: str, style: CodeStyle, status: int,
                                                   words: str) -> None:
    found = parse_feature_code(dialled, style)
    assert isinstance(found, CodeRefused), found
    assert found.status == status
    assert words in found.reason


@pytest.mark.parametrize("dialled", ["*2", "*21", "*21*0470#", "#2", "#21", "#6", "#61", "*61"])
def test_the_beginning_of_a_gsm_code_is_not_a_code_of_a_star_group(dialled: str) -> None:
    assert parse_feature_code(dialled, "star") is None


@pytest.mark.parametrize("dialled", ["*72", "*9", "*90201", "*93"])
def test_star_forwards_are_not_codes_of_a_gsm_group(dialled: str) -> None:
    assert parse_feature_code(dialled, "gsm") is None


def test_an_unknown_style_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="style must be one of both, star, gsm"):
        parse_feature_code("*73", "cellular")  # type: ignore[arg-type]


def test_a_feature_code_is_consistent() -> None:
    with pytest.raises(ValueError):
        FeatureCode(service="forward_busy", activate=True)
    with pytest.raises(ValueError):
        FeatureCode(service="forward_busy", activate=False, number="201")
    with pytest.raises(ValueError):
        FeatureCode(service="dnd", activate=True, number="201")


@pytest.mark.parametrize(("dialled", "text"), [
    ("*720470123456", "forward always on to 0470123456"),
    ("#21#", "forward always off"),
    ("*67*201#", "forward on busy on to 201"),
    ("*91", "forward on busy off"),
    ("*61*+3222211089#", "forward on no answer on to +3222211089"),
    ("*93", "forward on no answer off"),
    ("*78", "do not disturb on"),
    ("*79", "do not disturb off"),
    ("*43", "call waiting on"),
    ("*44", "call waiting off"),
])
def test_confirmation_text(dialled: str, text: str) -> None:
    code = parse_feature_code(dialled)
    assert isinstance(code, FeatureCode)
    assert code.confirmation == text


# -- applying ------------------------------------------------------------------------------------------------
SETTINGS = ServiceSettings(
    forward_always=ForwardAlways(number="0470000000", ring_reminder=True),
    forward_busy=ForwardBusy(active=True, number="201"),
    forward_no_answer=ForwardNoAnswer(number="202", rings=7),
    dnd=DoNotDisturb(ring_reminder=True),
)


def applied(dialled: str, services: ServiceSettings = SETTINGS) -> ServiceSettings:
    code = parse_feature_code(dialled)
    assert isinstance(code, FeatureCode)
    result = apply_feature_code(code, services)
    assert isinstance(result, ServiceSettings), result
    return result


def test_forward_always_on_and_off() -> None:
    on = applied("*72+32470123456")
    assert on == replace(SETTINGS, forward_always=ForwardAlways(active=True, number="+32470123456",
                                                                ring_reminder=True))
    off = applied("#21#", on)
    assert off.forward_always == ForwardAlways(active=False, number="+32470123456", ring_reminder=True)
    assert replace(off, forward_always=SETTINGS.forward_always) == SETTINGS  # nothing else changed


def test_forward_busy_off_keeps_the_number() -> None:
    assert applied("*91").forward_busy == ForwardBusy(active=False, number="201")
    assert applied("#67#").forward_busy == ForwardBusy(active=False, number="201")
    assert applied("*67*0470123456#").forward_busy == ForwardBusy(active=True, number="0470123456")


def test_forward_no_answer_keeps_its_rings() -> None:
    on = applied("*92 0470 12 34 56")
    assert on.forward_no_answer == ForwardNoAnswer(active=True, number="0470123456", rings=7)
    assert on.no_answer_rings == 7
    off = applied("#61#", on)
    assert off.forward_no_answer == ForwardNoAnswer(active=False, number="0470123456", rings=7)


def test_switching_off_a_forward_never_set_is_fine() -> None:
    assert applied("*73", ServiceSettings()) == ServiceSettings()


def test_dnd_and_call_waiting() -> None:
    assert applied("*78").dnd == DoNotDisturb(active=True, ring_reminder=True)
    assert applied("*79", applied("*78")).dnd == DoNotDisturb(active=False, ring_reminder=True)
    assert applied("*44").call_waiting == CallWaiting(active=False)
    assert applied("*43", applied("*44")) == SETTINGS


def test_the_model_refuses_a_bad_number_with_484() -> None:
    code = FeatureCode(service="forward_no_answer", activate=True, number="12a")  # built by hand
    result = apply_feature_code(code, SETTINGS)
    assert isinstance(result, CodeRefused)
    assert result.status == 484
    assert result.reason == ("forward on no answer on to 12a refused: forward_no_answer.number: must be a "
                             "number (digits, optional leading +), got '12a'")
    too_long = FeatureCode(service="forward_always", activate=True, number="1" * 31)
    refused = apply_feature_code(too_long, SETTINGS)
    assert isinstance(refused, CodeRefused) and refused.status == 484
