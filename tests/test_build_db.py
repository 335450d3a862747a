"""The database rebuilt from benchmarks_db/raw/: byte-identical to the shipped one, counts, coverage, registries."""

from __future__ import annotations

import filecmp

import pandas as pd
import pytest

from slmselect import recommend
from slmselect.evidence.build import REPO_DB, build_db
from slmselect.evidence.db import load_db, validate_db

#: Current small models that must have evidence on at least 5 tasks (issue 8).
REQUIRED = [
    "Qwen/Qwen3-0.6B", "Qwen/Qwen3-1.7B", "Qwen/Qwen3-4B-Instruct-2507", "Qwen/Qwen3-8B", "google/gemma-3-1b-it",
    "google/gemma-3-4b-it", "meta-llama/Llama-3.2-1B-Instruct", "meta-llama/Llama-3.2-3B-Instruct",
    "meta-llama/Llama-3.1-8B-Instruct", "microsoft/Phi-4-mini-instruct", "HuggingFaceTB/SmolLM2-135M-Instruct",
    "HuggingFaceTB/SmolLM2-360M-Instruct", "HuggingFaceTB/SmolLM2-1.7B-Instruct", "Qwen/Qwen2.5-0.5B-Instruct",
    "Qwen/Qwen2.5-1.5B-Instruct", "Qwen/Qwen2.5-3B-Instruct", "Qwen/Qwen2.5-7B-Instruct", "google/gemma-2-2b-it",
    "google/gemma-2-9b-it", "tiiuae/Falcon3-1B-Instruct", "mistralai/Ministral-8B-Instruct-2410",
]


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    out = tmp_path_factory.mktemp("db")
    return out, build_db(out_dir=out)


@pytest.fixture(scope="module")
def db():
    return load_db()


def test_shipped_database_equals_a_fresh_build_byte_for_byte(rebuilt):
    out, report = rebuilt
    names = ["meta.json", "sources.csv", "models.csv", "tasks.csv", "results.csv", "rankings.csv", "unmapped.csv", "skipped.csv"]
    match, mismatch, errors = filecmp.cmpfiles(REPO_DB, out, names, shallow=False)
    assert (mismatch, errors) == ([], []), "run `python scripts/build_db.py` and commit benchmarks_db/"
    assert report.issues == [] and validate_db(out) == []


def test_a_second_build_is_byte_identical(rebuilt, tmp_path):
    out, _ = rebuilt
    build_db(out_dir=tmp_path)
    names = [p.name for p in out.iterdir()]
    assert filecmp.cmpfiles(out, tmp_path, names, shallow=False)[1:] == ([], [])


def test_counts(db):
    assert len(db.results) >= 6000
    assert len(db.models) >= 250
    assert len(db.sources) >= 20 and db.results["source_id"].nunique() >= 20


def test_every_curated_row_is_carried(db):
    cur = pd.read_csv(REPO_DB / "raw" / "curated" / "results.csv")
    keys = set(zip(db.results["source_id"], db.results["model_id"], db.results["task_id"], db.results["metric"]))
    assert all(k in keys for k in zip(cur["source_id"], cur["model_id"], cur["task_id"], cur["metric"]))


@pytest.mark.parametrize("model_id", REQUIRED)
def test_current_small_models_have_evidence_on_five_tasks(db, model_id):
    assert db.results.loc[db.results["model_id"] == model_id, "task_id"].nunique() >= 5


def test_unmapped_names_are_listed_not_dropped(rebuilt):
    out, report = rebuilt
    listed = pd.read_csv(out / "unmapped.csv")
    assert len(report.unmapped) == len(listed) > 0
    assert set(listed.columns) == {"source_id", "kind", "raw_name", "rows", "reason"}
    assert (listed["rows"] > 0).all()
    # a closed model HELM names that no registry entry matches is listed with its source
    assert ((listed["source_id"] == "helm_lite") & (listed["raw_name"] == "openai/text-davinci-003")).any()


