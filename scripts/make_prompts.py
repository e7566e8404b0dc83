#!/usr/bin/env python3
"""Speak the voicemail prompts of `voicemail/prompts.py` into `voicemail/audio/`.

8 kHz mono G.711 µ-law WAV: half the size of 16-bit PCM, and pjmedia's WAV player plays both.

Needs Debian's `espeak-ng` and `sox` (only to make the files; the service and its tests use the committed
files). Run from the repository: `python3 scripts/make_prompts.py` (every prompt) or `... --missing` (only
new ones). Also writes `beep.wav` (0.4 s at 1 kHz).
"""

from __future__ import annotations

import math
import struct
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from voicemail.prompts import AUDIO_DIR, LANGUAGES, TEXTS

VOICES = {"fr": "fr-be", "nl": "nl", "en": "en-gb"}
RATE = 8000


def speak(text: str, language: str, out: Path) -> None:
    with tempfile.NamedTemporaryFile(suffix=".wav") as raw:
        subprocess.run(["espeak-ng", "-v", VOICES[language], "-s", "165", "-w", raw.name, text], check=True)
        # Telephone band, 8 kHz mono, a little headroom; trailing silence trimmed to 0.25 s.
        subprocess.run(["sox", raw.name, "-r", str(RATE), "-c", "1", "-e", "u-law", "-b", "8", str(out),
                        "highpass", "300", "lowpass", "3400", "gain", "-n", "-3", "reverse", "silence", "1",
                        "0.05", "0.5%", "reverse", "pad", "0", "0.25"], check=True)


def beep(out: Path, frequency: float = 1000.0, seconds: float = 0.4) -> None:
    count = int(RATE * seconds)
    frames = b"".join(struct.pack("<h", int(9000 * math.sin(2 * math.pi * frequency * i / RATE)))
                      for i in range(count))
    with wave.open(str(out), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(frames)


def main() -> None:
    """`--missing`: speak only the prompts that have no file yet (the others stay byte for byte)."""
    missing_only = "--missing" in sys.argv[1:]
    AUDIO_DIR.mkdir(exist_ok=True)
    if not (missing_only and (AUDIO_DIR / "beep.wav").exists()):
        beep(AUDIO_DIR / "beep.wav")
    written = 0
    for language in LANGUAGES:
        folder = AUDIO_DIR / language
        folder.mkdir(exist_ok=True)
        for name, texts in TEXTS.items():
            out = folder / f"{name}.wav"
            if missing_only and out.exists():
                continue
            speak(texts[language], language, out)
            written += 1
    print(f"{written} prompts written to {AUDIO_DIR}")


if __name__ == "__main__":
    main()
