"""Every command exits with the same code for the same kind of failure (the map in slmselect.errors).

Run in-process through ``main()`` (the same typer app the console script runs); the malformed-database
cases go through a real copy of the shipped database with one broken row.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from slmselect.cli import main
from slmselect.errors import (
    EXIT_BAD_INPUT, EXIT_DATABASE, EXIT_MISSING_DEPENDENCY, EXIT_NO_CANDIDATES, EXIT_OK, ConfirmError, DatabaseError,
    InputError, MissingDependencyError, NoCandidatesError, ParameterError, StoreError, exit_code,
)
from slmselect.evidence.db import default_db_path


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = [{"text": f"Is message {i} spam or not ?", "label": "spam" if i % 2 else "ham"} for i in range(12)]
    path = tmp_path_factory.mktemp("ex") / "spam.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def broken_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dst = tmp_path_factory.mktemp("db") / "db"
    shutil.copytree(default_db_path(), dst)
    results = dst / "results.csv"
    lines = results.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    row[header.index("model_id")] = "no-such/model-anywhere"
    results.write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
    return dst


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    cap = capsys.readouterr()
    return code, cap.err + cap.out


BAD_INPUT = [
    ("profile", "{missing}"),
    ("recommend", "{missing}"),
    ("recommend", "--description", "spam filter", "--objective", "fastest"),
    ("recommend", "--description", "spam filter", "--top-k", "0"),
    ("recommend", "--description", "spam filter", "--top-k", "three"),
    ("recommend", "--no-such-option"),
    ("compare", "--source", "lora_lnd_2024"),
    ("confirm", "{missing}", "--models", "HuggingFaceTB/SmolLM2-135M-Instruct"),
    ("confirm", "{examples}", "--models", "x", "--steps", "0"),
    ("evaluate", "--source", "lora_lnd"),
    ("db", "validate", "--no-such-option"),
    ("db", "build", "--raw", "{missing}", "--out", "{missing}"),
    ("store", "import", "{missing}"),
    ("cache", "clear", "no-such-cache-entry"),
    ("expand", "{missing}", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "-o", "{missing}.out"),
    ("nonsense-command",),
]


@pytest.mark.parametrize("args", BAD_INPUT, ids=[" ".join(a) for a in BAD_INPUT])
def test_bad_input_exits_2_with_a_message(capsys: pytest.CaptureFixture[str], tmp_path: Path, examples: Path,
                                          args: tuple[str, ...]) -> None:
    args = tuple(a.format(missing=tmp_path / "nope.jsonl", examples=examples) for a in args)
    code, out = _run(capsys, *args)
    assert code == EXIT_BAD_INPUT, out
    assert "Traceback" not in out
    assert out.strip(), "a bad input must say what is wrong"


def test_nothing_satisfies_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(capsys, "recommend", "--description", "spam filter", "--max-params", "1M")
    assert code == EXIT_NO_CANDIDATES, out
    assert "max_params" in out


@pytest.mark.parametrize("args", [("recommend", "--description", "spam filter"), ("compare",), ("db", "validate"),
                                  ("evaluate", "--objective", "accuracy")])
def test_malformed_database_exits_4(capsys: pytest.CaptureFixture[str], broken_db: Path, args: tuple[str, ...]) -> None:
    code, out = _run(capsys, "--db", str(broken_db), *args)
    assert code == EXIT_DATABASE, out
    assert "no-such/model-anywhere" in out


def test_ok_exits_0_with_json_everywhere(capsys: pytest.CaptureFixture[str], examples: Path) -> None:
    for args in (("profile", str(examples)), ("recommend", str(examples), "--top-k", "2"), ("compare",),
                 ("db", "validate"), ("compare", "--list-sources"), ("cache",)):
        code, out = _run(capsys, *args, "--json")
        assert code == EXIT_OK, (args, out)
        json.loads(out)


def test_one_map_for_python_errors() -> None:
    assert exit_code(InputError("x")) == exit_code(ParameterError("x")) == EXIT_BAD_INPUT
    assert exit_code(NoCandidatesError("x")) == EXIT_NO_CANDIDATES
    assert exit_code(DatabaseError("x")) == EXIT_DATABASE
    assert exit_code(MissingDependencyError("x")) == EXIT_MISSING_DEPENDENCY == 5  # installation, not bad input
    assert exit_code(ConfirmError("x")) == 1
    assert exit_code(KeyboardInterrupt()) == 130
    assert exit_code(StoreError("locked")) == EXIT_BAD_INPUT  # found before training: fix the store and rerun
    assert exit_code(StoreError("refused", recovery_path="r.jsonl")) == 1  # measured; rows wait in the file
