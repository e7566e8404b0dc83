"""Tone WAV files for the pjsua media checks, and measurements of what a recorder wrote (stdlib only).

`write_tone()` writes a 16-bit mono sine; `read_samples()` reads a 16-bit mono WAV back, tolerating a header
whose sizes were never finalised (pjmedia's WAV writer fixes them up only when the recorder is destroyed, and a
killed agent leaves them as written at creation); `rms()` and `tone_ratio()` say whether a recording holds the
expected tone rather than silence or noise.
"""

from __future__ import annotations

import array
import math
import struct
import sys
import wave
from pathlib import Path

SAMPLE_RATE = 16000  # the pjsua conference bridge's default clock rate


def write_tone(path: Path, frequency: float, *, seconds: float = 2.0, amplitude: int = 8000,
               sample_rate: int = SAMPLE_RATE) -> Path:
    """A 16-bit mono sine of `frequency` Hz (whole periods, so that a looping player stays continuous)."""
    count = int(seconds * sample_rate)
    period = sample_rate / frequency
    if period == int(period):
        count -= count % int(period)
    samples = array.array("h", (int(amplitude * math.sin(2 * math.pi * frequency * i / sample_rate))
                                for i in range(count)))
    if sys.byteorder == "big":
        samples.byteswap()
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(samples.tobytes())
    return path


def _data_chunk(raw: bytes) -> tuple[int, bytes]:
    """(sample rate, PCM bytes) of a RIFF/WAVE file, reading to the end of the file whatever the sizes say."""
    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    rate = SAMPLE_RATE
    pos = 12
    while pos + 8 <= len(raw):
        chunk_id, size = raw[pos:pos + 4], struct.unpack_from("<I", raw, pos + 4)[0]
        body = pos + 8
        if chunk_id == b"fmt ":
            fmt, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", raw, body)
            if fmt != 1 or channels != 1 or bits != 16:
                raise ValueError(f"expected 16-bit mono PCM, got format={fmt} channels={channels} bits={bits}")
        elif chunk_id == b"data":
            return rate, raw[body:]  # to the end of the file: the size may not be final yet
        pos = body + size + (size & 1)
    raise ValueError("no data chunk")


def read_samples(path: Path) -> tuple[int, array.array[int]]:
    """(sample rate, samples) of a 16-bit mono PCM WAV."""
    rate, data = _data_chunk(path.read_bytes())
    samples = array.array("h")
    samples.frombytes(data[: len(data) - len(data) % 2])
    if sys.byteorder == "big":
        samples.byteswap()
    return rate, samples


def rms(samples: array.array[int]) -> float:
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples))


def goertzel_power(samples: array.array[int], frequency: float, sample_rate: int) -> float:
    """Mean power of `samples` at `frequency` (Goertzel), on the same scale as rms()**2 for a pure sine."""
    n = len(samples)
    if n == 0:
        return 0.0
    coeff = 2 * math.cos(2 * math.pi * frequency / sample_rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return 2 * power / (n * n)


def tone_ratio(samples: array.array[int], frequency: float, sample_rate: int) -> float:
    """Share (0..1) of the signal's energy at `frequency`: about 1 for a clean sine of that frequency."""
    total = rms(samples) ** 2
    return 0.0 if total == 0 else min(1.0, goertzel_power(samples, frequency, sample_rate) / total)


def loudest_window(samples: array.array[int], sample_rate: int, seconds: float = 0.5) -> array.array[int]:
    """The `seconds`-long stretch with the highest RMS (a recording starts and ends with silence)."""
    size = max(1, int(sample_rate * seconds))
    if len(samples) <= size:
        return samples
    best_start, best = 0, -1.0
    for start in range(0, len(samples) - size + 1, size // 2):
        level = rms(samples[start:start + size])
        if level > best:
            best_start, best = start, level
    return samples[best_start:best_start + size]
