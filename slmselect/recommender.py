"""recommend(): rank base models for a task under hard constraints, with evidence and uncertainty."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from slmselect._validate import check_params
from slmselect.evidence.db import BenchmarkDB, load_db
from slmselect.errors import NoCandidatesError, ParameterError, check_choice, did_you_mean
from slmselect.predict.artifact import get_predictor
from slmselect.predict.observed import OBJECTIVE_VALUE
from slmselect.predict.query import INTERVAL_Z, Prediction, clip_interval, interval, p_best, predict
from slmselect.predict.static import UNSCORED, blend_edge, static_key
from slmselect.predict.text import unit_text
from slmselect._types import OBJECTIVES, TaskProfile

OBJECTIVE_ALIASES = {
    "max_accuracy": "accuracy", "best": "accuracy", "finetuned": "accuracy",
    "tunable": "tunability", "gain": "tunability",
    "small": "edge", "smallest": "edge",
    "no-finetune": "no_finetune", "nofinetune": "no_finetune", "base": "no_finetune", "zero_shot": "no_finetune",
}
LICENSE_GROUPS = {"commercial": "models whose licence permits commercial use, with or without conditions (see license_conditions)",
                  "permissive": "OSI-style permissive licences only: Apache-2.0, MIT, BSD-3-Clause"}
PERMISSIVE = {"apache-2.0", "mit", "bsd-3-clause"}
COMMERCIAL = {"yes", "with_conditions"}
DEFAULT_EDGE_TOLERANCE = 0.05


class Evidence(BaseModel):
    """One benchmark result that informed a candidate's prediction."""

    source_id: str
    task_id: str
    category: str
    metric: str
    score: float
    similarity: float = Field(description="similarity of this benchmark task to yours (type and meaning), -1..1")
    weight: float = Field(description="share of this candidate's evidence weight, 0-1")


class Candidate(BaseModel):
    """A recommended model with its prediction and the evidence behind it."""

    rank: int
    model_id: str
    family: str
    params_b: float | None
    memory_gb: float | None = Field(description="estimated bf16 inference memory with a 4k-token KV cache")
    license: str | None
    commercial_use: str | None = Field(description="yes | with_conditions | no (empty when the licence is unknown)")
    license_conditions: str | None = Field(default=None, description="what the licence requires for commercial use, when it has conditions")
    context_len: int | None
    predicted_score: float | None = Field(
        description="predicted score on the objective's value, on one scale across sources (0-1; a gain for tunability)")
    lower: float
    upper: float
    relative_score: float | None = Field(
        description="predicted standing on this task (overall standing + task-specific deviation; sd units); the order")
    low_evidence: bool
    evidence_share: float
    win_share: float | None = Field(
        default=None, description="probability that this model is the best of the feasible candidates (same as p_best)")
    hedge: bool = Field(default=False, description="kept for compatibility: the order now always follows the predicted score")
    p_best: float | None = Field(default=None, description="probability that this model is the best of the feasible candidates")
    standing: float | None = Field(default=None, description="the model's overall standing for this kind of score (the prior the evidence moves)")
    cold_start: bool = Field(
        default=False, description="no score of this kind in the database: predicted from metadata (and base scores)")
    sources: list[str]
    evidence: list[Evidence]
    notes: list[str] = Field(default_factory=list)


