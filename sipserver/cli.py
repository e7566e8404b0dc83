"""Command line: `callconnect serve`, `callconnect provision apply FILE`, `callconnect provision export`,
`callconnect provision device-password MAC`, `callconnect mwi USER NEW OLD`, `callconnect call USER NUMBER`.

Parses arguments into a `ServerConfig` (or a provisioning action) and hands over to the composition root in
`sipserver.app`. Argument errors exit with status 2 and a message naming the bad option; a provisioning file with
errors exits 1 and lists every problem as `file:field: message`, having changed nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import faulthandler
import sys
from collections.abc import Sequence
from pathlib import Path

from sipserver.aio.transports import ListenAddress, parse_listen_address
from sipserver.b2bua.termination import VoicemailService
from sipserver.config import DEFAULT_DATA_DIR, DEFAULT_DOMAIN, ServerConfig


def _listen(default_port: int) -> type:
    def parse(text: str) -> ListenAddress:
        try:
            return parse_listen_address(text, default_port)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse  # type: ignore[return-value]


def _algorithms(text: str) -> tuple[str, ...]:
    names = tuple(part.strip().upper() for part in text.split(",") if part.strip())
    unknown = [name for name in names if name not in ("MD5", "SHA-256")]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"expected MD5 and/or SHA-256, got {text!r}")
    return names


DEFAULT_VOICEMAIL_WORKERS = 2  # 8 voicemail calls at once


def _voicemail(text: str) -> VoicemailService:
    try:
        return VoicemailService.from_uri(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callconnect", description="SIP call-control server for business groups")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the SIP server (and its HTTP side)")
    serve.add_argument("--sip-listen", action="append", type=_listen(5060), metavar="HOST:PORT",
                       help="UDP+TCP address to listen on; repeatable; IPv6 as [::1]:5060 (default 127.0.0.1:5060)")
    serve.add_argument("--http-listen", type=_listen(8080), metavar="HOST:PORT",
                       help="HTTP address for health/status (default 127.0.0.1:8080)")
    serve.add_argument("--no-http", action="store_true", help="do not open the HTTP listener")
    serve.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help=f"default: {DEFAULT_DATA_DIR}")
    serve.add_argument("--domain", default=DEFAULT_DOMAIN,
                       help=f"SIP domain (digest realm) of the demo group (default {DEFAULT_DOMAIN})")
    serve.add_argument("--demo", action="store_true", help="seed the demo group (idempotent) before serving")
    serve.add_argument("--log-json", action="store_true", help="log one JSON object per line")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument("--no-uvloop", action="store_true", help="use the default asyncio loop")
    serve.add_argument("--nonce-lifetime", type=float, default=300.0, metavar="SECONDS",
                       help="how long a digest nonce stays fresh (default 300)")
    serve.add_argument("--ring-limit", type=float, default=180.0, metavar="SECONDS",
                       help="how long an unanswered call rings before it ends with 408 (default 180)")
    serve.add_argument("--voicemail-workers", type=_count, default=DEFAULT_VOICEMAIL_WORKERS, metavar="N",
                       help="voicemail worker processes (pjsua2, 4 calls each) the server starts and watches "
                            f"(default {DEFAULT_VOICEMAIL_WORKERS})")
    serve.add_argument("--voicemail-uri", type=_voicemail, action="append", default=[], metavar="SIP-URI",
                       help="a voicemail worker run elsewhere (`callconnect voicemail`), e.g. "
                            "'sip:voicemail@127.0.0.1:5080;transport=tcp'; repeatable; tried before the "
                            "server's own workers")
    serve.add_argument("--no-voicemail", action="store_true",
                       help="no voicemail at all: busy / no-answer calls get 486 / 480")
    serve.add_argument("--max-message-seconds", type=float, default=120.0, metavar="SECONDS",
                       help="longest voice message recorded (default 120)")
    serve.add_argument("--digest-algorithms", type=_algorithms, default=("MD5", "SHA-256"),
                       metavar="ALG[,ALG]", help="challenges offered, in order (default MD5,SHA-256)")

    prov = sub.add_parser("provision", help="apply or export a group description file (TOML)")
    prov_sub = prov.add_subparsers(dest="action", required=True)
    apply = prov_sub.add_parser("apply", help="validate FILE and make the group match it, all or nothing")
    apply.add_argument("file", type=Path)
    apply.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    apply.add_argument("--dry-run", action="store_true", help="validate and report, change nothing")
    export = prov_sub.add_parser("export", help="write a group as a file that `apply` accepts")
    export.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    export.add_argument("--group", help="group id (default: the only group)")
    export.add_argument("-o", "--output", type=Path, help="file to write (default: standard output)")
    password = prov_sub.add_parser(
        "device-password", help="generate a phone's auto-provisioning password and print its HA1 lines")
    password.add_argument("mac", help="the phone's MAC address, e.g. 00:15:65:aa:bb:cc")

    vm = sub.add_parser("voicemail", help="run voicemail workers on their own (for `serve --voicemail-uri`)")
    vm.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                    help="the server's data directory (the mailboxes live there)")
    vm.add_argument("--host", default="127.0.0.1", help="address the workers listen on (default 127.0.0.1)")
    vm.add_argument("--port", type=int, default=5080, help="first worker's port; the next ones follow (default 5080)")
    vm.add_argument("--workers", type=_count, default=DEFAULT_VOICEMAIL_WORKERS, metavar="N")
    vm.add_argument("--allow", action="append", default=[], metavar="ADDRESS",
                    help="the server's address, the only one calls are taken from (default: --host); repeatable")
    vm.add_argument("--max-message-seconds", type=float, default=120.0, metavar="SECONDS")

    mwi = sub.add_parser("mwi", help="set a user's voice message counts (lights the phone's message lamp)")
    mwi.add_argument("user", help="user id, e.g. marie.martin")
    mwi.add_argument("new", type=_count, help="new (unheard) messages")
    mwi.add_argument("old", type=_count, help="old (heard) messages")
    mwi.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)

    call = sub.add_parser("call", help="click-to-dial: ring the user's phone, then call NUMBER from it")
    call.add_argument("user", help="user id, e.g. jean.dupont")
    call.add_argument("number", help="what the user would dial: an extension, a number")
    call.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    return parser


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"cannot be negative, got {value}")
    return value


def set_mailbox_counts(data_dir: Path, user_id: str, new: int, old: int) -> int:
    """`callconnect mwi`: store the counts where the running server (and the portal) read them."""
    import sqlite3

    from storage.database import database_path
    from storage.mailboxes import MailboxCountsWriter

    try:
        with contextlib.closing(sqlite3.connect(f"file:{database_path(data_dir)}?mode=ro", uri=True)) as db:
            known = db.execute("SELECT 1 FROM users WHERE user_id = ?", (user_id,)).fetchone() is not None
    except sqlite3.Error as exc:
        print(f"error: cannot read the subscribers in {data_dir}: {exc}", file=sys.stderr)
        return 1
    if not known:
        print(f"error: no user {user_id!r} in {data_dir}", file=sys.stderr)
        return 1
    writer = MailboxCountsWriter(data_dir)
    try:
        writer.set_counts(user_id, new, old)
    finally:
        writer.close()
    print(f"{user_id}: {new} new, {old} old")
    return 0


def click_to_dial(data_dir: Path, user_id: str, number: str, wait: float = 5.0) -> int:
    """`callconnect call`: ask the server running on `data_dir` to place a click-to-dial (RFC 3725) and report
    whether it is calling the user's phones (0), refused it (1, with the reason) or did not take it (2)."""
    import time

    from storage.click_requests import ClickRequestWriter

    writer = ClickRequestWriter(data_dir)
    try:
        request_id = writer.request(user_id, number, time.time())
        deadline = time.monotonic() + wait
        while (outcome := writer.outcome_of(request_id)) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if outcome is None:
            outcome = writer.withdraw(request_id)
    finally:
        writer.close()
    if outcome is None or outcome.outcome == "expired":
        print(f"error: no server took the request (is `callconnect serve --data-dir {data_dir}` running?)",
              file=sys.stderr)
        return 2
    if outcome.outcome != "calling":
        print(f"error: {outcome.detail}", file=sys.stderr)
        return 1
    print(f"calling {user_id}'s phone; {number} follows when it answers")
    return 0


