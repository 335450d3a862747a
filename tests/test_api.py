"""The public surface, the light import, and the one shape every result has."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import slmselect

PKG = Path(slmselect.__file__).parent

EXPECTED = {
    "recommend", "Recommendation", "Candidate", "profile_task", "TaskProfile", "load_db", "validate_db",
    "BenchmarkDB", "confirm", "ConfirmReport", "CandidateResult", "evaluate", "EvaluationReport", "SlmselectError",
    "InputError", "ParameterError", "UnknownModelError", "NoCandidatesError", "DatabaseError", "StoreError",
    "ConfirmError", "ModelLoadError", "ServingError", "TeacherError", "SlmselectWarning", "expand", "ExpandReport",
    "compare", "CompareReport", "import_recovery", "export", "__version__",
    "register_model_source", "ModelSource", "HubModel", "LocalFolder", "GGUFFile", "PackagedGGUF",
    "MissingDependencyError", "ensure_converted", "is_cached", "cache_info", "StageStarted", "StageAdvanced",
    "StageFinished", "ProgressMessage",
}
RESULTS = ["TaskProfile", "Recommendation", "ConfirmReport", "ExpandReport", "EvaluationReport", "CompareReport"]


def test_all_is_exactly_the_public_surface():
    assert set(slmselect.__all__) == EXPECTED


def test_type_checkers_see_every_exported_name_where_it_lives():
    tree = ast.parse((PKG / "__init__.py").read_text(encoding="utf-8"))
    block = next(n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    seen = {f"{node.module}.{a.name}" for node in block.body for a in node.names}
    assert seen == {f"slmselect{mod}.{name}" for name, mod in slmselect._LAZY.items()}


def test_every_exported_name_resolves():
    for name in slmselect.__all__:
        assert getattr(slmselect, name) is not None, name


def test_exceptions_share_one_root():
    errors = [n for n in slmselect.__all__ if n.endswith("Error")]
    for name in errors:
        assert issubclass(getattr(slmselect, name), slmselect.SlmselectError)


def _raised_and_warned() -> tuple[set[str], set[str]]:
    """The names of the classes the package raises (``raise X(...)``) and warns with (``warnings.warn(m, X)``)."""
    raised, warned = set(), set()
    for path in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and isinstance(node.exc.func, ast.Name):
                raised.add(node.exc.func.id)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "warn":
                category = node.args[1] if len(node.args) > 1 else next(k.value for k in node.keywords if k.arg == "category")
                warned.add(ast.unparse(category))
    return raised, warned


def test_every_error_and_warning_a_user_gets_is_exported():
    raised, warned = _raised_and_warned()
    own = {name for name in raised if name.endswith("Error") and hasattr(slmselect.errors, name)}
    assert own <= set(slmselect.__all__), own - set(slmselect.__all__)
    assert warned == {"SlmselectWarning"}  # one class to filter on: warnings.simplefilter("ignore", SlmselectWarning)
    assert issubclass(slmselect.SlmselectWarning, UserWarning)


@pytest.mark.parametrize("name", RESULTS)
def test_every_result_has_the_same_output_methods(name):
    import inspect

    cls = getattr(slmselect, name)
    assert list(inspect.signature(cls.to_pandas).parameters) == ["self", "level"]
    assert list(inspect.signature(cls.to_json).parameters) == ["self", "indent"]
    assert cls.LEVELS and inspect.signature(cls.to_pandas).parameters["level"].default is None
    if name in ("Recommendation", "ConfirmReport"):  # the results the HTML report draws
        assert list(inspect.signature(cls.to_html).parameters)[:2] == ["self", "path"]


def test_profile_and_expand_report_as_frames_and_json():
    profile = slmselect.profile_task([{"text": f"question {i} ?", "label": "ab"[i % 2]} for i in range(8)])
    frame = profile.to_pandas()
    assert len(frame) == 1 and frame.loc[0, "task_type"] == "classification" and "input_tokens_p95" in frame
    assert slmselect.TaskProfile.from_json(profile.to_json()) == profile
    with pytest.raises(slmselect.ParameterError, match="'level' parameter of TaskProfile.to_pandas"):
        profile.to_pandas("labels")
    report = slmselect.ExpandReport(output="x.jsonl", n=4, written=3, requests=5, failed_requests=1,
                                    rejected={"label_not_in_set": 1}, failures={"timeout": 1})
    assert json.loads(report.to_json())["acceptance_rate"] == 0.75
    assert report.to_pandas().loc[0, "total"] == 3
    assert report.to_pandas("rejected").to_dict("records") == [
        {"kind": "rejected", "reason": "label_not_in_set", "count": 1}, {"kind": "failed", "reason": "timeout", "count": 1}]


def test_compare_in_python_is_what_the_command_line_shows():
    result = slmselect.compare("lora_land_2024", families="Mistral", sort="mean")
    table = result.to_pandas()
    assert set(table.index) == {"mistralai/Mistral-7B-v0.1", "mistralai/Mistral-7B-Instruct-v0.1"}
    assert table["mean"].is_monotonic_decreasing
    ranks = result.to_pandas("average_ranks")
    assert list(ranks.columns[:2]) == ["objective", "model_id"] and set(ranks["objective"]) <= {"finetuned", "tunability", "base"}
    data = json.loads(result.to_json())
    assert data["source"] == "lora_land_2024" and len(data["categories"]) == 2
    default = slmselect.compare()
    assert default.source == "distil_guide_2025"
    assert isinstance(default.to_pandas("published_ranks"), pd.DataFrame)
    with pytest.raises(slmselect.ParameterError, match="'value' parameter of compare"):
        slmselect.compare(value="finetune")


def test_import_does_not_load_torch_or_heavy_libraries():
    code = (
        "import sys, slmselect; "
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'rich', 'sentence_transformers', 'datasets', 'sklearn') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_recommend_path_does_not_load_torch(tmp_path):
    code = (
        "import sys, slmselect; "
        "slmselect.recommend(description='classify support tickets by topic', include_local=False); "
        "print('torch' in sys.modules)"
    )
    env = {"SLMSELECT_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "False"


def test_docs_and_examples_use_only_the_public_api():
    """README.md, docs/ and examples/ import from ``slmselect`` itself, never from one of its private modules."""
    repo = PKG.parent
    files = [repo / "README.md", *sorted((repo / "docs").glob("*.md")), *sorted((repo / "examples").glob("*.py"))]
    private = []
    for path in files:
        if path.name == "CONTRACTS.md":  # the module map for contributors names the private modules on purpose
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "from slmselect." in line or "import slmselect." in line:
                private.append(f"{path.relative_to(repo)}:{n}: {line.strip()}")
    assert not private, "\n".join(private)


def test_recommendation_and_confirm_report_tables_and_round_trips():
    rec = slmselect.recommend(description="classify support tickets by topic", include_local=False)
    assert list(rec.to_pandas()["model_id"]) == rec.model_ids()
    assert list(rec.to_pandas("cold_start")["model_id"]) == [c.model_id for c in rec.cold_start]
    assert slmselect.Recommendation.from_json(rec.to_json()) == rec
    saved = (PKG.parent / "tests" / "data" / "confirm_report_trec.json").read_text(encoding="utf-8")
    report = slmselect.ConfirmReport.from_json(saved)
    assert report.to_pandas()["picked"].sum() == 1
    assert list(report.to_pandas("comparisons").columns[:2]) == ["model_id", "other"]
    assert json.loads(report.to_json(indent=None))["pick"] == report.pick
