"""The slmselect command, run as a real subprocess and in-process through main()."""

import json
import os
import subprocess
import sys

import pytest

from public_datasets import trec
from slmselect.cli import main


def run(*args, check_rc=None):
    p = subprocess.run([sys.executable, "-m", "slmselect.cli", *args], capture_output=True, text=True, timeout=120)
    if check_rc is not None:
        assert p.returncode == check_rc, (p.stdout, p.stderr)
    return p


@pytest.fixture(scope="module")
def trec_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "trec.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in trec(n=40, seed=3)) + "\n", encoding="utf-8")
    return path


def test_recommend_json(trec_file):
    p = run("recommend", str(trec_file), "--top-k", "2", "--max-params", "2B", "--json", check_rc=0)
    data = json.loads(p.stdout)
    assert len(data["candidates"]) == 2
    assert all(c["params_b"] <= 2 for c in data["candidates"])
    assert data["profile"]["task_type"] == "classification"


def test_recommend_table(trec_file, capsys):
    assert main(["recommend", str(trec_file), "--objective", "edge", "--license", "commercial"]) == 0
    out = capsys.readouterr().out
    assert "objective: edge" in out and "evidence" in out


def test_profile_command(trec_file):
    p = run("profile", str(trec_file), "--json", check_rc=0)
    assert json.loads(p.stdout)["task_type"] == "classification"
    p = run("profile", str(trec_file), check_rc=0)
    assert "classification" in p.stdout


def test_compare_tables_and_json():
    p = run("compare", check_rc=0)
    assert "Qwen/Qwen3-8B" in p.stdout and "Average rank" in p.stdout
    p = run("compare", "--source", "lora_land_2024", "--family", "Mistral", "--json", check_rc=0)
    data = json.loads(p.stdout)
    assert {r["model_id"] for r in data["categories"]} == {"mistralai/Mistral-7B-v0.1", "mistralai/Mistral-7B-Instruct-v0.1"}
    p = run("compare", "--source", "distil_12x8_2025", "--json", check_rc=0)
    pub = json.loads(p.stdout)["published_ranks"]["finetuned"]
    assert pub[0]["model_id"] == "Qwen/Qwen3-4B-Instruct-2507" and pub[0]["avg_rank"] == 2.25


def test_compare_help_names_the_source_it_shows():
    from slmselect.evidence.compare import DEFAULT_SOURCE

    p = subprocess.run([sys.executable, "-m", "slmselect.cli", "compare", "--help"], capture_output=True, text=True,
                       timeout=120, env={**os.environ, "COLUMNS": "400"})
    assert f"default: {DEFAULT_SOURCE}" in p.stdout
    assert json.loads(run("compare", "--json", check_rc=0).stdout)["source"] == DEFAULT_SOURCE


def test_compare_sorts_and_filters_by_size():
    p = run("compare", "--max-params", "1.5", "--sort", "params_b", "--json", check_rc=0)
    rows = json.loads(p.stdout)["categories"]
    sizes = [r["params_b"] for r in rows]
    assert sizes == sorted(sizes) and max(sizes) <= 1.5


def test_db_validate_ok_and_broken(tmp_path):
    run("db", "validate", check_rc=0)
    import shutil

    from slmselect.evidence.db import default_db_path

    dst = tmp_path / "db"
    shutil.copytree(default_db_path(), dst)
    text = (dst / "models.csv").read_text(encoding="utf-8").replace(",instruct,", ",instruc,", 1)
    (dst / "models.csv").write_text(text, encoding="utf-8")
    p = run("db", "validate", str(dst), check_rc=4)
    assert "models.csv:" in p.stdout and "'variant'" in p.stdout


def test_readable_errors_and_exit_codes(tmp_path, trec_file):
    p = run("recommend", str(trec_file), "--objective", "acurracy", check_rc=2)
    assert "Did you mean 'accuracy'" in p.stderr and "Traceback" not in p.stderr
    p = run("recommend", str(tmp_path / "missing.jsonl"), check_rc=2)
    assert "Traceback" not in p.stderr and "missing.jsonl" in p.stderr
    p = run("recommend", str(trec_file), "--max-params", "0.05", check_rc=3)
    assert "Relax" in p.stderr
    p = run("compare", "--source", "lora_land", check_rc=2)
    assert "lora_land_2024" in p.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": \n', encoding="utf-8")
    p = run("profile", str(bad), check_rc=2)
    assert "line 2" in p.stderr and "Traceback" not in p.stderr
