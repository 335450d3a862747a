"""Scoring one method's order on one held-out task against the truth."""

from __future__ import annotations

import math

import numpy as np

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


def _evaluate_order(
    order: np.ndarray, key: np.ndarray, truth: np.ndarray, *, edge: bool, mem: np.ndarray, tol: float,
    true_edge_pos: np.ndarray | None, tie_key: np.ndarray | None = None,
) -> dict[str, float | None]:
    best = truth.max()
    if edge:
        good = truth >= best - tol - _EPS
        mem_min = mem[good].min()
        target = good & (mem <= mem_min + _EPS)
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


def _order_key(order: np.ndarray, key: np.ndarray) -> np.ndarray:
    """A key that sorts like ``order`` (first = highest), keeping ties of ``key`` that stay adjacent in it."""
    out = np.empty(len(order))
    k = key[order]
    start = 0
    for i in range(1, len(order) + 1):
        if i == len(order) or abs(k[i] - k[start]) > _EPS:
            out[order[start:i]] = -(start + i - 1) / 2.0
            start = i
    return out


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


def _random_expected(truth: np.ndarray, *, edge: bool, mem: np.ndarray, tol: float) -> dict[str, float | None]:
    n = len(truth)
    best = truth.max()
    if edge:
        good = truth >= best - tol - _EPS
        mem_min = mem[good].min()
        target = good & (mem <= mem_min + _EPS)
        regret = np.maximum(0.0, best - tol - truth)
        extra = dict(within_tolerance=float(good.mean()), memory_ratio=float(np.exp(np.mean(np.log(mem / mem_min)))))
    else:
        target = truth >= best - _EPS
        regret = best - truth
        extra = {}
    k = int(target.sum())
    miss3 = math.comb(n - k, 3) / math.comb(n, 3) if n > 3 else 0.0
    return dict(hit=k / n, top3=1.0 - miss3, regret=float(regret.mean()), spearman=0.0, kendall=0.0, **extra)


