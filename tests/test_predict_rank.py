"""The one ranking path (slmselect.predict.rank): the batch form the cross-validation uses orders exactly as the
one-query form recommend() and evaluate() use, weight 1 is the static advice, weight 0 the standings."""

from __future__ import annotations

import numpy as np
import pytest

from slmselect.predict.rank import edge_band, edge_target, rank, rank_batch, static_standings
from slmselect.predict.static import RankIndex, static_key

TOL = 0.05


def evidence(seed: int, models: int = 12, units: int = 30) -> tuple[RankIndex, np.random.Generator]:
    rng = np.random.default_rng(seed)
    Y = rng.uniform(0.2, 0.9, (models, units))
    Y[rng.uniform(size=Y.shape) < 0.4] = np.nan  # sparse, as the database is
    Y[-1] = np.nan  # one model never measured: unranked, unscored
    return RankIndex(Y), rng


@pytest.mark.parametrize("edge", [False, True])
@pytest.mark.parametrize("weight", [0.0, 0.5, 1.0])
def test_the_batch_form_orders_as_the_one_query_form(edge: bool, weight: float) -> None:
    ranks, rng = evidence(1)
    M, Q = ranks.n_models, 25
    cand = rng.uniform(size=(Q, M)) < 0.6
    cand[:, :3] = True
    rel = rng.normal(size=(Q, M))
    score = 0.5 + 0.1 * rel
    rel[3] = np.round(rel[3], 1)  # ties, which keep the candidates' order
    mem = rng.uniform(1, 20, M)
    batch = rank_batch(rel, cand, static_standings(ranks, cand), weight, edge=edge, score=score,
                       static_points=ranks.edge_points, mem=mem, tol=TOL)
    for q in range(Q):
        idx = np.flatnonzero(cand[q])
        one = rank(rel[q, idx], idx, weight, ranks, edge=edge, score=score[q, idx], mem=mem[idx], tol=TOL)
        assert (idx[one.order] == batch.order[q, : len(idx)]).all()
        assert set(batch.order[q, len(idx):]) == set(np.flatnonzero(~cand[q]))  # the others come last
        np.testing.assert_allclose(one.relative, batch.relative[q, idx])


def test_weight_one_is_the_static_advice_and_weight_zero_the_standings() -> None:
    ranks, rng = evidence(2)
    idx = np.arange(ranks.n_models)
    rel = rng.normal(size=len(idx))
    static = rank(rel, idx, 1.0, ranks)
    assert (static.order == np.argsort(-static_key(ranks.avg_rank(idx)), kind="stable")).all()
    assert static.order[-1] == ranks.n_models - 1  # the unranked model last
    assert (rank(rel, idx, 0.0, ranks).order == np.argsort(-rel, kind="stable")).all()
    mixed = rank(rel, idx, 0.5, ranks).relative
    assert not np.allclose(mixed, rel) and not np.allclose(mixed, static.relative)


def test_edge_band_best_and_target() -> None:
    points = np.array([[0.80, 0.75, 0.749, 0.60, np.nan]])
    cand = np.ones_like(points, bool)
    good, best = edge_band(points, cand, TOL)
    assert best[0] == 0.80 and good[0].tolist() == [True, True, False, False, False]  # tol inclusive, NaN never
    # a reference set (recommend(): the candidates with scores of this kind) sets the best
    good, best = edge_band(points, cand, TOL, ref=np.array([[False, True, True, True, True]]))
    assert best[0] == 0.75 and good[0].tolist() == [True, True, True, False, False]
    mem = np.array([9.0, 4.0, 1.0, 0.5, 0.1])
    r = rank(points[0, :4], np.arange(4), edge=True, score=points[0, :4], mem=mem[:4], tol=TOL)
    assert r.order.tolist() == [1, 0, 2, 3]  # the band smallest first, then the rest by standing, not size
    _, target = edge_target(points[:, :4], cand[:, :4], mem[:4], TOL)
    assert target[0].tolist() == [False, True, False, False]
