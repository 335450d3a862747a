"""slmselect evaluate: leave-one-task-out on the shipped database, baselines, JSON, CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import slmselect
from slmselect.evidence.db import load_db
from slmselect.evaluation import METHODS, EvaluationReport, evaluate
from slmselect.errors import ParameterError

LL = "lora_land_2024"


@pytest.fixture(scope="module")
def report() -> EvaluationReport:
    return evaluate()


def test_figures_in_range(report: EvaluationReport) -> None:
    assert set(report.objectives) == {"accuracy", "tunability", "edge", "no_finetune"}
    assert report.seconds < 30
    for f in report.figures:
        assert f.n_tasks >= 1
        assert 0 <= f.top1 <= 1 and 0 <= f.top3_recall <= 1 and f.top1 <= f.top3_recall + 1e-9
        assert 0 <= f.regret <= 1
        for c in (f.spearman, f.kendall):
            assert c is None or -1 <= c <= 1
        assert f.coverage is None or 0 <= f.coverage <= 1
        assert (f.coverage is not None) == (f.method == "slmselect")


def test_every_task_of_lora_land_evaluated(report: EvaluationReport) -> None:
    rows = report.to_pandas("tasks")
    ll = rows[(rows.source_id == LL) & (rows.objective == "accuracy") & (rows.method == "slmselect")]
    # 21 tasks; customer_support is skipped because all ten models tie on it
    assert len(ll) == 20 and "customer_support" not in set(ll.task_id)
    assert (ll.n_models == 10).all()
    assert set(rows.source_id) >= {LL, "distil_guide_2025"}


def test_baselines_present(report: EvaluationReport) -> None:
    for obj in report.objectives:
        methods = {f.method for f in report.figures if f.objective == obj and f.scope == LL}
        assert methods == set(METHODS), obj
    # random is an exact expectation: 10 models, one best -> top-1 = 1/10 on most tasks
    assert report.figure("accuracy", "random", LL).top1 == pytest.approx(0.105, abs=0.01)
    # best base on no_finetune is the truth itself
    nf = report.figure("no_finetune", "best_base", LL)
    assert nf.top1 == 1.0 and nf.regret == 0.0


def test_lora_land_accuracy_beats_static_advice(report: EvaluationReport) -> None:
    """The measured comparison recorded in docs/evaluation.md."""
    p = report.figure("accuracy", "slmselect", LL)
    b = report.figure("accuracy", "best_avg_rank", LL)
    assert p.regret < b.regret  # 0.012 vs 0.017
    assert p.top1 > b.top1  # 0.60 vs 0.40
    # top-3 recall 19/20 vs 17/20: the hedge place (#3) catches conllpp and magicoder (won by gemma-7b);
    # gsm8k, also gemma-7b's, is still missed by both
    assert p.top3_recall == pytest.approx(0.95) and b.top3_recall == pytest.approx(0.85)
    assert p.regret < report.figure("accuracy", "largest", LL).regret
    assert p.regret < report.figure("accuracy", "random", LL).regret
    # over all sources too: top-3 92% vs 88%, regret 0.011 vs 0.013
    pa, ba = report.figure("accuracy", "slmselect"), report.figure("accuracy", "best_avg_rank")
    assert pa.top3_recall > ba.top3_recall and pa.regret < ba.regret
    # the intervals are calibrated: about 95% of held-out scores fall inside
    assert 0.90 <= p.coverage <= 1.0


def test_hedge_place_is_what_moves_top3() -> None:
    """Without the hedge place (hedge=0) the order is the expected standing alone: top-3 ties at 85%."""
    rep = evaluate(sources=LL, objectives="accuracy", predictor={"hedge": 0})
    p, b = rep.figure("accuracy", "slmselect", LL), rep.figure("accuracy", "best_avg_rank", LL)
    assert p.top3_recall == pytest.approx(b.top3_recall) == pytest.approx(0.85)
    assert p.spearman > b.spearman  # 0.689 vs 0.667
    assert rep.settings["hedge"] == 0
    # the first pick does not depend on the hedge: same regret and top-1 as the shipped setting
    q = evaluate(sources=LL, objectives="accuracy").figure("accuracy", "slmselect", LL)
    assert (q.regret, q.top1) == pytest.approx((p.regret, p.top1))
    with pytest.raises(ParameterError, match="hedge"):
        evaluate(sources=LL, objectives="accuracy", predictor={"hedge": 0.5})


def test_where_it_does_not_beat(report: EvaluationReport) -> None:
    """Honest record (docs/evaluation.md): tunability, and the rank correlation the hedge place costs."""
    p = report.figure("tunability", "slmselect", LL)
    b = report.figure("tunability", "best_avg_rank", LL)
    assert p.top3_recall < b.top3_recall  # 57% vs 76%
    e, eb = report.figure("edge", "slmselect", LL), report.figure("edge", "best_avg_rank", LL)
    assert e.regret < eb.regret and e.top1 > eb.top1
    # promoting the hedge model to #3 lowers Spearman on LoRA Land accuracy just below the static advice
    a, ab = report.figure("accuracy", "slmselect", LL), report.figure("accuracy", "best_avg_rank", LL)
    assert a.spearman == pytest.approx(0.661, abs=0.005) and ab.spearman == pytest.approx(0.667, abs=0.005)


def test_json_round_trip(report: EvaluationReport) -> None:
    text = report.to_json()
    back = EvaluationReport.from_json(text)
    assert back == report
    assert json.loads(text)["figures"][0]["scope"] == "all"
    df = report.to_pandas()
    assert {"scope", "objective", "method", "top1", "top3_recall", "regret", "spearman", "coverage"} <= set(df.columns)
    assert len(report.to_pandas("comparisons"))


def test_rich_rendering(report: EvaluationReport) -> None:
    from rich.console import Console

    con = Console(record=True, width=120)
    con.print(report)
    text = con.export_text()
    assert "accuracy — lora_land_2024" in text and "avg rank" in text


def test_public_api_and_filters() -> None:
    rep = slmselect.evaluate(sources="lora_land_2024", objectives="accuracy")
    assert rep.sources == [LL] and rep.objectives == ["accuracy"]
    assert {f.scope for f in rep.figures} == {LL}


def test_bad_arguments() -> None:
    with pytest.raises(ParameterError, match="Did you mean 'lora_land_2024'"):
        evaluate(sources=["lora_lnd_2024"])
    with pytest.raises(ParameterError, match="objective"):
        evaluate(objectives=["acuracy"])
    with pytest.raises(ParameterError, match="min_models"):
        evaluate(min_models=1)


def test_no_leak_of_the_held_out_task() -> None:
    """Changing a held-out task's own scores must not change the predictor's pick for it."""
    db = load_db()
    rep = evaluate(db=db, sources=LL, objectives="accuracy")
    import copy

    import numpy as np

    db2 = copy.copy(db)
    db2.__dict__ = {k: v for k, v in db.__dict__.items() if k not in {"_matrix_cache", "primary_results"}}
    res = db.results.copy()
    mask = (res.source_id == LL) & (res.task_id == "glue_sst2")
    res.loc[mask, "finetuned_score"] = np.random.default_rng(0).uniform(0, 1, mask.sum())
    db2.results = res
    rep2 = evaluate(db=db2, sources=LL, objectives="accuracy")
    pick = lambda r: {(t.task_id): t.pick for t in r.tasks if t.method == "slmselect"}  # noqa: E731
    assert pick(rep)["glue_sst2"] == pick(rep2)["glue_sst2"]


def test_hedge_reads_no_held_out_score() -> None:
    """The win shares behind the hedge place ignore the held-out task's units, whatever their scores."""
    import dataclasses

    import numpy as np

    from slmselect.predict.predictor import build_matrix, predict, rank_order, win_share

    m = build_matrix(load_db(), "finetuned")
    hidden = (m.units["task_id"] == "gsm8k").to_numpy()
    sem = np.random.default_rng(1).uniform(0, 1, len(m.units))
    pred = predict(m, sem, "math_reasoning", exclude_units=hidden)
    z2 = m.z.copy()
    z2[:, hidden] = np.where(np.isnan(z2[:, hidden]), np.nan, np.random.default_rng(2).normal(size=z2[:, hidden].shape))
    pred2 = dataclasses.replace(pred, matrix=dataclasses.replace(m, z=z2))
    idx = np.flatnonzero(~np.isnan(m.values[:, hidden][:, 0]))
    assert np.allclose(win_share(pred, idx), win_share(pred2, idx))
    assert (rank_order(pred, idx) == rank_order(pred2, idx)).all()
    assert win_share(pred, idx).sum() == pytest.approx(1.0)


def test_cli_json_subprocess() -> None:
    res = subprocess.run([sys.executable, "-m", "slmselect.cli", "evaluate", "--json", "--objective", "accuracy,edge",
                          "--source", LL], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    rep = EvaluationReport.from_json(res.stdout)
    assert rep.objectives == ["accuracy", "edge"]


def test_cli_bad_source_exit_code() -> None:
    res = subprocess.run([sys.executable, "-m", "slmselect.cli", "evaluate", "--source", "lora_lnd"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "Did you mean 'lora_land_2024'" in res.stderr


def test_every_task_has_matching_text() -> None:
    t = load_db().tasks
    assert t["description"].str.len().min() > 40
    assert (t["prompt_template"].notna() | (t["example_inputs"].map(len) >= 2)).all()
