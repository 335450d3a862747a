"""One ranking path: how the candidates of a query are put in order, for ``recommend()``, ``evaluate()`` (the
predictor and every baseline) and the cross-validation that chooses the predictor's settings.

:func:`rank_batch` orders the candidates of many queries at once (the cross-validation's form); :func:`rank`
orders one query's candidates and is the batch form with one row, so the two cannot disagree.

* The standings are blended with the static advice (:func:`blend`): ``(1 - weight) * relative + weight *
  static``, ``static`` being the candidates' average rank over the evidence units
  (:mod:`slmselect.predict.static`) standardised and put on the scale of their standings. Weight 1 is exactly
  the static advice, weight 0 the standings untouched.
* Best-pick objectives: by the blended standing, highest first; standings equal to ``KEY_DECIMALS`` decimals
  tie, and ties keep the candidates' order.
* Edge: the band points are the predicted scores with the static edge advice's points (each model's mean
  score over the evidence units) blended in by the same weight; the candidates within ``tol`` of the best
  points (:func:`edge_band`) come first, smallest memory first, then by the blended standing.

"Best" is read one way everywhere: the band's best is the highest points among the reference candidates
(all of them unless ``ref`` says otherwise); the true edge model of a held-out task is :func:`edge_target`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from slmselect.predict.static import RankIndex, static_z

#: Standings equal to this many decimals tie (the earlier candidate first).
KEY_DECIMALS = 9
#: Slack of the tolerance band's edge (a score exactly ``tol`` below the best is inside).
BAND_EPS = 1e-9


@dataclass
class Ranking:
    """Candidates in order: for :func:`rank_batch` every array is (queries, models) and each row of ``order``
    lists the row's candidates first, in order, then the other columns; for :func:`rank` the arrays are one
    query's, over its candidates, and ``order`` holds positions among them."""

    order: np.ndarray
    #: the standings with the static advice blended in (the order's key)
    relative: np.ndarray
    #: edge: the band points, whether each candidate is inside the band, and the band's best points
    points: np.ndarray | None = None
    good: np.ndarray | None = None
    best: np.ndarray | float | None = None

    @property
    def pick(self) -> np.ndarray | int:
        return self.order[..., 0]


def static_standings(ranks: RankIndex, cand: np.ndarray) -> np.ndarray:
    """(Q, M) the static standing of each row's candidates (``cand`` (Q, M) bool), standardised among them
    (:func:`slmselect.predict.static.static_z`); NaN outside the candidates and for a row with none ranked."""
    Z = np.full(cand.shape, np.nan)
    for q in range(len(cand)):
        idx = np.flatnonzero(cand[q])
        z = static_z(ranks.avg_rank(idx))
        if z is not None:
            Z[q, idx] = z
    return Z


def blend(relative: np.ndarray, cand: np.ndarray, zstat: np.ndarray | None, weight: float | np.ndarray) -> np.ndarray:
    """(Q, M) ``(1 - weight) * relative + weight * static`` for each row's candidates, ``static`` the static
    standings ``zstat`` on the scale of the row's candidates' standings (their mean and sd). ``weight`` is one
    number or one per entry; where it is 0, outside the candidates and in a row without static standings,
    ``relative`` is kept."""
    w = np.broadcast_to(np.asarray(weight, float), relative.shape)
    if zstat is None or not (w > 0).any():
        return relative
    with np.errstate(invalid="ignore", over="ignore"):
        n = cand.sum(1, keepdims=True)
        m = np.where(cand, relative, 0.0).sum(1, keepdims=True) / np.maximum(n, 1)
        sd = np.sqrt((np.where(cand, relative - m, 0.0) ** 2).sum(1, keepdims=True) / np.maximum(n, 1))
        static = m + np.where(sd > 1e-12, sd, 1.0) * zstat
        mixed = np.where(w >= 1, static, (1.0 - w) * relative + w * static)
    ranked = np.isfinite(zstat).any(1, keepdims=True)
    return np.where((w > 0) & cand & ranked, mixed, relative)


