"""evaluate(): how good are the recommendations on tasks the recommender has not seen?

Leave-one-task-out within each source of the benchmark database (``docs/evaluation.md`` explains it):

1. For every evidence unit (source, task) with at least ``min_models`` recommendable models that have a
   *truth* for the objective, hide the task: every unit with that task id (in any source) is excluded from
   the evidence, from the model prior and from the static average-rank table.
2. Ask the predictor as a new user would: the query is the task's own text (description, prompt template,
   example inputs: :func:`slmselect.predict.predictor.unit_text`) and its category stands in for the profile's task
   type. Candidates are the non-reference models that have a truth on the task.
3. Compare the predicted order with the hidden truth, and do the same for the baselines: the model with the
   best average rank over the source's *other* tasks (the static advice), the largest model, the model with
   the best base score on the held-out task (oracle-ish: a new user has not measured it), and random choice
   (exact expected values over a uniform pick, not a sampled draw).

Truth per objective: ``accuracy`` the fine-tuned score; ``tunability`` the gain (fine-tuned - base);
``no_finetune`` the base score; ``edge`` the smallest model by ``memory_gb`` whose fine-tuned score is within
``EDGE_TOLERANCE`` of the best (a hit is picking that model; regret is how far the pick's fine-tuned score
falls below the tolerance band, 0 when inside it).

Everything is computed from matrices built once and embeddings computed once; the whole run takes well
under a second after the embeddings are cached.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from slmselect.evidence.db import BenchmarkDB, load_db
from slmselect.errors import ParameterError, check_choice, did_you_mean
from slmselect.predict.predictor import (
    HEDGE, INTERVAL_Z, OBJECTIVE_VALUE, PRIOR_STRENGTH, SHORTLIST, SIGMA_FLOOR, TAU, TYPE_WEIGHT, Matrix,
    build_matrix, predict, rank_key, rank_order, unit_text,
)
from slmselect._types import OBJECTIVES

EDGE_TOLERANCE = 0.05
METHODS = ("slmselect", "best_avg_rank", "largest", "best_base", "random")
ALL = "all"
_EPS = 1e-9


class MethodFigures(BaseModel):
    """Mean figures of one method for one objective over the held-out tasks of one scope."""

    scope: str = Field(description="a source id, or 'all' for every evaluated source together")
    objective: str
    method: str
    n_tasks: int
    top1: float = Field(description="share of tasks where the pick is a true best (edge: the true edge model)")
    top3_recall: float = Field(description="share of tasks where a true best is among the top three")
    regret: float = Field(description="mean of best true score - the pick's true score, in metric points (0-1)")
    regret_median: float
    spearman: float | None = Field(default=None, description="mean Spearman correlation, predicted vs true order")
    kendall: float | None = None
    coverage: float | None = Field(default=None, description="share of true scores inside the 95% interval (predictor only)")
    interval_width: float | None = Field(default=None, description="mean width of the 95% intervals")
    within_tolerance: float | None = Field(default=None, description="edge: share of picks within the tolerance of the best")
    memory_ratio: float | None = Field(default=None, description="edge: geometric mean of pick memory / true edge model memory")


class TaskResult(BaseModel):
    """One held-out task, one objective, one method."""

    objective: str
    method: str
    source_id: str
    task_id: str
    category: str
    n_models: int
    best_model: str = Field(description="the true best model (edge: the true edge model)")
    pick: str | None = Field(description="the method's first choice (None for random)")
    hit: float
    top3: float
    regret: float
    spearman: float | None = None
    kendall: float | None = None
    coverage: float | None = None
    interval_width: float | None = None
    within_tolerance: float | None = None
    memory_ratio: float | None = None


class Comparison(BaseModel):
    """Per-task regret of the predictor against one baseline (paired over the same held-out tasks)."""

    scope: str
    objective: str
    baseline: str
    n_tasks: int
    better: int = Field(description="tasks where the predictor's regret is lower")
    worse: int
    tied: int
    mean_regret_difference: float = Field(description="predictor regret - baseline regret (negative = predictor better)")


class EvaluationReport(BaseModel):
    """The result of :func:`evaluate`: figures per scope, objective and method, and the per-task rows."""

    figures: list[MethodFigures]
    tasks: list[TaskResult]
    comparisons: list[Comparison]
    objectives: list[str]
    sources: list[str]
    min_models: int
    edge_tolerance: float
    embedder: str
    settings: dict[str, float] = Field(default_factory=dict, description="predictor settings used")
    seconds: float
    notes: list[str] = Field(default_factory=list)

    def figure(self, objective: str, method: str, scope: str = ALL) -> MethodFigures:
        for f in self.figures:
            if f.objective == objective and f.method == method and f.scope == scope:
                return f
        raise ParameterError(
            f"No figures for objective={objective!r}, method={method!r}, scope={scope!r}. Scopes: "
            f"{sorted({f.scope for f in self.figures})}; methods: {list(METHODS)}."
        )

    def to_pandas(self, level: str = "figures") -> pd.DataFrame:
        """``level='figures'`` (one row per scope/objective/method), ``'tasks'`` or ``'comparisons'``."""
        check_choice("level", level, ["figures", "tasks", "comparisons"])
        items = {"figures": self.figures, "tasks": self.tasks, "comparisons": self.comparisons}[level]
        cls = {"figures": MethodFigures, "tasks": TaskResult, "comparisons": Comparison}[level]
        return pd.DataFrame([i.model_dump() for i in items], columns=list(cls.model_fields))

    def to_json(self, **kw: Any) -> str:
        return self.model_dump_json(indent=kw.pop("indent", 2), **kw)

    @classmethod
    def from_json(cls, text: str) -> "EvaluationReport":
        return cls.model_validate_json(text)

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from slmselect.report.tables import render_evaluation

        yield from render_evaluation(self)


# --------------------------------------------------------------------------------------------- metrics


def _corr(a: np.ndarray, b: np.ndarray) -> tuple[float | None, float | None]:
    from scipy.stats import kendalltau, spearmanr

    if len(a) < 3 or np.ptp(b) <= _EPS:
        return None, None
    if np.ptp(a) <= _EPS:  # a method with no information about the order
        return 0.0, 0.0
    s = float(spearmanr(a, b).statistic)
    k = float(kendalltau(a, b).statistic)
    return s, k


def _edge_order(points: np.ndarray, key: np.ndarray, mem: np.ndarray, tol: float) -> np.ndarray:
    """Indices in edge order: models within ``tol`` of the best ``points`` first, smallest memory first."""
    p = np.where(np.isfinite(points), points, -np.inf)
    good = p >= np.max(p) - tol - _EPS if np.isfinite(p).any() else np.ones(len(p), bool)
    return np.lexsort((-key, np.where(good, mem, np.inf), ~good))


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


# ------------------------------------------------------------------------------------------ evaluation


def _objectives(objectives: str | Iterable[str]) -> list[str]:
    from slmselect.recommender import OBJECTIVE_ALIASES

    items = [objectives] if isinstance(objectives, str) else list(objectives)
    out: list[str] = []
    for o in items:
        for part in str(o).split(","):
            p = part.strip().lower().replace(" ", "_").replace("-", "_")
            if not p:
                continue
            p = OBJECTIVE_ALIASES.get(p, OBJECTIVE_ALIASES.get(p.replace("_", ""), p))
            c = check_choice("objective", p if p in OBJECTIVES else part.strip(), OBJECTIVES, where="evaluate")
            if c not in out:
                out.append(c)
    if not out:
        raise ParameterError(f"evaluate needs at least one objective, from {', '.join(OBJECTIVES)}.")
    return out


def _sources(db: BenchmarkDB, sources: str | Iterable[str] | None) -> list[str] | None:
    if sources is None:
        return None
    items = [sources] if isinstance(sources, str) else list(sources)
    names = [p.strip() for s in items for p in str(s).split(",") if p.strip()]
    known = list(db.sources.index)
    low = {k.lower(): k for k in known}
    out = []
    for n in names:
        if n.lower() not in low:
            raise ParameterError(f"Unknown source {n!r}. Known sources: {', '.join(known)}." + did_you_mean(n, known))
        out.append(low[n.lower()])
    if not out:
        raise ParameterError("evaluate: 'sources' is empty; leave it out to evaluate every source.")
    return out


def _signed(m: Matrix, kind: str) -> np.ndarray:
    sign = np.where(m.units["higher_is_better"].to_numpy() | (kind == "gain"), 1.0, -1.0)
    return m.values * sign[None, :]


def evaluate(
    *,
    sources: str | Sequence[str] | None = None,
    objectives: str | Sequence[str] = ("accuracy", "tunability", "edge", "no_finetune"),
    min_models: int = 3,
    seed: int = 0,
    db: BenchmarkDB | None = None,
    embedder: str = "auto",
    edge_tolerance: float = EDGE_TOLERANCE,
    predictor: dict[str, float] | None = None,
) -> EvaluationReport:
    """Leave-one-task-out evaluation of the recommender against baselines, per objective.

    ``sources``: evaluate only the held-out tasks of these sources (evidence still comes from every source);
    ``min_models``: a task is evaluated when at least this many recommendable models have a truth on it;
    ``seed``: kept for reproducibility of any sampled figure (random choice is scored by its exact expected
    value, so figures do not depend on it); ``predictor``: override predictor settings for experiments
    (``tau``, ``type_weight``, ``prior_strength``, ``sigma_floor``, ``interval_z``, ``hedge``).
    Returns an :class:`EvaluationReport`; ``report.figure("accuracy", "slmselect", "lora_land_2024")``.
    """
    t0 = time.perf_counter()
    if isinstance(min_models, bool) or not isinstance(min_models, int) or min_models < 2:
        raise ParameterError(f"'min_models' must be an int >= 2 (rank figures need at least two models); got {min_models!r}.")
    if not 0 <= float(edge_tolerance) <= 1:
        raise ParameterError(f"'edge_tolerance' is in score points on a 0-1 scale (e.g. 0.05); got {edge_tolerance!r}.")
    objs = _objectives(objectives)
    db = db if db is not None else load_db()
    srcs = _sources(db, sources)
    params = dict(tau=TAU, type_weight=TYPE_WEIGHT, prior_strength=PRIOR_STRENGTH, sigma_floor=SIGMA_FLOOR,
                  interval_z=INTERVAL_Z, hedge=float(HEDGE))
    for k, v in (predictor or {}).items():
        check_choice("predictor setting", k, list(params))
        params[k] = float(v)
    if params["hedge"] not in range(SHORTLIST):
        raise ParameterError(f"predictor setting 'hedge' is a whole number of shortlist places, 0 to {SHORTLIST - 1}; "
                             f"got {params['hedge']!r}.")
    pred_params = {k: v for k, v in params.items() if k != "hedge"}
    _ = np.random.default_rng(seed)  # no sampled figure today; the seed is recorded for future ones

    from slmselect.profile.embed import embed_cached, get_embedder

    tasks = db.tasks
    texts = unit_text(tasks).tolist()
    emb = get_embedder(texts, prefer=embedder)
    E = embed_cached(emb, texts)
    row_of = {t: i for i, t in enumerate(tasks.index)}

    M = db.models
    rows: list[TaskResult] = []
    base_m = build_matrix(db, "base")
    base_col = {(s, t): j for j, (s, t) in enumerate(zip(base_m.units["source_id"], base_m.units["task_id"]))}
    base_pos = {m: i for i, m in enumerate(base_m.models)}

    for obj in objs:
        kind = OBJECTIVE_VALUE[obj]
        m = build_matrix(db, kind)
        units = m.units
        S = _signed(m, kind)
        ref = M["reference"].reindex(m.models).fillna(True).to_numpy(dtype=bool)
        ranks = pd.DataFrame(np.where(ref[:, None], np.nan, S)).rank(ascending=False, method="average").to_numpy()
        ft_raw = np.full_like(m.values, np.nan)  # fine-tuned scores aligned with m (edge's static points)
        if kind == "finetuned":
            ft_raw = m.values
        U_emb = E[[row_of[t] for t in units["task_id"]]]
        mem_all = M["memory_gb"].reindex(m.models).to_numpy(dtype=float)
        params_b = M["params_b"].reindex(m.models).to_numpy(dtype=float)
        src_arr, task_arr = units["source_id"].to_numpy(), units["task_id"].to_numpy()
        for j in range(len(units)):
            src, task = src_arr[j], task_arr[j]
            if srcs is not None and src not in srcs:
                continue
            cand = np.flatnonzero(~np.isnan(S[:, j]) & ~ref & np.isfinite(mem_all))
            if len(cand) < min_models:
                continue
            truth = S[cand, j]
            if np.ptp(truth) <= _EPS:
                continue
            edge = obj == "edge"
            mem = mem_all[cand]
            true_edge_pos = None
            if edge:
                o = _edge_order(truth, truth, mem, edge_tolerance)
                true_edge_pos = np.empty(len(cand))
                true_edge_pos[o] = np.arange(len(cand))
                target_i = o[0]
                best_model = str(m.models[cand[target_i]])
            else:
                best_model = str(m.models[cand[np.argmax(truth)]])
            common = dict(objective=obj, source_id=str(src), task_id=str(task), category=str(units.at[j, "category"]),
                          n_models=len(cand), best_model=best_model)

            def add(method: str, order: np.ndarray | None, key: np.ndarray | None, tie_key: np.ndarray | None = None,
                    extra: dict[str, Any] | None = None) -> None:
                if order is None:
                    figs = _random_expected(truth, edge=edge, mem=mem, tol=edge_tolerance)
                    pick = None
                else:
                    figs = _evaluate_order(order, key, truth, edge=edge, mem=mem, tol=edge_tolerance,  # type: ignore[arg-type]
                                           true_edge_pos=true_edge_pos, tie_key=tie_key)
                    pick = str(m.models[cand[order[0]]])
                rows.append(TaskResult(**common, method=method, pick=pick, **figs, **(extra or {})))

            # --- the predictor, as recommend() would run it for this task's text and category
            hidden = task_arr == task
            pred = predict(m, U_emb @ E[row_of[task]], str(units.at[j, "category"]), exclude_units=hidden, **pred_params)
            key = rank_key(pred, cand)
            if edge:
                sc = np.where(pred.low_evidence[cand], np.nan, pred.score[cand])
                if not np.isfinite(sc).any():
                    sc = pred.score[cand]
                order = _edge_order(sc, key, mem, edge_tolerance)
            else:
                order = rank_order(pred, cand, hedge=int(params["hedge"]))
                key = _order_key(order, key)  # the correlation figures score the order actually shown
            raw = m.values[cand, j]
            lo, hi = pred.lower[cand], pred.upper[cand]
            ok = np.isfinite(pred.score[cand])
            cov = float(((raw >= lo - _EPS) & (raw <= hi + _EPS))[ok].mean()) if ok.any() else None
            width = float((hi - lo)[ok].mean()) if ok.any() else None
            add("slmselect", order, key, extra=dict(coverage=cov, interval_width=width))

            # --- best average rank over the source's other tasks (the static advice)
            others = (src_arr == src) & ~hidden
            with np.errstate(all="ignore"):
                avg = np.nanmean(np.where(others[None, :], ranks, np.nan)[cand][:, others], axis=1) if others.any() else np.full(len(cand), np.nan)
            if np.isfinite(avg).any():
                akey = np.where(np.isfinite(avg), -avg, -1e9)
                if edge:
                    with np.errstate(all="ignore"):
                        pts = np.nanmean(ft_raw[cand][:, others], axis=1) if others.any() else np.full(len(cand), np.nan)
                    if kind != "finetuned" or not np.isfinite(pts).any():
                        pts = akey
                    aorder = _edge_order(pts, akey, mem, edge_tolerance)
                else:
                    aorder = np.argsort(-akey, kind="stable")
                add("best_avg_rank", aorder, akey, tie_key=None if edge else akey)
            else:  # a single-task source has no static advice: it is a uniform guess
                add("best_avg_rank", None, None)

            # --- largest model (by parameters)
            lkey = params_b[cand]
            add("largest", np.argsort(-lkey, kind="stable"), lkey, tie_key=lkey)

            # --- best base score on this very task (not available to a new user before measuring)
            bj = base_col.get((src, task))
            if bj is not None:
                bsc = np.array([base_m.values[base_pos[x], bj] if x in base_pos else np.nan for x in m.models[cand]])
                if np.isfinite(bsc).sum() >= 2:
                    bkey = np.where(np.isfinite(bsc), bsc, -1e9)
                    border = _edge_order(bkey, bkey, mem, edge_tolerance) if edge else np.argsort(-bkey, kind="stable")
                    add("best_base", border, bkey, tie_key=None if edge else bkey)

            add("random", None, None)

    figures, comparisons = _summarise(rows, objs)
    notes = [
        "Leave-one-task-out: the held-out task id is hidden from every source's evidence, the model prior and the static rank table.",
        "best_base uses the held-out task's own base scores, which a new user has not measured: an oracle-ish reference, "
        "and for no_finetune it is the truth itself.",
        "random is scored by exact expected values over a uniform pick.",
        f"edge: truth is the smallest model by memory whose fine-tuned score is within {edge_tolerance:.2f} of the best; "
        "regret is the pick's shortfall below that band.",
    ]
    return EvaluationReport(
        figures=figures, tasks=rows, comparisons=comparisons, objectives=objs,
        sources=sorted({r.source_id for r in rows}), min_models=min_models, edge_tolerance=float(edge_tolerance),
        embedder=emb.name, settings=params, seconds=round(time.perf_counter() - t0, 3), notes=notes,
    )


def _mean(xs: Iterable[float | None]) -> float | None:
    v = [x for x in xs if x is not None and np.isfinite(x)]
    return float(np.mean(v)) if v else None


def _summarise(rows: list[TaskResult], objectives: list[str]) -> tuple[list[MethodFigures], list[Comparison]]:
    df = pd.DataFrame([r.model_dump() for r in rows])
    figures: list[MethodFigures] = []
    comparisons: list[Comparison] = []
    if not len(df):
        return figures, comparisons
    scopes = sorted(df["source_id"].unique())
    scope_list = ([ALL] if len(scopes) > 1 else []) + scopes
    for scope in scope_list:
        d = df if scope == ALL else df[df["source_id"] == scope]
        for obj in objectives:
            do = d[d["objective"] == obj]
            for method in METHODS:
                g = do[do["method"] == method]
                if not len(g):
                    continue
                mr = g["memory_ratio"].dropna()
                figures.append(MethodFigures(
                    scope=scope, objective=obj, method=method, n_tasks=len(g),
                    top1=float(g["hit"].mean()), top3_recall=float(g["top3"].mean()),
                    regret=float(g["regret"].mean()), regret_median=float(g["regret"].median()),
                    spearman=_mean(g["spearman"]), kendall=_mean(g["kendall"]),
                    coverage=_mean(g["coverage"]), interval_width=_mean(g["interval_width"]),
                    within_tolerance=_mean(g["within_tolerance"]),
                    memory_ratio=float(np.exp(np.log(mr.astype(float)).mean())) if len(mr) else None,
                ))
            p = do[do["method"] == "slmselect"].set_index(["source_id", "task_id"])["regret"]
            for base in METHODS[1:]:
                b = do[do["method"] == base].set_index(["source_id", "task_id"])["regret"]
                both = p.index.intersection(b.index)
                if not len(both):
                    continue
                diff = (p.loc[both] - b.loc[both]).to_numpy()
                comparisons.append(Comparison(
                    scope=scope, objective=obj, baseline=base, n_tasks=len(both),
                    better=int((diff < -1e-6).sum()), worse=int((diff > 1e-6).sum()), tied=int((np.abs(diff) <= 1e-6).sum()),
                    mean_regret_difference=float(diff.mean()),
                ))
    return figures, comparisons


def report_json(rep: EvaluationReport) -> str:
    """Compact JSON of the figures only (for scripts)."""
    return json.dumps([f.model_dump() for f in rep.figures], indent=2)