class Recommendation(BaseModel):
    """The result of :func:`recommend`: ranked candidates, exclusions, and how the ranking was made."""

    objective: str
    value: str = Field(description="what the predicted score measures: finetuned, gain or base score")
    candidates: list[Candidate]
    excluded: dict[str, list[str]] = Field(default_factory=dict, description="constraint -> models it excluded")
    constraints: dict[str, Any] = Field(default_factory=dict)
    profile: TaskProfile | None = None
    description: str | None = None
    embedder: str
    task_type: str | None = Field(default=None, description="the task type the ranking used")
    task_type_reason: str | None = Field(default=None, description="why that type: from the examples, or the description's meaning")
    notes: list[str] = Field(default_factory=list)
    cold_start: list[Candidate] = Field(
        default_factory=list,
        description="the best feasible models with no score of this kind (predicted from metadata and base scores), "
                    "listed apart from the ranking unless named with models= or needed to fill it")

    @property
    def best(self) -> Candidate:
        return self.candidates[0]

    def model_ids(self, top_k: int | None = None) -> list[str]:
        return [c.model_id for c in self.candidates[: top_k or len(self.candidates)]]

    def to_pandas(self) -> pd.DataFrame:
        rows = [c.model_dump(exclude={"evidence"}) | {"top_evidence": c.evidence[0].task_id if c.evidence else None}
                for c in self.candidates]
        return pd.DataFrame(rows)

    def to_json(self, **kw: Any) -> str:
        return self.model_dump_json(indent=kw.pop("indent", 2), **kw)

    def to_html(self, path: str | os.PathLike[str] | None = None, *, confirm_report: Any = None) -> str:
        """The recommendation as one self-contained HTML page (written to ``path`` too when given)."""
        from slmselect.report.html import render_html, write_report

        if path is not None:
            return write_report(path, recommendation=self, confirm_report=confirm_report).read_text(encoding="utf-8")
        return render_html(recommendation=self, confirm_report=confirm_report)

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from slmselect.report.tables import render_recommendation

        yield from render_recommendation(self)


def _normalise_objective(objective: str) -> str:
    o = str(objective).strip().lower().replace(" ", "_")
    o = OBJECTIVE_ALIASES.get(o, o)
    return check_choice("objective", o if o in OBJECTIVES else str(objective), OBJECTIVES, where="recommend")


def _license_mask(models: pd.DataFrame, licenses: Iterable[str]) -> np.ndarray:
    known = sorted(set(models["license"].dropna()))
    lic = models["license"].fillna("").str.lower().to_numpy()
    mask = np.zeros(len(models), bool)
    for name in licenses:
        n = str(name).strip().lower()
        if n == "commercial":
            mask |= models["commercial_use"].isin(COMMERCIAL).to_numpy()
        elif n == "permissive":
            mask |= np.isin(lic, list(PERMISSIVE))
        elif n in {k.lower() for k in known}:
            mask |= lic == n
        else:
            raise ParameterError(
                f"Unknown licence {name!r}. Known licences: {', '.join(map(repr, known))}, or the groups "
                f"'commercial' and 'permissive'." + did_you_mean(str(name), known + list(LICENSE_GROUPS))
            )
    return mask


def _as_list(v: str | Iterable[str] | None) -> list[str] | None:
    if v is None:
        return None
    if isinstance(v, str):
        return [x.strip() for x in v.split(",") if x.strip()]
    return list(v)


def _local_units(db: BenchmarkDB, store: str | os.PathLike[str] | None) -> BenchmarkDB:
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


def _query_similarity(db: BenchmarkDB, units: pd.DataFrame, query: str, embedder: str) -> tuple[np.ndarray, str]:
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


