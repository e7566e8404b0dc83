"""Where dialled strings go, and how each party is shown (CLIR, CLID delivery, COLR, emergency numbers)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from features.model import ClidDelivery, Clir, Colr
from provisioning.demo import demo_group_description
from provisioning.model import Directory, User
from sipserver.b2bua import identity
from sipserver.b2bua.routing import ToTrunk, ToUser, Unroutable, parse_dialled, route, route_from_trunk

DESC = demo_group_description("callconnect.local")
DIRECTORY = Directory([DESC])
GROUP = DESC.group


def user(ext: str) -> User:
    found = DIRECTORY.resolve_user(ext, GROUP)
    assert found is not None
    return found


@pytest.mark.parametrize("dialled", ["202", "022211202", "+3222211202", "0032 2 221 12 02"])
def test_users_are_reached_by_extension_national_and_e164(dialled: str) -> None:
    target = route(dialled, GROUP, DIRECTORY)
    assert isinstance(target, ToUser) and target.user.extension == "202"


def test_numbers_outside_the_group_go_to_the_trunk_in_e164() -> None:
    target = route("025551234", GROUP, DIRECTORY)
    assert isinstance(target, ToTrunk) and target.number == "+3225551234"


def test_garbage_is_not_found() -> None:
    assert route("abc", GROUP, DIRECTORY) == Unroutable(404, "Not Found")


def test_emergency_numbers_go_out_as_dialled() -> None:
    target = route("112", GROUP, DIRECTORY)
    assert isinstance(target, ToTrunk) and target.number == "112"


@pytest.mark.parametrize(("dialled", "digits", "hide"), [
    ("*67025551234", "025551234", True), ("#31#025551234", "025551234", True),
    ("*65025551234", "025551234", False), ("025551234", "025551234", None), ("*67", "*67", None),
])
def test_per_call_identity_prefixes(dialled: str, digits: str, hide: bool | None) -> None:
    parsed = parse_dialled(dialled)
    assert (parsed.digits, parsed.hide_identity) == (digits, hide)


def test_trunk_calls_only_reach_the_groups_own_numbers() -> None:
    [trunk] = DESC.trunks
    assert isinstance(route_from_trunk("+3222211203", trunk, DIRECTORY), ToUser)
    assert isinstance(route_from_trunk("+3225551234", trunk, DIRECTORY), Unroutable)


def test_external_callee_sees_the_outgoing_cli_unless_clir() -> None:
    jean = user("201")
    shown = identity.caller_for_trunk(jean, GROUP, hide_for_this_call=None, emergency=False)
    assert "+3222211201" in shown.from_uri and shown.privacy is None
    hidden_user = replace(jean, services=replace(jean.services, clir=Clir(active=True)))
    hidden = identity.caller_for_trunk(hidden_user, GROUP, hide_for_this_call=None, emergency=False)
    assert identity.ANONYMOUS_URI in hidden.from_uri and hidden.privacy == "id"
    assert hidden.asserted is not None and "+3222211201" in hidden.asserted  # the trusted trunk still knows
    shown_once = identity.caller_for_trunk(hidden_user, GROUP, hide_for_this_call=False, emergency=False)
    assert shown_once.privacy is None
    hidden_once = identity.caller_for_trunk(jean, GROUP, hide_for_this_call=True, emergency=False)
    assert hidden_once.privacy == "id"
    emergency = identity.caller_for_trunk(hidden_user, GROUP, hide_for_this_call=True, emergency=True)
    assert emergency.privacy is None and "+3222211201" in emergency.from_uri


def test_internal_callee_sees_the_caller_despite_clir_but_its_own_delivery_setting_can_hide_it() -> None:
    jean, marie = user("201"), user("202")
    caller = identity.user_caller_id(replace(jean, services=replace(jean.services, clir=Clir(active=True))))
    shown = identity.caller_for_internal_callee(caller, marie, GROUP, caller_internal=True)
    assert "sip:201@" in shown.from_uri and "Jean Dupont" in shown.from_uri
    blind = replace(marie, services=replace(marie.services, internal_clid_delivery=ClidDelivery(active=False)))
    assert identity.caller_for_internal_callee(caller, blind, GROUP, caller_internal=True) == identity.ANONYMOUS


def test_colr_hides_who_answered() -> None:
    marie = user("202")
    assert identity.connected_party(marie, GROUP, caller_internal=False) is not None
    private = replace(marie, services=replace(marie.services, colr=Colr(active=True)))
    assert identity.connected_party(private, GROUP, caller_internal=False) is None
