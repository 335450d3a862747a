"""Build-time fitting: every model's standing on one scale across sources, per kind of score.

For one kind (fine-tuned, base or gain) the score of model *m* on unit *u* (a source's task) is modelled as

    y[m, u] = c[u] + s[u] * (theta[m] + r[m, u]) + e[m, u]

* ``c[u]`` and ``s[u]`` are the unit's offset and scale (how hard the task is, how far apart models land on
  it, under that source's setup); ``s`` is shrunk toward the typical scale so that a unit with two models
  does not decide its own scale;
* ``theta[m]`` is the model's standing, one number comparable across sources: sources share models, and the
  shared models tie the sources' scales together. Standings are normalised to mean 0 and standard deviation 1
  over the models with scores;
* ``r[m, u]`` is the model's task-specific deviation (variance ``tau2``), summarised by a low-rank
  factorisation ``P[m] · Q[u]`` so that a model missing from the tasks most like a new one still gets the
  deviation its similar models show there;
* ``e`` is measurement noise (``SIGMA_MEAS``).

Each standing has a prior ``theta[m] ~ N(X[m] · beta, prior_var)`` from what is known about the model
without this kind of score: size, release date, instruct or base, family, and its standing on base scores
(for the fine-tuned and gain kinds: the learned base -> fine-tuned relation). A model with scores leans on
them; one with none (cold start) gets the prior mean and the prior variance, so its interval is wider.

Fitting alternates closed-form weighted least-squares steps (units, models, prior), vectorised over the
models × units matrix; everything is deterministic (no random initialisation).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from slmselect.predict.observed import Observed

SIGMA_MEAS = 0.01
#: Ridge strength pulling a unit's scale toward the typical scale (pseudo-models at standing +-1).
SCALE_RIDGE = 2.0
#: Ridge of the metadata regression (numeric features standardised) and of the family effects.
FEATURE_RIDGE = 1.0
FAMILY_RIDGE = 3.0
#: Ridge of the low-rank factorisation of the deviations, and its rank.
LOWRANK_RIDGE = 3.0
RANK = 2
N_ITER = 40
TAU2_FLOOR = 0.02
#: Floor of the variance of a model's source-specific effect (a study's setup favouring some models).
SIGMA_B2_FLOOR = 0.02
#: Pseudo-observations pulling a source's deviation variance toward the pooled one.
TAU2_POOL = 20.0
PRIOR_VAR_FLOOR = 0.25


@dataclass
class KindFit:
    """Fitted standings for one kind of score (arrays aligned with ``models`` and ``units``)."""

    kind: str
    models: np.ndarray  # (M,)
    units: pd.DataFrame  # (U,) source_id, task_id
    theta: np.ndarray  # (M,) standing
    theta_var: np.ndarray  # (M,) posterior variance of the standing
    n_obs: np.ndarray  # (M,) number of units with a score
    prior_mean: np.ndarray  # (M,) metadata prior of the standing
    c: np.ndarray  # (U,)
    s: np.ndarray  # (U,)
    P: np.ndarray  # (M, k)
    Q: np.ndarray  # (U, k)
    tau2: float
    prior_var: float
    beta: dict[str, float] = field(default_factory=dict)


def model_features(models: pd.DataFrame, others: dict[str, pd.Series] | None = None) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Metadata features of each model: (X, names, penalty per column). Numeric columns are standardised."""
    cols: dict[str, np.ndarray] = {}
    pen: dict[str, float] = {}
    p = pd.to_numeric(models["params_b"], errors="coerce").to_numpy(dtype=float)
    logp = np.log(np.clip(p, 1e-3, None))
    cols["log_params"], cols["params_missing"] = _impute(logp)
    date = pd.to_datetime(models["release_date"].astype("string"), errors="coerce", format="mixed")
    year = (date.dt.year + (date.dt.month - 1) / 12.0).to_numpy(dtype=float)
    cols["release_year"], cols["date_missing"] = _impute(year)
    cols["instruct"] = (models["variant"].astype(str) == "instruct").to_numpy(dtype=float)
    for k, ser in (others or {}).items():
        v = ser.reindex(models.index).to_numpy(dtype=float)
        cols[f"standing_{k}"] = np.nan_to_num(v, nan=0.0)
        cols[f"has_{k}"] = np.isfinite(v).astype(float)
    for name, v in list(cols.items()):
        sd = v.std()
        cols[name] = (v - v.mean()) / sd if sd > 1e-9 else v * 0.0
        pen[name] = FEATURE_RIDGE
    fam = models["family"].fillna("?").astype(str).to_numpy()
    for f in sorted(set(fam)):
        cols[f"family={f}"] = (fam == f).astype(float)
        pen[f"family={f}"] = FAMILY_RIDGE
    names = list(cols)
    X = np.column_stack([cols[n] for n in names]) if names else np.zeros((len(models), 0))
    return X, names, np.array([pen[n] for n in names])