def edge_band(points: np.ndarray, cand: np.ndarray, tol: float, ref: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(good (Q, M), best (Q,)): the candidates whose points are within ``tol`` of the best points among the
    reference candidates ``ref`` (all candidates when None, or when none of a row's has finite points). In a
    row without finite points every candidate is inside."""
    p = np.where(np.isfinite(points) & cand, points, -np.inf)
    best = np.where(cand if ref is None else cand & ref, p, -np.inf).max(1)
    best = np.where(np.isfinite(best), best, p.max(1))
    good = np.where(np.isfinite(best)[:, None], p >= best[:, None] - tol - BAND_EPS, True) & cand
    return good, best


def edge_target(truth: np.ndarray, cand: np.ndarray, mem: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """(good, target), each (Q, M): the candidates whose true score is within ``tol`` of the best, and among
    them the smallest by memory (the true edge models)."""
    good, _ = edge_band(truth, cand, tol)
    m = np.broadcast_to(mem, truth.shape)
    smallest = np.where(good, m, np.inf).min(1, keepdims=True)
    return good, good & (m <= smallest + BAND_EPS)


def rank_batch(relative: np.ndarray, cand: np.ndarray, zstat: np.ndarray | None, weight: float | np.ndarray, *,
               edge: bool = False, score: np.ndarray | None = None, static_points: np.ndarray | None = None,
               mem: np.ndarray | None = None, tol: float | None = None, ref: np.ndarray | None = None,
               anchored: np.ndarray | None = None) -> Ranking:
    """Order the candidates ``cand`` (Q, M) of a batch of queries by their predicted standings ``relative``
    (Q, M) with the static advice (static standings ``zstat``, :func:`static_standings`) blended in by
    ``weight``.

    ``edge``: the band points are the predicted ``score`` (Q, M) with ``static_points`` (M,) blended in by
    ``weight``, the band is ``tol`` wide around the best of ``ref``'s, and ``mem`` (M,) orders inside it.
    ``anchored`` (Q, M), scores fixed by a measurement on the very task, replace the standings as the
    best-pick key and the points as the edge band's."""
    rel = blend(relative, cand, zstat, weight)
    key = np.round(np.where(cand, rel, -np.inf), KEY_DECIMALS)
    if not edge:
        if anchored is not None:
            key = np.round(np.where(cand, anchored, -np.inf), KEY_DECIMALS)
        return Ranking(order=np.argsort(-key, axis=1, kind="stable"), relative=rel)
    if tol is None or mem is None or score is None:
        raise ValueError("the edge order needs the predicted scores, the memory and the tolerance")
    w = np.broadcast_to(np.asarray(weight, float), relative.shape)
    if anchored is not None:
        points = anchored
    elif static_points is None or not (w > 0).any():
        points = score
    else:
        P = np.broadcast_to(static_points, score.shape)
        points = np.where(w <= 0, score, np.where(w >= 1, P, (1.0 - w) * score + w * P))
    good, best = edge_band(points, cand, tol, ref)
    m = np.broadcast_to(np.asarray(mem, float), relative.shape)
    order = np.lexsort((-key, np.where(good, m, np.inf), ~good, ~cand), axis=1)
    return Ranking(order=order, relative=rel, points=points, good=good, best=best)


def rank(relative: np.ndarray, cand: np.ndarray, weight: float | np.ndarray = 0.0, ranks: RankIndex | None = None, *,
         edge: bool = False, score: np.ndarray | None = None, mem: np.ndarray | None = None, tol: float | None = None,
         ref: np.ndarray | None = None, anchored: np.ndarray | None = None, avg: np.ndarray | None = None) -> Ranking:
    """Order one query's candidates: :func:`rank_batch` with one row. ``relative``, ``score``, ``mem``, ``ref``
    and ``anchored`` are the candidates' (n,); ``cand`` their indices among the models of ``ranks``, the
    evidence the static advice is read from (needed when ``weight`` is above 0); ``avg`` their average ranks
    (``ranks.avg_rank(cand)``) when the caller has them already. ``order`` holds positions among the candidates."""
    relative = np.asarray(relative, float)
    n = len(relative)
    w = np.asarray(weight, float)
    use_static = ranks is not None and n > 0 and bool((w > 0).any())
    zstat = _static_row(ranks, cand, avg) if use_static else None  # type: ignore[arg-type]
    row = (lambda a: None if a is None else np.asarray(a, float)[None, :])
    r = rank_batch(relative[None, :], np.ones((1, n), bool), zstat, w if w.ndim == 0 else w[None, :], edge=edge,
                   score=row(score),
                   static_points=ranks.edge_points[cand] if use_static and edge else None,  # type: ignore[union-attr]
                   mem=mem, tol=tol, ref=None if ref is None else np.asarray(ref, bool)[None, :],
                   anchored=row(anchored))
    return Ranking(order=r.order[0], relative=r.relative[0], points=None if r.points is None else r.points[0],
                   good=None if r.good is None else r.good[0], best=None if r.best is None else float(r.best[0]))


def blend_among(relative: np.ndarray, ranks: RankIndex, cand: np.ndarray, weight: float | np.ndarray, *,
                avg: np.ndarray | None = None) -> np.ndarray:
    """One query's candidates' standings with the static advice blended in (:func:`blend` with one row);
    ``avg`` as for :func:`rank`."""
    relative = np.asarray(relative, float)
    w = np.asarray(weight, float)
    if not len(relative) or not (w > 0).any():
        return relative
    return blend(relative[None, :], np.ones((1, len(relative)), bool), _static_row(ranks, cand, avg),
                 w if w.ndim == 0 else w[None, :])[0]


def _static_row(ranks: RankIndex, cand: np.ndarray, avg: np.ndarray | None) -> np.ndarray | None:
    """(1, n): the static standings of one query's candidates, from their average ranks (None: none ranked)."""
    z = static_z(ranks.avg_rank(cand) if avg is None else avg)
    return None if z is None else z[None, :]
