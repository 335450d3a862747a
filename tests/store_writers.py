"""Several real processes appending to one results store through confirm's writer (open_store + ResultWriter)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

WRITER = textwrap.dedent(
    """
    import sys
    from slmselect.evidence.store import ResultWriter, open_store
    location, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    writer = ResultWriter(open_store(location))  # what confirm() does: check first, then append as results come
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    sys.stdin.readline()  # start together
    for i in range(n):
        writer.add({"run_id": f"{tag}-{i}", "model_id": tag, "status": "ok", "metric": "accuracy",
                    "base_score": 0.0, "finetuned_score": i / n, "config": {"i": i},
                    "created_at": "2026-01-01T00:00:00"})
    writer.finish()  # raises if any row had to go to a recovery file
    """
)


def run_writers(location: str, tags: list[str], n: int, cwd: Path) -> None:
    """Start one process per tag, let them all append ``n`` rows at once, and wait for them."""
    repo = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": repo + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, location, tag, str(n)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)
        for tag in tags
    ]
    try:
        for p in procs:
            line = p.stdout.readline().strip()
            assert line == "ready", p.stderr.read()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        for p in procs:
            _, err = p.communicate(timeout=300)
            assert p.returncode == 0, err
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert not list(cwd.glob("slmselect-recovery-*")), "a writer had to save rows to a recovery file"
