"""Choosing the query-time settings by cross-validation over held-out datasets.

Folds are made of whole datasets (:func:`slmselect.predict.text.dataset_groups`): every source's results
for a dataset, and every variant of it, leave together. For each fold the standings are refitted on the
other folds, each held-out unit is asked for by its user-side text (description and example inputs, never
its category), and every setting on the grid is scored by the regret of its pick among the models with a
score there, the pick and the order being :func:`slmselect.predict.rank.rank_batch`'s: the order a user is shown. The grid runs from the most static setting (static weight 1: exactly the static advice) to the
least (static weight, then shrinkage from strong to weak), and the one-standard-error rule chooses
(:func:`most_static_within_se`): the first setting in that order whose mean loss is within one standard
error of the lowest (of their paired per-query difference). So where the predictions do not clearly beat
the static advice on the training datasets the pick falls back to it, and where they do, the most static
setting that is as good within the noise is taken, not the best of hundreds of settings on a few dozen
queries. The edge objective's own static
weight is then chosen for that setting by the edge loss, against weight 1 with a margin of two standard errors
(:func:`static_unless_beaten`); the level's shrinkage and temperature
by the interval score; the interval scale so that 95% intervals cover ``COVERAGE_TARGET`` of held-out
scores (:func:`pooled_scale`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from slmselect.predict.fit import KindFit, fit_kind, model_features
from slmselect.predict.observed import KINDS, Observed
from slmselect.predict.query import INTERVAL_Z, Bound, Settings, bind, gap_sd, kernel, predict_batch
from slmselect.predict.rank import blend, edge_target, rank_batch, static_standings
from slmselect.predict.text import task_types_for, type_affinity
from slmselect._types import EDGE_TOLERANCE

#: The grid searched; the first of equally good settings wins, so the static weight runs from static to
#: predicted and shrink from strong to weak.
GRID: dict[str, tuple[float, ...]] = {
    "static_weight": (1.0, 0.5, 0.0),
    "shrink": (64.0, 16.0, 4.0, 1.0, 0.25),
    "temperature": (0.1, 0.2, 0.05),
    "type_weight": (0.25, 0.0, 0.5),
    "lowrank": (1.0, 0.0),
}
DEFAULT_FOLDS = 5
#: Loss = regret (score points) + TOP3_WEIGHT * (true best not in the top three).
TOP3_WEIGHT = 0.01
#: Share of held-out inner-fold scores the 95% interval is scaled to cover (a little above 0.95: the outer folds
#: see datasets further from the training ones than the inner folds do).
COVERAGE_TARGET = 0.975
#: Edge objective: static weights tried (first wins ties), and the loss weight
#: of a pick that is not the smallest model within tolerance.
EDGE_STATIC_WEIGHTS = (1.0, 0.5, 0.0)
EDGE_MISS_WEIGHT = 0.01
#: The one-standard-error rule of the pick's settings: the most static setting within this many standard errors
#: (of the paired per-query difference) of the lowest inner-fold loss is taken.
STATIC_MARGIN_SE = 1.0
#: ... and for the edge objective's static weight, two: its loss is sparse (most picks fall inside the
#: tolerance band), and with one the edge pick lost to the static edge advice on held-out LoRA Land tasks.
EDGE_MARGIN_SE = 2.0
MIN_SCALE = 0.5
#: The level's shrinkage tried (see ``Settings.level_shrink``); the lowest interval score wins.
LEVEL_SHRINK = (64.0, 16.0, 4.0, 1.0, 0.25)
#: ... and the level's kernel temperature (0: the pick's own).
LEVEL_TEMPERATURE = (0.0, 0.3, 1.0)


@dataclass(frozen=True)
class Query:
    """How held-out tasks are asked for: user-side vectors by task id, and the text (for the type guess)."""

    vectors: Callable[[np.ndarray], np.ndarray]
    text: Mapping[str, str]


def grid_settings() -> list[Settings]:
    keys = list(GRID)
    return [Settings(**dict(zip(keys, vals))) for vals in itertools.product(*(GRID[k] for k in keys))]


def subset(obs: Observed, keep: np.ndarray) -> Observed:
    return Observed(kind=obs.kind, models=obs.models, units=obs.units[keep].reset_index(drop=True),
                    Y=obs.Y[:, keep], raw=obs.raw[:, keep])


def single_thread():
    """Small linear algebra runs fastest on one BLAS thread (and does not fight other processes for cores)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def fit_all(obs: Mapping[str, Observed], models: pd.DataFrame, keep: Mapping[str, np.ndarray] | None = None,
            kinds: tuple[str, ...] = KINDS) -> dict[str, KindFit]:
    """Fit every kind on the units ``keep`` allows: base first, its standings then inform the others."""
    with single_thread():
        return _fit_all(obs, models, keep, kinds)


