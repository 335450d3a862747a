"""The predictor on planted data: a database built here whose right answers are known by construction.

Scores follow ``0.45 + 0.08 * (standing + topic bonus) + noise`` with the standings below:

* ``acme/steady-7b`` is the best on average (the static advice);
* ``lexis/legal-3b`` is average, except that it wins every legal task;
* ``old/old-7b`` (2023) wins the old study, where only weak bridge models were measured with it;
  ``new/new-4b`` (2025) is measured only in the new study, with the same bridges, and is better than it;
* ``cold/cold-1b`` has metadata only; ``base/base-only-8b`` has base scores only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from slmselect.evidence.db import BenchmarkDB

TOPICS = {
    "legal": ("Classify clauses of legal contracts", ["The lessee shall indemnify the lessor against all claims.",
                                                      "This agreement is governed by the laws of the State of New York."]),
    "sentiment": ("Sentiment of product reviews: positive or negative", ["Great phone, the battery lasts all day.",
                                                                          "Broke after a week, avoid."]),
    "math": ("Solve arithmetic word problems and give the number", ["Tom has 3 apples and buys 5 more. How many?",
                                                                     "A train travels 60 km in 1.5 hours. Speed?"]),
    "ner": ("Extract person and organisation names from news sentences", ["Satya Nadella spoke at Microsoft Build.",
                                                                           "Angela Merkel met officials from Siemens."]),
}
FLAVOURS = ["standard", "hard", "short", "long", "formal", "informal"]
MODELS = [
    # id, family, params, date, standing, legal bonus
    ("acme/steady-7b", "Acme", 7.0, "2025-01-10", 1.0, 0.0),
    ("lexis/legal-3b", "Lexis", 3.0, "2024-11-01", 0.0, 2.6),
    ("mid/mid-4b", "Mid", 4.0, "2024-08-01", 0.4, 0.0),
    ("mid/mid-1b", "Mid", 1.0, "2024-08-01", -0.2, 0.0),
    ("tiny/tiny-0.5b", "Tiny", 0.5, "2024-05-01", -0.8, 0.0),
    ("bridge/b1-2b", "Bridge", 2.0, "2024-03-01", 0.0, 0.0),
    ("bridge/b2-1b", "Bridge", 1.0, "2024-03-01", -0.5, 0.0),
    ("old/old-7b", "Old", 7.0, "2023-06-01", 0.2, 0.0),
    ("new/new-4b", "New", 4.0, "2025-06-01", 0.9, 0.0),
    ("cold/cold-1b", "Cold", 1.0, "2025-02-01", None, 0.0),
    ("base/base-only-8b", "Acme", 8.0, "2025-01-10", 0.7, 0.0),
]
STUDY_A = ["acme/steady-7b", "lexis/legal-3b", "mid/mid-4b", "mid/mid-1b", "tiny/tiny-0.5b", "bridge/b1-2b", "bridge/b2-1b"]


def planted_db(seed: int = 0) -> BenchmarkDB:
    rng = np.random.default_rng(seed)
    info = {m[0]: m for m in MODELS}
    tasks, results = [], []

    def add(source: str, task: str, topic: str, models: list[str], base_only: bool = False) -> None:
        for mid in models:
            st, bonus = info[mid][4], info[mid][5] if topic == "legal" else 0.0
            ft = float(np.clip(0.45 + 0.08 * (st + bonus) + rng.normal(0, 0.01), 0.01, 0.99))
            base = float(np.clip(ft - 0.25 + 0.04 * st + rng.normal(0, 0.01), 0.01, 0.99))
            results.append(dict(source_id=source, model_id=mid, task_id=task, metric="accuracy", primary=True,
                                base_score=round(base, 4), finetuned_score=None if base_only else round(ft, 4),
                                base_setting="few-shot", provenance="EXACT", notes=None))

    for topic, (desc, ex) in TOPICS.items():
        for k, flav in enumerate(FLAVOURS):
            tid = f"{topic}_{flav}"
            tasks.append(dict(task_id=tid, category="ner_extraction" if topic == "ner" else "classification", metric="accuracy",
                              higher_is_better=True, dataset=f"planted/{tid}", description=f"{desc} ({flav} variant). {desc}.",
                              prompt_template=None, example_inputs=ex, output_format="label", source_url=None))
            add("study_a", tid, topic, STUDY_A)
            if k < 2:
                add("old_study", tid, topic, ["old/old-7b", "bridge/b1-2b", "bridge/b2-1b"])
                add("new_study", tid, topic, ["new/new-4b", "bridge/b1-2b", "bridge/b2-1b"])
            add("base_board", tid, topic, ["base/base-only-8b", "acme/steady-7b", "mid/mid-4b", "tiny/tiny-0.5b"], base_only=True)
    models = pd.DataFrame([dict(model_id=m, family=f, params_b=p, variant="instruct", context_len=8192, license="Apache-2.0",
                                commercial_use="yes", release_date=d, layers=None, hidden_size=None, n_heads=None,
                                n_kv_heads=None, head_dim=None, vocab=None, attention=None, api_only=False, aliases=None,
                                source_url=None, notes=None) for m, f, p, d, _, _ in MODELS])
    sources = pd.DataFrame([dict(source_id=s, name=s, kind="paper", url=None, setup=None, notes=None)
                            for s in ["study_a", "old_study", "new_study", "base_board"]])
    rankings = pd.DataFrame(columns=["source_id", "objective", "model_id", "avg_rank", "ci95", "n_tasks", "notes"])
    return BenchmarkDB(models=models, tasks=pd.DataFrame(tasks), results=pd.DataFrame(results), sources=sources, rankings=rankings)


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
