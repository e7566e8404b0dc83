"""Instructions per call through the server core, counted by valgrind (callgrind): a figure that does not move.

This machine's timings move by 10-50 % from one minute to the next (a shared host), which hides changes of a
few per cent. Callgrind counts the instructions the CPU executes instead: the same code gives the same count.
It runs `benchmarks/b2bua_inprocess.py` twice (FEW and MANY calls, PYTHONHASHSEED=0) and prints
(instructions(MANY) - instructions(FEW)) / (MANY - FEW), so start-up, imports and password hashing cancel out.
About 50x slower than a plain run: ~3 minutes with the defaults. Needs valgrind (Debian package `valgrind`).

    python benchmarks/call_instructions.py [--few 1000] [--many 3000]
    python benchmarks/call_instructions.py --keep /tmp/cg   # keep callgrind.out files for callgrind_annotate
    python benchmarks/call_instructions.py --features       # the callee with forwarding, criteria, sim ring
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def instructions(calls: int, out_dir: Path, extra: tuple[str, ...] = ()) -> int:
    """Instructions executed by one in-process run of `calls` calls (callgrind's total Ir)."""
    out = out_dir / f"callgrind.out.{calls}"
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
         str(REPO_ROOT / "benchmarks" / "b2bua_inprocess.py"), "--calls", str(calls), *extra],
        cwd=str(REPO_ROOT), env={**os.environ, "PYTHONHASHSEED": "0"}, capture_output=True, text=True,
        timeout=3600, check=False,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"callgrind run of {calls} calls failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--few", type=int, default=1000)
    parser.add_argument("--many", type=int, default=3000)
    parser.add_argument("--keep", type=Path, help="directory for the callgrind.out files")
    parser.add_argument("--features", action="store_true", help="the callee has the call-load --features settings")
    args = parser.parse_args()
    if args.many <= args.few:
        parser.error("--many must be larger than --few")
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    out_dir = args.keep or Path(tempfile.mkdtemp(prefix="call-instructions-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    extra = ("--features",) if args.features else ()
    few, many = instructions(args.few, out_dir, extra), instructions(args.many, out_dir, extra)
    per_call = (many - few) / (args.many - args.few)
    print(f"{per_call:,.0f} instructions per call ({args.few} and {args.many} calls: {few:,} and {many:,})")
    if args.keep is None:
        shutil.rmtree(out_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