def _fit_all(obs: Mapping[str, Observed], models: pd.DataFrame, keep: Mapping[str, np.ndarray] | None,
             kinds: tuple[str, ...]) -> dict[str, KindFit]:
    out: dict[str, KindFit] = {}
    X, names, pen = model_features(models)
    need = set(kinds) | ({"base"} if set(kinds) - {"base"} else set())
    if "base" in need:
        o = obs["base"] if keep is None else subset(obs["base"], keep["base"])
        out["base"] = fit_kind(o, X, pen, names)
        base_theta = pd.Series(np.where(out["base"].n_obs > 0, out["base"].theta, np.nan), index=models.index)
        X2, names2, pen2 = model_features(models, {"base": base_theta})
    for k in kinds:
        if k == "base":
            continue
        o = obs[k] if keep is None else subset(obs[k], keep[k])
        out[k] = fit_kind(o, X2, pen2, names2)
    return out


def fold_of(groups: np.ndarray, n_folds: int, seed: int = 0) -> dict[str, int]:
    """Each dataset group's fold (a seeded permutation of the sorted groups, dealt round-robin)."""
    uniq = sorted(set(groups))
    perm = np.random.default_rng(seed).permutation(len(uniq))
    return {uniq[p]: i % n_folds for i, p in enumerate(perm)}


