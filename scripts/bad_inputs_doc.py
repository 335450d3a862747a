"""Write docs/bad-inputs.md: every case of tests/bad_input_cases.py, run for real, with the message it printed.

    python scripts/bad_inputs_doc.py          # about three minutes on two CPU cores

The table is the same one tests/test_bad_input_cli.py asserts on, so the document shows what the tests check.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "examples")]

from bad_input_cases import CASES  # noqa: E402
from bad_input_run import run_case  # noqa: E402

HEADER = """# Bad inputs and what slmselect answers

Each row is a case of `tests/bad_input_cases.py`, run by `tests/test_bad_input_cli.py` (a real
`python -m slmselect.cli` subprocess, or a Python call) and written here by `python scripts/bad_inputs_doc.py`.
Every case asserts the exit code, the message, that no traceback is printed, and that no file in its folder
(the inputs, the results store) was changed, added or removed.

Exit codes: 0 success, 1 the run failed, 2 bad input, 3 nothing satisfies the constraints, 4 malformed
database, 5 an optional extra is not installed, 130 interrupted. For a Python call the code is the one the command line gives its error class
(`slmselect.errors.exit_code`); 0 means it returned (warnings are shown after the result).

| # | case | what goes in | how | exit | what comes out |
| --- | --- | --- | --- | --- | --- |
"""


def _candidates(out: str) -> str:
    """'candidates: a (0.6B), b (1B)' from the JSON a recommend printed or returned, else ''."""
    import json

    start = out.find("{")
    try:
        rec = json.JSONDecoder().raw_decode(out[start:])[0] if start >= 0 else {}
    except ValueError:
        return ""
    cands = rec.get("candidates") if isinstance(rec, dict) else None
    return "candidates: " + ", ".join(f"{c['model_id']} ({c['params_b']:g}B)" for c in cands) if cands else ""


def _message(case_code: int, out: str) -> str:
    lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
    keep = [ln for ln in lines if ln.startswith("slmselect:")]
    if any("problem(s)" in ln for ln in lines):  # db validate: the first problems it lists
        first = next(i for i, ln in enumerate(lines) if "problem(s)" in ln)
        keep = lines[first:first + 3]
    if case_code == 0:
        found = _candidates(out) or next((ln for ln in lines if re.search(r"task.type", ln)), "")
        keep = [found, *keep] if found else keep
    text = " ".join(keep or lines[:1])
    text = re.sub(r"/tmp/\S*?/(?=[^/\s]+)", "", text)  # the per-case folder
    text = text if len(text) <= 400 else text[:397] + "..."
    return text.replace("|", "\\|")


def main() -> None:
    rows = []
    for n, case in enumerate(CASES, start=1):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            if case.setup is not None:
                case.setup(folder)
            code, out = run_case(case, folder)
        status = "" if code == case.code else f" (expected {case.code})"
        how = f"`{case.shown}`".replace("|", "\\|")
        rows.append(f"| {n} | `{case.id}` | {case.what} | {how} | {code}{status} | {_message(code, out)} |")
        print(f"{n:2d} {case.id}: {code}", file=sys.stderr)
    (REPO / "docs" / "bad-inputs.md").write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
