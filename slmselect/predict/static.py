"""The static advice ("take the model that is best on average"), in one place.

:meth:`RankIndex.avg_rank` is each model's average within-unit rank among a set of candidates, and
:attr:`RankIndex.edge_points` the static edge advice's score (a model's mean score over the evidence units).
Both are vectorised over the observed entries only (a sparse matrix costs its number of scores, not
models × units). The ranking (:mod:`slmselect.predict.rank`) blends them into the predicted standings; the
evaluation's ``best_avg_rank`` baseline is that ranking with weight 1, so a fallback chosen as fully static
picks exactly what the baseline picks.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

#: A candidate with no rank (no unit where two candidates were measured) sits this many sd below the last.
UNRANKED_OFFSET = 1.0
#: The edge points of a candidate with no mean score over the evidence (last in the static edge advice);
#: anything below ``UNSCORED`` is such a candidate.
UNSCORED_POINTS = -1e9
UNSCORED = -1e8


class RankIndex:
    """The measured entries of a models × units matrix, sorted once by unit and then by score (best first), so
    that the average rank among any subset of the models costs a pass over the entries, not a sort."""

    def __init__(self, Y: np.ndarray) -> None:
        Y = np.asarray(Y, dtype=float)
        self.n_models = Y.shape[0] if Y.ndim == 2 else 0
        if Y.ndim != 2 or Y.size == 0:
            self.rows = self.cols = np.zeros(0, np.intp)
            self.vals = np.zeros(0)
            return
        rows, cols = np.nonzero(~np.isnan(Y))
        vals = Y[rows, cols]
        order = np.lexsort((-vals, cols))
        self.rows, self.cols, self.vals = rows[order], cols[order], vals[order]

    @cached_property
    def edge_points(self) -> np.ndarray:
        """(models,) the static edge advice's points: each model's mean score over its measured units,
        ``UNSCORED_POINTS`` where it has none."""
        n = np.bincount(self.rows, minlength=self.n_models)
        tot = np.bincount(self.rows, weights=self.vals, minlength=self.n_models)
        return np.where(n > 0, tot / np.maximum(n, 1), UNSCORED_POINTS)

    def avg_rank(self, members: np.ndarray) -> np.ndarray:
        """Average rank (1 = best; ties share the mean of their ranks) of each model in ``members`` (indices)
        among ``members``, over the units where at least two of them were measured; NaN for a model with no such
        unit. Equal to pandas' ``rank(ascending=False, method="average")`` per unit."""
        idx = np.asarray(members, dtype=int)
        n = len(idx)
        where = np.full(self.n_models, -1)
        where[idx] = np.arange(n)
        pos = where[self.rows]
        keep = pos >= 0
        r, c, v = pos[keep], self.cols[keep], self.vals[keep]
        if len(c) == 0:
            return np.full(n, np.nan)
        per_col = np.bincount(c)
        ok = per_col[c] >= 2
        r, c, v = r[ok], c[ok], v[ok]
        if len(c) == 0:
            return np.full(n, np.nan)
        k = np.arange(len(c))
        new_col = np.r_[True, c[1:] != c[:-1]]
        new_run = new_col | np.r_[True, v[1:] != v[:-1]]
        col_start = np.maximum.accumulate(np.where(new_col, k, 0))
        run_start = np.maximum.accumulate(np.where(new_run, k, 0))
        run_id = np.cumsum(new_run) - 1
        rank = (run_start - col_start) + (np.bincount(run_id)[run_id] + 1) / 2.0
        total = np.bincount(r, weights=rank, minlength=n)
        count = np.bincount(r, minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def static_key(avg: np.ndarray) -> np.ndarray:
    """Higher is better: minus the average rank; an unranked candidate below every ranked one."""
    return np.where(np.isfinite(avg), -avg, UNSCORED_POINTS)


def static_z(avg: np.ndarray) -> np.ndarray | None:
    """Minus the average rank, standardised among the candidates; an unranked candidate goes
    ``UNRANKED_OFFSET`` sd below the last ranked one (the static advice puts it last). None when none is ranked."""
    key = -np.asarray(avg, float)
    ok = np.isfinite(key)
    if not ok.any():
        return None
    m, s = float(key[ok].mean()), float(key[ok].std())
    z = (key - m) / s if s > 1e-12 else np.zeros_like(key)
    return np.where(ok, z, np.min(np.where(ok, z, np.inf)) - UNRANKED_OFFSET)