def _evidence(pred: Prediction, i: int, k: int = 5) -> list[Evidence]:
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
    obj = _normalise_objective(objective)
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
    db = _local_units(base_db, store) if include_local else base_db

    constraints = {k: v for k, v in dict(max_params=max_params, max_memory_gb=max_memory_gb, licenses=licenses,
                                         families=families, models=models, min_context=min_context).items() if v is not None}
    M = db.models
    excluded: dict[str, list[str]] = {}
    masks: dict[str, np.ndarray] = {}
    keep = np.ones(len(M), bool)

    def exclude(name: str, mask: np.ndarray) -> None:
        nonlocal keep
        masks[name] = mask
        if (~mask).any():
            excluded[name] = M.index[~mask].tolist()
        keep &= mask

    exclude("reference model (API-only or >= 70B teacher; not a small model)", ~M["reference"].to_numpy())
    if models is not None:
        ids = [db.resolve_model(m) for m in _as_list(models) or []]
        exclude("models", M.index.isin(ids))
    if max_params is not None:
        exclude(f"max_params={max_params:g}B", (M["params_b"].astype(float) <= max_params + 1e-9).to_numpy())
    if max_memory_gb is not None:
        exclude(f"max_memory_gb={float(max_memory_gb):g}", (M["memory_gb"] <= float(max_memory_gb)).to_numpy())
    if licenses is not None:
        exclude(f"licenses={_as_list(licenses)}", _license_mask(M, _as_list(licenses) or []))
    if families is not None:
        fams = _as_list(families) or []
        known = sorted(set(M["family"]))
        low = {f.lower() for f in known}
        for f in fams:
            if f.lower() not in low:
                raise ParameterError(f"Unknown model family {f!r}. Known families: {', '.join(map(repr, known))}." + did_you_mean(f, known))
        exclude(f"families={fams}", M["family"].str.lower().isin([f.lower() for f in fams]).to_numpy())
    if min_context is not None:
        exclude(f"min_context={int(min_context)}", (M["context_len"].fillna(0).astype(float) >= int(min_context)).to_numpy())

    kind = OBJECTIVE_VALUE[obj]
    art = get_predictor(base_db, embedder)
    bound = art.bound(db, kind)
    query = (profile.matching_text() if profile else "") or ""
    if description and (profile is None or not profile.description):
        query = description + "\n" + query
    units = bound.obs.units
    semantic, emb_name = _query_similarity(db, units, query.strip(), embedder)
    same = None
    if profile is not None:
        same = (units["task_id"] == "local_" + profile.fingerprint[:12]).to_numpy()
    task_type, type_reason = _task_type(profile, description)
    pred = predict(bound, semantic, task_type, art.settings[kind], same_task_units=same)

    feasible = M.index[keep]
    if not len(feasible):
        raise NoCandidatesError(_relax_message(masks, M.index), excluded=excluded)
    pos = {m: i for i, m in enumerate(pred.models)}
    all_idx = np.array([pos[m] for m in feasible])
    cold_all = pred.cold[all_idx]
    # the ranking holds the models measured on this kind of score; cold-start models (no such score) join it
    # when the user named them, or to fill the list when too few measured models are feasible; otherwise they
    # are listed apart (Recommendation.cold_start), since their prediction rests on metadata alone
    measured = np.flatnonzero(~cold_all)
    if models is not None or not len(measured):
        main = np.arange(len(all_idx))
    else:
        main = measured
    idx = all_idx[main]
    st = art.settings[kind]
    # the final standing among these candidates: the prediction with the static advice (their average rank over
    # the evidence) blended in by the weight the cross-validation chose; the shown score follows it
    rel, score, lower, upper = pred.among(idx)
    order = np.lexsort((np.arange(len(idx)), -np.round(rel, 9)))  # by the shown prediction, ties by database order
    pb = p_best(pred, idx, mu=rel)
    notes: list[str] = []
    avg = pred.bound.ranks.avg_rank(idx)
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
    static = int(np.argmax(static_key(avg))) if np.isfinite(avg).any() else int(np.argmax(pred.bound.theta[idx]))
    prior = int(np.argmax(np.where(pred.cold[idx], -np.inf, pred.bound.theta[idx])))
    moved = float(np.max(pred.evidence_share[idx])) if len(idx) else 0.0
    moved_txt = f"the evidence close to this task moved predictions by up to {100 * moved:.0f}% of the way from the prior"
    if order[0] == static:
        notes.append(f"The pick is also the static advice (the feasible model with the best average rank over the benchmark "
                     f"tasks); {moved_txt}.")
    elif order[0] == prior and moved < 0.5:
        notes.append(f"The static advice (best average rank over the benchmark tasks) would be {feasible[main][static]}; the "
                     f"overall standings fitted across sources (linked through the models they share) rank "
                     f"{feasible[main][order[0]]} higher; {moved_txt}.")
    else:
        notes.append(f"The static advice (best average rank over the benchmark tasks) would be {feasible[main][static]}; the "
                     f"evidence close to this task ranks {feasible[main][order[0]]} higher.")
    if st.static_weight > 0:
        notes.append(f"The standings blend in the static advice with weight {st.static_weight:g} (chosen by cross-validation over "
                     "datasets: on held-out datasets it did at least as well as the predictions alone).")
    if pred.own_share is not None and (st.static_weight > 0 or (obj == "edge" and st.edge_static_weight > 0)):
        own = [str(pred.models[i]) for i in idx if pred.own_share[i] > 0]
        if own:
            notes.append(f"{len(own)} candidate(s) were measured on your own data ({', '.join(own[:3])}"
                         f"{', …' if len(own) > 3 else ''}): for them the static advice's weight drops by the share of "
                         "their evidence that measurement carries.")
    shown = {int(i): (float(rel[j]), float(score[j]), float(lower[j]), float(upper[j])) for j, i in enumerate(idx)}

    def candidate(rank: int, i: int, p: float | None) -> Candidate:
        ev = _evidence(pred, i)
        low, cold = bool(pred.low_evidence[i]), bool(pred.cold[i])
        cnotes = []
        if cold:
            cnotes.append(f"cold start: no {kind} score for this model in the database; predicted from its size, family, "
                          "release date and variant" + (" and its base scores" if kind != "base" else "") + ", with a wider interval")
        elif low:
            cnotes.append("low evidence: no benchmark task close to yours has this model; the prediction leans on its overall standing")
        r_i, s_i, lo_i, hi_i = shown.get(int(i), (pred.relative[i], pred.score[i], pred.lower[i], pred.upper[i]))
        return Candidate(
            rank=rank, **_model_fields(M, str(pred.models[i])),
            predicted_score=round(float(s_i), 4),
            lower=round(float(lo_i), 4), upper=round(float(hi_i), 4),
            relative_score=round(float(r_i), 3),
            low_evidence=low, evidence_share=round(float(pred.evidence_share[i]), 3),
            win_share=None if p is None else round(float(p), 3), p_best=None if p is None else round(float(p), 3), hedge=False,
            standing=round(float(pred.bound.theta[i]), 3), cold_start=cold,
            sources=sorted({e.source_id for e in ev}), evidence=ev, notes=cnotes,
        )

    cands = [candidate(r, idx[j], pb[j]) for r, j in enumerate(order[:top_k], start=1)]
    cold_idx = all_idx[np.setdiff1d(np.arange(len(all_idx)), main)]
    cold_idx = cold_idx[np.lexsort((np.arange(len(cold_idx)), -np.round(pred.relative[cold_idx], 9)))]
    if len(cands) < top_k and len(cold_idx):
        fill = cold_idx[: top_k - len(cands)]
        cands += [candidate(len(cands) + r, i, None) for r, i in enumerate(fill, start=1)]
        cold_idx = cold_idx[len(fill):]
        notes.append("Fewer measured models satisfy the constraints than asked for: cold-start models (no score of this kind; "
                     "predicted from metadata) fill the list after them.")
    cold_list = [candidate(r, i, None) for r, i in enumerate(cold_idx[:top_k], start=1)]
    notes.append("Predicted scores are on one scale across sources: each model's standing is fitted from all results, "
                 "linked through the models the sources share; the order follows the predicted score.")
    _context_notes(profile, cands, notes, M.loc[feasible, "context_len"].max())
    rec = _recommendation(obj, cands, excluded, constraints, profile, description, emb_name, notes)
    rec.cold_start = cold_list
    return rec


