"""Per call: predict every model's score on a new task from its similarity to the database's units.

Given the fitted standings (:mod:`slmselect.predict.fit`) and the kernel weight of each unit,
``w[u] = exp((sim[u] - 1) / temperature)`` (a unit as close as the task itself weighs 1, a loosely similar
one almost nothing), a model's task-specific deviation is the weighted mean of its deviations on the units,
shrunk toward the low-rank prediction (and that toward 0) with strength ``shrink``:

    delta[m] = (sum_u w[u] r[m, u] + shrink * P[m] · q) / (sum_u w[u] [m measured on u] + shrink)

so with thin or only loosely similar evidence the prediction falls back to each model's overall standing
(and the pick to the static advice), and the more and the closer the evidence, the more it moves. The
predicted score is ``c + s * (theta + delta)`` with the new task's offset and scale taken from the similar
units (shrunk toward the database's typical ones): one number per model, on one scale, ordered as shown.
Its 95% interval is asymmetric: on each side, the new task's level range (the 2.5% and 97.5% weighted
quantiles of the similar units' offsets, the database's spread as the prior: levels are skewed, a few tasks
score far below the rest) and, in quadrature, the spread of the similar units' scales, the uncertainty of the
standing, and the part of the deviation the evidence does not pin down; ``interval_scale`` is calibrated by
cross-validation so that 95% intervals cover about 95% of held-out truths.

Among a query's candidates the final standing is ``(1 - static_weight) * relative + static_weight * static``,
with ``static`` the candidates' average rank over the evidence units on the same scale
(:mod:`slmselect.predict.static`), blended as every ranking is (:mod:`slmselect.predict.rank`): weight 1 is
exactly the static advice. The shown score follows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from slmselect.predict.fit import KindFit, SCALE_RIDGE
from slmselect.predict.observed import Observed
from slmselect.predict.rank import blend_among
from slmselect.predict.static import RankIndex
from slmselect.predict.text import type_affinity

#: Similarity scale on which 'low evidence' is read (fixed, so tuning the type weight does not move it).
LOW_EVIDENCE_TYPE_WEIGHT = 0.35
LOW_EVIDENCE_SIMILARITY = 0.45
#: Kernel weight of a local measurement on the very same data (same fingerprint): it outweighs everything.
LOCAL_SAME_TASK_WEIGHT = 20.0
INTERVAL_Z = 1.96
#: The level's range is read between these weighted quantiles of the similar units' offsets (a 95% range).
LEVEL_Q = 0.025
#: p_best draws only among this many leading contenders (by mean + 2 sd).
MAX_CONTENDERS = 64


@dataclass(frozen=True)
class Settings:
    """Query-time settings of one kind, chosen by cross-validation (``slmselect.predict.select``)."""

    temperature: float = 0.1
    type_weight: float = 0.25
    shrink: float = 1.0
    lowrank: float = 1.0
    interval_scale: float = 1.0
    #: weight of the static advice (average rank among the candidates) in the final standing, 0-1
    static_weight: float = 0.0
    #: the same for the edge objective's tolerance band and order (1: exactly the static edge advice)
    edge_static_weight: float = 0.0
    #: pseudo-weight of the database's typical offset and scale in the new task's level (cn, sn) and its
    #: variance; negative: the same as ``shrink``. Chosen by the interval score, apart from the pick's settings
    level_shrink: float = -1.0
    #: kernel temperature of the level (a broader kernel reads a task's level from more units); 0: ``temperature``
    level_temperature: float = 0.0
    #: scale of the gap intervals (one candidate's score minus another's on the same task), calibrated by
    #: cross-validation so that 95% gap intervals cover about 95% of held-out gaps (``select.settle``)
    gap_scale: float = 1.0

    def as_dict(self) -> dict[str, float]:
        return {k: float(getattr(self, k)) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Settings":
        """The inverse of :meth:`as_dict` (older files without the newer keys get their defaults)."""
        return cls(**{k: float(v) for k, v in d.items()})


@dataclass
class Bound:
    """A kind's fit laid over an observed matrix (same models; units of the fit or new ones projected)."""

    fit: KindFit
    obs: Observed
    theta: np.ndarray  # (M,)
    theta_var: np.ndarray
    n_obs: np.ndarray
    c: np.ndarray  # (U,)
    s: np.ndarray
    Qf: np.ndarray  # (U, k)
    P: np.ndarray  # (M, k)
    R: np.ndarray  # (U, M) deviations, 0 where missing
    O: np.ndarray  # (U, M) float: measured
    tau2: float
    c_mean: float
    s_mean: float
    categories: np.ndarray
    #: (U,) how much each unit counts as evidence: 1, or less for a source the database flags
    trust: np.ndarray | None = None
    _ranks: RankIndex | None = field(default=None, repr=False)

    @property
    def ranks(self) -> RankIndex:
        """The evidence units' scores sorted for average ranks (built on first use)."""
        if self._ranks is None:
            self._ranks = RankIndex(np.where(self.O.T > 0, self.obs.Y, np.nan))
        return self._ranks


