"""The application above the stack: what the server does with each request (the transaction user).

Dispatches stack events: REGISTER to the registrar (after digest authentication, answering only once the
bindings are on disk), OPTIONS answered with our capabilities, everything else authenticated and handed to the
part of the server that owns that method. It reloads the subscriber directory when the store says provisioning
changed, before the request that notices it is handled, so a `provision apply` is seen by the next request.
The decisions live in pure modules (inspection, auth, registrar); this shell only sequences them with I/O.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Final

import structlog

from blf.notifier import Notifier
from features.codes import CodeRefused, FeatureCode, apply_feature_code, parse_feature_code
from provisioning.model import Directory, Group, User
from provisioning.store import SubscriberStore
from sipserver.aio.batching import BindingWriter, ignore_failure
from sipserver.aio.calls import CallController
from sipserver.b2bua.auth import Authenticated, Challenge, authenticate
from sipserver.b2bua.call import Call
from sipserver.b2bua.inspection import accept_header, allow_header, inspect_request, supported_header
from sipserver.b2bua.location import BindingChange, LocationService
from sipserver.b2bua.pickup import parse_pickup_code, parse_replaces
from sipserver.b2bua.registrar import RegisterOutcome, RegistrarPolicy, handle_register
from sipserver.digest import DigestAuthenticator
from sipserver.errors import RemoteProtocolError
from sipserver.events import (
    AckReceived,
    CancelReceived,
    ClientTransactionTimedOut,
    RequestReceived,
    ResponseReceived,
    ServerTransactionTimedOut,
    StackEvent,
    StrayResponseReceived,
)
from sipserver.stack import SipStack
from sipserver.transaction import ServerTransaction

log: Final = structlog.get_logger("callconnect.app")
security_log: Final = structlog.get_logger("callconnect.security")
_DIALOG_ONLY: Final = frozenset({"BYE", "UPDATE", "INFO", "PRACK", "NOTIFY"})


class Application:
    def __init__(
        self,
        *,
        stack: SipStack,
        subscribers: SubscriberStore,
        directory: Directory,
        location: LocationService,
        binding_writer: BindingWriter,
        calls: CallController,
        authenticator: DigestAuthenticator,
        flush: Callable[[], None],
        now: Callable[[], float],
        registrar_policy: RegistrarPolicy | None = None,
        digest_algorithms: tuple[str, ...] = ("MD5", "SHA-256"),
        wall_clock: Callable[[], float] = time.time,
        notifier: Notifier | None = None,
    ) -> None:
        self.stack = stack
        self.notifier = notifier
        self.subscribers = subscribers
        self.directory = directory
        self.location = location
        self.binding_writer = binding_writer
        self.calls = calls
        self.authenticator = authenticator
        self.registrar_policy = registrar_policy or RegistrarPolicy()
        self.digest_algorithms = digest_algorithms
        self._flush = flush
        self._now = now
        self._wall_clock = wall_clock
        self._waiting_for_reload: list[RequestReceived] = []
        self._reload_task: asyncio.Task[None] | None = None

    # -- event intake -------------------------------------------------------------------------------------
    def handle(self, event: StackEvent, now: float) -> None:
        if isinstance(event, RequestReceived):
            if event.request.to.tag is not None:
                self._on_in_dialog(event, now)  # matched to a dialog, never reloaded for nor challenged
                return
            if self._reload_task is not None or self.subscribers.has_changed():
                self._waiting_for_reload.append(event)
                self._start_reload()
                return
            self._on_request(event, now)
        elif isinstance(event, ResponseReceived):
            self.calls.on_response(event, now)
            if self.notifier is not None:
                self.notifier.on_response(event)
        elif isinstance(event, AckReceived):
            self.calls.on_ack(event, now)
        elif isinstance(event, CancelReceived):
            self.calls.on_cancel(event, now)
        elif isinstance(event, StrayResponseReceived):
            self.calls.on_stray_response(event, now)
        elif isinstance(event, ClientTransactionTimedOut):
            self.calls.on_client_timeout(event, now)
            if self.notifier is not None:
                self.notifier.on_timeout(event, now)
        elif isinstance(event, ServerTransactionTimedOut):
            self.calls.on_server_timeout(event, now)

    def next_deadline(self) -> float | None:
        calls = self.calls.next_deadline()
        if self.notifier is None:
            return calls
        subscriptions = self.notifier.next_deadline()
        if calls is None or (subscriptions is not None and subscriptions < calls):
            return subscriptions
        return calls

    def on_timer(self, now: float) -> None:
        self.calls.on_timer(now)
        if self.notifier is not None:
            self.notifier.on_timer(now)

    def _on_in_dialog(self, event: RequestReceived, now: float) -> None:
        try:
            if event.request.method == "SUBSCRIBE" and self.notifier is not None:
                self.notifier.on_in_dialog_subscribe(event, now)
                return
            self.calls.on_in_dialog_request(event, now)
        except RemoteProtocolError as exc:
            self.stack.reply(event.transaction, exc.status_hint or 400, now, None, exc.extra_headers)

    def reload_if_changed(self) -> None:
        """Reload the directory now if another process changed provisioning (no request needed to notice):
        BLF lists, privacy and provisioning files follow a `provision apply` within the poll interval."""
        if self._reload_task is None and self.subscribers.has_changed():
            self._start_reload()

    def _start_reload(self) -> None:
        if self._reload_task is None:
            self._reload_task = asyncio.get_running_loop().create_task(self._reload())

    async def _reload(self) -> None:
        try:
            while True:
                self.directory = await self.subscribers.load_directory()
                log.info("directory_reloaded", revision=self.directory.revision)
                if not self.subscribers.has_changed():
                    break
        except Exception:
            log.exception("directory_reload_failed")  # keep serving with the previous snapshot
        finally:
            self._reload_task = None
        waiting, self._waiting_for_reload = self._waiting_for_reload, []
        now = self._now()
        if self.notifier is not None:
            self.notifier.on_directory_changed(now)
        for event in waiting:
            self._on_request(event, now)
        self._flush()

    # -- requests -----------------------------------------------------------------------------------------
    def _on_request(self, event: RequestReceived, now: float) -> None:
        request, txn = event.request, event.transaction
        try:
            rejection = inspect_request(request)
            if rejection is not None:
                self.stack.reply(txn, rejection.status, now, rejection.reason, rejection.headers)
                return
            method = request.method
            if method == "OPTIONS":
                self._on_options(txn, now)
            elif method == "REGISTER":
                self._on_register(event, now)
            else:
                self._on_other(event, now)
        except RemoteProtocolError as exc:
            self.stack.reply(txn, exc.status_hint or 400, now, None, exc.extra_headers)

    def _on_options(self, txn: ServerTransaction, now: float) -> None:
        """RFC 3261 §11.2: what we support, with no session description."""
        self.stack.reply(txn, 200, now, headers=(allow_header(), accept_header(), supported_header(),
                                                   ("Accept-Language", "fr, nl, en")))

    def _challenge(self, event: RequestReceived, challenge: Challenge, now: float) -> None:
        if challenge.failure is not None:
            security_log.warning(
                "auth_failed", peer=str(event.source), method=event.request.method,
                reason=challenge.failure, user_agent=event.request.headers.get("User-Agent"),
            )
        self.stack.reply(event.transaction, challenge.status, now, headers=challenge.headers)

    def _on_register(self, event: RequestReceived, now: float) -> None:
        request, txn = event.request, event.transaction
        outcome = authenticate(request, event.source, self.directory, self.authenticator, now,
                               self.digest_algorithms)
        if isinstance(outcome, Challenge):
            self._challenge(event, outcome, now)
            return
        if not isinstance(outcome, Authenticated):
            self.stack.reply(txn, 403, now, "Trunks do not register here")
            return
        to_uri = request.to.uri
        assert to_uri is not None  # inspection guarantees a SIP AOR
        target = self.directory.resolve_user(to_uri.unescaped_user or "", outcome.group)
        if target is None or target.user_id != outcome.user.user_id:
            # RFC 3261 §10.3 step 5: the authenticated user may not modify this AOR's bindings.
            security_log.warning("register_forbidden", peer=str(event.source), user=outcome.user.user_id,
                                 aor=str(to_uri))
            self.stack.reply(txn, 403, now, "Forbidden (not your address-of-record)")
            return
        aor = f"sip:{target.user_id}@{outcome.group.domain}"
        wall_now = self._wall_clock()
        result = handle_register(
            request, aor=aor, source=event.source, location=self.location,
            policy=self.registrar_policy, wall_now=wall_now,
        )
        if not result.changes:
            self._send_register_answer(txn, result, now)
            return
        self.location.apply(result.changes)
        written = self.binding_writer.submit(result.changes)
        written.add_done_callback(lambda f: self._after_write(f, txn, result))

    def _after_write(self, written: asyncio.Future[None], txn: ServerTransaction, result: RegisterOutcome) -> None:
        now = self._now()
        if written.exception() is not None:
            self.stack.reply(txn, 500, now, "Could Not Store Binding", (("Retry-After", "5"),))
        else:
            self._send_register_answer(txn, result, now)
        self._flush()

    def _send_register_answer(self, txn: ServerTransaction, result: RegisterOutcome, now: float) -> None:
        headers = list(result.headers)
        if result.status == 200:
            headers.append(("Date", time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())))
        self.stack.reply(txn, result.status, now, result.reason, headers)

    def _on_other(self, event: RequestReceived, now: float) -> None:
        request, txn = event.request, event.transaction
        if request.method in _DIALOG_ONLY:
            # BYE, UPDATE, INFO, PRACK, NOTIFY belong to a dialog; without a To tag there is none (§12.2.2).
            self.stack.reply(txn, 481, now)
            return
        outcome = authenticate(request, event.source, self.directory, self.authenticator, now,
                               self.digest_algorithms)
        if isinstance(outcome, Challenge):
            self._challenge(event, outcome, now)
            return
        if request.method == "INVITE":
            if isinstance(outcome, Authenticated):
                if self._on_pickup(event, outcome.user, outcome.group, now):
                    return
                code = parse_feature_code(request.request_uri.unescaped_user or "", outcome.group.feature_codes)
                if code is not None:
                    self._on_feature_code(event, outcome.user, code, now)
                    return
                self.calls.start_from_user(event, outcome.user, outcome.group, self.directory, now)
            else:
                self.calls.start_from_trunk(event, outcome.trunk, self.directory, now)
            return
        if request.method == "SUBSCRIBE":
            if self.notifier is None:
                self.stack.reply(txn, 489, now, "Bad Event")  # no event package served (RFC 6665 §4.2.1)
            elif not isinstance(outcome, Authenticated):
                self.stack.reply(txn, 403, now, "Subscriptions Are For Users")  # a trunk watches nobody
            else:
                self.notifier.on_subscribe(event, outcome.user, outcome.group, now)
            return
        # MESSAGE and REFER outside a dialog: not relayed yet (click-to-dial and messaging come later).
        caller = outcome.user.user_id if isinstance(outcome, Authenticated) else outcome.trunk.id
        log.info("request_not_served", method=request.method, caller=caller)
        self.stack.reply(txn, 480, now, "Temporarily Unavailable")

    def _on_pickup(self, event: RequestReceived, picker: User, group: Group, now: float) -> bool:
        """An INVITE with `Replaces` (RFC 3891) or dialling `*97<ext>` / `*8`: take a colleague's ringing
        call. True when the INVITE was a pickup (answered here, joined or refused)."""
        request, txn = event.request, event.transaction
        replaces = request.headers.get("Replaces")
        found: tuple[Call, str] | None
        if replaces is not None:
            wanted = parse_replaces(replaces)
            if wanted is None:
                self.stack.reply(txn, 400, now, "Bad Replaces")
                return True
            found = self.calls.replaced_call(wanted.call_id, wanted.tags)
        else:
            code = parse_pickup_code(request.request_uri.unescaped_user or "")
            if code is None:
                return False
            if code.extension is None:
                colleagues = [u.user_id for u in self.directory.users_of_group(group.id)
                              if u.user_id != picker.user_id and u.services.blf.may_be_watched_by(picker.user_id)]
            else:
                colleague = self.directory.resolve_user(code.extension, group)
                if colleague is None:
                    self.stack.reply(txn, 404, now, "No Such Colleague")
                    return True
                colleagues = [colleague.user_id]
            found = self.calls.ringing_call_of(colleagues)
        if found is None:
            self.stack.reply(txn, 481, now, "No Call To Pick Up")
            return True
        call, ringing_user = found
        colleague = self.directory.user_by_id(ringing_user)
        if colleague is None or colleague.group_id != group.id or colleague.user_id == picker.user_id \
                or not colleague.services.blf.may_be_watched_by(picker.user_id):
            self.stack.reply(txn, 403, now, "Not Allowed To Pick Up This Call")
            return True
        self.calls.pick_up(event, picker, group, call, now)
        return True

    def _on_feature_code(self, event: RequestReceived, user: User, code: FeatureCode | CodeRefused,
                         now: float) -> None:
        """`*72<number>`, `#21#`, `*78`...: change the user's stored setting (the one the portal shows), then
        answer and hang up as the confirmation; a bad code or value gets its 484/404 at once."""
        call = self.calls.start_local(event, user, now)
        if call is None:
            return
        settings = code if isinstance(code, CodeRefused) else apply_feature_code(code, user.services)
        if isinstance(settings, CodeRefused):
            log.info("feature_code_refused", user=user.user_id, status=settings.status, reason=settings.reason)
            self.calls.refuse_local(call, settings.status, settings.reason, now)
            return
        assert isinstance(code, FeatureCode)
        written = asyncio.ensure_future(self.subscribers.update_services(user.user_id, settings))

        def done(future: asyncio.Future[None]) -> None:
            later = self._now()
            if future.cancelled() or future.exception() is not None:
                log.error("feature_code_not_stored", user=user.user_id, code=code.confirmation,
                          error=None if future.cancelled() else repr(future.exception()))
                self.calls.refuse_local(call, 500, "Could Not Store Setting", later)
            else:
                log.info("feature_code", user=user.user_id, change=code.confirmation)
                self.calls.confirm_local(call, later)
            self._flush()

        written.add_done_callback(done)

    # -- housekeeping -------------------------------------------------------------------------------------
    def expire_bindings(self) -> list[BindingChange]:
        """Drop expired bindings from memory and disk (called periodically by the composition root)."""
        changes = self.location.expired(self._wall_clock())
        if changes:
            self.location.apply(changes)
            self.binding_writer.submit(changes).add_done_callback(ignore_failure)
        return changes
