"""Every case of tests/bad_input_cases.py, run for real: exit code, message, and nothing in the folder changed.

Command-line cases run ``python -m slmselect.cli`` as a subprocess in a fresh folder that holds the inputs, the
results store location; Python cases call the API there. Each asserts the exit code (for
Python: the code the error class maps to), the message, that no traceback leaked, and that every file in
the folder (inputs, store) is byte-for-byte what it was.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bad_input_cases import CASES, REPO, Case
from bad_input_run import run_case, snapshot


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
