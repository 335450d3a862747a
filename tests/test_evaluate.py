"""slmselect evaluate: nested cross-validation over datasets, baselines, JSON, CLI.

Behaviour is checked on planted data (tests/test_predict_planted.py), where the right answer is known;
on the shipped database only the structure of the report is checked, with fixed settings (no inner loop)
to keep the suite fast. The measured figures live in docs/evaluation.md, not here.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from slmselect.errors import ParameterError
from slmselect.evaluation import METHODS, EvaluationReport, evaluate
from slmselect.predict.text import dataset_groups
from planted import planted_db

LL = "lora_land_2024"
FIXED = {"temperature": 0.2, "shrink": 1.0, "type_weight": 0.0, "lowrank": 0.0, "interval_scale": 1.0}


@pytest.fixture(scope="module")
def report() -> EvaluationReport:
    return evaluate(sources=LL, predictor=FIXED, folds=5)


@pytest.fixture(scope="module")
def planted() -> EvaluationReport:
    return evaluate(db=planted_db(), sources="study_a", objectives=["accuracy", "no_finetune"], embedder="tfidf",
                    folds=4, inner_folds=4)


def test_figures_in_range(report: EvaluationReport) -> None:
    assert set(report.objectives) == {"accuracy", "tunability", "edge", "no_finetune"}
    for f in report.figures:
        assert f.n_tasks >= 1
        assert 0 <= f.top1 <= 1 and 0 <= f.top3_recall <= 1 and f.top1 <= f.top3_recall + 1e-9
        assert 0 <= f.regret <= 1
        for c in (f.spearman, f.kendall):
            assert c is None or -1 <= c <= 1
        assert (f.coverage is not None) == (f.method == "slmselect")
        assert (f.gap_coverage is not None) == (f.method == "slmselect")
        if f.method == "slmselect":
            assert 0 <= f.gap_coverage <= 1 and 0 < f.gap_width <= 2
            assert (f.anchored_rmse is not None) == (f.objective != "edge")


def test_gaps_and_anchored_scores_on_planted_data(planted: EvaluationReport) -> None:
    """Planted standings are exact up to noise: the gap intervals cover, and with the pick's true score revealed
    the others follow closely."""
    f = planted.figure("accuracy", "slmselect", "study_a")
    assert f.gap_coverage >= 0.8 and f.gap_width < 0.5
    assert f.anchored_rmse < 0.1 and f.anchored_coverage >= 0.8
    rows = planted.to_pandas("tasks")
    assert rows.loc[rows.method == "slmselect", "gap_coverage"].notna().all()


def test_baselines_present(report: EvaluationReport) -> None:
    for obj in report.objectives:
        methods = {f.method for f in report.figures if f.objective == obj and f.scope == LL}
        assert methods == set(METHODS), obj
    rows = report.to_pandas("tasks")
    r = rows[(rows.method == "random") & (rows.objective == "accuracy")]
    assert np.allclose(r["hit"], 1 / r["n_models"], atol=0.2)  # exact expectation, one best (ties aside)
    nf = report.figure("no_finetune", "best_base", LL)
    assert nf.top1 == 1.0 and nf.regret == 0.0  # the best base score is the no-finetune truth itself


def test_a_model_that_wins_every_similar_task_is_picked_when_held_out(planted: EvaluationReport) -> None:
    rows = planted.to_pandas("tasks")
    mine = rows[(rows.method == "slmselect") & (rows.objective == "accuracy")]
    legal = mine[mine.task_id.str.startswith("legal_")]
    assert (legal.pick == "lexis/legal-3b").mean() >= 0.75
    others = mine[~mine.task_id.str.startswith("legal_")]
    assert (others.pick == "acme/steady-7b").mean() >= 0.75  # elsewhere: the static advice
    p = planted.figure("accuracy", "slmselect", "study_a")
    b = planted.figure("accuracy", "best_avg_rank", "study_a")
    assert p.regret < b.regret and p.top1 > b.top1


def test_settings_are_chosen_per_outer_fold_on_training_data(planted: EvaluationReport) -> None:
    assert planted.folds == 4 and planted.inner_folds == 4
    assert set(planted.settings) == {"0", "1", "2", "3"}
    for per_kind in planted.settings.values():
        assert {"base", "finetuned"} <= set(per_kind)
        assert per_kind["finetuned"]["interval_scale"] > 0


def test_no_leak_of_the_held_out_dataset_or_its_siblings() -> None:
    """Changing a held-out dataset's scores, in every source and in a sibling variant, does not change its pick."""
    import pandas as pd

    from slmselect.evidence.db import BenchmarkDB

    def with_sibling(db: BenchmarkDB, scramble: bool) -> BenchmarkDB:
        tasks = db.tasks.reset_index(drop=True)
        sib = tasks[tasks.task_id == "legal_standard"].assign(task_id="legal_standard_v2")
        res = db.results.copy()
        sres = res[res.task_id == "legal_standard"].assign(task_id="legal_standard_v2", source_id="old_study")
        sres = sres[~sres.model_id.isin(res[(res.source_id == "old_study") & (res.task_id == "legal_standard")].model_id)]
        res = pd.concat([res, sres], ignore_index=True)
        if scramble:
            m = res.task_id.isin(["legal_standard", "legal_standard_v2"])
            res.loc[m, "finetuned_score"] = np.random.default_rng(3).uniform(0.05, 0.95, m.sum()).round(4)
        return BenchmarkDB(models=db.models.drop(columns=["memory_gb", "reference"]).reset_index(drop=True),
                           tasks=pd.concat([tasks, sib], ignore_index=True), results=res,
                           sources=db.sources.reset_index(drop=True), rankings=db.rankings)

    base = planted_db()
    a, b = with_sibling(base, False), with_sibling(base, True)
    groups = dataset_groups(a.tasks)
    assert groups["legal_standard"] == groups["legal_standard_v2"] != groups["legal_hard"]
    kw = dict(sources="study_a", objectives="accuracy", embedder="tfidf", folds=4, predictor=FIXED)

    def pick(db: BenchmarkDB) -> str:
        rows = evaluate(db=db, **kw).to_pandas("tasks")
        return rows[(rows.method == "slmselect") & (rows.task_id == "legal_standard")].pick.iloc[0]

    assert pick(a) == pick(b)


