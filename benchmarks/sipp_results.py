"""What the load benchmarks share: running one bounded SIPp process and reading its statistics files.

`run_bounded` starts SIPp in its own session and kills it past its deadline; `read_stats` reads the last line of
its `-trace_stat` CSV; `read_rtts` the response times of `-trace_rtt` by rtd name; `percentile` summarises them.
"""

from __future__ import annotations

import contextlib
import csv
import subprocess
from pathlib import Path


def run_bounded(args: list[str], workdir: Path, timeout: float) -> tuple[int, bytes]:
    """Run SIPp (`args`) in `workdir`, killed if still running `timeout` + 15 s later: (exit status, stderr)."""
    proc = subprocess.Popen(args, cwd=str(workdir), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        _, err = proc.communicate(timeout=timeout + 15)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    return proc.returncode, err


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def read_stats(workdir: Path) -> dict[str, str]:
    """The last row of SIPp's `-trace_stat` file (cumulative counters), by column name."""
    files = sorted(workdir.glob("*_.csv"))
    if not files:
        return {}
    with files[-1].open(newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    return dict(zip(rows[0], rows[-1], strict=False)) if len(rows) >= 2 else {}


def read_rtts(workdir: Path) -> dict[str, list[float]]:
    """SIPp's -trace_rtt file: a `Date_ms;response_time_ms;rtd_no` header, then one line per response time
    (whole milliseconds, as precise as SIPp's clock tick)."""
    out: dict[str, list[float]] = {}
    for path in workdir.glob("*_rtt.csv"):
        with path.open(newline="") as handle:
            for row in csv.reader(handle, delimiter=";"):
                if len(row) < 3 or not row[0][:1].isdigit():
                    continue
                with contextlib.suppress(ValueError):
                    out.setdefault(row[-1].strip(), []).append(float(row[-2]))
    return out
