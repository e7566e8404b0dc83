"""`callconnect provision apply|export|device-password`: the declarative group file against the data
directory's database, and phone credentials for it.

`apply` validates the whole file before writing anything and prints every problem as `file:field: message`
(exit 1, nothing changed); otherwise it makes the group match the file in one transaction and prints what
changed. A server running on the same data directory sees the change on its next request. `export` writes a
file that `apply` accepts and that, applied again, changes nothing. `device-password MAC` generates a phone's
auto-provisioning password, prints it once with the two HA1 lines for the phone's `[[devices]]` entry, and
stores nothing (the file stays the one description of the group).
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

from provisioning.apply import dump_group, load_group_file
from provisioning.model import ProvisioningError, normalize_mac, provisioning_ha1
from storage.subscribers import SqliteSubscriberStore

PASSWORD_BYTES = 15  # 120 random bits, 20 URL-safe characters (fits a Yealink field and a URL's user info)


def generate_provisioning_password() -> str:
    """A fresh random auto-provisioning password: letters, digits, `-` and `_` (safe in a URL)."""
    return secrets.token_urlsafe(PASSWORD_BYTES)


def device_password(mac_text: str) -> int:
    """Print a new credential for the phone `mac_text` and the `[[devices]]` lines that store its HA1."""
    try:
        mac = normalize_mac(mac_text)
    except ValueError as exc:
        print(f"error: {mac_text!r}: {exc}", file=sys.stderr)
        return 2
    password = generate_provisioning_password()
    ha1 = provisioning_ha1(mac, password)
    print(f"# Auto-provisioning credential of the phone {mac}, shown once (only its hashes are kept):\n"
          f"#   user name: {mac}\n"
          f"#   password:  {password}\n"
          f"# Add these two lines to its [[devices]] entry, then run `callconnect provision apply FILE`:\n"
          f'provisioning_ha1_md5 = "{ha1["MD5"]}"\n'
          f'provisioning_ha1_sha256 = "{ha1["SHA-256"]}"')
    return 0


async def apply_file(path: Path, data_dir: Path, *, dry_run: bool = False) -> int:
    try:
        description = load_group_file(path)
    except ProvisioningError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{path}: nothing applied ({len(exc.problems)} problem(s))", file=sys.stderr)
        return 1
    store = await SqliteSubscriberStore.open(data_dir)
    try:
        report = await store.apply_group(description, dry_run=dry_run)
    except ProvisioningError as exc:
        for problem in exc.problems:
            print(f"{path}: {problem}", file=sys.stderr)
        print(f"{path}: nothing applied", file=sys.stderr)
        return 1
    finally:
        await store.close()
    prefix = "would apply" if dry_run else "applied"
    print(f"{path}: {prefix}: {report}")
    return 0


async def export_group(data_dir: Path, group_id: str | None, output: Path | None) -> int:
    store = await SqliteSubscriberStore.open(data_dir)
    try:
        groups = await store.list_groups()
        if group_id is None:
            if len(groups) != 1:
                names = ", ".join(g.id for g in groups) or "none"
                print(f"choose a group with --group (groups: {names})", file=sys.stderr)
                return 1
            group_id = groups[0].id
        elif all(g.id != group_id for g in groups):
            print(f"no group {group_id!r}", file=sys.stderr)
            return 1
        text = dump_group(await store.export_group(group_id))
    finally:
        await store.close()
    if output is None:
        sys.stdout.write(text)
    else:
        tmp = output.with_name(output.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(output)
    return 0