def _task_type(profile: TaskProfile | None, description: str | None) -> tuple[str | None, str | None]:
    """The task type to rank for, and why: the profile's inference, or the description's meaning."""
    if profile is not None:
        return profile.task_type, "; ".join(profile.reasons[:2]) or None
    from slmselect.profile.task_types import type_by_meaning

    guess = type_by_meaning(description or "")
    return (guess.task_type, guess.reason()) if guess else (None, None)


def _recommendation(obj: str, cands: list[Candidate], excluded: dict[str, list[str]], constraints: dict[str, Any],
                    profile: TaskProfile | None, description: str | None, emb_name: str, notes: list[str]) -> Recommendation:
    task_type, reason = _task_type(profile, description)
    return Recommendation(objective=obj, value=OBJECTIVE_VALUE[obj], candidates=cands, excluded=excluded,
                          constraints=constraints, profile=profile, description=description, embedder=emb_name,
                          task_type=task_type, task_type_reason=reason, notes=notes)


def _model_fields(M: pd.DataFrame, mid: str) -> dict[str, Any]:
    """The database facts a Candidate carries about its model."""
    row = M.loc[mid]
    return dict(
        model_id=mid, family=row["family"],
        params_b=None if pd.isna(row["params_b"]) else float(row["params_b"]),
        memory_gb=None if pd.isna(row["memory_gb"]) else round(float(row["memory_gb"]), 2),
        license=_text(row["license"]), commercial_use=_text(row["commercial_use"]),
        license_conditions=_text(row.get("license_conditions")),
        context_len=None if pd.isna(row["context_len"]) else int(row["context_len"]),
    )


