"""evaluate(): nested cross-validation of the recommender over datasets, against baselines.

1. Outer folds are made of whole datasets (``dataset_groups``: every source's and every variant's results
   for one dataset leave together). For each outer fold the predictor's settings are chosen by an inner
   cross-validation on the *training* datasets only (:func:`slmselect.predict.select.choose_settings`), the
   standings are refitted on the training datasets, and every held-out unit (a source's task) is asked for
   as a new user would: by its description and example inputs, with the task type guessed from that text,
   never the stored category.
2. Candidates are the recommendable models with a truth on the held-out unit that satisfy the scenario's
   constraints (``max_params``, ``variant``). The truth per objective: ``accuracy`` the fine-tuned score,
   ``tunability`` the gain, ``no_finetune`` the base score, ``edge`` the smallest model by memory within
   ``edge_tolerance`` of the best fine-tuned score.
3. Baselines on the same candidates: the static advice (best average rank among the candidates over the
   training units, every source), the largest model, the best base score on the held-out task itself (not
   available to a new user), and random choice (exact expectations).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from slmselect.errors import ParameterError, check_choice, did_you_mean
from slmselect._validate import validate_params
from slmselect.evaluation.metrics import random_expected, score_order
from slmselect.evaluation.report import EvaluationReport, TaskResult, summarise
from slmselect.evidence.db import BenchmarkDB, load_db
from slmselect.predict.artifact import eligible_models, lookup, task_embeddings
from slmselect.predict.observed import KINDS, OBJECTIVE_VALUE, observe
from slmselect.predict.query import INTERVAL_Z, Bound, Settings, bind, gaps_below, kernel, predict_batch
from slmselect.predict.rank import blend_among, rank
from slmselect.predict.static import UNSCORED_POINTS, static_key
from slmselect.predict.select import choose_settings, fit_all, fold_of, queries_for, single_thread, subset
from slmselect._types import EDGE_TOLERANCE
from slmselect.events import ProgressCallback
from slmselect.report.progress import reporter

_EPS = 1e-9


def _sources(db: BenchmarkDB, names: list[str] | None) -> list[str] | None:
    """The database's spelling of each source in ``names`` (checked by the parameter layer)."""
    if names is None:
        return None
    known = list(db.sources.index)
    low = {k.lower(): k for k in known}
    out = []
    for n in names:
        if n.lower() not in low:
            raise ParameterError(f"Unknown source {n!r}. Known sources: {', '.join(known)}." + did_you_mean(n, known))
        out.append(low[n.lower()])
    return out


