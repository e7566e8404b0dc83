"""`callconnect provision device-password MAC`: a fresh password printed once, with the HA1 lines to paste."""

from __future__ import annotations

import re
import tomllib

import pytest

from provisioning.apply import parse_group
from provisioning.model import provisioning_ha1
from sipserver.cli import main
from tests.unit.test_provisioning_apply import example


def test_device_password_prints_a_fresh_password_and_its_ha1_lines(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["provision", "device-password", "00:15:65:00:02:01"]) == 0
    first = capsys.readouterr().out
    password = re.search(r"password:\s+(\S+)", first)
    assert password is not None and re.fullmatch(r"[A-Za-z0-9_-]{20}", password.group(1))
    assert "user name: 001565000201" in first
    lines = tomllib.loads(first)  # the comments and both lines are valid TOML: paste them into [[devices]]
    expected = provisioning_ha1("001565000201", password.group(1))
    assert lines == {"provisioning_ha1_md5": expected["MD5"], "provisioning_ha1_sha256": expected["SHA-256"]}
    data = example()
    data["devices"][0].update(lines)
    assert parse_group(data).devices[0].provisioning_ha1 == expected
    assert main(["provision", "device-password", "001565000201"]) == 0
    assert password.group(1) not in capsys.readouterr().out  # a new one each time


def test_device_password_refuses_a_bad_mac(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["provision", "device-password", "00:15:65"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "MAC" in captured.err
