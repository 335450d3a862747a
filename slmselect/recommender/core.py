"""The call: profile the task, predict every model on it, apply the constraints, order and explain."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from slmselect._validate import check_params
from slmselect.evidence.db import BenchmarkDB, load_db
from slmselect.errors import NoCandidatesError, ParameterError, SlmselectWarning
from slmselect.predict.artifact import get_predictor
from slmselect.predict.observed import OBJECTIVE_VALUE
from slmselect.predict.query import INTERVAL_Z, Prediction, clip_interval, gaps_below, p_best_normal, predict
from slmselect.predict.static import blend_edge
from slmselect.predict.text import unit_text
from slmselect.recommender.deployment import deployed, measured_serving
from slmselect.recommender.constraints import DEFAULT_EDGE_TOLERANCE, feasible_models, normalise_objective, relax_message
from slmselect.recommender.notes import context_notes, pick_notes, task_type
from slmselect.recommender.requirements import (SUPERSEDED_MARGIN_Z, Requirements, check_model, lookup, one_row_per_model,
                                                requirements_first, requirements_for, successors_first)
from slmselect.recommender.results import Candidate, Evidence, Recommendation, model_fields, text_cell
from slmselect._types import TaskProfile


#: Models above this size are candidates only when the user raises ``max_params`` (or names them).
DEFAULT_MAX_PARAMS_B = 9.0
#: Below this profile confidence the task type is reported as uncertain.
UNSURE_TYPE_CONFIDENCE = 0.6


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
    languages: str | Sequence[str] | None = None,
    task_type: str | None = None,
    measured: Mapping[str, float] | str | None = None,
    split: str | None = None,
    normalize_labels: bool = False,
    edge_tolerance: float = DEFAULT_EDGE_TOLERANCE,
    include_local: bool = True,
    store: str | os.PathLike[str] | None = None,
    embedder: str = "auto",
    db: BenchmarkDB | None = None,
    deploy: str | None = None,
    context: int | None = None,
    max_latency_ms: float | None = None,
) -> Recommendation:
    """Recommend base models to fine-tune for a task.

    Give ``examples`` (list of dicts, DataFrame, a JSONL/JSON/CSV/Parquet file, compressed or not, a
    ``datasets.Dataset``, or a ``DatasetDict`` with ``split``), a ``description``,
    or both. ``objective``: ``"accuracy"`` (best score after fine-tuning), ``"tunability"`` (largest gain
    from fine-tuning), ``"edge"`` (smallest model by memory whose predicted fine-tuned score is within
    ``edge_tolerance`` of the best feasible one), ``"no_finetune"`` (best base score).
    Hard constraints: ``max_params`` (billions, or '500M'; default 9B: small models, unless ``models`` names
    larger ones), ``max_memory_gb`` (``memory_gb``: bf16 with a 4k context unless ``deploy`` is given), ``licenses`` (names, or 'commercial' /
    'permissive'), ``families``, ``models`` (restrict to these ids), ``min_context`` (tokens).
    Requirements read from the task (moved down, not excluded, when a model misses one): its language
    (``languages`` overrides it: codes such as ``'de,fr'``, or ``'any'``), a context that holds its longest
    example (``min_context`` overrides it), tool calls for tool calling. ``task_type`` sets the task type when
    the profile guesses wrong. ``measured`` ({model_id: score} on the objective's scale, measured on this very
    task) anchors the task's level: every other candidate's score follows from its gap to the measured ones.
    ``deploy`` (``"bf16"``, ``"q8_0"``, ``"q4_k_m"``) sets how ``memory_gb`` is estimated: weights at that format in
    llama.cpp, the f16 KV cache for the task's longest input plus answer (or ``context`` tokens) and the runtime;
    it is recorded in ``constraints["deploy"]``. llama.cpp measurements in the results store (``confirm(serve=True)``,
    ``slmselect serve-bench``) replace the estimate for the models measured, and ``max_latency_ms`` keeps the
    measured models whose p95 latency per example is within it (docs/edge.md).
    """
    obj = normalise_objective(objective)
    p = check_params(
        "recommend", top_k=top_k, max_params=max_params, max_memory_gb=max_memory_gb, min_context=min_context,
        edge_tolerance=edge_tolerance, licenses=licenses, families=families, models=models,
        description=description, include_local=include_local, embedder=embedder, languages=languages,
        task_type=task_type, measured=measured, split=split, normalize_labels=normalize_labels,
        deploy=deploy, context=context, max_latency_ms=max_latency_ms,
    )
    top_k, max_params, max_memory_gb, min_context = p["top_k"], p["max_params"], p["max_memory_gb"], p["min_context"]
    edge_tolerance, licenses, families, models = p["edge_tolerance"], p["licenses"], p["families"], p["models"]
    description, include_local, embedder = p["description"], p["include_local"], p["embedder"]
    if examples is None and not (description and description.strip()):
        raise ParameterError("recommend needs examples, a description, or both: e.g. recommend(description='classify support tickets by topic').")
    profile: TaskProfile | None = None
    if examples is not None:
        from slmselect.profile.profiler import profile_task

        profile = profile_task(examples, description=description, split=p["split"],
                               normalize_labels=p["normalize_labels"])
    if profile is not None and p["task_type"] is not None and p["task_type"] != profile.task_type:
        profile = profile.model_copy(update={
            "task_type": p["task_type"], "reasons": [f"set with task_type={p['task_type']!r}"] + profile.reasons})
    base_db = db if db is not None else load_db()
    db = local_units(base_db, store) if include_local else base_db
    serving = measured_serving(store, db.models.index, p["deploy"], profile.fingerprint if profile else None) \
        if include_local else {}
    db, deploy_record, deploy_notes = deployed(db, profile, deploy=p["deploy"], context=p["context"], measured=serving)
    M = db.models

    notes: list[str] = []
    default_size = max_params is None and models is None
    if default_size:
        max_params = DEFAULT_MAX_PARAMS_B
    constraints = {k: v for k, v in dict(max_params=max_params, max_memory_gb=max_memory_gb, licenses=licenses,
                                         families=families, models=models, min_context=min_context,
                                         max_latency_ms=p["max_latency_ms"]).items() if v is not None}
    constraints.update(deploy_record)
    notes += deploy_notes
    feas = feasible_models(db, models=models, max_params=max_params, max_memory_gb=max_memory_gb, licenses=licenses,
                           families=families, min_context=min_context, max_latency_ms=p["max_latency_ms"])
    if p["max_latency_ms"] is not None:
        unmeasured = int(M["latency_ms"].isna().to_numpy()[feas.keep].sum())
        notes.append(f"max_latency_ms={p['max_latency_ms']:g}: checked against the p95 latency measured in llama.cpp "
                     f"({int(M['latency_ms'].notna().sum())} model(s) measured); {unmeasured} feasible model(s) without a "
                     "measurement are kept (measure them with confirm(serve=True) or slmselect serve-bench).")
    if default_size:
        notes.append(f"Small models only by default: at most {DEFAULT_MAX_PARAMS_B:g}B parameters "
                     f"({len(feas.excluded.get(f'max_params={DEFAULT_MAX_PARAMS_B:g}B', []))} larger models left out); "
                     "raise max_params (--max-params) to consider them.")

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
    ttype, type_reason = task_type_for(profile, description, p["task_type"])
    if profile is not None and p["task_type"] is None and profile.confidence < UNSURE_TYPE_CONFIDENCE:
        notes.append(f"The task type is uncertain: {profile.task_type.replace('_', ' ')} at confidence "
                     f"{profile.confidence:.2f} ({'; '.join(profile.reasons[:2])}). If that is wrong, say which it is "
                     "with task_type= (--task-type); evidence from other task types counts little.")
    pred = predict(bound, semantic, ttype, art.settings[kind], same_task_units=same)
    req = requirements_for(profile, ttype, p["languages"], min_context)

    feasible = M.index[feas.keep]
    if not len(feasible):
        raise NoCandidatesError(relax_message(feas.masks, M.index), excluded=feas.excluded)
    pos = {m: i for i, m in enumerate(pred.models)}
    all_idx = np.array([pos[m] for m in feasible])
    cold_all = pred.cold[all_idx]
    # the ranking holds the models measured on this kind of score; cold-start models (no such score) join it
    # when the user named them, or to fill the list when too few measured models are feasible; otherwise they
    # are listed apart (Recommendation.cold_start), since their prediction rests on metadata alone
    with_scores = np.flatnonzero(~cold_all)
    main = np.arange(len(all_idx)) if models is not None or not len(with_scores) else with_scores
    idx = all_idx[main]
    ids = [str(pred.models[i]) for i in idx]
    st = art.settings[kind]

    # the standings among these candidates (the static advice blended in by the cross-validated weight), and
    # what a measurement on this very task fixes: the level, from which every other score follows by its gap
    rel, score, lower, upper = pred.among(idx)
    R, V = pred.relative.copy(), pred.rel_var
    R[idx] = rel

    def gaps(a: int, among: np.ndarray = np.arange(len(idx))) -> tuple[np.ndarray, np.ndarray]:
        """Candidate ``a``'s expected score minus each of ``among``'s (positions in ``idx``), with the sds."""
        return gaps_below(pred.bound, pred.unit_weights, int(idx[a]), idx[among], pred.spread, pred.spread_var, R, V,
                          st.gap_scale)

    given = measured_scores(db, kind, p["measured"], profile)
    anchor = bool(given)
    if anchor:
        # every score follows from a measured model's score less the predicted gap to it (inverse-variance mean
        # over the measured models); the measured ones show their measurement
        ests, ws = [], []
        for m, y in given.items():
            g, sd = gaps_below(pred.bound, pred.unit_weights, pos[m], idx, pred.spread, pred.spread_var, R, V, st.gap_scale)
            ests.append(y - g)
            ws.append(1.0 / np.maximum(sd, 1e-3) ** 2)
        W = np.array(ws)
        score = (W * np.array(ests)).sum(0) / W.sum(0)
        own_sd = 1.0 / np.sqrt(W.sum(0))
        for j, m in enumerate(ids):
            if m in given:
                score[j], own_sd[j] = given[m], 0.0
        lower, upper = clip_interval(score - INTERVAL_Z * own_sd, score + INTERVAL_Z * own_sd, kind)
        notes.append(f"Anchored by {len(given)} measurement(s) on this very task ({', '.join(f'{m} {v:.3f}' for m, v in given.items())}): "
                     "the task's level is fixed by what was measured, and every other candidate's score is a measured "
                     "score less its predicted gap to that model, with the gap's interval.")
    order = list(np.lexsort((np.arange(len(idx)), -np.round(score if anchor else rel, 9))))
    edge_band: dict[int, float] = {}  # edge: candidates outside the tolerance band, with their band score
    edge_best: float | None = None
    if obj == "edge":
        points, ekey = blend_edge(pred.score[idx], pred.relative[idx], pred.bound.ranks, idx,
                                  pred.static_weights(idx, st.edge_static_weight))
        if anchor:
            points = score.copy()
        ref = points[~pred.cold[idx]] if (~pred.cold[idx]).any() else points
        best = float(np.max(ref))
        mem = M.loc[feasible[main], "memory_gb"].to_numpy(dtype=float)
        good = points >= best - float(edge_tolerance)
        order = list(np.lexsort((-ekey, np.where(good, mem, np.inf), ~good)))
        edge_band = {j: float(points[j]) for j in range(len(idx)) if not good[j] and points[j] > -1e8}
        edge_best = best
        notes.append(f"edge: the smallest model by memory whose fine-tuned score is within {edge_tolerance:.2f} of the best "
                     "feasible one comes first"
                     + (f"; that band and order blend in the models' mean published score with weight {st.edge_static_weight:g}, "
                        "chosen by cross-validation (the scores shown are the predictions themselves)."
                        if st.edge_static_weight > 0 and not anchor else "."))

    # requirements before averages, one row per model, no superseded generation above its successor
    facts = M.loc[ids, [c for c in ("languages", "languages_source", "context_len", "context_source", "tool_calls",
                                     "tool_calls_source") if c in M]].to_dict("records")
    fits = [check_model(r, req) for r in facts]
    order = requirements_first(order, fits)
    twins = lookup(M, "twin")
    named = set(db.resolve_model(m) for m in models) if models is not None else set()
    order, merged = one_row_per_model(order, ids, twins, named)
    superseded = lookup(M, "superseded_by")

    def beats(a: int, b: int) -> bool:
        if pred.low_evidence[idx[a]] or pred.low_evidence[idx[b]]:
            return False
        g, sd = gaps(a, np.array([b]))
        return bool(g[0] > SUPERSEDED_MARGIN_Z * max(float(sd[0]), 1e-6))

    shown_before = set(order[:top_k])
    order, moves = successors_first(order, ids, superseded, twins, fits, beats)
    moves = list(dict.fromkeys((old, new) for old, new in moves if old in shown_before))
    notes += requirement_notes(req, fits, order, ids)
    for old, new in moves:
        notes.append(f"{ids[old]} is ranked below its successor {ids[new]}: a superseded generation goes below its "
                     "feasible successor unless the evidence close to your task says the older model is better.")

    first = order[0]
    if anchor:
        gap = score[first] - score
        gsd = np.sqrt(own_sd**2 + own_sd[first] ** 2)
    else:
        # the gaps below the first candidate (every shown score is the first one's less its gap); each absolute
        # range is its score's range on tasks like this one
        gap, gsd = gaps(first)
    gsd[first] = 0.0
    gap[first] = 0.0
    glo, ghi = np.clip(gap - INTERVAL_Z * gsd, -1, 1), np.clip(gap + INTERVAL_Z * gsd, -1, 1)
    # each candidate's own uncertainty around the common level: half of each gap's variance, the first one's the
    # typical (median) of the others' (a measured score is exact)
    own = gsd / np.sqrt(2.0)
    if len(order) > 1:
        own[first] = float(np.median(own[order[1:]]))
    if anchor:
        own = np.where([m in given for m in ids], 0.0, own)
    pb = p_best_normal(score[order], own[order])
    pbest = {i: float(v) for i, v in zip(order, pb)}
    notes += pick_notes(pred, idx, np.array(order), feasible[main], st, obj)
    floor = majority_floor(profile, kind, obj)
    if floor is not None:
        below = [ids[i] for i in order[:top_k] if score[i] < floor[1] - 1e-9]
        notes.append(f"Floor: always answering {floor[0]!r} scores {floor[1]:.3f} on your labels (the majority-class rate)"
                     + (f"; {', '.join(below)} {'is' if len(below) == 1 else 'are'} predicted below it, so measure before "
                        "trusting fine-tuning to beat it." if below else "."))

    def candidate(rank: int, j: int) -> Candidate:
        i = int(idx[j])
        c = _candidate(pred, M, kind, rank, i, float(score[j]), float(lower[j]), float(upper[j]), float(rel[j]),
                       p_best=round(pbest.get(j, 0.0), 3), measured=ids[j] in given)
        c.gap, c.gap_lower, c.gap_upper = round(float(gap[j]), 4), round(float(glo[j]), 4), round(float(ghi[j]), 4)
        if j in merged:
            c.other_variant = ids[merged[j]]
            c.notes.append(f"one row per model: its {M.at[ids[merged[j]], 'variant'] or 'other'} variant "
                           f"{ids[merged[j]]} ranks lower for this objective (models= with both ids lists both)")
        elif twins.get(ids[j]):
            c.other_variant = twins[ids[j]]
        c.requirements = fits[j].missing + fits[j].unknown
        c.notes += [f"requirement not met: {m}" for m in fits[j].missing] + [f"unknown: {u}" for u in fits[j].unknown]
        if j in edge_band and M.at[ids[j], "memory_gb"] < M.at[ids[order[0]], "memory_gb"]:
            c.notes.append(f"edge: smaller than #1, but outside the band: its band score {edge_band[j]:.3f} (blending in its "
                           f"mean published fine-tuned score) is more than {edge_tolerance:.2f} below the best ({edge_best:.3f})")
        if floor is not None and score[j] < floor[1] - 1e-9:
            c.notes.append(f"predicted below the majority-class rate of your labels ({floor[1]:.3f})")
        return c

    cands = [candidate(r, j) for r, j in enumerate(order[:top_k], start=1)]
    cold_idx = all_idx[np.setdiff1d(np.arange(len(all_idx)), main)]
    cold_idx = cold_idx[np.lexsort((np.arange(len(cold_idx)), -np.round(pred.relative[cold_idx], 9)))]

    def cold_candidate(rank: int, i: int) -> Candidate:
        c = _candidate(pred, M, kind, rank, int(i), float(pred.score[i]), float(pred.lower[i]), float(pred.upper[i]),
                       float(pred.relative[i]), p_best=None, measured=False)
        fit = check_model(M.loc[str(pred.models[i])].to_dict(), req)
        c.requirements = fit.missing + fit.unknown
        return c

    if len(cands) < top_k and len(cold_idx):
        fill = cold_idx[: top_k - len(cands)]
        cands += [cold_candidate(len(cands) + r, i) for r, i in enumerate(fill, start=1)]
        cold_idx = cold_idx[len(fill):]
        notes.append("Fewer measured models satisfy the constraints than asked for: cold-start models (no score of this kind; "
                     "predicted from metadata) fill the list after them.")
    notes.append("gap: how far below the first candidate each one is expected to score on this task (0-1 scale), with a "
                 "95% interval: their paired score differences on the benchmark tasks most like yours (the standings' "
                 "difference where two models share too few tasks). The task's absolute level is less certain, and is "
                 "shown as a range for tasks like this one" + (", here fixed by your measurement." if anchor else "."))
    context_notes(profile, cands, notes, M.loc[feasible, "context_len"].max())
    lo0, hi0 = (cands[0].lower, cands[0].upper) if cands else (None, None)
    return Recommendation(objective=obj, value=kind, candidates=cands, excluded=feas.excluded, constraints=constraints,
                          profile=profile, description=description, embedder=emb_name, task_type=ttype,
                          task_type_reason=type_reason, notes=notes, requirements=req.as_dict(),
                          level_lower=lo0, level_upper=hi0, anchored=anchor, measured=given,
                          floor=None if floor is None else floor[1],
                          cold_start=[cold_candidate(r, i) for r, i in enumerate(cold_idx[:top_k], start=1)])


def task_type_for(profile: TaskProfile | None, description: str | None, given: str | None) -> tuple[str | None, str | None]:
    """The task type to rank for and why: the user's ``task_type``, else the profile's or the description's."""
    if given is not None:
        seen = f"; the examples pointed to {profile.task_type}" if profile is not None and profile.task_type != given else ""
        return given, f"set with task_type={given!r}{seen}"
    return task_type(profile, description)


