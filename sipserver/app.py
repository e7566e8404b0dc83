"""Composition root: the one place where stores, stack, sockets and the application are built and wired.

`start_server(config)` opens the database (migrating it), seeds the demo group when asked, reloads persisted
registrations with their remaining lifetime, binds every listen address and returns a `RunningServer`;
`RunningServer.stop()` closes sockets, flushes every pending write and closes the stores. `run_server()` adds
uvloop, logging and SIGTERM/SIGINT handling for the CLI. No other module builds long-lived services.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import secrets
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiosqlite
import structlog
from aiohttp import web

from blf.lamp import LiveLamps
from blf.notifier import Notifier
from provisioning.demo import demo_group_description
from provisioning.model import Directory
from provisioning.yealink import ProvisioningServer
from sipserver.aio import gcpolicy
from sipserver.aio.application import Application
from sipserver.aio.batching import BindingWriter, GroupCommit, ignore_failure
from sipserver.aio.calls import CallController
from sipserver.aio.loadmonitor import LoadMonitor
from sipserver.aio.server import SipServer
from sipserver.aio.transports import ListenAddress
from sipserver.b2bua.click_to_dial import ClickToDialError, UnknownUser
from sipserver.b2bua.live import LiveCalls
from sipserver.b2bua.location import LocationService
from sipserver.b2bua.termination import VoicemailService
from sipserver.config import NONCE_SECRET_FILE, ServerConfig
from sipserver.digest import DigestAuthenticator
from sipserver.logs import configure_logging
from sipserver.stack import SipStack
from storage.api_tokens import ApiTokenStore
from storage.calllog import SqliteCallLogStore
from storage.click_requests import ClickRequest, ClickRequestQueue
from storage.database import open_database
from storage.locations import SqliteLocationStore
from storage.mailboxes import MailboxCountsWatcher
from storage.subscribers import SqliteSubscriberStore
from storage.subscriptions import SqliteSubscriptionStore, SubscriptionChange
from storage.voicemail import VoicemailStore
from voicemail.service import VoicemailPool
from webui.admin_service import AdminService
from webui.app import create_app
from webui.manuals import DEFAULT_MANUALS_DIR
from webui.provisioning import ProvisioningFiles
from webui.services import PortalService
from webui.web import LogMailer, Mailer, Portal, SmtpMailer

log = structlog.get_logger("callconnect")
STORE_POLL_INTERVAL = 0.2  # seconds between two looks at other processes' writes (a cheap PRAGMA data_version)


def load_or_create_secret(path: Path) -> bytes:
    """The nonce-signing key, kept in the data directory so nonces survive a restart (mode 0600)."""
    try:
        data = path.read_bytes()
        if len(data) >= 32:
            return data
    except FileNotFoundError:
        pass
    data = secrets.token_bytes(32)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)
    return data


@dataclass
class RunningServer:
    config: ServerConfig
    sip: SipServer
    application: Application
    db: aiosqlite.Connection
    call_log_db: aiosqlite.Connection
    subscribers: SqliteSubscriberStore
    binding_writer: BindingWriter
    load: LoadMonitor
    sip_addresses: list[ListenAddress]
    subscription_writer: GroupCommit[SubscriptionChange] | None = None
    mailboxes: MailboxCountsWatcher | None = None
    click_requests: ClickRequestQueue | None = None  # `callconnect call USER NUMBER` from another process
    http_runner: web.AppRunner | None = None
    http_address: ListenAddress | None = None
    voicemail_pool: VoicemailPool | None = None  # the voicemail workers this server runs
    _housekeeping: asyncio.Task[None] | None = field(default=None, repr=False)
    _store_watch: asyncio.Task[None] | None = field(default=None, repr=False)

    async def click_to_dial(self, user_id: str, number: str) -> None:
        """The portal's "Appel" (RFC 3725): ring `user_id`'s own phones (auto-answer hints), then call `number`
        as if that user dialled it and join the two. Returns once the user's phones are called; raises
        `UnknownUser`, `NotDialable` or `NoRegisteredPhone` (all `ClickToDialError`, from
        `sipserver.b2bua.click_to_dial`) before anything is sent."""
        directory = self.application.directory
        user = directory.user_by_id(user_id)
        if user is None:
            raise UnknownUser(f"no user {user_id!r}")
        self.application.calls.click_to_dial(user, directory.group_of(user), directory, number, self.sip.now())
        self.sip.flush()

    async def stop(self) -> None:
        """Stop taking traffic, then make every store durable and close it."""
        for task in (self._housekeeping, self._store_watch):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.mailboxes is not None:
            self.mailboxes.close()
        if self.click_requests is not None:
            self.click_requests.close()
        self.load.stop()
        if self.http_runner is not None:
            await self.http_runner.cleanup()
        await self.sip.close()
        if self.voicemail_pool is not None:
            await self.voicemail_pool.stop()
        await self.application.calls.flush()
        await self.binding_writer.flush()
        if self.subscription_writer is not None:
            await self.subscription_writer.flush()
        await self.subscribers.close()
        await self.call_log_db.close()
        await self.db.close()
        log.info("server_stopped")


async def start_server(config: ServerConfig) -> RunningServer:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    # One connection per writer: a store's multi-statement transaction must never interleave with another's.
    subscribers = await SqliteSubscriberStore.open(config.data_dir, fallback_domain=config.domain)
    db = await open_database(config.data_dir)
    call_log_db = await open_database(config.data_dir, run_migrations=False)
    if config.demo:
        report = await subscribers.apply_group(demo_group_description(config.domain, keep_user_settings=True))
        log.info("demo_group_ready", domain=config.domain, changes=str(report))
    directory = await subscribers.load_directory()

    location_store = SqliteLocationStore(db)
    location = LocationService(await location_store.load_bindings())
    binding_writer = BindingWriter(location_store)

    load = LoadMonitor(threshold=config.overload_busy)
    stack = SipStack(config.timers, server_header=config.server_header, overloaded=lambda: load.overloaded)
    sip = SipServer(stack)
    authenticator = DigestAuthenticator(
        load_or_create_secret(config.data_dir / NONCE_SECRET_FILE), nonce_lifetime=config.nonce_lifetime
    )
    load.start()
    live = LiveCalls()
    calls = CallController(stack=stack, local_for=sip.local_address_for, live=live, location=location,
                           call_log=SqliteCallLogStore(call_log_db), admission=config.admission,
                           ring_limit=config.ring_limit, probe_interval=config.dialog_probe_interval,
                           voicemail=config.voicemail)
    # The notifier reads the snapshot the application routes with (reloaded when provisioning changes).
    subscription_store = SqliteSubscriptionStore(db)
    subscription_writer: GroupCommit[SubscriptionChange] = GroupCommit(
        subscription_store.save_changes, "event_subscriptions", window=0.05)
    notifier = Notifier(stack=stack, local_for=sip.local_address_for, live=live, now=sip.now,
                        directory=lambda: application.directory, location=location,
                        persist=lambda change: subscription_writer.submit([change]).add_done_callback(
                            ignore_failure),
                        update_services=subscribers.update_services, flush=sip.flush)
    application = Application(
        stack=stack, subscribers=subscribers, directory=directory, location=location,
        binding_writer=binding_writer, calls=calls, authenticator=authenticator, flush=sip.flush, now=sip.now,
        registrar_policy=config.registrar, digest_algorithms=config.digest_algorithms, notifier=notifier,
    )
    sip.application = application
    running = RunningServer(config, sip, application, db, call_log_db, subscribers, binding_writer, load, [],
                            subscription_writer=subscription_writer)
    try:
        if config.voicemail_workers > 0:  # before the SIP sockets: the first call may go to voicemail
            running.voicemail_pool = await start_voicemail(config, calls)
        for address in config.sip_listen:
            running.sip_addresses.append(await sip.listen(address))
        if config.http_listen is not None:
            await _start_http(running, config.http_listen)
    except BaseException:
        await running.stop()  # a busy port: close what is open (SQLite threads would keep the process alive)
        raise
    # Phones that had subscriptions before a restart subscribe again at once (RFC 6665 §4.2.2).
    notifier.deactivate(await subscription_store.load(time.time()), sip.now())
    await subscription_store.clear()
    sip.flush()
    notifier.provisioning = provisioning_server(config, running.sip_addresses)
    notifier.remember_directory(directory)
    running._housekeeping = asyncio.get_running_loop().create_task(_housekeeping(running))
    running.mailboxes = MailboxCountsWatcher(config.data_dir)
    running.click_requests = ClickRequestQueue(config.data_dir)
    running._store_watch = asyncio.get_running_loop().create_task(_watch_stores(running, notifier))
    log.info("server_started", users=user_count(directory), bindings=len(location),
             data_dir=str(config.data_dir))
    return running


async def start_voicemail(config: ServerConfig, calls: CallController) -> VoicemailPool:
    """The server's own voicemail workers on loopback (they take INVITEs from 127.0.0.1 only); the calls try
    them after any configured external ones, and follow a worker that had to move to another port."""

    def use(uris: tuple[str, ...]) -> None:
        calls.terminator.voicemail = (*config.voicemail, *(VoicemailService.from_uri(uri) for uri in uris))

    pool = VoicemailPool(data_dir=config.data_dir, count=config.voicemail_workers, host="127.0.0.1",
                         max_message_seconds=config.voicemail_max_message_seconds, on_change=use)
    await pool.start()
    use(pool.uris)
    return pool


def provisioning_server(config: ServerConfig, sip_addresses: Sequence[ListenAddress]) -> ProvisioningServer:
    """Where provisioned phones register: the first SIP address actually bound (its port, even when 0 was
    asked), by IP address, or by the server's domain when it listens on every address (0.0.0.0, ::), which
    the phones cannot reach as such (the domain must then resolve to the server). Over TCP: BLF list NOTIFYs
    outgrow a UDP datagram (reference/yealink.md)."""
    address = sip_addresses[0] if sip_addresses else (config.sip_listen[0] if config.sip_listen else None)
    if address is None:
        return ProvisioningServer(host=config.domain, transport="tcp")
    try:
        everywhere = ipaddress.ip_address(address.host).is_unspecified
    except ValueError:
        everywhere = False  # a host name
    return ProvisioningServer(host=config.domain if everywhere else address.host, port=address.port or 5060,
                              transport="tcp")


async def _start_http(running: RunningServer, address: ListenAddress) -> None:
    config = running.config
    # Its own verifier (and nonce-count table); the nonces are bound to the provisioning realm, which no SIP
    # realm can equal, so they are useless against the registrar and the other way round.
    provisioning = ProvisioningFiles(
        directory=lambda: running.application.directory,
        server=provisioning_server(config, running.sip_addresses),
        authenticator=DigestAuthenticator(load_or_create_secret(config.data_dir / NONCE_SECRET_FILE),
                                          nonce_lifetime=config.nonce_lifetime),
        algorithms=config.digest_algorithms,
    )
    portal = portal_of(running)
    runner = web.AppRunner(create_app(running_status=lambda: status_of(running), provisioning=provisioning,
                                      portal=portal), access_log=None)
    await runner.setup()
    running.http_runner = runner
    site = web.TCPSite(runner, address.host, address.port)
    await site.start()
    port = runner.addresses[0][1] if runner.addresses else address.port
    running.http_address = ListenAddress(address.host, port)
    log.info("http_listening", address=str(running.http_address))


def portal_of(running: RunningServer) -> Portal:
    """The self-service portal over the server's own subscriber store (a change acts on the next call), its
    call log, click-to-dial and live BLF lamps (the calls' `LiveCalls`), with the group administrator pages
    over the same store; reset links go to the log unless CALLCONNECT_SMTP_HOST names a mail server."""
    call_log = SqliteCallLogStore(running.call_log_db)
    service = PortalService(running.subscribers, lambda: running.application.directory,
                            call_log=call_log.rows_of, click_to_dial=running.click_to_dial)
    smtp = os.environ.get("CALLCONNECT_SMTP_HOST")
    mailer: Mailer = (SmtpMailer(smtp, int(os.environ.get("CALLCONNECT_SMTP_PORT", "25")),
                                 os.environ.get("CALLCONNECT_SMTP_FROM", "callconnect@localhost"))
                      if smtp else LogMailer())
    return Portal(service=service, mailer=mailer, manuals_dir=DEFAULT_MANUALS_DIR,
                  public_url=os.environ.get("CALLCONNECT_PUBLIC_URL"),
                  voicemail=VoicemailStore(running.config.data_dir),
                  admin=AdminService(running.subscribers, lambda: running.application.directory),
                  lamps=LiveLamps(running.application.calls.live), tokens=ApiTokenStore(running.config.data_dir))


def user_count(directory: Directory) -> int:
    return sum(len(directory.users_of_group(group.id)) for group in directory.groups)


def status_of(running: RunningServer) -> dict[str, object]:
    stats = running.sip.stack.stats
    return {
        "sip": [str(a) for a in running.sip_addresses],
        "registrations": len(running.application.location),
        "users": user_count(running.application.directory),
        "requests": stats.requests,
        "responses": stats.responses,
        "rejected": stats.rejected,
        "dropped": stats.dropped,
        "tcp_connections": running.sip.transports.tcp.connection_count(),
        "calls_in_progress": len(running.application.calls),
        "calls_completed": running.application.calls.completed,
        "calls_refused_overload": running.application.calls.admission.refused,
        "requests_refused_overload": stats.shed,
        "loop_busy": round(running.load.busy, 2),
    }


async def _housekeeping(running: RunningServer) -> None:
    full_collections = gcpolicy.FullCollectionSchedule(last=time.monotonic())
    while True:
        await asyncio.sleep(running.config.binding_sweep_interval)
        try:
            running.application.expire_bindings()
            started = time.monotonic()
            if full_collections.due(started, running.load.busy):
                found = gcpolicy.collect_all()
                finished = time.monotonic()
                full_collections.collected(finished)
                log.info("full_gc", unreachable=found, pause_ms=round((finished - started) * 1000, 1))
        except Exception:
            log.exception("housekeeping_failed")


async def _watch_stores(running: RunningServer, notifier: Notifier) -> None:
    """Message counts written by the voicemail service or `callconnect mwi` light the phones' MWI lamps;
    provisioning written by `provision apply` is reloaded (BLF lists and privacy follow at once)."""
    assert running.mailboxes is not None
    while True:
        try:
            running.application.reload_if_changed()
            if running.mailboxes.changed():
                for counts in running.mailboxes.read_changes():
                    notifier.set_message_counts(counts.user_id, counts.new, counts.old)
                running.sip.flush()
            queue = running.click_requests
            if queue is not None and queue.changed():
                for request in queue.pending(time.time()):
                    await _place_requested_call(running, queue, request)
        except Exception:
            log.exception("mailbox_watch_failed")
        await asyncio.sleep(STORE_POLL_INTERVAL)


async def _place_requested_call(running: RunningServer, queue: ClickRequestQueue, request: ClickRequest) -> None:
    """A click-to-dial asked by `callconnect call`: place it and tell the CLI how it went."""
    try:
        await running.click_to_dial(request.user_id, request.number)
    except ClickToDialError as exc:
        queue.answer(request.id, "refused", str(exc))
    except Exception as exc:
        log.exception("click_to_dial_failed", user=request.user_id)
        queue.answer(request.id, "refused", f"internal error: {exc}")
    else:
        queue.answer(request.id, "calling")


def run_server(config: ServerConfig) -> int:
    """Run until SIGTERM/SIGINT, then stop cleanly (every store flushed). Returns the exit status."""
    configure_logging(json=config.log_json, level=config.log_level)

    async def main() -> int:
        try:
            running = await start_server(config)
        except OSError as exc:
            log.error("cannot_start", error=str(exc))
            return 1
        gcpolicy.install()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("stopping")
        await running.stop()
        return 0

    if config.use_uvloop:
        import uvloop  # about 4x the default loop for this workload (performance.md)

        return uvloop.run(main())
    return asyncio.run(main())
