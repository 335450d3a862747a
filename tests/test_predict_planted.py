"""The predictor on planted data: a database built here whose right answers are known by construction
(``planted.py`` says how it is built)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planted import MODELS, planted_db

from slmselect.evidence.db import BenchmarkDB


@pytest.fixture(scope="module")
def db() -> BenchmarkDB:
    return planted_db()


def _rec(db: BenchmarkDB, description: str, **kw):
    from slmselect import recommend

    return recommend(description=description, db=db, include_local=False, embedder="tfidf", **kw)


def test_a_model_that_wins_every_similar_task_is_picked(db: BenchmarkDB) -> None:
    rec = _rec(db, "Classify clauses of legal contracts")
    assert rec.best.model_id == "lexis/legal-3b"
    assert rec.best.evidence[0].task_id.startswith("legal_")
    # elsewhere the best-on-average model leads
    assert _rec(db, "Sentiment of product reviews").best.model_id == "acme/steady-7b"


def test_with_no_similar_task_the_pick_is_the_prior(db: BenchmarkDB) -> None:
    """Nothing similar: the pick is the best overall standing. The naive static advice (best average rank) would
    be new-4b, which only ever met the weak bridges; the standings linked through them know better."""
    rec = _rec(db, "Compose haiku poems about autumn leaves and rivers")
    assert rec.best.model_id == "acme/steady-7b"
    assert max(c.evidence_share for c in rec.candidates) < 0.05  # nothing moved the prior
    assert "static advice (best average rank over the benchmark tasks) would be new/new-4b" in " ".join(rec.notes)
    assert "overall standings fitted across sources" in " ".join(rec.notes)


def _with_static(db: BenchmarkDB, weight: float, edge_weight: float = 0.0) -> None:
    """Serve ``db`` a predictor whose cross-validation chose these static weights."""
    from dataclasses import replace

    from slmselect.predict.artifact import attach, get_predictor

    art = get_predictor(db, "tfidf")
    art.settings = {k: replace(v, static_weight=weight, edge_static_weight=edge_weight) for k, v in art.settings.items()}
    attach(db, art, "tfidf")


def _avg_rank_order(db: BenchmarkDB, kind: str, models: list[str]) -> list[str]:
    """The static advice by hand: pandas ranks within each task among ``models``, averaged (1 = best)."""
    from slmselect.predict.observed import observe

    o = observe(db, kind)
    idx = [list(o.models).index(m) for m in models]
    Y = pd.DataFrame(o.Y[idx], index=models)
    Y = Y.loc[:, Y.notna().sum(axis=0) >= 2]
    avg = Y.rank(ascending=False, method="average").mean(axis=1)
    return list(avg.sort_values(kind="stable").index)


def test_a_static_weight_of_one_is_exactly_the_static_advice() -> None:
    """Chosen as fully static, the order is the average-rank order among the candidates, whatever the evidence
    says (the legal specialist wins legal tasks, but not on average), and the shown scores follow it."""
    db = planted_db()
    _with_static(db, 1.0)
    measured = [m for m, *_ in MODELS if m not in ("cold/cold-1b", "base/base-only-8b")]
    for q in ["Classify clauses of legal contracts", "Compose haiku poems about autumn leaves"]:
        for constraint in ({}, {"max_params": 4}):
            cands = [m for m in measured if constraint.get("max_params", 99) >= dict((m0, p) for m0, _, p, *_ in MODELS)[m]]
            rec = _rec(db, q, top_k=len(cands), **constraint)
            assert rec.model_ids() == _avg_rank_order(db, "finetuned", cands), (q, constraint)
            scores = [c.predicted_score for c in rec.candidates]
            assert scores == sorted(scores, reverse=True)
            assert all(c.lower <= c.predicted_score <= c.upper for c in rec.candidates)
            assert "also the static advice" in " ".join(rec.notes)


def test_the_static_edge_advice_is_reproduced() -> None:
    """Edge with its static weight 1: the smallest model whose mean published fine-tuned score is within the
    tolerance of the best mean, as the evaluation's static edge baseline defines it."""
    from slmselect.predict.observed import observe

    db = planted_db()
    _with_static(db, 0.0, 1.0)
    o = observe(db, "finetuned")
    mean = pd.DataFrame(o.Y, index=o.models).mean(axis=1)
    mem = db.models["memory_gb"]
    for tol in (0.02, 0.05, 0.2):
        rec = _rec(db, "Classify clauses of legal contracts", objective="edge", edge_tolerance=tol, top_k=3)
        measured = mean.dropna().index
        good = [m for m in measured if mean[m] >= mean[measured].max() - tol - 1e-9 and m in set(db.models.index[~db.models["reference"]])]
        assert rec.best.model_id == min(good, key=lambda m: mem[m]), tol


def test_one_scale_links_sources_through_shared_models(db: BenchmarkDB) -> None:
    """old-7b wins its study and new-4b wins its own; the shared bridges say new-4b is the better one."""
    rec = _rec(db, "Sentiment of product reviews", models=["old/old-7b", "new/new-4b"], top_k=2)
    assert rec.model_ids() == ["new/new-4b", "old/old-7b"]
    a, b = rec.candidates
    assert a.predicted_score > b.predicted_score and a.relative_score > b.relative_score
    assert a.p_best > 0.5 and a.p_best + b.p_best == pytest.approx(1.0, abs=2e-3)


