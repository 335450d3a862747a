"""The one parameter layer: every declared parameter is checked where it is taken, the command line and the
Python API fail with the same words, and a missing optional extra exits with its own code.

Each command-line case runs through ``main()`` (the typer app the console script runs) and its Python twin
calls the public function with the same value; the messages must be identical. The missing-extra cases run
the command line in a child Python whose import of the extra is blocked (``sys.modules[name] = None``), which
is what Python does when the package is not installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from slmselect._validate import (PARAMS, FilePath, Flag, Interval, Languages, Name, OptionList, Options, Progress,
                                 Scores, Size, StrList, Text, check_params)
from slmselect.cli import main
from slmselect.errors import EXIT_BAD_INPUT, EXIT_MISSING_DEPENDENCY, MissingDependencyError, ParameterError, exit_code

REPO = Path(__file__).resolve().parents[1]
ROWS = [{"text": f"Is message {i} spam or not ?", "label": "spam" if i % 2 else "ham"} for i in range(12)]
DESC = "route support tickets to billing, bug or account"
SOURCE = "lora_land_2024"


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ex") / "spam.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return path


# --------------------------------------------------------------------------------- every declared parameter


BAD: dict[type, Any] = {Interval: "not-a-number", Options: "no-such-choice", OptionList: "no-such-choice",
                        Size: "lots", StrList: 5, Text: 5, Name: "", FilePath: 5, Flag: "maybe",
                        Languages: "deutsch", Scores: "0.82", Progress: "yes"}


def _call(func: str, tmp: Path) -> Callable[..., Any]:
    """The public entry point of ``func`` with its other required arguments filled in."""
    if func == "recommend":
        from slmselect import recommend

        return lambda **kw: recommend(**{"description": DESC, "include_local": False, **kw})
    if func == "confirm":
        from slmselect import confirm

        return lambda **kw: confirm(ROWS, **{"models": ["HuggingFaceTB/SmolLM2-135M-Instruct"], "store": False, **kw})
    if func == "expand":
        from slmselect import expand

        return lambda **kw: expand(ROWS, **{"base_url": "http://127.0.0.1:9/v1", "model": "m", "n": 2,
                                            "output": tmp / "out.jsonl", **kw})
    if func == "evaluate":
        from slmselect import evaluate

        return evaluate
    if func == "profile_task":
        from slmselect import profile_task

        return lambda **kw: profile_task(ROWS, **kw)
    if func == "compare":
        from slmselect.evidence import compare as cmp
        from slmselect.evidence.db import load_db

        db = load_db()

        def compare(*, source: Any = SOURCE, value: Any = None, objective: Any = "finetuned", **kw: Any) -> Any:
            cmp.average_ranks(db, source, objective, **{k: v for k, v in kw.items() if k != "sort_by"})
            return cmp.category_table(db, source, value=value, **kw)

        return compare
    if func == "report":
        from slmselect.report.html import write_report

        return lambda **kw: write_report(**{"path": tmp / "r.html", **kw})
    if func == "export":
        from slmselect import export

        return lambda **kw: export("no-such-run", output_dir=tmp / "export", store=False, **kw)
    if func == "serve_bench":
        from slmselect.confirmation.serving import serve_bench

        return lambda **kw: serve_bench("HuggingFaceTB/SmolLM2-135M-Instruct", ROWS, store=False, **kw)
    raise AssertionError(f"no entry point for {func}")


@pytest.mark.parametrize("func, name", [(f, n) for f, specs in PARAMS.items() for n in specs])
def test_every_declared_parameter_is_checked_by_its_entry_point(func: str, name: str, tmp_path: Path) -> None:
    bad = BAD[type(PARAMS[func][name])]
    with pytest.raises(ParameterError, match=rf"^The '{name}' parameter of {func} must be"):
        _call(func, tmp_path)(**{name: bad})
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


def test_the_choices_agree_with_the_modules_that_use_them() -> None:
    from slmselect._validate import COMPARE_VALUES, CONFIRM_METRICS
    from slmselect.confirmation.metrics import METRICS
    from slmselect.evidence.compare import RANK_OBJECTIVES

    assert set(CONFIRM_METRICS) == {m for ms in METRICS.values() for m in ms}
    assert set(COMPARE_VALUES) == set(RANK_OBJECTIVES)


def test_numbers_given_as_text_are_read_and_shown_as_written() -> None:
    assert check_params("recommend", top_k="3", edge_tolerance="0.1") == {"top_k": 3, "edge_tolerance": 0.1}
    with pytest.raises(ParameterError, match=r"Got 5 instead\.$"):
        check_params("recommend", edge_tolerance="5")
    with pytest.raises(ParameterError, match=r"Got 'fastest' instead\."):
        check_params("evaluate", objectives="accuracy, fastest")
    assert check_params("evaluate", objectives=["Accuracy", "zero-shot", "accuracy"]) == {
        "objectives": ["accuracy", "no_finetune"]}


# --------------------------------------------------------------------------------- the same words


def _recommend(**kw: Any) -> Any:
    from slmselect import recommend

    return recommend(description=DESC, include_local=False, **kw)


def _evaluate(**kw: Any) -> Any:
    from slmselect import evaluate

    return evaluate(**kw)


def _confirm(path: Path, **kw: Any) -> Any:
    from slmselect import confirm

    return confirm(path, models="HuggingFaceTB/SmolLM2-135M-Instruct", store=False, **kw)


def _expand(path: Path, **kw: Any) -> Any:
    from slmselect import expand

    return expand(path, base_url="http://127.0.0.1:9/v1", model="m", output=path.with_name("out.jsonl"), **kw)


def _compare(**kw: Any) -> Any:
    from slmselect.evidence import compare as cmp
    from slmselect.evidence.db import load_db

    return cmp.category_table(load_db(), SOURCE, **kw)


TWINS: list[tuple[list[str], Callable[[Path], Any]]] = [
    (["recommend", "-d", DESC, "--no-local", "--top-k", "0"], lambda p: _recommend(top_k=0)),
    (["recommend", "-d", DESC, "--no-local", "--top-k", "three"], lambda p: _recommend(top_k="three")),
    (["recommend", "-d", DESC, "--no-local", "--edge-tolerance", "5"], lambda p: _recommend(edge_tolerance=5)),
    (["recommend", "-d", DESC, "--no-local", "--min-context", "-5"], lambda p: _recommend(min_context=-5)),
    (["recommend", "-d", DESC, "--no-local", "--objective", "acuracy"], lambda p: _recommend(objective="acuracy")),
    (["recommend", "-d", DESC, "--no-local", "--max-params", "lots"], lambda p: _recommend(max_params="lots")),
    (["recommend", "-d", DESC, "--no-local", "--languages", "deutsch"], lambda p: _recommend(languages="deutsch")),
    (["recommend", "-d", DESC, "--no-local", "--deploy", "q3"], lambda p: _recommend(deploy="q3")),
    (["evaluate", "--objective", "accuracy", "--objective", "fastest"],
     lambda p: _evaluate(objectives=["accuracy", "fastest"])),
    (["evaluate", "--folds", "1"], lambda p: _evaluate(folds=1)),
    (["evaluate", "--query", "category"], lambda p: _evaluate(query="category")),
    (["confirm", "{examples}", "--models", "HuggingFaceTB/SmolLM2-135M-Instruct", "--no-store", "--steps", "0"],
     lambda p: _confirm(p, steps=0)),
    (["confirm", "{examples}", "--models", "HuggingFaceTB/SmolLM2-135M-Instruct", "--no-store",
      "--learning-rate", "2"], lambda p: _confirm(p, learning_rate=2)),
    (["expand", "{examples}", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "-o", "{out}", "-n", "0"],
     lambda p: _expand(p, n=0)),
    (["expand", "{examples}", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "-o", "{out}", "-n", "2",
      "--temperature", "hot"], lambda p: _expand(p, n=2, temperature="hot")),
    (["compare", "--source", SOURCE, "--value", "gains"], lambda p: _compare(value="gains")),
    (["compare", "--source", SOURCE, "--max-params", "0"], lambda p: _compare(max_params="0")),
]


@pytest.mark.parametrize("argv, call", TWINS, ids=[" ".join(a[:1] + a[-2:]) for a, _ in TWINS])
def test_the_command_line_and_the_api_fail_with_the_same_words(
        argv: list[str], call: Callable[[Path], Any], examples: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a.format(examples=examples, out=examples.with_name("out.jsonl")) for a in argv]
    code = main(argv)
    printed = capsys.readouterr().err.strip()
    with pytest.raises(ParameterError) as err:
        call(examples)
    assert code == EXIT_BAD_INPUT == exit_code(err.value)
    assert printed == f"slmselect: {err.value}"


# --------------------------------------------------------------------------------- a missing extra


def _cli_without(module: str, *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``slmselect ARGV`` in a child Python in which ``module`` cannot be imported, as when it is not installed."""
    code = (f"import sys; sys.modules[{module!r}] = None\n"
            "from slmselect.cli import main\n"
            f"sys.exit(main({list(argv)!r}))\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={**__import__("os").environ, "PYTHONPATH": str(REPO)})


def test_a_missing_extra_exits_with_its_own_code_and_says_what_to_install(examples: Path, tmp_path: Path) -> None:
    ray = _cli_without("ray", "confirm", str(examples), "--models", "HuggingFaceTB/SmolLM2-135M-Instruct",
                       "--no-store", "--ray", "local", cwd=tmp_path)
    assert ray.returncode == EXIT_MISSING_DEPENDENCY, ray.stderr[-2000:]
    assert "backend='ray' needs Ray, which is not installed: pip install 'slmselect[ray]'" in ray.stderr
    assert "Traceback" not in ray.stderr

    plot = _cli_without("matplotlib", "compare", "--source", SOURCE, "--plot", str(tmp_path / "c.png"), cwd=tmp_path)
    assert plot.returncode == EXIT_MISSING_DEPENDENCY, plot.stderr[-2000:]
    assert "Plotting needs matplotlib, which is not installed" in plot.stderr
    assert not (tmp_path / "c.png").exists()


def test_a_missing_extra_is_not_bad_input() -> None:
    err = MissingDependencyError("x needs y")
    assert not isinstance(err, ValueError) and exit_code(err) == EXIT_MISSING_DEPENDENCY != EXIT_BAD_INPUT


def test_the_command_line_names_the_one_edge_tolerance(capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from slmselect._types import EDGE_TOLERANCE

    monkeypatch.setenv("COLUMNS", "300")
    main(["recommend", "--help"])
    assert f"(default: {EDGE_TOLERANCE})" in capsys.readouterr().out
