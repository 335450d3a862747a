"""Every case of tests/bad_input_cases.py, run for real: exit code, message, and nothing in the folder changed.

Command-line cases run ``python -m slmselect.cli`` as a subprocess in a fresh folder that holds the inputs, the
results store location; Python cases call the API there. Each asserts the exit code (for
Python: the code the error class maps to), the message, that no traceback leaked, and that every file in
the folder (inputs, store) is byte-for-byte what it was.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from bad_input_cases import CASES, REPO, Case

from slmselect.errors import DatabaseError, MissingDependencyError, NoCandidatesError, SlmselectError


def exit_code_for(err: BaseException | None) -> int:
    """The exit code the command line gives an error of this class."""
    if err is None:
        return 0
    if isinstance(err, NoCandidatesError):
        return 3
    if isinstance(err, DatabaseError):
        return 4
    if isinstance(err, MissingDependencyError):
        return 5
    if isinstance(err, SlmselectError):
        return 2
    raise AssertionError(f"not one of slmselect's own errors: {type(err).__name__}: {err}")


def snapshot(folder: Path) -> dict[str, str]:
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def run_case(case: Case, tmp: Path) -> tuple[int, str]:
    """Prepare ``tmp``, run the case there; return (exit code, output or message)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "SLMSELECT_RESULTS": str(tmp / "store" / "results.sqlite"),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "COLUMNS": "200",
        **{k: v.format(tmp=tmp) for k, v in case.env.items()},
    }
    if case.argv is not None:
        proc = subprocess.run(
            [sys.executable, "-m", "slmselect.cli", *case.argv], cwd=tmp, env=env, capture_output=True, text=True,
            timeout=600,
        )
        return proc.returncode, proc.stdout + proc.stderr
    assert case.call is not None
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result: Any = case.call(tmp)
            except Exception as err:  # noqa: BLE001 - the class is what is checked
                return exit_code_for(err), str(err)
        shown = result.to_json() if hasattr(result, "to_json") else str(result)
        return 0, shown + "\n" + "\n".join(str(w.message) for w in caught)
    finally:
        os.chdir(cwd)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=[pytest.mark.slow] if c.slow else []) for c in CASES])
def test_bad_input(case: Case, tmp_path: Path) -> None:
    if case.setup is not None:
        case.setup(tmp_path)
    before = snapshot(tmp_path)
    code, out = run_case(case, tmp_path)
    assert code == case.code, f"exit code {code}, expected {case.code}; output:\n{out[-3000:]}"
    assert "Traceback (most recent call last)" not in out, out[-3000:]
    if case.message:
        import re

        assert re.search(case.message, out, re.S), f"{case.message!r} not in:\n{out[-3000:]}"
    if case.check is not None:
        case.check(tmp_path, out)
    assert snapshot(tmp_path) == before, "the case changed, added or removed files in its folder"


def test_at_least_forty_cases_and_every_exit_code() -> None:
    assert len(CASES) >= 40 and len({c.id for c in CASES}) == len(CASES)
    assert {c.code for c in CASES} >= {0, 2, 3, 4, 5}
    assert sum(c.argv is not None for c in CASES) >= 30


def test_docs_list_every_case() -> None:
    doc = (REPO / "docs" / "bad-inputs.md").read_text(encoding="utf-8")
    missing = [c.id for c in CASES if f"`{c.id}`" not in doc]
    assert not missing, f"docs/bad-inputs.md lacks {missing}; run python scripts/bad_inputs_doc.py"
