"""The server process as an operator sees it: it starts, stops on SIGTERM with status 0, and refuses to start
(exiting, not hanging) when its SIP address is taken."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.server import REPO_ROOT, ServerProcess, free_port, options_ok

pytestmark = pytest.mark.integration


def test_sigterm_stops_cleanly(server: ServerProcess) -> None:
    assert options_ok(server.host, server.port, transport="tcp")
    assert server.stop() == 0, server.describe()
    assert "server_stopped" in server.stderr_text(), server.describe()
    assert "Traceback" not in server.stderr_text(), server.describe()


def test_busy_port_makes_the_server_exit(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", port))
        proc = subprocess.Popen(
            [sys.executable, "-m", "sipserver", "serve", "--sip-listen", f"127.0.0.1:{port}", "--no-http",
             "--data-dir", str(tmp_path / "data"), "--demo"],
            cwd=str(REPO_ROOT), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            _, err = proc.communicate(timeout=8)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate(timeout=10)
            pytest.fail(f"the server neither served nor exited within 8 s:\n{err.decode()[-2000:]}")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    assert proc.returncode not in (0, None), err.decode()[-2000:]
    assert b"cannot_start" in err, err.decode()[-2000:]
