"""Yealink T42/T48 auto-provisioning files, rendered from the provisioning model (issue 10, item 7).

Implements "Provisioning files" of `reference/yealink.md`:

- the common file per model (`y000000000035.cfg` for a T48G...: `COMMON_FILES`), with the settings every
  phone of that model shares (`render_common`);
- the per-phone file `<mac>.cfg` (`render_device`): account 1 (the owner's SIP account on our server), the
  BLF keys of the owner's `services.blf.monitored_users` with labels and pickup codes, the BLF list URI, and
  every other key of the model (`KEY_COUNT`) written explicitly as unused;
- `file_for_request`: which of these files an HTTP request path names.

Both files start with `#!version:1.0.0.1`, then one `key = value` line per key, each key once, in natural
order (`linekey.2` before `linekey.10`). Rendering is deterministic: the same input gives the same bytes,
because the phone skips a file whose MD5 did not change (and re-applies one that changes for nothing).
Values cannot inject a line: control characters (CR, LF, tab, NUL...) and Unicode line separators in names
are replaced by spaces; a password or a server host with one is refused (ValueError), since altering it
would give a wrong credential silently.

Pure: this module knows no HTTP, sockets or storage. Who may fetch which file (device credentials) and
the check-sync NOTIFY after a change belong to the shell; it imports only `provisioning.model`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

from provisioning.model import DEVICE_MODELS, TRANSPORTS, Device, Directory, Group, User

__all__ = [
    "COMMON_FILES",
    "DIRECT_PICKUP_CODE",
    "FILE_VERSION_LINE",
    "KEY_COUNT",
    "TRANSPORT_TYPES",
    "CommonFile",
    "DeviceFile",
    "ProvisioningServer",
    "device_file_name",
    "file_for_request",
    "render_common",
    "render_device",
]

FILE_VERSION_LINE: Final = "#!version:1.0.0.1"

# Common file name per model (Yealink's fixed names; the phone asks for its own model's file).
COMMON_FILES: Final[Mapping[str, str]] = {
    "T42G": "y000000000029.cfg",
    "T42S": "y000000000067.cfg",
    "T42U": "y000000000116.cfg",
    "T48G": "y000000000035.cfg",
    "T48S": "y000000000065.cfg",
    "T48U": "y000000000109.cfg",
}
_MODEL_BY_COMMON_FILE: Final[Mapping[str, str]] = {name: model for model, name in COMMON_FILES.items()}

# Programmable line keys per model: T42x 1-15 (6 physical keys, paged), T48x 1-29 (touch screen).
KEY_COUNT: Final[Mapping[str, int]] = {
    "T42G": 15, "T42S": 15, "T42U": 15,
    "T48G": 29, "T48S": 29, "T48U": 29,
}

# `account.1.sip_server.1.transport_type`: 0 UDP, 1 TCP, 2 TLS (3 NAPTR is never ours).
TRANSPORT_TYPES: Final[Mapping[str, int]] = {"udp": 0, "tcp": 1, "tls": 2}

# Directed pickup by code: `*97<extension>` (the code `features.codes` leaves to the pickup service).
DIRECT_PICKUP_CODE: Final = "*97"

_KEY_TYPE_UNUSED: Final = 0
_KEY_TYPE_BLF: Final = 16

_KEY_NAME: Final = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)+")
_HOST_NAME: Final = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*")
_MAC_FILE: Final = re.compile(r"([0-9A-Fa-f]{12})\.cfg")
# Control characters (C0, DEL, C1 with NEL) and the Unicode line/paragraph separators: any of them could end
# a line for some parser.
_LINE_BREAKERS: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

Lines = dict[str, str]


# -- the server the phones register to ----------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, slots=True)
class ProvisioningServer:
    """Where the phones register and subscribe: `host` (name or IP address), `port`, `transport`.

    `registration_expires` (`account.1.sip_server.1.expires`) and `blf_subscribe_period`
    (`account.1.blf.subscribe_period`) are the lifetimes the phones ask for, in seconds; keep them within
    what the registrar and the subscription server grant. Raises ValueError for a bad field.
    """

    host: str
    port: int = 5060
    transport: Literal["udp", "tcp", "tls"] = "udp"
    registration_expires: int = 3600
    blf_subscribe_period: int = 1800

    def __post_init__(self) -> None:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            if _HOST_NAME.fullmatch(self.host) is None or len(self.host) > 253:
                raise ValueError(f"host must be a host name or an IP address, got {self.host!r}") from None
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port must be 1..65535, got {self.port}")
        if self.transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}, got {self.transport!r}")
        for name in ("registration_expires", "blf_subscribe_period"):
            value: int = getattr(self, name)
            if not 30 <= value <= 86400:
                raise ValueError(f"{name} must be 30..86400 seconds, got {value}")


# -- which file a request names ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CommonFile:
    """A request for the common file of `model`."""

    model: str


@dataclass(frozen=True, slots=True)
class DeviceFile:
    """A request for the per-phone file of a provisioned `device`."""

    device: Device


def device_file_name(device: Device) -> str:
    """`001565aabbcc.cfg`: the per-phone file name (the MAC is already lower-case without separators)."""
    return f"{device.mac}.cfg"


def file_for_request(path: str, directory: Directory) -> CommonFile | DeviceFile | None:
    """What an HTTP request path asks for: `/y000000000035.cfg` -> `CommonFile("T48G")`,
    `/001565aabbcc.cfg` (the MAC in either case) -> `DeviceFile(device)` when that phone is provisioned.
    None for anything else: an unknown MAC, another file (`y000000000000.boot`...), a sub-directory, a
    query string or %-escapes (pass the decoded path without its query). Only one leading `/` is allowed."""
    name = path[1:] if path.startswith("/") else path
    model = _MODEL_BY_COMMON_FILE.get(name)
    if model is not None:
        return CommonFile(model)
    match = _MAC_FILE.fullmatch(name)
    if match is None:
        return None
    device = directory.device_by_mac(match.group(1).lower())
    return None if device is None else DeviceFile(device)


# -- rendering -----------------------------------------------------------------------------------------------
def render_common(model: str, server: ProvisioningServer) -> bytes:
    """The common file of `model` (`COMMON_FILES[model]`): what every phone of that model gets, whoever
    owns it. Raises ValueError for a model we do not provision."""
    _check_model(model)
    lines: Lines = {
        # check-sync NOTIFYs re-provision without a reboot; only `reboot=true` reboots (the factory default
        # reboots on any check-sync).
        "sip.notify_reboot_enable": "0",
        # Accept NOTIFYs (check-sync, BLF, MWI) only from the registrar/outbound proxy: nobody else on the
        # network can reboot or re-provision the phone, or light its keys.
        "sip.trust_ctrl": "1",
        # Directed pickup from a ringing BLF key dials *97<extension> (the code our pickup service serves).
        "features.pickup.direct_pickup_code": DIRECT_PICKUP_CODE,
        "features.pickup.direct_pickup_enable": "1",
        # DND and forwarding set on the phone and in the portal stay the same (Event: as-feature-event).
        "features.feature_key_sync.enable": "1",
        # Message waiting: subscribe to message-summary (unsolicited NOTIFYs are accepted too).
        "account.1.subscribe_mwi": "1",
        # A ringing BLF key can also pick up with INVITE/Replaces built from the early dialog's identifiers.
        "account.1.dialoginfo_callpickup": "1",
        # BLF and list subscriptions live as long as the subscription server grants (factory default 1800).
        "account.1.blf.subscribe_period": str(server.blf_subscribe_period),
        # BLF NOTIFYs only inside the subscription dialog (the factory default, written so that it stays so).
        "account.1.out_dialog_blf_enable": "0",
    }
    return _file(f"## callconnect: common settings for every Yealink SIP-{model} (rendered; do not edit)", lines)


def render_device(device: Device, user: User, group: Group, directory: Directory, server: ProvisioningServer,
                  *, sip_password: str | None) -> bytes:
    """The per-phone file `<mac>.cfg` of `device`, owned by `user` of `group`.

    Account 1 is `user`'s SIP account on `server` (label: the device label, else the user's name). We store
    only HA1, never a SIP password: the caller passes the clear `sip_password` it has (typically just set),
    or None to leave `account.1.password` out (the phone keeps the password it was given by hand or by an
    earlier file). A password containing a control character is refused (ValueError).

    BLF keys: one `linekey.N` of type 16 (BLF) per monitored user, in the user's order from key 1: the value
    is the monitored user's extension (else their SIP username), the label their name, the pickup value
    `*97<value>`. A monitored user missing from `directory` or in another group is skipped (the next one
    takes its key). When there are more monitored users than the model has keys (`KEY_COUNT`), the extras
    get no key: they are still in the BLF list when the user has one. Every other key up to `KEY_COUNT` is
    written as unused (type 0, empty value and label) so that no factory "line" key or key of an earlier
    file survives.

    BLF list: with `services.blf.list_uri`, `account.1.blf.blf_list_uri = sip:<list_uri>@<group domain>`.
    The per-key BLF keys are still written (our choice): their order, labels and pickup codes are exactly
    the portal's selection on every phone, whatever the firmware's automatic list-key layout does; a key
    keeps working if the list subscription fails (an old firmware, a large NOTIFY over UDP); the list covers
    the monitored users beyond the key count and membership changes between two provisionings. The cost is
    a second subscription per monitored user, which the subscription server accepts.

    Raises ValueError when the device is not `user`'s, or `user` or the device is not in `group`.
    """
    _check_model(device.model)
    if device.owner != user.user_id:
        raise ValueError(f"device {device.mac} belongs to {device.owner!r}, not {user.user_id!r}")
    if user.group_id != group.id or device.group_id != group.id:
        raise ValueError(f"device {device.mac} and user {user.user_id!r} must be in group {group.id!r}")
    lines: Lines = {
        "account.1.enable": "1",
        "account.1.label": _text(device.label or user.display_name),
        "account.1.display_name": _text(user.display_name),
        "account.1.auth_name": user.sip_username,
        "account.1.user_name": user.sip_username,
        "account.1.sip_server.1.address": server.host,
        "account.1.sip_server.1.port": str(server.port),
        "account.1.sip_server.1.transport_type": str(TRANSPORT_TYPES[server.transport]),
        "account.1.sip_server.1.expires": str(server.registration_expires),
    }
    if sip_password is not None:
        if _LINE_BREAKERS.search(sip_password) is not None:
            raise ValueError("the SIP password must not contain control characters")
        lines["account.1.password"] = sip_password
    list_uri = user.services.blf.list_uri
    if list_uri is not None:
        lines["account.1.blf.blf_list_uri"] = f"sip:{list_uri}@{group.domain}"
    monitored = _monitored(user.services.blf.monitored_users, group, directory)
    for n in range(1, KEY_COUNT[device.model] + 1):
        key = f"linekey.{n}"
        target = monitored[n - 1] if n <= len(monitored) else None
        if target is None:
            lines.update({f"{key}.type": str(_KEY_TYPE_UNUSED), f"{key}.line": "1", f"{key}.value": "",
                          f"{key}.label": "", f"{key}.pickup_value": ""})
        else:
            value = target.extension or target.sip_username
            lines.update({f"{key}.type": str(_KEY_TYPE_BLF), f"{key}.line": "1", f"{key}.value": value,
                          f"{key}.label": _text(target.display_name),
                          f"{key}.pickup_value": f"{DIRECT_PICKUP_CODE}{value}"})
    return _file(f"## callconnect: Yealink SIP-{device.model} {device.mac} of {user.sip_username}@{group.domain} "
                 "(rendered; do not edit)", lines)


def _monitored(user_ids: Iterable[str], group: Group, directory: Directory) -> list[User]:
    found = (directory.user_by_id(user_id) for user_id in user_ids)
    return [u for u in found if u is not None and u.group_id == group.id]


def _check_model(model: str) -> None:
    if model not in COMMON_FILES:
        raise ValueError(f"model must be one of {', '.join(DEVICE_MODELS)}, got {model!r}")


def _text(value: str) -> str:
    """A free text (a name) made safe for one `key = value` line: line breakers become spaces, runs of
    spaces one space, no leading or trailing space (the phone would trim it anyway)."""
    return " ".join(_LINE_BREAKERS.sub(" ", value).split())


def _natural(key: str) -> tuple[tuple[int, str], ...]:
    """Sort key: dotted parts, numbers by value (`linekey.2` < `linekey.10`), names before numbers."""
    return tuple((int(part), "") if part.isdigit() else (-1, part) for part in key.split("."))


def _file(comment: str, lines: Lines) -> bytes:
    out = [FILE_VERSION_LINE, _text(comment)]
    for key in sorted(lines, key=_natural):
        value = lines[key]
        if _KEY_NAME.fullmatch(key) is None or _LINE_BREAKERS.search(value) is not None:
            raise AssertionError(f"unsafe line {key!r} = {value!r}")  # our bug: every value is checked above
        out.append(f"{key} = {value}")
    return ("\n".join(out) + "\n").encode("utf-8")
