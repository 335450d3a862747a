"""How long does the main job go without saying anything when its output goes to a file?

    python benchmarks/silence_bench.py [--keep-cache] [--show 5] [--save LOG] [-- COMMAND ...]

Runs COMMAND (default: the README's main job, ``examples/demo.py`` with this Python, as ``scripts/demo.sh``
runs it once its set-up is done) with stdout and stderr on one pipe, as ``bash scripts/demo.sh > log`` would
be, stamps every line with the seconds since the start, and prints the longest silences: the gap, the line
before it and the line that ended it. The target: no gap over 10 seconds.

By default the slmselect cache (``SLMSELECT_CACHE_DIR``) is a new empty folder, so the run pays what a fresh
clone pays: converting both offline models from GGUF and embedding the database's task texts; ``--keep-cache``
uses the cache as it is. ``bash scripts/demo.sh`` itself can be given as the command (it also creates ``.venv``).
Prints; asserts nothing; the exit status is the command's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET_S = 10.0


def stamped_run(command: list[str], env: dict[str, str], save: str | None) -> tuple[int, list[tuple[float, str]]]:
    """Run ``command`` with its output piped; every line with the seconds since the start (and echoed)."""
    start = time.monotonic()
    lines: list[tuple[float, str]] = [(0.0, "(start)")]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    out = open(save, "w", encoding="utf-8") if save else None
    for raw in iter(proc.stdout.readline, b""):
        t = time.monotonic() - start
        text = raw.decode(errors="replace").rstrip("\n")
        lines.append((t, text))
        print(f"{t:7.1f}  {text}", flush=True)
        if out is not None:
            out.write(f"{t:7.1f}  {text}\n")
    code = proc.wait()
    lines.append((time.monotonic() - start, "(end)"))
    if out is not None:
        out.close()
    return code, lines


def gaps(lines: list[tuple[float, str]]) -> list[tuple[float, str, str]]:
    """(gap, line before, line after), longest first."""
    out = [(b[0] - a[0], f"{a[0]:.1f}s {a[1]}", f"{b[0]:.1f}s {b[1]}") for a, b in zip(lines, lines[1:])]
    return sorted(out, key=lambda g: -g[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep-cache", action="store_true", help="use the slmselect cache as it is (default: an empty one)")
    parser.add_argument("--show", type=int, default=5, help="how many of the longest silences to print (default: 5)")
    parser.add_argument("--save", help="also write the stamped lines to this file")
    parser.add_argument("command", nargs="*", help="the command to run (default: python examples/demo.py)")
    args = parser.parse_args()
    command = args.command or [sys.executable, os.path.join("examples", "demo.py")]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("FORCE_COLOR", None)
    cache = None
    if not args.keep_cache:
        cache = tempfile.mkdtemp(prefix="slmselect-fresh-cache-")
        env["SLMSELECT_CACHE_DIR"] = cache
    try:
        code, lines = stamped_run(command, env, args.save)
    finally:
        if cache is not None:
            shutil.rmtree(cache, ignore_errors=True)
    ranked = gaps(lines)
    print(f"\n{' '.join(command)}: exit {code}, {lines[-1][0]:.1f} s, {len(lines) - 2} lines"
          + ("" if args.keep_cache else " (fresh slmselect cache)"))
    print(f"longest silences (target: none over {TARGET_S:.0f} s):")
    for gap, before, after in ranked[: args.show]:
        print(f"  {gap:5.1f} s  after  {before[:110]}\n           until  {after[:110]}")
    longest = ranked[0][0] if ranked else 0.0
    print(f"longest silence: {longest:.1f} s ({'within' if longest <= TARGET_S else 'over'} the {TARGET_S:.0f} s target)")
    return code


if __name__ == "__main__":
    sys.exit(main())