def queries_for(obs: Observed, held: np.ndarray, emb_unit: Callable[[np.ndarray], np.ndarray], query: Query,
                train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(semantic, affinity), each (len(held), n_train), for held-out units asked by their user-side text."""
    tasks = obs.units["task_id"].to_numpy()
    Eu = emb_unit(tasks[train])
    Eq = query.vectors(tasks[held])
    sem = Eq @ Eu.T
    cats = obs.units["category"].to_numpy()[train]
    types = task_types_for(Eq, [query.text.get(t, "") for t in tasks[held]])
    aff = np.stack([type_affinity(tt, cats) for tt in types]) if len(held) else np.zeros((0, len(cats)))
    return sem, aff


@dataclass
class Held:
    """Held-out queries of one inner fold: truths (Q, M), candidates (Q, M) bool, their static standings
    (:func:`slmselect.predict.rank.static_standings`), the static edge advice's points and the memory."""

    truth: np.ndarray
    cand: np.ndarray
    zstat: np.ndarray
    points: np.ndarray
    mem: np.ndarray

    @classmethod
    def of(cls, b: Bound, truth: np.ndarray, cand: np.ndarray, mem: np.ndarray) -> "Held":
        return cls(truth, cand, static_standings(b.ranks, cand), b.ranks.edge_points,
                   np.where(np.isfinite(mem), mem, np.inf))

    def blended(self, rel: np.ndarray, weight: float) -> np.ndarray:
        """The standings ``rel`` (Q, M) with the static advice blended in (:func:`slmselect.predict.rank.blend`)."""
        return blend(rel, self.cand, self.zstat, weight)


def score_settings(b: Bound, h: Held, sem: np.ndarray, aff: np.ndarray, settings: list[Settings]) -> np.ndarray:
    """For held-out queries ``h``: per setting the per-query loss of the pick (S, Q)."""
    truth, cand = h.truth, h.cand
    S, Qn = len(settings), len(truth)
    loss = np.zeros((S, Qn))
    tbest = np.where(cand, truth, -np.inf).max(1)
    cache: dict[Settings, dict[str, np.ndarray]] = {}
    for i, st in enumerate(settings):
        key = replace(st, static_weight=0.0)
        if key not in cache:
            sim, w = kernel(b, sem, aff, st)
            cache[key] = predict_batch(b, w, st, sim)
        order = rank_batch(cache[key]["relative"], cand, h.zstat, st.static_weight).order[:, :3]
        reg = tbest - truth[np.arange(Qn), order[:, 0]]
        top3 = (np.take_along_axis(np.where(cand, truth, -np.inf), order, 1) >= tbest[:, None] - 1e-9).any(1)
        loss[i] = reg + TOP3_WEIGHT * (~top3)
    return loss


def edge_loss(h: Held, score: np.ndarray, rel: np.ndarray, weight: float, tol: float = EDGE_TOLERANCE) -> np.ndarray:
    """(Q,) the edge pick's shortfall below the tolerance band, plus ``EDGE_MISS_WEIGHT`` when it is not the
    smallest model within tolerance (:func:`slmselect.predict.rank.edge_target`); the pick is
    :func:`slmselect.predict.rank.rank_batch`'s."""
    pick = rank_batch(rel, h.cand, h.zstat, weight, edge=True, score=score, static_points=h.points, mem=h.mem,
                      tol=tol).order[:, 0]
    _, target = edge_target(h.truth, h.cand, h.mem, tol)
    rows = np.arange(len(h.truth))
    tbest = np.where(h.cand, h.truth, -np.inf).max(1)
    return np.maximum(0.0, tbest - tol - h.truth[rows, pick]) + EDGE_MISS_WEIGHT * ~target[rows, pick]


def choose_settings(obs: Mapping[str, Observed], models: pd.DataFrame, eligible: np.ndarray,
                    emb_unit: Callable[[np.ndarray], np.ndarray], queries: Sequence[Query], *, keep: Mapping[str, np.ndarray] | None = None,
                    kinds: tuple[str, ...] = KINDS, n_folds: int = DEFAULT_FOLDS, seed: int = 0,
                    min_models: int = 3) -> dict[str, Settings]:
    """Settings per kind chosen by ``n_folds``-fold cross-validation over datasets, on the units ``keep`` allows.

    ``eligible`` (M,) marks the models a recommendation may pick (non-reference); a held-out unit counts
    when at least ``min_models`` of them have a score there. Each held-out unit is asked for in every form
    of ``queries`` (e.g. its description alone, and with example inputs); the loss averages them.
    """
    with single_thread():
        return _choose(obs, models, eligible, emb_unit, queries, keep, kinds, n_folds, seed, min_models)


def _choose(obs, models, eligible, emb_unit, queries, keep, kinds, n_folds, seed, min_models):  # type: ignore[no-untyped-def]
    grid = grid_settings()
    groups_all = np.concatenate([obs[k].units["group"].to_numpy() for k in kinds])
    folds = fold_of(groups_all if keep is None else np.concatenate(
        [obs[k].units["group"].to_numpy()[keep[k]] for k in kinds]), n_folds, seed)
    mem = pd.to_numeric(models["memory_gb"], errors="coerce").to_numpy(dtype=float) if "memory_gb" in models else \
        np.full(len(models), np.inf)
    losses: dict[str, list[np.ndarray]] = {k: [] for k in kinds}
    ctx: dict[str, list[tuple[Bound, Held, np.ndarray, np.ndarray, np.ndarray]]] = {k: [] for k in kinds}
    for f in range(n_folds):
        train = {}
        for k in KINDS:
            base_keep = np.ones(len(obs[k].units), bool) if keep is None else keep[k]
            g = obs[k].units["group"].to_numpy()
            train[k] = base_keep & np.array([folds.get(x, -1) != f for x in g])
        fits = fit_all(obs, models, train, kinds)
        for k in kinds:
            o = obs[k]
            base_keep = np.ones(len(o.units), bool) if keep is None else keep[k]
            held = np.flatnonzero(base_keep & ~train[k])
            pres = o.present[:, held].T & eligible[None, :]
            held = held[pres.sum(1) >= min_models]
            if not len(held) or not train[k].any():
                continue
            tr = np.flatnonzero(train[k])
            b = bind(fits[k], subset(o, train[k]))
            truth = np.nan_to_num(o.Y[:, held].T, nan=-np.inf)
            cand = o.present[:, held].T & eligible[None, :]
            h = Held.of(b, truth, cand, mem)
            for q in queries:
                sem, aff = queries_for(o, held, emb_unit, q, tr)
                losses[k].append(score_settings(b, h, sem, aff, grid))
                ctx[k].append((b, h, sem, aff, held))
    out: dict[str, Settings] = {}
    for k in kinds:
        if not losses[k]:
            out[k] = Settings()
            continue
        best = grid[most_static_within_se(np.concatenate(losses[k], axis=1))]
        out[k] = settle(best, ctx[k], edge=k == "finetuned")
    return out


def most_static_within_se(loss: np.ndarray, n_se: float = STATIC_MARGIN_SE) -> int:
    """Index of the chosen setting for ``loss`` (settings × queries, settings ordered from the most static, the
    first being the static advice): the one-standard-error rule, the first setting in that order whose mean
    loss is within ``n_se`` standard errors (of its paired per-query difference) of the lowest mean loss. The
    static advice stays unless it is clearly beaten, and when it is, the most static setting that is as good
    as the best within the noise displaces it, not the best of hundreds of settings on a few dozen queries."""
    mean = loss.mean(1)
    b = int(np.flatnonzero(mean <= mean.min() + 1e-9)[0])
    if loss.shape[1] < 2:
        return b
    d = loss - loss[b]
    near = d.mean(1) <= n_se * d.std(1, ddof=1) / np.sqrt(loss.shape[1]) + 1e-9
    return int(np.flatnonzero(near)[0])


def static_unless_beaten(loss: np.ndarray, n_se: float = STATIC_MARGIN_SE) -> int:
    """Index of the chosen setting for ``loss`` (settings × queries, settings ordered from the most static, the
    first being the static advice): the lowest mean loss (first of ties), but only when it beats the first
    setting by more than ``n_se`` standard errors of their paired per-query difference; otherwise the first. A
    setting that beats the static advice only by chance on the training datasets does not displace it."""
    mean = loss.mean(1)
    b = int(np.flatnonzero(mean <= mean.min() + 1e-9)[0])
    if b == 0 or loss.shape[1] < 2:
        return b
    d = loss[0] - loss[b]
    se = float(d.std(ddof=1) / np.sqrt(len(d)))
    return b if d.mean() > n_se * se + 1e-9 else 0


def residuals(ctx, st: Settings) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, np.ndarray]]]:  # type: ignore[no-untyped-def]
    """Standardised residuals of the candidates' shown scores under ``st`` over the held-out queries ``ctx``
    (each by the interval's sd on its side of the score), those side sds, the intervals' mean half-width sds,
    and the raw predictions per query batch."""
    z, side, width, outs = [], [], [], []
    for b, h, sem, aff, _held in ctx:
        sim, w = kernel(b, sem, aff, st)
        out = predict_batch(b, w, st, sim)
        score = out["level"][:, None] + out["spread"][:, None] * h.blended(out["relative"], st.static_weight)
        sd = np.where(h.truth < score, out["sd_lo"], out["sd_hi"])
        z.append(((h.truth - score) / sd)[h.cand])
        side.append(sd[h.cand])
        width.append((0.5 * (out["sd_lo"] + out["sd_hi"]))[h.cand])
        outs.append(out)
    return np.concatenate(z), np.concatenate(side), np.concatenate(width), outs


