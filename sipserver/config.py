"""Server configuration: one immutable value built by the CLI (or a test) and passed to the composition root.

No module reads configuration from anywhere else: there is no global config dict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sipserver.aio.transports import ListenAddress
from sipserver.b2bua.admission import AdmissionPolicy
from sipserver.b2bua.registrar import RegistrarPolicy
from sipserver.b2bua.termination import VoicemailService
from sipserver.timers import TimerConfig

DEFAULT_DATA_DIR = Path("callconnect-data")
DEFAULT_DOMAIN = "callconnect.local"
DATABASE_FILE = "callconnect.sqlite3"
NONCE_SECRET_FILE = "nonce.secret"
DEFAULT_SIP_LISTEN = ListenAddress("127.0.0.1", 5060)
DEFAULT_HTTP_LISTEN = ListenAddress("127.0.0.1", 8080)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    sip_listen: tuple[ListenAddress, ...] = (DEFAULT_SIP_LISTEN,)
    http_listen: ListenAddress | None = DEFAULT_HTTP_LISTEN
    data_dir: Path = DEFAULT_DATA_DIR
    domain: str = DEFAULT_DOMAIN
    demo: bool = False
    log_json: bool = False
    log_level: str = "info"
    use_uvloop: bool = True
    timers: TimerConfig = field(default_factory=TimerConfig)
    registrar: RegistrarPolicy = field(default_factory=RegistrarPolicy)
    admission: AdmissionPolicy = field(default_factory=AdmissionPolicy)
    ring_limit: float = 180.0  # seconds before an unanswered call ends with 408 (Timer C)
    dialog_probe_interval: float = 300.0  # seconds between in-dialog OPTIONS probes of an established call
    overload_busy: float = 0.95  # fraction of a core the loop thread uses above which new calls/REGISTERs get 503
    nonce_lifetime: float = 300.0
    digest_algorithms: tuple[str, ...] = ("MD5", "SHA-256")
    binding_sweep_interval: float = 15.0
    server_header: str = "callconnect/0.1"
    # Voicemail: `voicemail_workers` pjsua2 worker processes started and watched by the server (0: none), and/or
    # workers already running elsewhere (`callconnect voicemail`); calls try them in turn. None at all: no
    # voicemail (busy / no-answer calls get 486 / 480).
    voicemail: tuple[VoicemailService, ...] = ()
    voicemail_workers: int = 0
    voicemail_max_message_seconds: float = 120.0

    @property
    def database_path(self) -> Path:
        return self.data_dir / DATABASE_FILE