def bind(fit: KindFit, obs: Observed, unit_mask: np.ndarray | None = None) -> Bound:
    """Align ``fit`` with ``obs``: units the fit knows keep their offset, scale and loadings; others (local
    measurements, held-out units given back) are projected on the fitted standings. ``unit_mask`` keeps only
    some units as evidence."""
    pos = {m: i for i, m in enumerate(fit.models)}
    if len(obs.models) != len(fit.models) or any(pos.get(m) != i for i, m in enumerate(obs.models)):
        raise ValueError("the predictor was fitted on other models than the database has; refit it")
    theta = fit.theta
    key = {k: j for j, k in enumerate(zip(fit.units["source_id"], fit.units["task_id"]))}
    U = len(obs.units)
    c = np.zeros(U)
    s = np.zeros(U)
    Qf = np.zeros((U, fit.Q.shape[1]))
    known = np.zeros(U, bool)
    for j, k in enumerate(obs.unit_keys()):
        i = key.get(k)
        if i is not None:
            c[j], s[j], Qf[j], known[j] = fit.c[i], fit.s[i], fit.Q[i], True
    O = obs.present
    s0 = float(np.median(fit.s)) if len(fit.s) else 0.05
    if (~known).any():  # project new units on the standings
        Yz = np.where(O, obs.Y, 0.0)
        n = O.sum(0)
        mt = np.where(O, theta[:, None], 0.0).sum(0) / np.maximum(n, 1)
        my = Yz.sum(0) / np.maximum(n, 1)
        dt = np.where(O, theta[:, None] - mt, 0.0)
        sn = np.maximum(((dt * (Yz - my)).sum(0) + SCALE_RIDGE * s0) / ((dt**2).sum(0) + SCALE_RIDGE), 0.1 * s0)
        s = np.where(known, s, sn)
        c = np.where(known, c, my - sn * mt)
    if unit_mask is not None:
        O = O & unit_mask[None, :]
    R = np.where(O, (np.where(O, obs.Y, 0.0) - c) / np.where(s > 0, s, 1.0) - theta[:, None], 0.0)
    ev = O.any(0)
    cs = c[ev] if ev.any() else np.array([0.5])
    return Bound(fit=fit, obs=obs, theta=theta, theta_var=fit.theta_var, n_obs=O.sum(1), c=c, s=s, Qf=Qf, P=fit.P,
                 R=np.ascontiguousarray(R.T), O=np.ascontiguousarray(O.T.astype(float)), tau2=fit.tau2,
                 c_mean=float(cs.mean()), s_mean=float(np.median(s[ev])) if ev.any() else s0, categories=obs.units["category"].to_numpy(),
                 trust=obs.units["trust"].to_numpy(dtype=float) if "trust" in obs.units else None)