def interval_score(z: np.ndarray, sd_side: np.ndarray, sd_width: np.ndarray, scale: float) -> float:
    """Mean interval score (width + penalty 2/0.05 × the miss) of 95% intervals scaled by ``scale`` for
    residuals ``z·sd_side`` (the width ``2·1.96·scale·sd_width``): a proper scoring rule, lowest for intervals
    that are narrow *and* cover."""
    miss = sd_side * np.maximum(np.abs(z) - INTERVAL_Z * scale, 0.0)
    return float(np.mean(2 * INTERVAL_Z * scale * sd_width + (2 / 0.05) * miss))


def settle(best: Settings, ctx, *, edge: bool) -> Settings:  # type: ignore[no-untyped-def]
    """The pick's settings ``best`` completed: the level's shrinkage by the interval score, the interval scale,
    and the edge objective's static weight by the edge loss."""
    scored = []
    levels = [(lt, ll) for lt in LEVEL_TEMPERATURE for ll in LEVEL_SHRINK]
    for lt, ll in levels:
        st = replace(best, level_temperature=lt, level_shrink=ll)
        z, side, width, _ = residuals(ctx, st)
        ok = np.isfinite(z)
        scored.append(interval_score(z[ok], side[ok], width[ok], pooled_scale(z)))
    lt, ll = levels[int(np.argmin(scored))]
    st = replace(best, level_temperature=lt, level_shrink=ll)
    z, _, _, outs = residuals(ctx, st)
    pooled = round(pooled_scale(z), 4)
    gap = round(pooled_scale(np.concatenate([gap_residuals(c[1], o, st.static_weight) for c, o in zip(ctx, outs)])), 4)
    edge_w = 0.0
    if edge:
        el = np.stack([np.concatenate([edge_loss(c[1], o["score"], o["relative"], a) for c, o in zip(ctx, outs)])
                       for a in EDGE_STATIC_WEIGHTS])
        edge_w = EDGE_STATIC_WEIGHTS[static_unless_beaten(el, EDGE_MARGIN_SE)]
    return replace(st, interval_scale=pooled, edge_static_weight=edge_w, gap_scale=gap)