def measured_scores(db: BenchmarkDB, kind: str, given: dict[str, float] | None, profile: TaskProfile | None) -> dict[str, float]:
    """Scores measured on this very task: the user's ``measured`` ({model: score}, ids resolved), then the
    results store's runs on the same data (same fingerprint; the mean of runs), the user's winning."""
    out: dict[str, float] = {}
    if profile is not None and "local" in db.sources.index:  # local_units added the store's runs
        r = db.results[(db.results["task_id"] == "local_" + profile.fingerprint[:12]) & (db.results["source_id"] == "local")]
        for row in r.itertuples():
            v = {"finetuned": row.finetuned_score, "base": row.base_score,
                 "gain": row.finetuned_score - row.base_score}[kind]
            if v == v and v is not None:
                out[str(row.model_id)] = round(float(v), 4)
    for m, v in (given or {}).items():
        out[db.resolve_model(m)] = float(v)
    return out


def majority_floor(profile: TaskProfile | None, kind: str, objective: str) -> tuple[str, float] | None:
    """(label, rate) of always answering the most frequent label, for a classification task scored on accuracy."""
    if profile is None or profile.majority_rate is None or profile.majority_label is None or kind == "gain":
        return None
    return profile.majority_label, float(profile.majority_rate)


def requirement_notes(req: Requirements, fits: list, order: list[int], ids: list[str]) -> list[str]:
    """The requirements read from the task, and how many candidates they moved down."""
    if req.describe() == "none":
        return []
    missing = [ids[i] for i in order if fits[i].missing]
    unknown = [ids[i] for i in order if not fits[i].missing and fits[i].unknown]
    out = (f"Requirements read from the task: {req.describe()}. A model known to miss one is moved below every model "
           f"that meets them (not excluded); one whose fact is unknown sits between. Override with languages= "
           f"(codes, or 'any') and min_context=.")
    if missing or unknown:
        out += f" Moved down: {len(missing)} known to miss one" + (f" (e.g. {missing[0]})" if missing else "") + \
               f", {len(unknown)} with unknowns."
    return [out]


