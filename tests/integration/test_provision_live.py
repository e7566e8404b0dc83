"""`callconnect provision apply` on the data directory of a RUNNING server: the next REGISTER sees it (the server
looks for another process's writes every `RECHECK_INTERVAL`, 10 ms).

The current group is exported with `provision export` (so the test does not depend on the demo file's exact
content), changed (user 202 gets a new SIP password; user 205 is added), and applied with `provision apply`.
"""

from __future__ import annotations

import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from storage.subscribers import RECHECK_INTERVAL
from tests.helpers.server import DEMO_USERS, REPO_ROOT, ServerProcess, read_bindings
from tests.integration.sip_client import register

pytestmark = pytest.mark.integration


def cli(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sipserver", *args], cwd=str(REPO_ROOT), capture_output=True, text=True,
        timeout=timeout, stdin=subprocess.DEVNULL, check=False,
    )


def export_group(data_dir: Path) -> dict[str, Any]:
    done = cli("provision", "export", "--data-dir", str(data_dir))
    assert done.returncode == 0, f"provision export failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return tomllib.loads(done.stdout)


def apply_group(data_dir: Path, doc: dict[str, Any], path: Path) -> None:
    path.write_text(tomli_w.dumps(doc))
    done = cli("provision", "apply", str(path), "--data-dir", str(data_dir))
    assert done.returncode == 0, f"provision apply failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    time.sleep(2 * RECHECK_INTERVAL)  # the contract: another process's write is seen within RECHECK_INTERVAL


def find_user(doc: dict[str, Any], sip_name: str) -> dict[str, Any]:
    for user in doc.get("users", []):
        if sip_name in (user.get("sip_username"), user.get("user_id"), user.get("extension")):
            assert isinstance(user, dict)
            return user
    raise AssertionError(f"no user {sip_name} in the exported group: {doc.get('users')}")


def set_password(user: dict[str, Any], password: str) -> None:
    user.pop("sip_ha1_md5", None)
    user.pop("sip_ha1_sha256", None)
    user["sip_password"] = password


def test_new_password_is_used_by_the_next_register(server: ServerProcess, tmp_path: Path) -> None:
    old = DEMO_USERS["202"]
    assert register(server.host, server.port, "202", old, contact="sip:202@127.0.0.1:21001").status == 200

    doc = export_group(server.data_dir)
    set_password(find_user(doc, "202"), "fresh-202-secret")
    apply_group(server.data_dir, doc, tmp_path / "group.toml")

    new = register(server.host, server.port, "202", "fresh-202-secret", contact="sip:202@127.0.0.1:21002")
    assert new.status == 200, f"the new password must work at once: {new.response!r}\n{server.describe()}"
    stale = register(server.host, server.port, "202", old, contact="sip:202@127.0.0.1:21003")
    assert stale.status in (401, 403), f"the old password must fail: {stale.response!r}"
    contacts = {b.contact for b in read_bindings(server.data_dir, "202")}
    assert not any("21003" in c for c in contacts), contacts


def test_added_user_can_register_at_once(server: ServerProcess, tmp_path: Path) -> None:
    before = register(server.host, server.port, "205", "demo205", contact="sip:205@127.0.0.1:21005")
    assert before.status in (401, 403), before.response

    doc = export_group(server.data_dir)
    template = find_user(doc, "204")
    new_user = {key: value for key, value in template.items()
                if key in ("first_name", "last_name", "language", "department_id")}
    new_user.update(user_id="205", extension="205", first_name="Nouveau", last_name="Venu")
    set_password(new_user, "demo205")
    doc["users"].append(new_user)
    apply_group(server.data_dir, doc, tmp_path / "group.toml")

    after = register(server.host, server.port, "205", "demo205", contact="sip:205@127.0.0.1:21005")
    assert after.status == 200, f"{after.response!r}\n{server.describe()}"
    assert any("21005" in b.contact for b in read_bindings(server.data_dir, "205"))


def test_invalid_file_changes_nothing(server: ServerProcess, tmp_path: Path) -> None:
    """A file with an error is refused (exit 1, the problem named) and the running server is unaffected."""
    doc = export_group(server.data_dir)
    set_password(find_user(doc, "201"), "")  # an empty password is an error
    path = tmp_path / "bad.toml"
    path.write_text(tomli_w.dumps(doc))
    done = cli("provision", "apply", str(path), "--data-dir", str(server.data_dir))
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert "sip_password" in done.stdout + done.stderr
    ok = register(server.host, server.port, "201", DEMO_USERS["201"], contact="sip:201@127.0.0.1:21011")
    assert ok.status == 200, ok.response
