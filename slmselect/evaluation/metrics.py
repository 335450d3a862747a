"""Scoring one method's order on one held-out task against the truth."""

from __future__ import annotations

import math

import numpy as np

from slmselect.predict.rank import edge_target

_EPS = 1e-9


def _corr(a: np.ndarray, b: np.ndarray) -> tuple[float | None, float | None]:
    from scipy.stats import kendalltau, spearmanr

    if len(a) < 3 or np.ptp(b) <= _EPS:
        return None, None
    if np.ptp(a) <= _EPS:  # a method with no information about the order
        return 0.0, 0.0
    s = float(spearmanr(a, b).statistic)
    k = float(kendalltau(a, b).statistic)
    return s, k


def score_order(
    order: np.ndarray, key: np.ndarray, truth: np.ndarray, *, edge: bool, mem: np.ndarray, tol: float,
    true_edge_pos: np.ndarray | None, tie_key: np.ndarray | None = None,
) -> dict[str, float | None]:
    """One method's figures on one held-out task: its ``order`` (positions, first = pick) and ``key`` (for the
    rank correlations) against ``truth``; ``tie_key``: picks tied on it share the figures (a baseline's ties)."""
    best = truth.max()
    if edge:
        good, target = true_edge(truth, mem, tol)
        mem_min = mem[good].min()
        pick = order[0]
        pos = np.empty(len(order))
        pos[order] = np.arange(len(order))
        s, k = _corr(-pos, -true_edge_pos)  # type: ignore[operator]
        return dict(hit=float(target[pick]), top3=float(target[order[:3]].any()),
                    regret=float(max(0.0, best - tol - truth[pick])), spearman=s, kendall=k,
                    within_tolerance=float(good[pick]), memory_ratio=float(mem[pick] / mem_min))
    target = truth >= best - _EPS
    first = order[0]
    tied = np.flatnonzero(np.abs(tie_key - tie_key[first]) <= _EPS) if tie_key is not None else np.array([first])
    s, k = _corr(key, truth)
    top3 = _topk_expected(tie_key, target, 3) if tie_key is not None else float(target[order[:3]].any())
    return dict(hit=float(target[tied].mean()), top3=top3, regret=float((best - truth[tied]).mean()), spearman=s, kendall=k)


def _topk_expected(key: np.ndarray, target: np.ndarray, k: int) -> float:
    """P(some target is among the first ``k``) when ties in ``key`` are broken uniformly at random."""
    slots = k
    for v in np.unique(key)[::-1]:
        grp = np.abs(key - v) <= _EPS
        g, t = int(grp.sum()), int((grp & target).sum())
        if g <= slots:
            if t:
                return 1.0
            slots -= g
            if slots == 0:
                return 0.0
            continue
        return 1.0 - math.comb(g - t, slots) / math.comb(g, slots)
    return 0.0


def random_expected(truth: np.ndarray, *, edge: bool, mem: np.ndarray, tol: float) -> dict[str, float | None]:
    n = len(truth)
    best = truth.max()
    if edge:
        good, target = true_edge(truth, mem, tol)
        mem_min = mem[good].min()
        regret = np.maximum(0.0, best - tol - truth)
        extra = dict(within_tolerance=float(good.mean()), memory_ratio=float(np.exp(np.mean(np.log(mem / mem_min)))))
    else:
        target = truth >= best - _EPS
        regret = best - truth
        extra = {}
    k = int(target.sum())
    miss3 = math.comb(n - k, 3) / math.comb(n, 3) if n > 3 else 0.0
    return dict(hit=k / n, top3=1.0 - miss3, regret=float(regret.mean()), spearman=0.0, kendall=0.0, **extra)


def true_edge(truth: np.ndarray, mem: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """(inside the tolerance band of the best true score, the true edge models) among one task's candidates,
    as the cross-validation reads them (:func:`slmselect.predict.rank.edge_target`)."""
    good, target = edge_target(truth[None, :], np.ones((1, len(truth)), bool), mem, tol)
    return good[0], target[0]
