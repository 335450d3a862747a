"""The figures of ``slmselect evaluate``: per held-out task, per method, summarised per source and objective."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from slmselect._types import Result
from slmselect.errors import ParameterError, check_choice

METHODS = ("slmselect", "best_avg_rank", "largest", "best_base", "random")
ALL = "all"
#: The figures that are score differences (0-1 scale), shown in points of a 0-100 scale: the value x 100.
POINTS_FIGURES = ("regret", "regret_median", "gap_width", "anchored_rmse")


class MethodFigures(BaseModel):
    """Mean figures of one method for one objective over the held-out tasks of one scope."""

    scope: str = Field(description="a source id, or 'all' for every evaluated source together")
    objective: str
    method: str
    n_tasks: int
    top1: float = Field(description="share of tasks where the pick is a true best (edge: the true edge model)")
    top3_recall: float = Field(description="share of tasks where a true best is among the top three")
    regret: float = Field(description="mean of best true score - the pick's true score, on the 0-1 scale "
                                      "(points(\"regret\"): in points of a 0-100 scale, as shown)")
    regret_median: float
    spearman: float | None = Field(default=None, description="mean Spearman correlation, predicted vs true order")
    kendall: float | None = None
    coverage: float | None = Field(default=None, description="share of true scores inside the 95% interval (predictor only)")
    static_pick: float | None = Field(default=None, description="share of tasks where the pick equals the static advice's")
    interval_width: float | None = Field(default=None, description="mean width of the 95% intervals")
    within_tolerance: float | None = Field(default=None, description="edge: share of picks within the tolerance of the best")
    memory_ratio: float | None = Field(default=None, description="edge: geometric mean of pick memory / true edge model memory")
    gap_coverage: float | None = Field(default=None, description="share of true gaps below the pick inside their 95% gap interval (predictor only)")
    gap_width: float | None = Field(default=None, description="mean width of the 95% gap intervals (0-1 scale)")
    anchored_rmse: float | None = Field(
        default=None, description="with the pick's true score revealed (a measurement), RMSE of the other candidates' anchored scores")
    anchored_coverage: float | None = Field(default=None, description="... and the share of them inside their 95% interval")

    def points(self, name: str) -> float | None:
        """The score-difference figure ``name`` (one of ``POINTS_FIGURES``) in points of a 0-100 scale, as the
        tables and docs/evaluation.md show it; None where it is not measured."""
        check_choice("figure", name, list(POINTS_FIGURES))
        value = getattr(self, name)
        return None if value is None or value != value else 100.0 * value


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
    static_pick: bool | None = None
    gap_coverage: float | None = None
    gap_width: float | None = None
    anchored_rmse: float | None = None
    anchored_coverage: float | None = None


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


class EvaluationReport(Result):
    """The result of :func:`evaluate`: figures per scope, objective and method, and the per-task rows.

    ``to_pandas()`` has one row per scope, objective and method (``"tasks"``: one per held-out task,
    ``"comparisons"``: the predictor against each baseline); ``to_json()`` is everything.
    """

    LEVELS: ClassVar[tuple[str, ...]] = ("figures", "tasks", "comparisons")

    figures: list[MethodFigures]
    tasks: list[TaskResult]
    comparisons: list[Comparison]
    objectives: list[str]
    sources: list[str]
    min_models: int
    edge_tolerance: float
    embedder: str
    settings: dict[str, Any] = Field(default_factory=dict, description="predictor settings chosen per outer fold and kind")
    scenario: dict[str, Any] = Field(default_factory=dict, description="constraints on the candidates (max_params, variant)")
    folds: int = 0
    inner_folds: int = 0
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

    def _table(self, level: str) -> pd.DataFrame:
        items = {"figures": self.figures, "tasks": self.tasks, "comparisons": self.comparisons}[level]
        cls = {"figures": MethodFigures, "tasks": TaskResult, "comparisons": Comparison}[level]
        return pd.DataFrame([i.model_dump() for i in items], columns=list(cls.model_fields))

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from slmselect.report.tables import render_evaluation

        yield from render_evaluation(self)


def _mean(xs: Iterable[float | None]) -> float | None:
    v = [x for x in xs if x is not None and np.isfinite(x)]
    return float(np.mean(v)) if v else None


def _rms(xs: Iterable[float | None]) -> float | None:
    """Root mean square over tasks of per-task RMSEs."""
    v = [x for x in xs if x is not None and np.isfinite(x)]
    return float(np.sqrt(np.mean(np.square(v)))) if v else None


def summarise(rows: list[TaskResult], objectives: list[str]) -> tuple[list[MethodFigures], list[Comparison]]:
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
                    static_pick=_mean(g["static_pick"].astype(float)),
                    gap_coverage=_mean(g["gap_coverage"]), gap_width=_mean(g["gap_width"]),
                    anchored_rmse=_rms(g["anchored_rmse"]), anchored_coverage=_mean(g["anchored_coverage"]),
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
