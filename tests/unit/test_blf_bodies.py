"""BLF and MWI bodies: dialog-info (RFC 4235), RLMI lists (RFC 4662), message summaries (RFC 3842).

Golden bytes live in `tests/golden/blf/`; after a deliberate change, regenerate them with
`UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_blf_bodies.py` and review the diff. Every document
must also parse as XML, whatever the names in it.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from email import message_from_bytes
from pathlib import Path

import pytest

from blf.dialog_info import DialogView, most_urgent, render_dialog_info
from blf.mwi import render_message_summary
from blf.rlmi import ListMember, render_list_notify

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "blf"
NS = "{urn:ietf:params:xml:ns:dialog-info}"
ENTITY = "sip:202@callconnect.local"

RINGING = DialogView(call_id="b2b-7c1e@192.0.2.10", local_tag="as4471ab", remote_tag="srv-91de",
                     direction="recipient", state="early", remote_identity="sip:+3222211201@callconnect.local",
                     remote_display="Jean Dupont")
TALKING = DialogView(call_id="b2b-8a2f@192.0.2.10", local_tag="p1", remote_tag="s1", direction="initiator",
                     state="confirmed", remote_identity="sip:204@callconnect.local", remote_display="Sophie")
HELD = DialogView(call_id="b2b-9999@192.0.2.10", local_tag="p2", remote_tag="s2", direction="recipient",
                  state="confirmed", remote_identity="sip:203@callconnect.local", held=True)
DIALLING = DialogView(call_id="b2b-aaaa@192.0.2.10", local_tag="p3", remote_tag=None, direction="initiator",
                      state="trying", remote_identity="sip:0470123456@callconnect.local")
ANONYMOUS = DialogView(call_id="b2b-bbbb@192.0.2.10", local_tag="p4", remote_tag="s4", direction="recipient",
                       state="early", remote_identity=None, remote_display="Secret Person")


def check_golden(name: str, data: bytes) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    assert path.exists(), f"golden file {path} missing: run with UPDATE_GOLDEN=1"
    assert data == path.read_bytes(), f"{name} differs from its golden file"


@pytest.mark.parametrize(("name", "dialogs"), [
    ("idle.xml", []),
    ("ringing.xml", [RINGING]),
    ("talking.xml", [TALKING]),
    ("held.xml", [HELD]),
    ("dialling.xml", [DIALLING]),
    ("anonymous.xml", [ANONYMOUS]),
])
def test_dialog_info_golden(name: str, dialogs: list[DialogView]) -> None:
    body = render_dialog_info(ENTITY, 7, dialogs, local_display="Marie Martin")
    check_golden(name, body)
    root = ET.fromstring(body)
    assert root.get("version") == "7" and root.get("state") == "full" and root.get("entity") == ENTITY
    assert len(root.findall(f"{NS}dialog")) == 1  # never empty, never more than the key can show


def test_idle_is_one_terminated_dialog_not_an_empty_document() -> None:
    root = ET.fromstring(render_dialog_info(ENTITY, 0, []))
    (dialog,) = root.findall(f"{NS}dialog")
    assert dialog.findtext(f"{NS}state") == "terminated"


def test_ringing_carries_what_pickup_and_the_caller_display_need() -> None:
    root = ET.fromstring(render_dialog_info(ENTITY, 1, [RINGING], local_display="Marie Martin"))
    dialog = root.find(f"{NS}dialog")
    assert dialog is not None
    assert (dialog.get("call-id"), dialog.get("local-tag"), dialog.get("remote-tag"), dialog.get("direction")) == \
        ("b2b-7c1e@192.0.2.10", "as4471ab", "srv-91de", "recipient")
    remote = dialog.find(f"{NS}remote/{NS}identity")
    assert remote is not None and remote.text == "sip:+3222211201@callconnect.local"
    assert remote.get("display") == "Jean Dupont"


def test_hold_is_rendering_no_on_the_local_target() -> None:
    root = ET.fromstring(render_dialog_info(ENTITY, 1, [HELD]))
    param = root.find(f"{NS}dialog/{NS}local/{NS}target/{NS}param")
    assert param is not None and (param.get("pname"), param.get("pvalue")) == ("+sip.rendering", "no")


def test_a_withheld_caller_is_anonymous_whatever_the_display_name() -> None:
    body = render_dialog_info(ENTITY, 1, [ANONYMOUS])
    assert b"Secret Person" not in body
    remote = ET.fromstring(body).find(f"{NS}dialog/{NS}remote/{NS}identity")
    assert remote is not None and remote.text == "sip:anonymous@anonymous.invalid"


@pytest.mark.parametrize(("dialogs", "shown"), [
    ([TALKING, RINGING], RINGING),   # ringing beats talking
    ([DIALLING, TALKING], TALKING),  # talking beats dialling out
    ([HELD, DIALLING], DIALLING),    # a held call is the least urgent
    ([HELD], HELD),
    ([TALKING, TALKING], TALKING),
])
def test_the_most_urgent_dialog_wins(dialogs: list[DialogView], shown: DialogView) -> None:
    assert most_urgent(dialogs) == shown


def test_the_terminated_dialogs_are_not_shown() -> None:
    gone = DialogView(call_id="x", local_tag="a", remote_tag="b", direction="recipient", state="terminated",
                      remote_identity=None)
    assert most_urgent([gone]) is None


@pytest.mark.parametrize("display", ['A "quoted" <name> & co', "new\nline\x01ctl", "]]></dialog-info>"])
def test_names_cannot_break_the_document(display: str) -> None:
    view = DialogView(call_id="c@h", local_tag="a", remote_tag="b", direction="recipient", state="early",
                      remote_identity="sip:1@h", remote_display=display)
    root = ET.fromstring(render_dialog_info(ENTITY, 0, [view], local_display=display))
    assert len(root.findall(f"{NS}dialog")) == 1


def test_the_dialog_id_stays_the_same_when_the_phone_tag_arrives() -> None:
    trying = DialogView(call_id="c@h", local_tag="", remote_tag="ours", direction="recipient", state="trying",
                        remote_identity="sip:1@h")
    early = DialogView(call_id="c@h", local_tag="phone", remote_tag="ours", direction="recipient", state="early",
                       remote_identity="sip:1@h")
    ids = [ET.fromstring(render_dialog_info(ENTITY, 0, [v])).find(f"{NS}dialog").get("id")  # type: ignore[union-attr]
           for v in (trying, early)]
    assert ids[0] == ids[1]


# -- RFC 4662 lists --------------------------------------------------------------------------------------------
def members() -> list[ListMember]:
    return [
        ListMember(uri="sip:201@callconnect.local", name="Jean Dupont 201", instance="ijean",
                   body=render_dialog_info("sip:201@callconnect.local", 3, [RINGING], local_display="Jean Dupont")),
        ListMember(uri="sip:203@callconnect.local", name="Pieter & Co 203", instance="ipieter",
                   body=render_dialog_info("sip:203@callconnect.local", 0, [])),
    ]


def test_list_notify_golden_and_structure() -> None:
    body, content_type = render_list_notify("sip:202-blf@callconnect.local", "Marie Martin BLF", 4, members(),
                                            full_state=True, domain="callconnect.local")
    check_golden("list-full.multipart", body)
    assert content_type.startswith('multipart/related;type="application/rlmi+xml";start="<rlmi-4@callconnect.local>"')
    message = message_from_bytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    parts = message.get_payload()
    assert isinstance(parts, list) and len(parts) == 3
    rlmi = ET.fromstring(parts[0].get_payload(decode=True))
    ns = "{urn:ietf:params:xml:ns:rlmi}"
    assert rlmi.get("fullState") == "true" and rlmi.get("version") == "4"
    resources = rlmi.findall(f"{ns}resource")
    assert [r.findtext(f"{ns}name") for r in resources] == ["Jean Dupont 201", "Pieter & Co 203"]
    cids = [r.find(f"{ns}instance").get("cid") for r in resources]  # type: ignore[union-attr]
    assert [f"<{cid}>" for cid in cids] == [p["Content-ID"] for p in parts[1:]]
    for part in parts[1:]:
        ET.fromstring(part.get_payload(decode=True))


def test_a_partial_list_notify_names_only_the_changed_member() -> None:
    body, _ = render_list_notify("sip:202-blf@callconnect.local", "Marie Martin BLF", 5, members()[:1],
                                 full_state=False, domain="callconnect.local")
    assert b'fullState="false"' in body and body.count(b"<resource ") == 1


def test_the_boundary_never_occurs_inside_a_part() -> None:
    body, content_type = render_list_notify("sip:l@h", "L", 0, members(), full_state=True, domain="h")
    boundary = content_type.rsplit('boundary="', 1)[1].rstrip('"')
    assert body.count(f"--{boundary}".encode()) == 4  # three parts and the close


# -- RFC 3842 ----------------------------------------------------------------------------------------------------
def test_message_summary() -> None:
    assert render_message_summary("sip:1969@callconnect.local", 2, 8) == (
        b"Messages-Waiting: yes\r\nMessage-Account: sip:1969@callconnect.local\r\nVoice-Message: 2/8 (0/0)\r\n")
    assert render_message_summary("sip:1969@h", 0, 3).startswith(b"Messages-Waiting: no\r\n")


@pytest.mark.parametrize(("account", "new", "old"), [("sip:x\r\nEvil: 1", 1, 0), ("sip:x", -1, 0)])
def test_message_summary_refuses_bad_input(account: str, new: int, old: int) -> None:
    with pytest.raises(ValueError):
        render_message_summary(account, new, old)
