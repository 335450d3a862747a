"""The predictor behind recommend(): similarity-weighted, within-source standardised evidence.

How a prediction is made (``docs/recommending.md`` explains it for users):

1. An *evidence unit* is one (source, task) pair of the database, using the source's primary metric.
2. Each unit gets a similarity to the new task: the cosine between embeddings of the task texts, mixed
   with agreement of task type (the profile's type against the unit's category). Weights are a softmax of
   similarity with temperature ``TAU``; a local measurement on the very same data (same fingerprint) gets
   ``LOCAL_SAME_TASK_BOOST`` times the largest weight, so it outranks published numbers.
3. Scores are only comparable within a unit, so each unit's scores are standardised across its models
   (z-scores). A model's *relative* prediction is the weighted mean of its z-scores; its *absolute*
   prediction (shown to the user, in metric points) is the weighted mean of its raw scores, with a
   predictive interval: ``INTERVAL_Z * sqrt(spread² * (1 + 1/n_eff) + SIGMA_FLOOR²)`` from the weighted
   spread across units, the effective number of units and a floor for task-to-task transfer. Optionally
   (``prior_strength``) a model-level prior, its shrunk mean z over all units, is blended into the
   relative prediction as a pseudo-unit, so models with thin evidence lean on their overall standing.
4. A model whose evidence is far from the task (low similarity or little weight) is flagged low-evidence.
5. Ranking (``rank_key``, ``rank_order``; used by both ``recommend()`` and ``evaluate()``): the expected
   standing is ``relative`` shrunk by the model's evidence share, minus a penalty for low evidence. Places
   1-2 follow it; place 3 (``HEDGE`` places at the end of a ``SHORTLIST``-long head) goes to the remaining
   model that wins the largest weighted share of the evidence units outright (``win_share``).

Everything here is vectorised over a models × units matrix; no Python loop runs over result rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from slmselect.evidence.db import BenchmarkDB

#: Settings chosen by leave-one-task-out on the LoRA Land tasks (``slmselect evaluate``; docs/evaluation.md).
TAU = 0.12
TYPE_WEIGHT = 0.2
SIGMA_FLOOR = 0.06
Z_STD_FLOOR = 0.02
LOCAL_SAME_TASK_BOOST = 10.0
LOW_EVIDENCE_SIMILARITY = 0.45
LOW_EVIDENCE_SHARE = 0.02
#: Type weight of the similarity scale on which LOW_EVIDENCE_SIMILARITY is read (the original TYPE_WEIGHT).
LOW_EVIDENCE_TYPE_WEIGHT = 0.35
#: Pseudo-weight of the model-level prior (a model's shrunk mean z over all units) blended into ``relative``;
#: 0 disables it: it did not improve leave-one-task-out regret on LoRA Land (docs/evaluation.md).
PRIOR_STRENGTH = 0.0
PRIOR_SHRINK = 1.0
#: Ranking key: evidence-share shrinkage constant and the penalty of a low-evidence model (``rank_key``).
EVIDENCE_SHRINK = 0.05
LOW_EVIDENCE_PENALTY = 2.0
#: Places at the end of the SHORTLIST-long head of the ranking that go to the candidates most likely to be
#: the winner (``rank_order``, ``win_share``); 0 ranks by expected standing alone (docs/evaluation.md).
HEDGE = 1
SHORTLIST = 3
#: Normal quantile of the 95% predictive interval. With the predictive variance (between-task spread plus
#: the standard error of the mean plus SIGMA_FLOOR²) it covers 0.91-0.98 of held-out scores per objective.
INTERVAL_Z = 1.96

#: Which categories count as related (half credit) when the types differ.
RELATED = {
    "classification": {"multiple_choice_knowledge", "multiple_choice_reasoning", "regression_similarity"},
    "ner_extraction": {"document_understanding"},
    "qa_open_book": {"qa_closed_book", "document_understanding"},
    "qa_closed_book": {"qa_open_book", "multiple_choice_knowledge"},
    "tool_calling": {"text_to_sql"},
    "summarization": {"generation", "data_to_text"},
    "generation": {"summarization", "data_to_text", "code_generation"},
}

OBJECTIVE_VALUE = {"accuracy": "finetuned", "edge": "finetuned", "tunability": "gain", "no_finetune": "base"}


@dataclass
class Matrix:
    """Scores of one kind (finetuned, gain or base) as a models × units matrix."""

    models: np.ndarray  # model ids, shape (M,)
    units: pd.DataFrame  # one row per (source_id, task_id): category, metric, text
    values: np.ndarray  # (M, U) raw scores, NaN where missing
    z: np.ndarray  # (M, U) within-unit z-scores, NaN where missing or unit has < 2 models


def unit_text(tasks: pd.DataFrame) -> pd.Series:
    """The text each database task is compared by: description, prompt template, example inputs."""
    desc = tasks["description"].fillna("")
    tmpl = tasks["prompt_template"].fillna("").str.slice(0, 400)
    ex = tasks["example_inputs"].map(lambda xs: "\n".join(xs[:3]) if isinstance(xs, list) else "")
    cat = tasks["category"].fillna("").str.replace("_", " ")
    return (desc + "\n" + cat + "\n" + tmpl + "\n" + ex).str.strip()


def build_matrix(db: BenchmarkDB, kind: str) -> Matrix:
    cache = db.__dict__.setdefault("_matrix_cache", {})
    if kind in cache:
        return cache[kind]
    r = db.primary_results
    if kind == "finetuned":
        v = r["finetuned_score"]
    elif kind == "base":
        v = r["base_score"]
    else:
        v = r["finetuned_score"] - r["base_score"]
    r = r.assign(value=v.astype(float)).dropna(subset=["value"])
    hib = db.tasks["higher_is_better"].reindex(r["task_id"]).to_numpy(dtype=bool)
    if kind == "gain":  # a gain is always 'more is better' once the sign of lower-is-better metrics is flipped
        r = r.assign(value=np.where(hib, r["value"], -r["value"]))
    wide = r.pivot_table(index="model_id", columns=["source_id", "task_id"], values="value", aggfunc="mean")
    values = wide.to_numpy(dtype=float)
    units = pd.DataFrame(list(wide.columns), columns=["source_id", "task_id"])
    units["category"] = db.tasks["category"].reindex(units["task_id"]).to_numpy()
    units["metric"] = db.tasks["metric"].reindex(units["task_id"]).to_numpy()
    units["higher_is_better"] = db.tasks["higher_is_better"].reindex(units["task_id"]).to_numpy(dtype=bool)
    sign = np.where(units["higher_is_better"].to_numpy() | (kind == "gain"), 1.0, -1.0)
    count = np.sum(~np.isnan(values), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nanmean(np.where(count >= 1, values, 0.0), axis=0)
        std = np.nanstd(values, axis=0)
        z = (values - mean) / np.maximum(std, Z_STD_FLOOR) * sign
    z[:, count < 2] = np.nan
    m = Matrix(models=wide.index.to_numpy(), units=units, values=values, z=z)
    cache[kind] = m
    return m


def type_affinity(task_type: str | None, categories: np.ndarray) -> np.ndarray:
    """1 for the same category, 0.5 for a related one, 0 otherwise (0.5 everywhere when the type is unknown)."""
    if task_type is None:
        return np.full(len(categories), 0.5)
    related = RELATED.get(task_type, set())
    return np.array([1.0 if c == task_type else 0.5 if c in related else 0.0 for c in categories])


@dataclass
class Prediction:
    """Per-model predictions for one query (arrays aligned with ``models``)."""

    models: np.ndarray
    relative: np.ndarray  # weighted mean z-score (NaN when no comparable evidence)
    score: np.ndarray  # weighted mean raw score
    lower: np.ndarray
    upper: np.ndarray
    evidence_share: np.ndarray  # share of the query's total unit weight that this model's units carry
    best_similarity: np.ndarray  # highest similarity among the model's units
    low_evidence: np.ndarray
    unit_weights: np.ndarray  # (U,)
    similarity: np.ndarray  # (U,)
    matrix: Matrix


def predict(
    matrix: Matrix,
    semantic: np.ndarray,
    task_type: str | None,
    *,
    same_task_units: np.ndarray | None = None,
    exclude_units: np.ndarray | None = None,
    tau: float = TAU,
    sigma_floor: float = SIGMA_FLOOR,
    type_weight: float = TYPE_WEIGHT,
    prior_strength: float = PRIOR_STRENGTH,
    interval_z: float = INTERVAL_Z,
) -> Prediction:
    """Predict every model's score for a task whose cosine similarity to each unit is ``semantic`` (U,)."""
    aff = type_affinity(task_type, matrix.units["category"].to_numpy())
    sim = (1 - type_weight) * semantic + type_weight * aff
    if exclude_units is not None and exclude_units.any():
        sim = np.where(exclude_units, -np.inf, sim)
    w = np.exp((sim - np.max(sim[np.isfinite(sim)], initial=0.0)) / tau)
    w[~np.isfinite(sim)] = 0.0
    if same_task_units is not None and same_task_units.any():
        w = np.where(same_task_units, LOCAL_SAME_TASK_BOOST * max(w.max(), 1e-12), w)
    V, Z = matrix.values, matrix.z
    present = ~np.isnan(V)
    W = present * w  # (M, U)
    wsum = W.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.nansum(np.where(present, V, 0.0) * W, 1) / wsum
        zp = ~np.isnan(Z)
        Wz = zp * w
        zsum = np.nansum(np.where(zp, Z, 0.0) * Wz, 1)
        relative = zsum / Wz.sum(1)
        if prior_strength > 0:
            keep = zp if exclude_units is None else zp & ~exclude_units[None, :]
            n = keep.sum(1)
            prior = np.where(keep, Z, 0.0).sum(1) / (n + PRIOR_SHRINK)
            relative = np.where(n > 0, (zsum + prior_strength * prior) / (Wz.sum(1) + prior_strength), relative)
        var = np.nansum(W * (np.where(present, V, 0.0) - score[:, None]) ** 2, 1) / wsum
        n_eff = wsum**2 / (W**2).sum(1)
    # predictive interval for a new task: between-task spread + the standard error of the mean + a floor
    half = interval_z * np.sqrt(var * (1.0 + 1.0 / np.maximum(n_eff, 1.0)) + sigma_floor**2)
    share = wsum / max(w.sum(), 1e-12)
    # the low-evidence flag is read on a fixed similarity scale, so that tuning type_weight for ranking does
    # not move what "no benchmark task close to yours" means
    sim_le = (1 - LOW_EVIDENCE_TYPE_WEIGHT) * semantic + LOW_EVIDENCE_TYPE_WEIGHT * aff
    best_sim = np.max(np.where(present & np.isfinite(sim)[None, :], sim_le[None, :], -np.inf), 1)
    low = (best_sim < LOW_EVIDENCE_SIMILARITY) | (share < LOW_EVIDENCE_SHARE) | (wsum <= 0)
    half = np.where(low, np.maximum(half, 0.25), half)
    return Prediction(
        models=matrix.models, relative=relative, score=score,
        lower=np.clip(score - half, 0, 1), upper=np.clip(score + half, 0, 1),
        evidence_share=share, best_similarity=best_sim, low_evidence=low,
        unit_weights=w, similarity=sim, matrix=matrix,
    )


