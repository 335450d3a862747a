"""Choosing the query-time settings by cross-validation over held-out datasets.

Folds are made of whole datasets (:func:`slmselect.predict.text.dataset_groups`): every source's results
for a dataset, and every variant of it, leave together. For each fold the standings are refitted on the
other folds, each held-out unit is asked for by its user-side text (description and example inputs, never
its category), and every setting on the grid is scored by the regret of its pick among the models with a
score there. The setting with the lowest mean loss wins (ties: the stronger shrinkage, i.e. the one nearer
the static advice); the interval scale is then set so that 95% intervals cover 95% of held-out scores.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from slmselect.predict.fit import KindFit, fit_kind, model_features
from slmselect.predict.observed import KINDS, Observed
from slmselect.predict.query import Bound, Settings, bind, kernel, predict_batch
from slmselect.predict.text import task_types_for, type_affinity

#: The grid searched; the first of equally good settings wins, so shrink runs from strong to weak.
GRID: dict[str, tuple[float, ...]] = {
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


def score_settings(b: Bound, truth: np.ndarray, cand: np.ndarray, sem: np.ndarray, aff: np.ndarray,
                   settings: list[Settings]) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """For held-out queries (rows of ``truth`` (Q, M), candidates ``cand`` (Q, M) bool): per setting the
    per-query loss (S, Q), regret (S, Q) and standardised residuals of candidates' scores."""
    S, Qn = len(settings), len(truth)
    loss = np.zeros((S, Qn))
    regret = np.zeros((S, Qn))
    zres: list[np.ndarray] = []
    tbest = np.where(cand, truth, -np.inf).max(1)
    for i, st in enumerate(settings):
        _, w = kernel(b, sem, aff, st)
        out = predict_batch(b, w, st)
        rel = np.where(cand, out["relative"], -np.inf)
        pick = np.argmax(rel, 1)
        reg = tbest - truth[np.arange(Qn), pick]
        order = np.argsort(-rel, 1)[:, :3]
        top3 = (np.take_along_axis(np.where(cand, truth, -np.inf), order, 1) >= tbest[:, None] - 1e-9).any(1)
        regret[i] = reg
        loss[i] = reg + TOP3_WEIGHT * (~top3)
        zres.append(((truth - out["score"]) / out["sd"])[cand])
    return loss, regret, zres


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
    losses: dict[str, list[np.ndarray]] = {k: [] for k in kinds}
    zs: dict[str, list[list[np.ndarray]]] = {k: [] for k in kinds}
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
            for q in queries:
                sem, aff = queries_for(o, held, emb_unit, q, tr)
                loss, _, z = score_settings(b, truth, cand, sem, aff, grid)
                losses[k].append(loss)
                zs[k].append(z)
    out: dict[str, Settings] = {}
    for k in kinds:
        if not losses[k]:
            out[k] = Settings()
            continue
        mean = np.concatenate(losses[k], axis=1).mean(1)
        best = int(np.flatnonzero(mean <= mean.min() + 1e-6)[0])
        z = np.concatenate([zz[best] for zz in zs[k]])
        z = z[np.isfinite(z)]
        scale = float(np.quantile(np.abs(z), COVERAGE_TARGET) / 1.96) if len(z) >= 20 else 1.0
        out[k] = Settings(**{**grid[best].as_dict(), "interval_scale": round(max(scale, 0.5), 4)})
    return out
