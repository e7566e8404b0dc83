"""Which phones to re-provision after a directory change: the change detection behind check-sync.

After each directory reload the shell sends `NOTIFY Event: check-sync;reboot=false` to the registered phones
whose provisioning files changed (`reference/yealink.md`, "Provisioning files"); the phone then fetches its
files again and applies them without a reboot. `devices_to_resync(old, new, server)` says which phones those
are, by comparing the bytes the HTTP side would serve for each phone under both snapshots: its `<mac>.cfg`
(`render_device`) and its model's common file (`render_common`). A phone is listed when either changed
(a new BLF selection, a renamed colleague, a new label, model or owner) and when it is new; a phone no
longer provisioned is not (there is nothing left for it to fetch). A change that does not alter the files
(a credential, a portal password, a call-forwarding setting) lists nobody, so phones are not disturbed for
nothing. `file_digests()` gives the same comparison for a caller that keeps the digests of the snapshot it
last notified for instead of the snapshot itself.

The files are rendered with `sip_password=None`, exactly as the HTTP side serves them (only HA1 is stored).
A phone whose file cannot be rendered (its owner or group missing from the snapshot) counts as having no
file: it is listed once it gets one.

Pure: this module knows no SIP, HTTP, sockets or storage; it imports only `provisioning.model` and
`provisioning.yealink`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping

from provisioning.model import Device, Directory
from provisioning.yealink import ProvisioningServer, render_common, render_device

__all__ = ["devices_to_resync", "file_digests", "rendered_files"]


def _devices(directory: Directory) -> Iterator[Device]:
    for group in directory.groups:
        description = directory.description(group.id)
        if description is not None:
            yield from description.devices


def rendered_files(device: Device, directory: Directory, server: ProvisioningServer) -> bytes | None:
    """The common file then the `<mac>.cfg` of `device` as served from `directory` (concatenated), or None
    when the device cannot be served (owner or group not in `directory`, a model we do not provision)."""
    user = directory.user_by_id(device.owner)
    group = directory.group_by_id(device.group_id)
    if user is None or group is None:
        return None
    try:
        return (render_common(device.model, server)
                + render_device(device, user, group, directory, server, sip_password=None))
    except ValueError:
        return None


def file_digests(directory: Directory, server: ProvisioningServer) -> dict[str, str]:
    """MAC -> SHA-256 hex of what that phone fetches (`rendered_files`), for every servable device."""
    out: dict[str, str] = {}
    for device in _devices(directory):
        files = rendered_files(device, directory, server)
        if files is not None:
            out[device.mac] = hashlib.sha256(files).hexdigest()
    return out


def devices_to_resync(old: Directory | Mapping[str, str], new: Directory,
                      server: ProvisioningServer) -> list[Device]:
    """The devices of `new` whose provisioning files differ from those of `old` (a snapshot, or the
    `file_digests()` of one), new devices included, removed ones not; in the order of `new` (group id,
    then MAC). Every device of `new` is rendered once, and every device of `old` when it is a snapshot."""
    before = file_digests(old, server) if isinstance(old, Directory) else old
    changed: list[Device] = []
    for device in _devices(new):
        files = rendered_files(device, new, server)
        if files is not None and before.get(device.mac) != hashlib.sha256(files).hexdigest():
            changed.append(device)
    return changed