def test_dataset_identity_across_sources_and_variants() -> None:
    import pandas as pd

    t = pd.DataFrame({"task_id": ["a", "b", "c", "d", "e"],
                      "dataset": ["hf://Rowan/hellaswag", "hf://Rowan/hellaswag", "hf://gsm8k (main)", "gsm8k", None],
                      "dataset_id": [None, "", None, None, None]}).set_index("task_id", drop=False)
    g = dataset_groups(t)
    assert g["a"] == g["b"] and g["c"] == g["d"] and g["e"] == "task:e"


def test_json_round_trip(report: EvaluationReport) -> None:
    text = report.to_json()
    back = EvaluationReport.from_json(text)
    assert back == report
    df = report.to_pandas()
    assert {"scope", "objective", "method", "top1", "top3_recall", "regret", "spearman", "coverage"} <= set(df.columns)
    assert len(report.to_pandas("comparisons"))
    assert json.loads(text)["scenario"] == {}


def test_scenario_constraints_restrict_the_candidates() -> None:
    rep = evaluate(db=planted_db(), sources="study_a", objectives="accuracy", embedder="tfidf", folds=4,
                   predictor=FIXED, max_params=3.5)
    assert rep.scenario == {"max_params": 3.5}
    rows = rep.to_pandas("tasks")
    assert not rows.pick.isin(["acme/steady-7b", "mid/mid-4b"]).any()


def test_rich_rendering(report: EvaluationReport) -> None:
    from rich.console import Console

    con = Console(record=True, width=120)
    con.print(report)
    text = con.export_text()
    assert f"accuracy — {LL}" in text
    # regret in points of a 0-100 scale, as docs/evaluation.md gives it
    f = report.figure("accuracy", "slmselect", LL)
    assert f"{100 * f.regret:.1f}" in text and "in points (0-100)" in text


def test_bad_arguments() -> None:
    with pytest.raises(ParameterError, match="Did you mean 'lora_land_2024'"):
        evaluate(sources=["lora_lnd_2024"])
    with pytest.raises(ParameterError, match="objective"):
        evaluate(objectives=["acuracy"])
    with pytest.raises(ParameterError, match="min_models"):
        evaluate(min_models=1)
    with pytest.raises(ParameterError, match="folds"):
        evaluate(folds=1)
    with pytest.raises(ParameterError, match="query"):
        evaluate(query="category")


def test_cli_bad_source_exit_code() -> None:
    res = subprocess.run([sys.executable, "-m", "slmselect", "evaluate", "--source", "lora_lnd"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "lora_land_2024" in res.stderr + res.stdout


def test_the_static_fallback_and_the_static_baseline_are_one_function() -> None:
    """With the static weights fixed at 1 the predictor's order is the baseline's, unit by unit, for the best
    pick and for edge (both are predict.rank's ranking, reading the average rank and mean points from
    predict.static), and a weight of 0 leaves the predictions alone."""
    import slmselect.evaluation.run as run
    from slmselect.predict import rank

    assert run.rank is rank.rank
    assert not hasattr(run, "_avg_rank") and not hasattr(run, "_edge_order")  # no second ranking
    db = planted_db()
    full = evaluate(db=db, sources="study_a", objectives=["accuracy", "edge", "tunability"], embedder="tfidf", folds=4,
                    predictor={**FIXED, "static_weight": 1.0, "edge_static_weight": 1.0})
    rows = full.to_pandas("tasks")
    mine = rows[rows.method == "slmselect"].set_index(["objective", "task_id"])
    base = rows[rows.method == "best_avg_rank"].set_index(["objective", "task_id"])
    assert len(mine) >= 30 and set(mine.index.get_level_values(0)) == {"accuracy", "edge", "tunability"}
    assert (mine.pick == base.loc[mine.index, "pick"]).all()
    assert mine.drop(index="edge", level=0).static_pick.astype(bool).all()
    none = evaluate(db=db, sources="study_a", objectives=["accuracy"], embedder="tfidf", folds=4, predictor=FIXED)
    t = none.to_pandas("tasks")
    own, avg = (t[t.method == m].set_index("task_id").pick for m in ("slmselect", "best_avg_rank"))
    assert (own != avg.loc[own.index]).any()  # the predictions, not the static advice