def run_voicemail(data_dir: Path, host: str, first_port: int, workers: int, allowed: Sequence[str],
                  max_message_seconds: float) -> int:
    """`callconnect voicemail`: the workers on ports first_port, first_port+1, ... until SIGTERM/SIGINT."""
    import signal

    from sipserver.logs import configure_logging
    from voicemail.service import VoicemailPool

    if workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 1
    configure_logging()

    async def serve() -> None:
        pool = VoicemailPool(data_dir=data_dir, count=workers, host=host,
                             ports=[first_port + k for k in range(workers)], allowed=allowed,
                             max_message_seconds=max_message_seconds,
                             on_change=lambda uris: print("voicemail workers now at:", *uris, flush=True))
        await pool.start()
        print("voicemail workers (give each to `callconnect serve --voicemail-uri`):", *pool.uris, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await pool.stop()

    try:
        asyncio.run(serve())
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from sipserver.app import run_server

        faulthandler.enable()  # a crash in C (uvloop, compiled modules) leaves the Python stacks on stderr

        config = ServerConfig(
            sip_listen=tuple(args.sip_listen or [ListenAddress("127.0.0.1", 5060)]),
            http_listen=None if args.no_http else (args.http_listen or ListenAddress("127.0.0.1", 8080)),
            data_dir=args.data_dir,
            domain=args.domain,
            demo=args.demo,
            log_json=args.log_json,
            log_level=args.log_level,
            use_uvloop=not args.no_uvloop,
            nonce_lifetime=args.nonce_lifetime,
            digest_algorithms=args.digest_algorithms,
            ring_limit=args.ring_limit,
            voicemail=() if args.no_voicemail else tuple(args.voicemail_uri),
            voicemail_workers=0 if args.no_voicemail else args.voicemail_workers,
            voicemail_max_message_seconds=args.max_message_seconds,
        )
        return run_server(config)
    if args.command == "voicemail":
        return run_voicemail(args.data_dir, args.host, args.port, args.workers, args.allow,
                             args.max_message_seconds)
    if args.command == "mwi":
        return set_mailbox_counts(args.data_dir, args.user, args.new, args.old)
    if args.command == "call":
        return click_to_dial(args.data_dir, args.user, args.number)
    from sipserver.provision_cli import apply_file, device_password, export_group

    if args.action == "device-password":
        return device_password(args.mac)
    if args.action == "apply":
        return asyncio.run(apply_file(args.file, args.data_dir, dry_run=args.dry_run))
    return asyncio.run(export_group(args.data_dir, args.group, args.output))


if __name__ == "__main__":
    sys.exit(main())
