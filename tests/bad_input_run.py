"""How one case of ``bad_input_cases.py`` is run: in a prepared folder, as a real ``python -m slmselect.cli``
subprocess or as a Python call there. Shared by ``tests/test_bad_input_cli.py`` and ``scripts/bad_inputs_doc.py``."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

from bad_input_cases import REPO, Case

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
