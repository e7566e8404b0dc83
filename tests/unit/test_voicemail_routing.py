"""Calls to the voicemail workers (sipserver/b2bua/termination.py): one stage per worker, in turn, with the
mailbox, the cause and the owner's language; the owner's own mailbox at 1969; the INVITE as the worker reads it
(voicemail/request.py)."""

from __future__ import annotations

import asyncio
import time

from features.engine import Reject
from features.model import ServiceSettings
from provisioning.demo import demo_group_description
from provisioning.model import Directory
from provisioning.store import InMemorySubscriberStore
from sipserver.b2bua import identity
from sipserver.b2bua.live import LiveCalls
from sipserver.b2bua.location import LocationService
from sipserver.b2bua.termination import VOICEMAIL_ANSWER_SECONDS, CallerInfo, Termination, Terminator, VoicemailService
from voicemail.request import BadRequest, VoicemailRequest, parse_invite

WORKERS = (VoicemailService.from_uri("sip:voicemail@127.0.0.1:5081;transport=tcp"),
           VoicemailService.from_uri("sip:voicemail@127.0.0.1:5082;transport=tcp"))


def directory(**services: ServiceSettings) -> Directory:
    async def build() -> Directory:
        store = InMemorySubscriberStore()
        await store.apply_group(demo_group_description("callconnect.local"))
        for user_id, settings in services.items():
            await store.update_services(user_id, settings)
        return await store.load_directory()
    return asyncio.run(build())


def terminator(workers: tuple[VoicemailService, ...] = WORKERS) -> Terminator:
    return Terminator(location=LocationService(), live=LiveCalls(), voicemail=workers, wall_clock=time.time)


def dnd_call(term: Terminator, d: Directory) -> object:
    jean, marie = d.user_by_id("jean.dupont"), d.user_by_id("marie.martin")
    assert jean is not None and marie is not None
    group = d.group_of(marie)
    caller = CallerInfo.of(identity.user_caller_id(jean), internal=True, user=jean, group=group)
    return term.arrive(Termination(caller=caller), marie, group, d)


def dnd_marie() -> Directory:
    return directory(**{"marie.martin": ServiceSettings.from_dict({"dnd": {"active": True},
                                                                    "voicemail": {"active": True}})})


def test_a_diverted_call_tries_every_worker_starting_with_the_next_in_turn() -> None:
    d, term = dnd_marie(), terminator()
    first, second = dnd_call(term, d), dnd_call(term, d)
    assert isinstance(first, tuple) and isinstance(second, tuple)
    ports = [[stage.targets[0].destination.port for stage in plan] for plan in (first, second)]
    assert ports == [[5081, 5082], [5082, 5081]]
    stage = first[0]
    assert stage.ring_seconds == VOICEMAIL_ANSWER_SECONDS
    target = stage.targets[0]
    assert target.destination.transport == "tcp"
    assert target.request_uri == ("sip:voicemail@127.0.0.1:5081;transport=tcp"
                                  ";target=sip:marie.martin%40callconnect.local;cause=486;tz=Europe/Brussels")
    headers = dict(target.extra_headers)
    assert headers["Accept-Language"] == "fr"
    assert "cause=486" in headers["History-Info"]


def test_without_workers_dnd_is_busy() -> None:
    assert dnd_call(terminator(()), dnd_marie()) == Reject(486, "Busy Here")


def test_the_owner_reaches_their_own_mailbox_without_a_cause() -> None:
    d = directory()
    marie = d.user_by_id("marie.martin")
    assert marie is not None
    plan = terminator().mailbox_access(marie, d.group_of(marie))
    assert isinstance(plan, tuple) and len(plan) == 2
    target = plan[0].targets[0]
    assert target.request_uri.endswith(";target=sip:marie.martin%40callconnect.local;tz=Europe/Brussels")
    assert "cause=" not in target.request_uri
    assert terminator(()).mailbox_access(marie, d.group_of(marie)) == Reject(480, "Voicemail Unavailable")


def invite(request_uri: str, *headers: str) -> bytes:
    lines = [f"INVITE {request_uri} SIP/2.0", "Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-vm1",
             "Max-Forwards: 70", "To: <sip:202@callconnect.local>", "Call-ID: vm-1", "CSeq: 1 INVITE", *headers,
             "Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


def test_the_worker_reads_mailbox_reason_caller_and_language() -> None:
    uri = "sip:voicemail@127.0.0.1:5081;transport=tcp;target=sip:marie.martin%40callconnect.local;cause=408"
    request = parse_invite(invite(uri, 'From: "Jean Dupont" <sip:201@callconnect.local>;tag=a',
                                  "Accept-Language: nl"))
    assert request == VoicemailRequest(mode="deposit", mailbox="marie.martin", reason="no-answer",
                                       caller_number="201", caller_name="Jean Dupont", language="nl")
    zoned = parse_invite(invite(uri + ";tz=America/Port-au-Prince", "From: <sip:201@callconnect.local>;tag=a"))
    assert isinstance(zoned, VoicemailRequest) and zoned.time_zone == "America/Port-au-Prince"
    for bad in ("Nowhere/Special", "../../etc/passwd", "Europe"):  # unknown: said in UTC, never an error
        odd = parse_invite(invite(f"{uri};tz={bad}", "From: <sip:201@callconnect.local>;tag=a"))
        assert isinstance(odd, VoicemailRequest) and odd.time_zone == "UTC"
    access = parse_invite(invite(uri.rpartition(";cause")[0], "From: <sip:202@callconnect.local>;tag=a"))
    assert isinstance(access, VoicemailRequest) and access.mode == "access" and access.language == "fr"
    hidden = parse_invite(invite(uri, '"Anonymous" <sip:anonymous@anonymous.invalid>;tag=a'.join(("From: ", "")),
                                 "Privacy: id"))
    assert isinstance(hidden, VoicemailRequest) and hidden.caller_number is None and hidden.caller_name == ""
    assert parse_invite(invite("sip:voicemail@127.0.0.1:5081", "From: <sip:1@d>;tag=a")) == \
        BadRequest(404, "No Mailbox")
    assert isinstance(parse_invite(b"INVITE nonsense\r\n\r\n"), BadRequest)