def _candidate(pred: Prediction, M: pd.DataFrame, kind: str, rank: int, i: int, score: float, lower: float,
               upper: float, rel: float, *, p_best: float | None, measured: bool) -> Candidate:
    """Candidate ``i`` (an index into the prediction's models) at ``rank`` with its shown score and interval."""
    ev = evidence(pred, i)
    low, cold = bool(pred.low_evidence[i]), bool(pred.cold[i])
    cnotes = []
    mid = str(pred.models[i])
    if measured:
        cnotes.append("measured on your own data: the score shown is the measurement")
    if cold:
        cnotes.append(f"cold start: no {kind} score for this model in the database; predicted from its size, family, "
                      "release date and variant" + (" and its base scores" if kind != "base" else "") + ", with a wider interval")
    elif low:
        cnotes.append("low evidence: no benchmark task close to yours has this model; the prediction leans on its overall standing")
    sup = text_cell(M.at[mid, "superseded_by"]) if "superseded_by" in M else None
    if sup:
        cnotes.append(f"superseded by {sup} ({text_cell(M.at[mid, 'superseded_source'])})")
    return Candidate(
        rank=rank, **model_fields(M, mid),
        predicted_score=round(score, 4), lower=round(lower, 4), upper=round(upper, 4),
        relative_score=round(rel, 3), measured=measured,
        low_evidence=low, evidence_share=round(float(pred.evidence_share[i]), 3),
        p_best=p_best, standing=round(float(pred.bound.theta[i]), 3), cold_start=cold,
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
                      SlmselectWarning, stacklevel=3)
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
    """The ``k`` results that weigh most in model ``i``'s prediction, each with its share of the prediction's
    task-specific basis: the results' kernel weights and the prior (the model's overall standing, with the
    pseudo-weight ``shrink``) together make 1."""
    V = pred.values[i]
    present = ~np.isnan(V)
    w = np.where(present, pred.unit_weights, 0.0)
    if w.sum() <= 0:
        return []
    total = w.sum() + pred.settings.shrink
    order = np.argsort(-w, kind="stable")[:k]
    units = pred.units
    return [
        Evidence(source_id=units.at[j, "source_id"], task_id=units.at[j, "task_id"], category=str(units.at[j, "category"]),
                 metric=str(units.at[j, "metric"]), score=round(float(V[j]), 4),
                 similarity=round(float(pred.similarity[j]), 3), weight=round(float(w[j] / total), 4))
        for j in order if w[j] > 0
    ]