def rank_key(pred: Prediction, idx: np.ndarray) -> np.ndarray:
    """The expected-standing key candidates ``idx`` (positions in ``pred.models``) are ranked by.

    ``relative`` (weighted mean z), shrunk toward 0 when the model's units carry little of the total weight
    (``share / (share + EVIDENCE_SHRINK)``), minus ``LOW_EVIDENCE_PENALTY`` for a low-evidence model.
    """
    rel = np.nan_to_num(pred.relative[idx], nan=-3.0)
    share = pred.evidence_share[idx]
    return rel * (share / (share + EVIDENCE_SHRINK)) - LOW_EVIDENCE_PENALTY * pred.low_evidence[idx]


def win_share(pred: Prediction, idx: np.ndarray) -> np.ndarray:
    """Weighted share of the evidence units that each candidate of ``idx`` wins among the candidates.

    Over every unit with a positive weight where at least two candidates have a z-score, the candidate(s) with
    the highest z win it (a tie splits the unit); each unit counts with its weight. Read as: if the new task is
    like unit *u* with probability proportional to *u*'s weight, the chance that this candidate is the best.
    """
    Z = pred.matrix.z[idx]
    w = pred.unit_weights
    zp = ~np.isnan(Z)
    ok = (zp.sum(0) >= 2) & (w > 0)
    if not ok.any():
        return np.zeros(len(idx))
    Zs = np.where(zp, Z, -np.inf)[:, ok]
    win = np.isfinite(Zs) & (Zs >= Zs.max(0, keepdims=True) - 1e-9)
    P = win / np.maximum(win.sum(0, keepdims=True), 1)
    return P @ w[ok] / w[ok].sum()