def test_raw_names_map_to_one_id_and_become_aliases(db):
    r = db.results
    bfcl = r[(r["source_id"] == "bfcl_v4_prompt") & (r["raw_name"] == "Gemma-3-1b-it (Prompt)")]
    assert set(bfcl["model_id"]) == {"google/gemma-3-1b-it"}
    assert set(r.loc[(r["source_id"] == "llm_stats") & (r["raw_name"] == "phi-4-mini"), "model_id"]) == {"microsoft/Phi-4-mini-instruct"}
    assert db.resolve_model("Llama-3.2-1B-Instruct (FC)") == "meta-llama/Llama-3.2-1B-Instruct"


def test_fc_and_prompt_modes_are_separate_sources(db):
    r = db.results[db.results["model_id"] == "Qwen/Qwen3-8B"]
    assert {"bfcl_v4_fc", "bfcl_v4_prompt"} <= set(r["source_id"])
    assert set(r.loc[r["source_id"] == "bfcl_v4_fc", "mode"]) == {"fc"}


def test_scores_keep_uncertainty_setting_and_pairs(db):
    r = db.results[db.results["source_id"] == "lm_harmony_2025"]
    paired = r.dropna(subset=["base_score", "finetuned_score", "base_stderr", "finetuned_stderr"])
    assert len(paired) >= 1000
    assert set(paired["finetune_method"]) == {"lora"} and paired["ft_recipe"].notna().all()
    oll = db.results[db.results["source_id"] == "open_llm_leaderboard_v2"]
    assert (oll["n_shot"].dropna() >= 0).all() and oll["snapshot_date"].eq("2025-03-21").all()


def test_dataset_identity_links_sources(db):
    t = db.tasks
    gsm = set(t.loc[t["dataset_id"] == "gsm8k", "task_id"])
    assert {"gsm8k", "lm_harmony:gsm8k", "helm_lite:gsm8k", "llm_stats:gsm8k"} <= gsm
    assert {"ifeval"} == set(t.loc[t["task_id"].isin(["open_llm_v2:ifeval", "helm_capabilities:ifeval"]), "dataset_id"])
    # two variants of one dataset: LoRA Land's HellaSwag as multiple choice and as generation
    assert set(t.loc[["hellaswag", "hellaswag_processed"], "dataset_id"]) == {"hellaswag"}


def test_model_registry_carries_covariates(db):
    m = db.models
    row = m.loc["meta-llama/Llama-3.2-1B-Instruct"]
    assert row["base_model"] == "meta-llama/Llama-3.2-1B" and row["variant"] == "instruct"
    assert row["params_b"] > 1 and row["release_date"] and row["family"] == "Llama 3.2"
    assert m.loc["meta-llama/Llama-3.2-1B", "variant"] == "base"


def test_commercial_keeps_conditional_licences_and_shows_them(db):
    m = db.models
    assert m.loc["google/gemma-3-1b-it", "commercial_use"] == "with_conditions"
    rec = recommend(description="classify customer support tickets by topic", objective="no_finetune",
                    licenses="commercial", max_params=1.5, top_k=50, db=db, include_local=False)
    picked = {c.model_id: c for c in rec.candidates}
    assert {"google/gemma-3-1b-it", "meta-llama/Llama-3.2-1B-Instruct"} <= set(picked)
    assert "Built with Llama" in (picked["meta-llama/Llama-3.2-1B-Instruct"].license_conditions or "")
    assert "Qwen/Qwen2.5-3B-Instruct" not in picked  # research-only licence
    perm = recommend(description="classify customer support tickets by topic", objective="no_finetune",
                     licenses="permissive", max_params=1.5, top_k=50, db=db, include_local=False)
    assert all(c.license in {"Apache-2.0", "MIT", "BSD-3-Clause"} for c in perm.candidates)


def test_every_source_is_cited_in_the_repository_or_at_a_public_url(db):
    for sid, url in db.sources["url"].items():
        assert str(url).startswith("https://") or (REPO_DB.parent / str(url)).exists(), sid
