"""voicemail.prompts: every prompt has its audio in every language, and the envelope says when a message came
in the owner's time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from voicemail.prompts import LANGUAGES, TEXTS, envelope, prompt_path
from voicemail.worker import wav_seconds

BRUSSELS = ZoneInfo("Europe/Brussels")


def at(text: str, zone: ZoneInfo = BRUSSELS) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


def test_every_prompt_has_its_audio_in_every_language() -> None:
    for language in LANGUAGES:
        for name in TEXTS:
            path = prompt_path(name, language)
            assert path.is_file(), f"{path}: run scripts/make_prompts.py --missing"
            assert 0.1 < wav_seconds(path) < 20, path


NOW = at("2026-12-10 16:00")  # a Thursday


@pytest.mark.parametrize(("received", "language", "said"), [
    ("2026-12-10 14:30", "fr", ("received", "today", "at", "n14", "hours", "n30")),
    ("2026-12-10 09:00", "nl", ("received", "today", "at", "n9", "hours")),
    ("2026-12-10 01:05", "fr", ("received", "today", "at", "n1", "hour", "n5")),
    ("2026-12-09 23:59", "nl", ("received", "yesterday", "at", "n23", "hours", "n59")),
    ("2026-12-07 08:15", "fr", ("received", "day0", "at", "n8", "hours", "n15")),  # Monday
    ("2026-12-07 08:15", "en", ("received", "on", "day0", "at", "n8", "n15")),
    ("2026-12-04 12:00", "en", ("received", "on", "day4", "at", "n12", "hours")),  # 6 days ago: Friday
    ("2026-12-03 12:00", "en", ("received", "on", "n3", "month12", "at", "n12", "hours")),  # a week: the date
    ("2026-08-03 07:04", "en", ("received", "on", "n3", "month8", "at", "n7", "oh", "n4")),
    ("2026-08-03 07:04", "nl", ("received", "on", "n3", "month8", "at", "n7", "hours", "n4")),
])
def test_the_envelope(received: str, language: str, said: tuple[str, ...]) -> None:
    assert envelope(at(received), NOW, BRUSSELS, language) == said  # type: ignore[arg-type]
    for name in said:
        assert name in TEXTS


def test_the_day_and_hour_are_the_owners() -> None:
    late = at("2026-12-09 23:30", UTC)  # 00:30 on the 10th in Brussels
    assert envelope(late, NOW, BRUSSELS, "fr") == ("received", "today", "at", "n0", "hour", "n30")
    assert envelope(late, NOW, UTC, "fr") == ("received", "yesterday", "at", "n23", "hours", "n30")
    summer = at("2026-07-01 10:00", UTC)  # CEST: 12:00 in Brussels
    assert envelope(summer, NOW, BRUSSELS, "nl")[-2:] == ("n12", "hours")