@validate_params("evaluate")
def evaluate(
    *,
    sources: str | Sequence[str] | None = None,
    objectives: str | Sequence[str] = ("accuracy", "tunability", "edge", "no_finetune"),
    min_models: int = 3,
    seed: int = 0,
    db: BenchmarkDB | None = None,
    embedder: str = "auto",
    edge_tolerance: float = EDGE_TOLERANCE,
    folds: int = 10,
    inner_folds: int = 4,
    max_params: float | str | None = None,
    variant: str | None = None,
    query: str = "description",
    predictor: dict[str, float] | None = None,
    progress: bool | ProgressCallback = True,
) -> EvaluationReport:
    """Nested cross-validation of the recommender over datasets, against baselines, per objective.

    ``sources``: evaluate only the held-out units of these sources (evidence still comes from every source);
    ``min_models``: a unit is evaluated when at least this many candidates have a truth on it; ``folds`` /
    ``inner_folds``: outer and inner folds over datasets (``seed`` deals datasets to folds); ``max_params``
    and ``variant`` ('instruct' or 'base') restrict the candidates, as a user's constraints would;
    ``query``: how a held-out task is asked for, ``'description'`` (its description alone, provenance
    removed) or ``'examples'`` (with example inputs too); ``predictor``: fixed settings instead of the inner cross-validation (``temperature``, ``type_weight``,
    ``shrink``, ``lowrank``, ``interval_scale``, ``static_weight``, ``edge_static_weight``, ``level_shrink``,
    ``level_temperature``),
    for experiments.
    ``progress``: ``True`` draws the set-up and each outer fold on stderr, ``False`` nothing, a callable receives
    every event (:mod:`slmselect.events`).
    Returns an :class:`EvaluationReport`; ``report.figure("accuracy", "slmselect", "lora_land_2024")``.
    """
    t0 = time.perf_counter()
    objs = objectives  # a list of objective names, without repeats, from the parameter layer
    fixed: Settings | None = None
    if predictor:
        base = Settings().as_dict()
        for k in predictor:
            check_choice("predictor setting", k, list(base))
        fixed = Settings.from_dict({**base, **dict(predictor)})
    rep = reporter(progress, "evaluate")
    if db is None:
        with rep.stage("loading the benchmark database"):
            db = load_db()
    srcs = _sources(db, sources)
    kinds = tuple(k for k in KINDS if k in {OBJECTIVE_VALUE[o] for o in objs} or k == "base")

    M = db.models
    eligible = eligible_models(db)
    cand_ok = eligible & np.isfinite(M["memory_gb"].to_numpy(dtype=float))
    scenario: dict[str, Any] = {}
    if max_params is not None:
        cand_ok &= (M["params_b"].astype(float) <= max_params + 1e-9).to_numpy()
        scenario["max_params"] = max_params
    if variant is not None:
        cand_ok &= (M["variant"] == variant).to_numpy()
        scenario["variant"] = variant

    with rep.stage("embedding the task texts"):
        emb, eu, queries = task_embeddings(db, embedder)
    obs = {k: observe(db, k) for k in KINDS}
    groups = np.concatenate([obs[k].units["group"].to_numpy() for k in KINDS])
    fold = fold_of(groups, folds, seed)
    mem_all = M["memory_gb"].to_numpy(dtype=float)
    params_b = M["params_b"].to_numpy(dtype=float)
    base_obs = obs["base"]
    base_col = {k: j for j, k in enumerate(base_obs.unit_keys())}
    rows: list[TaskResult] = []
    chosen: dict[str, dict[str, Any]] = {}
    with single_thread(), rep.stage("cross-validation", folds) as cv:
        for f in range(folds):
            train = {k: np.array([fold[g] != f for g in obs[k].units["group"]]) for k in KINDS}
            if fixed is not None:
                settings = {k: fixed for k in KINDS}
            else:
                settings = choose_settings(obs, M, cand_ok, lookup(eu), [queries[query]], keep=train, kinds=kinds,
                                           n_folds=inner_folds, seed=seed + 1 + f)
            chosen[str(f)] = {k: settings[k].as_dict() for k in kinds}
            fits = fit_all(obs, M, train, kinds)
            for obj in objs:
                kind = OBJECTIVE_VALUE[obj]
                rows += _evaluate_fold(obj, obs[kind], fits[kind], settings[kind], train[kind], cand_ok, srcs, min_models,
                                       eu, mem_all, params_b, base_obs, base_col, obs["finetuned"],
                                       float(edge_tolerance), queries[query])
            cv.advance(1, note=f"{len(rows)} task rows")
    figures, comparisons = summarise(rows, objs)
    notes = [
        f"Nested cross-validation over datasets: {folds} outer folds; settings chosen per outer fold by {inner_folds}-fold "
        "cross-validation on the training datasets only. A held-out dataset is hidden in every source and variant.",
        f"Queries are the held-out task's {'description' if query == 'description' else 'description and example inputs'} "
        "(provenance sentences removed); the task type is guessed from that text, never read from the database.",
        "best_avg_rank is the static advice: the best average rank among the same candidates over the training units of every source.",
        "best_base uses the held-out task's own base scores, which a new user has not measured: an oracle-ish reference, "
        "and for no_finetune it is the truth itself.",
        "random is scored by exact expected values over a uniform pick.",
        f"edge: truth is the smallest model by memory whose fine-tuned score is within {edge_tolerance:.2f} of the best; "
        "regret is the pick's shortfall below that band.",
    ]
    return EvaluationReport(
        figures=figures, tasks=rows, comparisons=comparisons, objectives=objs,
        sources=sorted({r.source_id for r in rows}), min_models=min_models, edge_tolerance=float(edge_tolerance),
        embedder=emb.name, settings=chosen, scenario=scenario, folds=folds, inner_folds=inner_folds,
        seconds=round(time.perf_counter() - t0, 3), notes=notes,
    )