def rank_order(pred: Prediction, idx: np.ndarray, *, hedge: int = HEDGE, shortlist: int = SHORTLIST) -> np.ndarray:
    """Order of candidates ``idx`` (positions in ``pred.models``): indices into ``idx``, best first.

    Places 1..``shortlist - hedge`` follow :func:`rank_key` (expected standing). The last ``hedge`` places of
    the shortlist go to the remaining candidates most likely to be the winner (:func:`win_share`), well-evidenced
    ones first, ties by :func:`rank_key`: the averaged standing favours models that are good everywhere, while a
    model that wins a share of the similar tasks outright can win this one too, so it deserves a place on the
    shortlist. The other candidates follow in :func:`rank_key` order. ``hedge=0`` (or ``hedge >= shortlist``,
    which would leave no place to the expected standing) is the plain order.
    """
    key = rank_key(pred, idx)
    order = np.argsort(-key, kind="stable")
    hedge = int(hedge)
    n_head = int(shortlist) - hedge
    if hedge <= 0 or n_head < 1 or len(order) <= n_head + 1:
        return order
    rest = order[n_head:]
    ws = win_share(pred, idx)
    by_chance = rest[np.lexsort((-key[rest], -np.round(ws[rest], 12), pred.low_evidence[idx][rest]))]
    picked = by_chance[:hedge]
    return np.concatenate([order[:n_head], picked, rest[~np.isin(rest, picked)]])