def kernel(b: Bound, semantic: np.ndarray, affinity: np.ndarray, st: Settings, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(similarity, weight), each (Q, U), for queries with cosine ``semantic`` and type ``affinity`` per unit."""
    sim = (1 - st.type_weight) * semantic + st.type_weight * affinity
    w = np.exp((np.minimum(sim, 1.0) - 1.0) / st.temperature)
    w = np.where(b.O.any(1)[None, :], w, 0.0)
    # a unit of a source the database flags counts less (an unrelated task type already does: its affinity of 0
    # lowers the similarity by ``type_weight``, a factor exp(-type_weight / temperature) on its weight)
    if b.trust is not None:
        w = w * b.trust[None, :]
    if exclude is not None:
        w = np.where(exclude, 0.0, w)
    return sim, w


def level_weights(b: Bound, sim: np.ndarray | None, w: np.ndarray, st: Settings) -> np.ndarray:
    """The kernel weights the new task's level is read from: ``w`` itself, or those of ``level_temperature``."""
    if st.level_temperature <= 0 or sim is None:
        return w
    wl = np.where(w > 0, np.exp((np.minimum(sim, 1.0) - 1.0) / st.level_temperature), 0.0)
    return np.where(w >= LOCAL_SAME_TASK_WEIGHT, w, wl)  # a local measurement on the same data keeps its weight


def predict_batch(b: Bound, w: np.ndarray, st: Settings, sim: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Predictions (each (Q, M)) for queries with kernel weights ``w`` (Q, U) and similarities ``sim``."""
    lam = st.shrink
    den = w @ b.O
    num = w @ b.R
    wsum = w.sum(1, keepdims=True)
    if st.lowrank > 0 and b.P.shape[1]:
        q = (w @ b.Qf) / (wsum + lam)
        prior_dev = st.lowrank * (q @ b.P.T)
    else:
        prior_dev = 0.0
    delta = (num + lam * prior_dev) / (den + lam)
    rel = b.theta[None, :] + delta
    rel_var = b.theta_var[None, :] + b.tau2 * lam / (den + lam) + b.tau2 / (den + lam + 1.0) * 0.5
    ll = lam if st.level_shrink < 0 else st.level_shrink
    wl = level_weights(b, sim, w, st)
    tot = wl.sum(1) + ll
    cn = (wl @ b.c + ll * b.c_mean) / tot
    sn = (wl @ b.s + ll * b.s_mean) / tot
    dc = b.c[None, :] - cn[:, None]
    ds = b.s[None, :] - sn[:, None]
    cov = (wl * dc * ds).sum(1) / tot
    vs = ((wl * ds**2).sum(1) + ll * (0.5 * b.s_mean) ** 2) / tot
    score = cn[:, None] + sn[:, None] * rel
    rest = np.maximum(2 * cov[:, None] * rel + vs[:, None] * rel**2 + sn[:, None] ** 2 * rel_var, 0.0)
    # the level's own 95% range: quantiles of the similar units' offsets (the database's, with the prior's
    # weight), not a normal around their mean: levels are skewed (a few tasks score far below the rest)
    ev = b.O.any(1)
    mix = (wl + ll * ev[None, :] / max(int(ev.sum()), 1)) / tot[:, None]
    clo, chi = weighted_quantiles(b.c, mix, (LEVEL_Q, 1 - LEVEL_Q))
    k = st.interval_scale
    sd_lo = k * np.sqrt(np.maximum(((cn - clo) / INTERVAL_Z) ** 2, 1e-6)[:, None] + rest)
    sd_hi = k * np.sqrt(np.maximum(((chi - cn) / INTERVAL_Z) ** 2, 1e-6)[:, None] + rest)
    return dict(relative=rel, relative_sd=k * np.sqrt(rel_var), score=score, sd_lo=sd_lo, sd_hi=sd_hi,
                share=den / (den + lam), den=den, level=cn, spread=sn, rel_var=rel_var, spread_var=vs)


#: Every unit where two models were both measured counts at least this much (relative to the closest unit) in
#: their paired gap: the kernel picks out the tasks like this one, the floor keeps the rest as a prior.
PAIR_FLOOR = 0.05
#: Below this many effective shared units a paired gap falls back to the standings' difference.
PAIR_MIN_UNITS = 3.0


def pair_gap_sd(b: Bound, w: np.ndarray, a: int, others: np.ndarray, floor: float = PAIR_FLOOR) -> np.ndarray:
    """The sd, as a prediction for one new task, of model ``a``'s score minus each of ``others``': the spread of
    their paired differences on the units where both were measured, weighted by the query's kernel weights ``w``
    (U,) plus ``floor``. NaN where they share fewer than ``PAIR_MIN_UNITS`` effective units."""
    Y = b.obs.Y
    O = b.O
    others = np.asarray(others, dtype=int)
    wmax = float(np.max(w)) if len(w) and np.max(w) > 0 else 1.0
    om = w / wmax + floor * (O.any(1))
    if b.trust is not None:
        om = om * b.trust
    W = om[:, None] * (O[:, a][:, None] * O[:, others])
    D = np.nan_to_num(Y[a][:, None] - Y[others].T)
    n = W.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (W * D).sum(0) / n
        var = (W * (D - mean) ** 2).sum(0) / n
        n_eff = n**2 / (W**2).sum(0)
        sd = np.sqrt(var * (1 + 1 / n_eff) * n_eff / np.maximum(n_eff - 1, 1e-9))
    return np.where(n_eff >= PAIR_MIN_UNITS, sd, np.nan)


def gaps_below(b: Bound, w: np.ndarray, a: int, others: np.ndarray, spread: float, spread_var: float, rel: np.ndarray,
               rel_var: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Model ``a``'s expected score minus each of ``others``' on the new task, and the sd of each as a prediction.

    The gap is the difference of their standings on the task's spread (so the shown scores follow the order);
    its sd is read from the spread of the two models' paired score differences on the units where both were
    measured, weighted toward the tasks like this one (:func:`pair_gap_sd`), or, where they share too few units,
    from the standings' uncertainty (:func:`gap_sd`, scaled by the calibrated ``scale``). ``rel`` and ``rel_var``
    are indexed by model like ``others`` and ``a``."""
    others = np.asarray(others, dtype=int)
    ps = pair_gap_sd(b, w, a, others)
    gap = spread * (rel[a] - rel[others])
    ms = gap_sd(spread, spread_var, rel[a], rel_var[a], rel[others], rel_var[others], scale)
    sd = np.where(np.isfinite(ps), ps, ms)
    return np.where(others == a, 0.0, gap), np.where(others == a, 0.0, sd)


def gap_sd(spread: Any, spread_var: Any, rel_a: Any, var_a: Any, rel_b: Any, var_b: Any, scale: float) -> Any:
    """The sd of a score difference ``a - b`` between two models on the same task: the new task's level cancels,
    what stays is the uncertainty of each standing (``var``, in standing units) times the task's spread, and the
    spread's own uncertainty times the standings' difference; ``scale`` is the calibrated ``gap_scale``."""
    d = np.asarray(rel_a) - np.asarray(rel_b)
    return scale * np.sqrt(np.asarray(spread) ** 2 * (np.asarray(var_a) + np.asarray(var_b)) + np.asarray(spread_var) * d**2)


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: tuple[float, ...]) -> tuple[np.ndarray, ...]:
    """Per row of ``weights`` (Q, U), the weighted quantiles ``qs`` of ``values`` (U,) (the lowest value whose
    cumulative weight reaches q)."""
    if not len(values):
        return tuple(np.zeros(len(weights)) for _ in qs)
    order = np.argsort(values, kind="stable")
    v = values[order]
    cw = np.cumsum(weights[:, order], axis=1)
    cw /= np.maximum(cw[:, -1:], 1e-300)
    return tuple(v[np.minimum((cw < q - 1e-12).sum(1), len(v) - 1)] for q in qs)


def interval(score: np.ndarray, sd_lo: np.ndarray, sd_hi: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """The shown 95% interval around ``score``, clipped to the kind's range."""
    return clip_interval(score - INTERVAL_Z * sd_lo, score + INTERVAL_Z * sd_hi, kind)


@dataclass
class Prediction:
    """Per-model predictions for one query (arrays aligned with ``models``)."""

    models: np.ndarray
    relative: np.ndarray  # standing on the new task: overall standing + task-specific deviation
    relative_sd: np.ndarray
    score: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    evidence_share: np.ndarray  # how far the task-specific evidence moved the prediction from the prior, 0-1
    best_similarity: np.ndarray
    low_evidence: np.ndarray
    cold: np.ndarray  # no score of this kind at all: predicted from metadata (and base scores)
    unit_weights: np.ndarray  # (U,)
    similarity: np.ndarray  # (U,)
    bound: Bound
    sd_lo: np.ndarray  # the interval's half-widths below and above the score, over INTERVAL_Z
    sd_hi: np.ndarray
    level: float  # the new task's offset and scale: score = level + spread * relative
    spread: float
    settings: Settings
    rel_var: np.ndarray | None = None  # (M,) variance of each standing on this task (standing units, unscaled)
    spread_var: float = 0.0  # variance of the task's spread
    #: (M,) the share of each model's evidence weight that comes from measurements on this very data (0-1)
    own_share: np.ndarray | None = None

    def static_weights(self, idx: np.ndarray, weight: float) -> np.ndarray:
        """The static advice's weight for each candidate ``idx``: ``weight``, lowered by the share of the model's
        evidence that was measured on the user's own data (the fallback is for thin or loose evidence; a
        measurement on the very task is neither)."""
        own = np.zeros(len(idx)) if self.own_share is None else self.own_share[idx]
        return weight * (1.0 - own)

    def among(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(relative, score, lower, upper) of the candidates ``idx`` with the static advice among them blended in
        (weight ``settings.static_weight``, lowered where the user's own data was measured; the predictions
        themselves when it is 0)."""
        if self.settings.static_weight <= 0:
            return self.relative[idx], self.score[idx], self.lower[idx], self.upper[idx]
        rel = blend_among(self.relative[idx], self.bound.ranks, idx, self.static_weights(idx, self.settings.static_weight))
        score = self.level + self.spread * rel
        lower, upper = interval(score, self.sd_lo[idx], self.sd_hi[idx], self.bound.fit.kind)
        return rel, score, lower, upper

    @property
    def units(self) -> pd.DataFrame:
        return self.bound.obs.units

    @property
    def values(self) -> np.ndarray:
        return self.bound.obs.raw


def predict(b: Bound, semantic: np.ndarray, task_type: str | None, st: Settings, *,
            same_task_units: np.ndarray | None = None, exclude_units: np.ndarray | None = None) -> Prediction:
    """Predict every model's score for one task whose cosine similarity to each unit is ``semantic`` (U,)."""
    aff = type_affinity(task_type, b.categories)
    sim, w = kernel(b, semantic[None, :], aff[None, :], st, None if exclude_units is None else exclude_units[None, :])
    mine = None
    if same_task_units is not None and same_task_units.any():
        mine = same_task_units & b.O.any(1)
        w = np.where(mine[None, :], LOCAL_SAME_TASK_WEIGHT, w)
    out = {k: v[0] for k, v in predict_batch(b, w, st, sim).items()}
    # the share of each model's evidence weight measured on this very data (``den`` is its whole weight)
    own = None if mine is None else (LOCAL_SAME_TASK_WEIGHT * mine) @ b.O / np.maximum(out["den"] + st.shrink, 1e-12)
    lower, upper = interval(out["score"], out["sd_lo"], out["sd_hi"], b.fit.kind)
    sim_le = (1 - LOW_EVIDENCE_TYPE_WEIGHT) * semantic + LOW_EVIDENCE_TYPE_WEIGHT * aff
    usable = w[0] > 0
    best = np.max(np.where((b.O > 0) & usable[:, None], sim_le[:, None], -np.inf), axis=0)
    cold = b.n_obs == 0
    low = cold | (best < LOW_EVIDENCE_SIMILARITY)
    return Prediction(models=b.obs.models, relative=out["relative"], relative_sd=out["relative_sd"], score=out["score"],
                      lower=lower, upper=upper, evidence_share=out["share"], best_similarity=best, low_evidence=low,
                      cold=cold, unit_weights=w[0], similarity=sim[0], bound=b, sd_lo=out["sd_lo"], sd_hi=out["sd_hi"],
                      level=float(out["level"]),
                      spread=float(out["spread"]), settings=st, own_share=own, rel_var=out["rel_var"],
                      spread_var=float(out["spread_var"]))


def clip_interval(lower: np.ndarray, upper: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Scores live in 0-1, gains in -1..1."""
    lo = 0.0 if kind != "gain" else -1.0
    return np.clip(lower, lo, 1), np.clip(upper, lo, 1)


def p_best_normal(mu: np.ndarray, sd: np.ndarray, *, draws: int = 4000, seed: int = 0) -> np.ndarray:
    """Probability that each of independent normals N(mu, sd²) is the largest (seeded draws; an sd of 0 is a
    measured value)."""
    mu, sd = np.asarray(mu, float), np.asarray(sd, float)
    if len(mu) == 0:
        return np.zeros(0)
    if len(mu) == 1:
        return np.ones(1)
    rng = np.random.default_rng(seed)
    # only candidates whose upper tail reaches the leader's lower tail can win (others get 0)
    live = np.flatnonzero(mu + 4 * sd >= np.max(mu - 4 * sd))
    if len(live) > MAX_CONTENDERS:
        live = live[np.argsort(-(mu[live] + 2 * sd[live]), kind="stable")[:MAX_CONTENDERS]]
    best = np.argmax(mu[live][None, :] + sd[live][None, :] * rng.standard_normal((draws, len(live)), dtype=np.float32), axis=1)
    out = np.zeros(len(mu))
    out[live] = np.bincount(best, minlength=len(live)) / draws
    return out