def test_the_order_follows_the_shown_scores(db: BenchmarkDB) -> None:
    for q in ["Classify clauses of legal contracts", "Solve arithmetic word problems", "Compose haiku poems"]:
        for obj in ["accuracy", "no_finetune", "tunability"]:
            rec = _rec(db, q, objective=obj, top_k=8)
            scores = [c.predicted_score for c in rec.candidates]
            assert scores == sorted(scores, reverse=True), (q, obj)
            assert all(c.lower <= c.predicted_score <= c.upper for c in rec.candidates)


def test_cold_start_models_get_honest_predictions(db: BenchmarkDB) -> None:
    rec = _rec(db, "Sentiment of product reviews", models=["cold/cold-1b", "base/base-only-8b", "mid/mid-1b"], top_k=3)
    by = {c.model_id: c for c in rec.candidates}
    cold, base_only, measured = by["cold/cold-1b"], by["base/base-only-8b"], by["mid/mid-1b"]
    assert cold.cold_start and cold.low_evidence and base_only.cold_start and not measured.cold_start
    assert cold.predicted_score is not None and any("cold start" in n for n in cold.notes)
    # wider than a measured model's interval, but still saying something
    assert cold.upper - cold.lower > measured.upper - measured.lower
    assert cold.upper - cold.lower < 0.9
    # the base -> fine-tuned relation: the strongest base model is predicted to fine-tune well
    assert base_only.predicted_score > measured.predicted_score


def test_tunability_intervals_say_something(db: BenchmarkDB) -> None:
    rec = _rec(db, "Solve arithmetic word problems", objective="tunability", top_k=5)
    for c in rec.candidates:
        assert c.upper - c.lower < 0.6, c


def test_thin_evidence_moves_less_than_close_evidence(db: BenchmarkDB) -> None:
    close = _rec(db, "Classify clauses of legal contracts", models=["lexis/legal-3b"], top_k=1).best
    far = _rec(db, "legal", models=["lexis/legal-3b"], top_k=1).best
    none = _rec(db, "Compose haiku poems", models=["lexis/legal-3b"], top_k=1).best
    assert close.evidence_share > far.evidence_share >= none.evidence_share
    assert close.relative_score > far.relative_score > none.relative_score - 1e-9


def test_stored_predictor_round_trips_and_matches_a_fresh_fit(db: BenchmarkDB, tmp_path) -> None:
    from slmselect.predict.artifact import artifact_from_json, artifact_to_json, fit_predictor, get_predictor, save_artifact

    art = fit_predictor(db, embedder="tfidf", n_folds=3)
    text = artifact_to_json(art)
    assert artifact_to_json(fit_predictor(db, embedder="tfidf", n_folds=3)) == text  # deterministic, byte for byte
    back = artifact_from_json(text)
    assert back.fingerprint == art.fingerprint and back.settings == art.settings
    for k, f in art.fits.items():
        np.testing.assert_allclose(back.fits[k].theta, f.theta, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(back.fits[k].c, f.c, rtol=1e-6, atol=1e-9)
    save_artifact(art, tmp_path)
    assert (tmp_path / "predictor.json").read_text() == text
    # a database that changed is refitted, not served stale factors
    db.path = tmp_path
    try:
        assert get_predictor(db).fingerprint == art.fingerprint
    finally:
        db.path = None


def test_a_skewed_spread_of_task_levels_widens_the_interval_on_its_side() -> None:
    """Most planted tasks score around 0.5; the math tasks far lower. Asked for a task like none of them, the
    level could be either, so the interval reaches down to the math level (a normal around the mean level
    would not) and stays shorter above than below."""
    from slmselect.predict.query import weighted_quantiles

    db = planted_db()
    math = db.results["task_id"].str.startswith("math_")
    db.results.loc[math, "finetuned_score"] = (db.results.loc[math, "finetuned_score"] - 0.35).clip(lower=0.01)
    low = float(db.results.loc[math, "finetuned_score"].max())
    far = _rec(db, "Compose haiku poems about autumn leaves and rivers", top_k=3).best
    assert far.lower <= low, (far.lower, low)
    assert far.predicted_score - far.lower > far.upper - far.predicted_score
    # the quantiles themselves: weights pick the side
    v = np.array([0.1, 0.5, 0.6, 0.7])
    lo, hi = weighted_quantiles(v, np.array([[1.0, 1, 1, 1], [0.0, 1, 1, 1]]), (0.025, 0.975))
    assert lo.tolist() == [0.1, 0.5] and hi.tolist() == [0.7, 0.7]


def test_the_one_standard_error_rule_keeps_the_most_static_setting_that_is_as_good() -> None:
    from slmselect.predict.select import most_static_within_se, static_unless_beaten

    alt = np.tile([1.0, -1.0], 100)  # per-query noise with mean 0 and sd 1: 200 queries, standard error 0.07
    static = 0.05 + 0.01 * np.roll(alt, 1) * np.arange(200) / 200
    best = static - 0.016  # clearly better than static (a constant gain: no noise at all)
    close = best + 0.0001 + 0.004 * alt  # 0.0001 worse than the best, with a standard error of 0.00028
    assert most_static_within_se(np.stack([static, close, best])) == 1
    assert most_static_within_se(np.stack([static, best, close])) == 1  # order, not value, breaks the tie
    # a setting that only matches the static advice within the noise does not displace it
    assert most_static_within_se(np.stack([static, static - 0.00005 + 0.002 * alt])) == 0
    # the edge rule: the best must beat the static advice by the margin
    assert static_unless_beaten(np.stack([static, best]), 2.0) == 1
    assert static_unless_beaten(np.stack([static, static - 0.001 + 0.01 * alt]), 2.0) == 0  # 1.4 standard errors
    assert static_unless_beaten(np.stack([static, static - 0.0015 + 0.01 * alt]), 1.0) == 1