def _impute(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    miss = ~np.isfinite(v)
    fill = np.median(v[~miss]) if (~miss).any() else 0.0
    return np.where(miss, fill, v), miss.astype(float)


def _ridge(X: np.ndarray, y: np.ndarray, pen: np.ndarray) -> tuple[float, np.ndarray, float]:
    """Intercept, ridge coefficients, and the degrees of freedom used (trace of the hat matrix + 1)."""
    if len(y) == 0:
        return 0.0, np.zeros(X.shape[1]), 0.0
    xm = X.mean(0)
    ym = y.mean()
    Xc = X - xm
    A = np.linalg.inv(Xc.T @ Xc + np.diag(pen))
    beta = A @ (Xc.T @ (y - ym))
    df = 1.0 + float(np.einsum("ij,ji->", Xc @ A, Xc.T))
    return float(ym - xm @ beta), beta, df


def fit_kind(obs: Observed, X: np.ndarray, pen: np.ndarray, names: list[str], *, rank: int = RANK, n_iter: int = N_ITER) -> KindFit:
    """Fit the standings of one kind (see the module docstring)."""
    Y, O = obs.Y, obs.present
    M, U = Y.shape
    Yz = np.where(O, Y, 0.0)
    n_u = O.sum(0)
    n_m = O.sum(1)
    has = n_m > 0
    # start: the mean within-unit z-score
    with np.errstate(invalid="ignore", divide="ignore"):
        mu_u = Yz.sum(0) / np.maximum(n_u, 1)
        sd_u = np.sqrt((O * (Yz - mu_u) ** 2).sum(0) / np.maximum(n_u, 1))
        Z0 = np.where(O, (Yz - mu_u) / np.maximum(sd_u, 0.02), 0.0)
    theta = Z0.sum(1) / np.maximum(n_m, 1)
    theta_var = np.ones(M)
    mu = np.zeros(M)
    prior_var = 1.0
    tau2 = 0.3
    s0 = float(np.median(sd_u[n_u >= 3])) if (n_u >= 3).any() else 0.05
    c = mu_u.copy()
    s = np.full(U, s0)
    b0, beta = 0.0, np.zeros(X.shape[1])
    # the prior does not extrapolate: a model outside the range of the fitted ones (a 52B merge when the scored
    # models stop at 14B) is predicted as if at the edge of that range
    Xc = np.clip(X, X[has].min(0), X[has].max(0)) if has.any() else X
    src_codes, src_idx = np.unique(obs.units["source_id"].to_numpy(dtype=str), return_inverse=True) if U else (np.zeros(0), np.zeros(0, int))
    tau2_u = np.full(U, tau2)
    G = np.zeros((U, len(src_codes)))
    G[np.arange(U), src_idx] = 1.0
    sigma_b2 = 0.1
    for _ in range(n_iter):
        # units: regress scores on standings, the scale shrunk toward s0
        T = np.where(O, theta[:, None], 0.0)
        mt = T.sum(0) / np.maximum(n_u, 1)
        my = Yz.sum(0) / np.maximum(n_u, 1)
        dt = np.where(O, theta[:, None] - mt, 0.0)
        cov = (dt * (Yz - my)).sum(0)
        vt = (dt**2).sum(0)
        s = np.maximum((cov + SCALE_RIDGE * s0) / (vt + SCALE_RIDGE), 0.1 * s0)
        c = my - s * mt
        if (n_u >= 3).any():
            s0 = float(np.median(s[n_u >= 3]))
        # models: precision-weighted mean of implied standings, with the metadata prior
        Zs = np.where(O, (Yz - c) / s, 0.0)
        # results of one source share its setup: per source, the mean implied standing carries the source's
        # own effect on the model (variance sigma_b2), so many tasks of one study count as one study, not many
        prec = 1.0 / (tau2_u + (SIGMA_MEAS / s) ** 2)
        den_s = (O * prec) @ G  # (M, S)
        zbar = np.where(den_s > 0, ((Zs * prec) @ G) / np.maximum(den_s, 1e-12), 0.0)
        v_s = sigma_b2 + 1.0 / np.maximum(den_s, 1e-12)
        p_s = np.where(den_s > 0, 1.0 / v_s, 0.0)
        den = p_s.sum(1) + 1.0 / prior_var
        theta = ((p_s * zbar).sum(1) + mu / prior_var) / den
        theta_var = 1.0 / den
        multi = (den_s > 0).sum(1) >= 2
        if multi.any():
            d2 = np.where(den_s[multi] > 0, (zbar[multi] - theta[multi, None]) ** 2 - 1.0 / np.maximum(den_s[multi], 1e-12), np.nan)
            sigma_b2 = max(float(np.nanmean(d2)), SIGMA_B2_FLOOR)
        # prior: ridge regression of the standings on metadata
        b0, beta, df = _ridge(X[has], theta[has], pen)
        mu = b0 + Xc @ beta
        # EM update of the prior variance, with the regression's degrees of freedom taken off (no overfit prior)
        n_has = int(has.sum())
        ss = float(np.sum((theta[has] - mu[has]) ** 2 + theta_var[has])) if n_has else 0.0
        prior_var = max(ss / max(n_has - df, 1.0), PRIOR_VAR_FLOOR) if n_has else 1.0
        # normalise: mean 0, sd 1 over the models with scores
        if has.sum() >= 2:
            m0, sd = float(theta[has].mean()), float(theta[has].std())
            sd = sd if sd > 1e-9 else 1.0
            theta = (theta - m0) / sd
            mu = (mu - m0) / sd
            theta_var = theta_var / sd**2
            prior_var = prior_var / sd**2
            b0, beta = (b0 - m0) / sd, beta / sd
            c = c + s * m0
            s = s * sd
            s0 = s0 * sd
        # deviations: variance of the implied standing around the standing (dof-corrected per unit)
        R = np.where(O, (Yz - c) / s - theta[:, None], 0.0)
        dof = np.where(n_u >= 3, n_u / np.maximum(n_u - 2.0, 1.0), 0.0)
        w = O * dof
        if w.sum() > 0:
            ss = (w * (R**2 - (SIGMA_MEAS / s) ** 2)).sum(0)
            tau2 = max(float(ss.sum() / w.sum()), TAU2_FLOOR)
            # each source its own deviation variance (a consistent setup earns more weight), shrunk to the pooled one
            ss_src = np.bincount(src_idx, weights=ss, minlength=len(src_codes))
            n_src = np.bincount(src_idx, weights=w.sum(0), minlength=len(src_codes))
            tau2_u = np.maximum((ss_src + TAU2_POOL * tau2) / (n_src + TAU2_POOL), TAU2_FLOOR)[src_idx]
    R = np.where(O, (Yz - c) / s - theta[:, None], 0.0)
    P, Q = lowrank(R, O, rank)
    beta_d = {"intercept": float(b0), **{n: float(b) for n, b in zip(names, beta)}}
    return KindFit(kind=obs.kind, models=obs.models, units=obs.units[["source_id", "task_id"]].copy(), theta=theta,
                   theta_var=theta_var, n_obs=n_m.astype(int), prior_mean=mu, c=c, s=s, P=P, Q=Q, tau2=tau2,
                   prior_var=prior_var, beta=beta_d)


def lowrank(R: np.ndarray, O: np.ndarray, rank: int, *, ridge: float = LOWRANK_RIDGE, n_iter: int = 15) -> tuple[np.ndarray, np.ndarray]:
    """Rank-``rank`` factorisation ``R ≈ P Qᵀ`` over the observed entries (ridge ALS from an SVD start)."""
    M, U = R.shape
    k = int(min(rank, M, U))
    if k <= 0 or not O.any():
        return np.zeros((M, 0)), np.zeros((U, 0))
    # a seeded random projection as the start: deterministic, and cheaper than an SVD on a large matrix
    Q = np.random.default_rng(0).standard_normal((U, k)) / np.sqrt(max(U, 1))
    P = R @ Q
    I = ridge * np.eye(k)
    Of = O.astype(float)
    for _ in range(n_iter):
        A = np.einsum("mu,uk,ul->mkl", Of, Q, Q) + I
        P = np.linalg.solve(A, (R @ Q)[..., None])[..., 0]
        B = np.einsum("mu,mk,ml->ukl", Of, P, P) + I
        Q = np.linalg.solve(B, (R.T @ P)[..., None])[..., 0]
    # a fixed sign per component, so that the stored factors are reproducible
    sign = np.sign(P[np.argmax(np.abs(P), axis=0), np.arange(k)])
    sign[sign == 0] = 1.0
    return P * sign, Q * sign
