"""The call: profile the task, predict every model on it, apply the constraints, order and explain."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from slmselect._validate import check_params
from slmselect.evidence.db import BenchmarkDB, load_db
from slmselect.errors import NoCandidatesError, ParameterError
from slmselect.predict.artifact import get_predictor
from slmselect.predict.observed import OBJECTIVE_VALUE
from slmselect.predict.query import Prediction, interval, p_best, predict
from slmselect.predict.static import UNSCORED, blend_edge
from slmselect.predict.text import unit_text
from slmselect.recommender.constraints import DEFAULT_EDGE_TOLERANCE, feasible_models, normalise_objective, relax_message
from slmselect.recommender.notes import context_notes, pick_notes, task_type
from slmselect.recommender.results import Candidate, Evidence, Recommendation, model_fields
from slmselect._types import TaskProfile


def recommend(
    examples: Any = None,
    *,
    description: str | None = None,
    objective: str = "accuracy",
    top_k: int = 3,
    max_params: float | str | None = None,
    max_memory_gb: float | None = None,
    licenses: str | Sequence[str] | None = None,
    families: str | Sequence[str] | None = None,
    models: str | Sequence[str] | None = None,
    min_context: int | None = None,
    edge_tolerance: float = DEFAULT_EDGE_TOLERANCE,
    include_local: bool = True,
    store: str | os.PathLike[str] | None = None,
    embedder: str = "auto",
    db: BenchmarkDB | None = None,
) -> Recommendation:
    """Recommend base models to fine-tune for a task.

    Give ``examples`` (list of dicts, DataFrame, JSONL/CSV path or ``datasets.Dataset``), a ``description``,
    or both. ``objective``: ``"accuracy"`` (best score after fine-tuning), ``"tunability"`` (largest gain
    from fine-tuning), ``"edge"`` (smallest model by memory whose predicted fine-tuned score is within
    ``edge_tolerance`` of the best feasible one), ``"no_finetune"`` (best base score).
    Hard constraints: ``max_params`` (billions, or '500M'), ``max_memory_gb`` (bf16 inference with a 4k
    context), ``licenses`` (names, or 'commercial' / 'permissive'), ``families``, ``models`` (restrict to
    these ids), ``min_context`` (tokens).
    """
    obj = normalise_objective(objective)
    p = check_params(
        "recommend", top_k=top_k, max_params=max_params, max_memory_gb=max_memory_gb, min_context=min_context,
        edge_tolerance=edge_tolerance, licenses=licenses, families=families, models=models,
        description=description, include_local=include_local, embedder=embedder,
    )
    top_k, max_params, max_memory_gb, min_context = p["top_k"], p["max_params"], p["max_memory_gb"], p["min_context"]
    edge_tolerance, licenses, families, models = p["edge_tolerance"], p["licenses"], p["families"], p["models"]
    description, include_local, embedder = p["description"], p["include_local"], p["embedder"]
    if examples is None and not (description and description.strip()):
        raise ParameterError("recommend needs examples, a description, or both: e.g. recommend(description='classify support tickets by topic').")
    profile: TaskProfile | None = None
    if examples is not None:
        from slmselect.profile.profiler import profile_task

        profile = profile_task(examples, description=description)
    base_db = db if db is not None else load_db()
    db = local_units(base_db, store) if include_local else base_db

    constraints = {k: v for k, v in dict(max_params=max_params, max_memory_gb=max_memory_gb, licenses=licenses,
                                         families=families, models=models, min_context=min_context).items() if v is not None}
    feas = feasible_models(db, models=models, max_params=max_params, max_memory_gb=max_memory_gb, licenses=licenses,
                           families=families, min_context=min_context)
    M = db.models

    kind = OBJECTIVE_VALUE[obj]
    art = get_predictor(base_db, embedder)
    bound = art.bound(db, kind)
    query = (profile.matching_text() if profile else "") or ""
    if description and (profile is None or not profile.description):
        query = description + "\n" + query
    units = bound.obs.units
    semantic, emb_name = query_similarity(db, units, query.strip(), embedder)
    same = None
    if profile is not None:
        same = (units["task_id"] == "local_" + profile.fingerprint[:12]).to_numpy()
    ttype, type_reason = task_type(profile, description)
    pred = predict(bound, semantic, ttype, art.settings[kind], same_task_units=same)

    feasible = M.index[feas.keep]
    if not len(feasible):
        raise NoCandidatesError(relax_message(feas.masks, M.index), excluded=feas.excluded)
    pos = {m: i for i, m in enumerate(pred.models)}
    all_idx = np.array([pos[m] for m in feasible])
    cold_all = pred.cold[all_idx]
    # the ranking holds the models measured on this kind of score; cold-start models (no such score) join it
    # when the user named them, or to fill the list when too few measured models are feasible; otherwise they
    # are listed apart (Recommendation.cold_start), since their prediction rests on metadata alone
    measured = np.flatnonzero(~cold_all)
    main = np.arange(len(all_idx)) if models is not None or not len(measured) else measured
    idx = all_idx[main]
    st = art.settings[kind]
    # the final standing among these candidates: the prediction with the static advice (their average rank over
    # the evidence) blended in by the weight the cross-validation chose; the shown score follows it
    rel, score, lower, upper = pred.among(idx)
    order = np.lexsort((np.arange(len(idx)), -np.round(rel, 9)))  # by the shown prediction, ties by database order
    pb = p_best(pred, idx, mu=rel)
    notes: list[str] = []
    if obj == "edge":
        points, ekey = blend_edge(pred.score[idx], pred.relative[idx], pred.bound.ranks, idx,
                                  pred.static_weights(idx, st.edge_static_weight))
        ref = points[~pred.cold[idx]] if (~pred.cold[idx]).any() else points
        best = float(np.max(ref))
        mem = M.loc[feasible[main], "memory_gb"].to_numpy(dtype=float)
        good = points >= best - float(edge_tolerance)
        order = np.lexsort((-ekey, np.where(good, mem, np.inf), ~good))
        # a model with no published score of this kind has no mean to blend in: it is ordered last among the
        # static advice's, as the static edge advice does, and shows its own prediction
        score = np.where(points > UNSCORED, points, pred.score[idx])
        lower, upper = interval(score, pred.sd_lo[idx], pred.sd_hi[idx], kind)
        notes.append(f"edge: smallest model by memory whose predicted fine-tuned score is within {edge_tolerance:.2f} of the best feasible prediction ({best:.3f})"
                     + (f"; the scores blend in the models' mean published score with weight {st.edge_static_weight:g}, chosen by cross-validation."
                        if st.edge_static_weight > 0 else "."))
        rel = ekey
    notes += pick_notes(pred, idx, order, feasible[main], st, obj)
    shown = {int(i): (float(rel[j]), float(score[j]), float(lower[j]), float(upper[j])) for j, i in enumerate(idx)}

    def candidate(rank: int, i: int, p: float | None) -> Candidate:
        return _candidate(pred, M, kind, shown, rank, int(i), p)

    cands = [candidate(r, idx[j], pb[j]) for r, j in enumerate(order[:top_k], start=1)]
    cold_idx = all_idx[np.setdiff1d(np.arange(len(all_idx)), main)]
    cold_idx = cold_idx[np.lexsort((np.arange(len(cold_idx)), -np.round(pred.relative[cold_idx], 9)))]
    if len(cands) < top_k and len(cold_idx):
        fill = cold_idx[: top_k - len(cands)]
        cands += [candidate(len(cands) + r, i, None) for r, i in enumerate(fill, start=1)]
        cold_idx = cold_idx[len(fill):]
        notes.append("Fewer measured models satisfy the constraints than asked for: cold-start models (no score of this kind; "
                     "predicted from metadata) fill the list after them.")
    notes.append("Predicted scores are on one scale across sources: each model's standing is fitted from all results, "
                 "linked through the models the sources share; the order follows the predicted score.")
    context_notes(profile, cands, notes, M.loc[feasible, "context_len"].max())
    return Recommendation(objective=obj, value=kind, candidates=cands, excluded=feas.excluded, constraints=constraints,
                          profile=profile, description=description, embedder=emb_name, task_type=ttype,
                          task_type_reason=type_reason, notes=notes,
                          cold_start=[candidate(r, i, None) for r, i in enumerate(cold_idx[:top_k], start=1)])


def _candidate(pred: Prediction, M: pd.DataFrame, kind: str, shown: dict[int, tuple[float, float, float, float]],
               rank: int, i: int, p: float | None) -> Candidate:
    """Candidate ``i`` (an index into the prediction's models) at ``rank``, with its shown standing, score and
    interval (``shown``; its own prediction when it is not among them) and probability of being best ``p``."""
    ev = evidence(pred, i)
    low, cold = bool(pred.low_evidence[i]), bool(pred.cold[i])
    cnotes = []
    if cold:
        cnotes.append(f"cold start: no {kind} score for this model in the database; predicted from its size, family, "
                      "release date and variant" + (" and its base scores" if kind != "base" else "") + ", with a wider interval")
    elif low:
        cnotes.append("low evidence: no benchmark task close to yours has this model; the prediction leans on its overall standing")
    r_i, s_i, lo_i, hi_i = shown.get(i, (pred.relative[i], pred.score[i], pred.lower[i], pred.upper[i]))
    return Candidate(
        rank=rank, **model_fields(M, str(pred.models[i])),
        predicted_score=round(float(s_i), 4),
        lower=round(float(lo_i), 4), upper=round(float(hi_i), 4),
        relative_score=round(float(r_i), 3),
        low_evidence=low, evidence_share=round(float(pred.evidence_share[i]), 3),
        win_share=None if p is None else round(float(p), 3), p_best=None if p is None else round(float(p), 3), hedge=False,
        standing=round(float(pred.bound.theta[i]), 3), cold_start=cold,
        sources=sorted({e.source_id for e in ev}), evidence=ev, notes=cnotes,
    )


def local_units(db: BenchmarkDB, store: str | os.PathLike[str] | None) -> BenchmarkDB:
    """Append the local confirm measurements (source 'local') to the database. An unreadable store is
    a warning (naming it and --no-local), and the answer comes from the published evidence alone."""
    from slmselect.errors import StoreError

    try:
        from slmselect.evidence.store import load_local_results

        local = load_local_results(store)
    except ImportError:
        return db
    except StoreError as err:
        warnings.warn(f"{err} Answering from the published evidence only; --no-local skips the local results.",
                      UserWarning, stacklevel=3)
        return db
    if local is None or not len(local):
        return db
    local = local[(local["status"] == "ok") & local["model_id"].isin(db.models.index)]
    if not len(local):
        return db
    local = local.assign(task_id="local_" + local["task_fingerprint"].str.slice(0, 12))
    res = (local.groupby(["model_id", "task_id", "metric"], as_index=False)
           .agg(base_score=("base_score", "mean"), finetuned_score=("finetuned_score", "mean"), n=("run_id", "count")))
    res = res.assign(source_id="local", primary=True, base_setting="slmselect confirm", provenance="LOCAL",
                     notes=res["n"].map(lambda n: f"mean of {n} local confirm run(s); configuration in the results store"))
    res = res.drop(columns="n")
    first = local.drop_duplicates("task_id").set_index("task_id")
    tasks = pd.DataFrame({
        "task_id": first.index,
        "category": first["task_type"].to_numpy(),
        "metric": first["metric"].to_numpy(),
        "higher_is_better": True,
        "dataset": "local examples, fingerprint " + first["task_fingerprint"].str.slice(0, 12),
        "description": first["description"].fillna("").to_numpy(),
        "prompt_template": None,
        "example_inputs": [json.loads(s) if isinstance(s, str) and s else [] for s in first["sample_inputs"]],
        "output_format": None,
        "source_url": None,
    })
    sources = pd.DataFrame([{"source_id": "local", "name": "Local slmselect confirm runs", "kind": "local",
                             "url": None, "setup": "short LoRA fine-tunes measured on your own data", "notes": None}])
    return db.with_results(res, tasks, sources)


def query_similarity(db: BenchmarkDB, units: pd.DataFrame, query: str, embedder: str) -> tuple[np.ndarray, str]:
    """Cosine similarity of the query to each unit's task text (task vectors cached per text and per database)."""
    from slmselect.profile.embed import add_seed_folder, embed_cached, get_embedder

    add_seed_folder(db.path)
    cache = db.__dict__.setdefault("_task_vec_cache", {})
    tasks = db.tasks
    if embedder not in cache:
        texts = unit_text(tasks).tolist()
        emb = get_embedder(texts, prefer=embedder)
        cache[embedder] = (emb, dict(zip(tasks.index, embed_cached(emb, texts))))
    emb, vecs = cache[embedder]
    qcache = cache.setdefault(("query", embedder), {})
    if query not in qcache:
        if len(qcache) > 64:
            qcache.clear()
        qcache[query] = emb.embed([query])[0]
    U = np.stack([vecs[t] for t in units["task_id"]]) if len(units) else np.zeros((0, len(qcache[query])))
    return U @ qcache[query], emb.name


def evidence(pred: Prediction, i: int, k: int = 5) -> list[Evidence]:
    V = pred.values[i]
    present = ~np.isnan(V)
    w = np.where(present, pred.unit_weights, 0.0)
    total = w.sum()
    if total <= 0:
        return []
    order = np.argsort(-w, kind="stable")[:k]
    units = pred.units
    return [
        Evidence(source_id=units.at[j, "source_id"], task_id=units.at[j, "task_id"], category=str(units.at[j, "category"]),
                 metric=str(units.at[j, "metric"]), score=round(float(V[j]), 4),
                 similarity=round(float(pred.similarity[j]), 3), weight=round(float(w[j] / total), 3))
        for j in order if w[j] > 0
    ]