def gap_residuals(h: Held, out: dict[str, np.ndarray], static_weight: float) -> np.ndarray:
    """Standardised residuals of the predicted gaps below each query's pick (the pick's score minus every other
    candidate's) against the true gaps, each by its unscaled :func:`slmselect.predict.query.gap_sd`."""
    rel = h.blended(out["relative"], static_weight)
    z = []
    for q in range(len(h.truth)):
        idx = np.flatnonzero(h.cand[q])
        if len(idx) < 2:
            continue
        r, v, t = rel[q, idx], out["rel_var"][q, idx], h.truth[q, idx]
        p = int(np.argmax(r))
        others = np.arange(len(idx)) != p
        pred = out["spread"][q] * (r[p] - r[others])
        sd = gap_sd(out["spread"][q], out["spread_var"][q], r[p], v[p], r[others], v[others], 1.0)
        z.append(((t[p] - t[others]) - pred) / np.maximum(sd, 1e-9))
    return np.concatenate(z) if z else np.zeros(0)


def pooled_scale(z: np.ndarray) -> float:
    """The interval scale that makes ``|z| <= 1.96 * scale`` hold for ``COVERAGE_TARGET`` of the residuals ``z``."""
    z = np.abs(z[np.isfinite(z)])
    return max(float(np.quantile(z, COVERAGE_TARGET) / INTERVAL_Z), MIN_SCALE) if len(z) >= 20 else 1.0