def _evaluate_fold(obj, o, fit, st, train, cand_ok, srcs, min_models, eu, mem_all, params_b,  # type: ignore[no-untyped-def]
                   base_obs, base_col, ft_obs, tol, q) -> list[TaskResult]:
    units = o.units
    held = np.flatnonzero(~train)
    if srcs is not None:
        held = held[np.isin(units["source_id"].to_numpy()[held], srcs)]
    if not len(held):
        return []
    b = bind(fit, subset(o, train))
    tasks = units["task_id"].to_numpy()
    sem, aff = queries_for(o, held, lookup(eu), q, train)
    sim, w = kernel(b, sem, aff, st)
    out = predict_batch(b, w, st, sim)
    rows: list[TaskResult] = []
    edge = obj == "edge"
    for qi, j in enumerate(held):
        cand = np.flatnonzero(~np.isnan(o.Y[:, j]) & cand_ok)
        if len(cand) < min_models:
            continue
        truth = o.Y[cand, j]
        if np.ptp(truth) <= _EPS:
            continue
        mem = mem_all[cand]
        true_edge_pos = None
        if edge:
            od = rank(truth, cand, edge=True, score=truth, mem=mem, tol=tol).order
            true_edge_pos = np.empty(len(cand))
            true_edge_pos[od] = np.arange(len(cand))
            best_model = str(o.models[cand[od[0]]])
        else:
            best_model = str(o.models[cand[np.argmax(truth)]])
        common = dict(objective=obj, source_id=str(units.at[j, "source_id"]), task_id=str(tasks[j]),
                      category=str(units.at[j, "category"]), n_models=len(cand), best_model=best_model)

        def add(method: str, order: np.ndarray | None, key: np.ndarray | None, tie_key: np.ndarray | None = None,
                extra: dict[str, Any] | None = None) -> None:
            if order is None:
                figs = random_expected(truth, edge=edge, mem=mem, tol=tol)
                pick = None
            else:
                figs = score_order(order, key, truth, edge=edge, mem=mem, tol=tol,  # type: ignore[arg-type]
                                       true_edge_pos=true_edge_pos, tie_key=tie_key)
                pick = str(o.models[cand[order[0]]])
            rows.append(TaskResult(**common, method=method, pick=pick, **figs, **(extra or {})))

        # every method's order comes from the one ranking (predict.rank): the predictor with the static advice
        # blended in by its chosen weight, the static advice (best average rank among the candidates over the
        # training units) as that ranking with weight 1, the baselines as rankings by their own key
        avg = b.ranks.avg_rank(cand)
        akey = static_key(avg)
        rel0, score0 = out["relative"][qi, cand], out["score"][qi, cand]
        sd_lo, sd_hi = out["sd_lo"][qi, cand], out["sd_hi"][qi, cand]
        mine = rank(rel0, cand, st.edge_static_weight if edge else st.static_weight, b.ranks, edge=edge, score=score0,
                    mem=mem, tol=tol, avg=avg)
        order, rel = mine.order, mine.relative
        if edge:
            score = mine.points
        else:
            score = out["level"][qi] + out["spread"][qi] * rel if st.static_weight > 0 else score0
        lo, hi = score - INTERVAL_Z * sd_lo, score + INTERVAL_Z * sd_hi
        cov = float(((truth >= lo - _EPS) & (truth <= hi + _EPS)).mean())
        static_first = int(np.argmax(akey))
        gaps = _gap_figures(b, w[qi], cand, int(order[0]), blend_among(rel0, b.ranks, cand, st.static_weight, avg=avg) if edge else rel,
                            truth, out["spread"][qi], out["spread_var"][qi], out["rel_var"][qi, cand], st.gap_scale,
                            anchored=not edge)
        add("slmselect", order, rel if edge else -np.argsort(order).astype(float),
            extra=dict(coverage=cov, interval_width=float((hi - lo).mean()), static_pick=bool(order[0] == static_first), **gaps))
        if np.isfinite(avg).any():
            aorder = rank(np.zeros(len(cand)), cand, 1.0, b.ranks, edge=edge, score=score0, mem=mem, tol=tol, avg=avg).order
            add("best_avg_rank", aorder, akey, tie_key=None if edge else akey)
        else:
            add("best_avg_rank", None, None)
        lkey = params_b[cand]
        add("largest", rank(lkey, cand).order, lkey, tie_key=lkey)
        bj = base_col.get((units.at[j, "source_id"], tasks[j]))
        if bj is not None:
            bsc = base_obs.Y[cand, bj]
            if np.isfinite(bsc).sum() >= 2:
                bkey = np.where(np.isfinite(bsc), bsc, UNSCORED_POINTS)
                border = rank(bkey, cand, edge=edge, score=bkey, mem=mem, tol=tol).order
                add("best_base", border, bkey, tie_key=None if edge else bkey)
        add("random", None, None)
    return rows


def _gap_figures(b: Bound, w: np.ndarray, cand: np.ndarray, pick: int, rel: np.ndarray, truth: np.ndarray, spread: float,
                 spread_var: float, rel_var: np.ndarray, scale: float, *, anchored: bool) -> dict[str, float]:
    """How well the gaps below the pick are known, and (``anchored``) how well the other candidates' scores follow
    once the pick's true score is revealed (a user's measurement): gap 95% coverage and mean width, the anchored
    scores' RMSE and 95% coverage (0-1 scale). Gaps as the recommender computes them (:func:`gaps_below`)."""
    others = np.arange(len(cand)) != pick
    if not others.any():
        return {}
    R = np.zeros(len(b.theta))
    V = np.zeros(len(b.theta))
    R[cand], V[cand] = rel, rel_var
    pred, sd = gaps_below(b, w, int(cand[pick]), cand[others], spread, spread_var, R, V, scale)
    true = truth[pick] - truth[others]
    half = INTERVAL_Z * sd
    out = dict(gap_coverage=float((np.abs(true - pred) <= half + _EPS).mean()), gap_width=float(np.mean(2 * half)))
    if anchored:
        est = truth[pick] - pred  # the revealed score, less each predicted gap
        err = est - truth[others]
        out |= dict(anchored_rmse=float(np.sqrt(np.mean(err**2))), anchored_coverage=float((np.abs(err) <= half + _EPS).mean()))
    return out