def _text(v: Any) -> str | None:
    """A text cell of the models frame, None when empty."""
    return None if v is None or (isinstance(v, float) and np.isnan(v)) or v == "" else str(v)


def _context_notes(profile: TaskProfile | None, cands: list[Candidate], notes: list[str], feasible_max: Any = None) -> None:
    """Say so (a note and a warning) when the longest example does not fit the candidates' context.

    Candidates whose context the database does not know are judged by the longest context of any feasible model.
    """
    if profile is None or not cands:
        return
    longest = profile.input_tokens.max + profile.output_tokens.max
    short = [c for c in cands if c.context_len and c.context_len < longest]
    for c in short:
        c.notes.append(f"context: {c.context_len} tokens, shorter than your longest example (~{longest} tokens)")
    known = [c.context_len for c in cands if c.context_len]
    unknown = len(known) < len(cands)
    largest = max([*known, *([int(feasible_max)] if unknown and pd.notna(feasible_max) else [])], default=0)
    if largest and longest > largest:
        import warnings

        from slmselect.errors import SlmselectWarning

        msg = (f"Your longest example is about {longest} tokens (input + output, counted with {profile.token_counter}); "
               f"it exceeds the context of every candidate (the largest is {largest} tokens"
               + (", taking the longest context of any model that meets the constraints for those the database lacks" if unknown else "")
               + "). Shorten or split the long examples, or pass min_context= (--min-context) to require a longer context.")
        notes.append(msg)
        warnings.warn(msg, SlmselectWarning, stacklevel=3)


def _relax_message(masks: dict[str, np.ndarray], index: pd.Index) -> str:
    fixed = [k for k in masks if k.startswith(("reference", "no "))]
    user = [k for k in masks if k not in fixed]
    if not user:
        return "No model in the database has evidence for this objective. Try another objective or add results to the database."
    base = np.logical_and.reduce([masks[k] for k in fixed]) if fixed else np.ones(len(index), bool)
    gains = {}
    for k in user:
        others = np.logical_and.reduce([masks[o] for o in user if o != k] + [base])
        gains[k] = int(others.sum())
    parts = "; ".join(f"{k} excludes {int((~masks[k] & base).sum())}" for k in user)
    best = max(gains, key=lambda k: gains[k])
    if gains[best] == 0:
        return f"No model satisfies the constraints ({parts}), and relaxing any single one is not enough: relax several."
    return (f"No model satisfies all constraints ({parts}). Relax {best!r}: without it "
            f"{gains[best]} model(s) would qualify.")
