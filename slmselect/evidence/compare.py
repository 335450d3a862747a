"""Tables that compare models within one source: scores by task category and average ranks with 95% CI."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from slmselect._validate import check_params
from slmselect.evidence.db import BenchmarkDB, load_db
from slmselect.errors import ParameterError, check_choice, did_you_mean

RANK_OBJECTIVES = {"finetuned": "finetuned_score", "tunability": "gain", "base": "base_score"}
DEFAULT_SOURCE = "distil_guide_2025"


def default_source(db: BenchmarkDB) -> str:
    """The source `compare` shows when none is named: DEFAULT_SOURCE if the database has it, else the source
    with the most fine-tuned scores."""
    if DEFAULT_SOURCE in db.sources.index:
        return DEFAULT_SOURCE
    r = db.primary_results.dropna(subset=["finetuned_score"])
    counts = r.groupby("source_id").size()
    if not len(counts):
        counts = db.primary_results.groupby("source_id").size()
    return str(counts.sort_values(ascending=False, kind="stable").index[0])


def value_for(db: BenchmarkDB, source: str, value: str | None = None) -> str:
    """The score a category table of ``source`` shows: ``value`` when given, else ``finetuned`` when the source
    has fine-tuned scores and ``base`` otherwise (leaderboards publish base scores only)."""
    value = check_params("compare", value=value)["value"]
    if value is not None:
        return value
    r = db.primary_results[db.primary_results["source_id"] == check_source(db, source)]
    return "finetuned" if r["finetuned_score"].notna().any() else "base"


def source_table(db: BenchmarkDB) -> pd.DataFrame:
    """One row per source with its kind, name and number of results."""
    n = db.results.groupby("source_id").size().reindex(db.sources.index).fillna(0).astype(int)
    return db.sources[["source_id", "kind", "name"]].assign(results=n.to_numpy())


def model_table(db: BenchmarkDB) -> pd.DataFrame:
    """One row per model: family, size, variant, licence, memory estimate."""
    cols = [c for c in ("model_id", "family", "params_b", "variant", "license", "memory_gb") if c in db.models.columns]
    return db.models[cols].round(2)


def check_source(db: BenchmarkDB, source: str) -> str:
    source = check_params("compare", source=source)["source"]
    if source not in db.sources.index:
        raise ParameterError(
            f"Unknown source {source!r}. Known sources: {', '.join(db.sources.index)}." + did_you_mean(source, list(db.sources.index))
        )
    return source


def _filter_models(db: BenchmarkDB, ids: pd.Index, families: list[str] | None, max_params: float | None) -> pd.Index:
    """``ids`` kept by the families and the largest size (billions), both as ``check_params`` returns them."""
    m = db.models.reindex(ids)
    keep = np.ones(len(m), bool)
    if families:
        keep &= m["family"].str.lower().isin([f.lower() for f in families]).to_numpy()
    if max_params is not None:
        keep &= (m["params_b"].astype(float) <= max_params).to_numpy()
    return ids[keep]


def _kept(families: Any, max_params: Any) -> tuple[list[str] | None, float | None]:
    p = check_params("compare", families=families, max_params=max_params)
    return p["families"], p["max_params"]


def category_table(
    db: BenchmarkDB, source: str = DEFAULT_SOURCE, *, value: str | None = "finetuned", families: Sequence[str] | None = None,
    max_params: float | str | None = None, sort_by: str | None = None,
) -> pd.DataFrame:
    """Mean score per task category (columns) for each model (rows) of one source, plus params and the mean."""
    value = value_for(db, source, value)
    p = check_params("compare", families=families, max_params=max_params, sort_by=sort_by)
    families, max_params, sort_by = p["families"], p["max_params"], p["sort_by"]
    r = db.primary_results[db.primary_results["source_id"] == source]
    r = r.assign(v=_values(r, value)).dropna(subset=["v"])
    if not len(r):
        raise ParameterError(f"Source {source!r} has no {value} scores. Try --value base, or another --source.")
    t = r.pivot_table(index="model_id", columns="category", values="v", aggfunc="mean")
    t = t.loc[_filter_models(db, t.index, families, max_params)]
    t.insert(0, "params_b", db.models["params_b"].reindex(t.index).to_numpy())
    t["mean"] = t.drop(columns="params_b").mean(axis=1)
    key = sort_by or "mean"
    if key not in t.columns:
        raise ParameterError(f"Cannot sort by {key!r}; columns are {', '.join(map(str, t.columns))}." + did_you_mean(key, list(map(str, t.columns))))
    return t.sort_values(key, ascending=key == "params_b")


def _values(r: pd.DataFrame, value: str) -> pd.Series:
    if value == "tunability":
        return r["finetuned_score"] - r["base_score"]
    return r[RANK_OBJECTIVES[value]]


def average_ranks(
    db: BenchmarkDB, source: str, objective: str = "finetuned", *, families: Sequence[str] | None = None,
    max_params: float | str | None = None,
) -> pd.DataFrame:
    """Rank models on each task of ``source`` (1 = best), then average: mean rank, 95% CI half-width, n tasks.

    The CI is 1.96 × standard deviation of the ranks / sqrt(number of tasks), as in the seed's rank tables.
    Only tasks with at least two ranked models count.
    """
    check_source(db, source)
    objective = check_params("compare", objective=objective)["objective"]
    families, max_params = _kept(families, max_params)
    r = db.primary_results[db.primary_results["source_id"] == source]
    r = r[r["model_id"].isin(_filter_models(db, pd.Index(r["model_id"].unique()), families, max_params))]
    r = r.assign(v=_values(r, objective)).dropna(subset=["v"])
    hib = db.tasks["higher_is_better"].reindex(r["task_id"]).to_numpy(dtype=bool)
    r = r.assign(v=np.where(hib | (objective == "tunability"), r["v"], -r["v"]))
    n_per_task = r.groupby("task_id")["model_id"].transform("count")
    r = r[n_per_task >= 2]
    if not len(r):
        return pd.DataFrame(columns=["model_id", "avg_rank", "ci95", "n_tasks"])
    r = r.assign(rank=r.groupby("task_id")["v"].rank(ascending=False, method="average"))
    g = r.groupby("model_id")["rank"]
    out = pd.DataFrame({"avg_rank": g.mean(), "sd": g.std(ddof=1), "n_tasks": g.count()})
    out["ci95"] = 1.96 * out["sd"].fillna(0) / np.sqrt(out["n_tasks"])
    return out.drop(columns="sd").reset_index().sort_values(["avg_rank", "model_id"]).reset_index(drop=True)


def published_ranks(db: BenchmarkDB, source: str, objective: str = "finetuned") -> pd.DataFrame:
    """The average-rank table as the source published it (may list only its top models)."""
    r = db.rankings[(db.rankings["source_id"] == source) & (db.rankings["objective"] == objective)]
    return r[["model_id", "avg_rank", "ci95", "n_tasks", "notes"]].sort_values("avg_rank").reset_index(drop=True)


def _rank_table(db: BenchmarkDB, source: str, objective: str, families: Sequence[str] | None,
                max_params: float | str | None) -> tuple[pd.DataFrame, str]:
    ranks = average_ranks(db, source, objective, families=families, max_params=max_params)
    n = int(ranks["n_tasks"].max()) if len(ranks) else 0
    if len(ranks) >= 2 and n >= 2:
        return ranks, f"computed from {n} tasks of {source}"
    pub = published_ranks(db, source, objective)
    if len(pub):
        keep = _filter_models(db, pd.Index(pub["model_id"]), families, max_params)
        pub = pub[pub["model_id"].isin(keep)]
        if len(pub):
            return pub, f"as published by {source} (top rows only)"
    return ranks, f"computed from {n} task(s) of {source}"


@dataclass
class ChartData:
    """What `compare --plot` draws for one source: average ranks, and mean score against size."""

    source: str
    objective: str
    ranks: pd.DataFrame
    rank_note: str
    means: pd.DataFrame  #: index model_id; columns mean, count
    params: pd.Series  #: parameters (billions) for the models in ``means``
    n_tasks: int


def chart_data(
    db: BenchmarkDB, source: str, *, families: Sequence[str] | None = None,
    max_params: float | str | None = None, objective: str = "finetuned",
) -> ChartData:
    """The data behind `compare --plot` for one source (drawn by :func:`slmselect.report.plots.plot_compare`)."""
    check_source(db, source)
    objective = check_params("compare", objective=objective)["objective"]
    families, max_params = _kept(families, max_params)
    r = db.primary_results[db.primary_results["source_id"] == source]
    r = r[r["model_id"].isin(_filter_models(db, pd.Index(r["model_id"].unique()), families, max_params))]
    r = r.assign(v=_values(r, objective)).dropna(subset=["v"])
    if not len(r):
        raise ParameterError(f"Source {source!r} has no {objective} scores for the models kept"
                             + (" (check --family / --max-params)" if families or max_params is not None else "")
                             + ". Try objective='base', or another source (`slmselect compare --list-sources`).")
    ranks, rank_note = _rank_table(db, source, objective, families, max_params)

    mean = r.groupby("model_id")["v"].agg(["mean", "count"])
    params = db.models["params_b"].reindex(mean.index).astype(float)
    ok = params.notna().to_numpy()
    return ChartData(source, objective, ranks, rank_note, mean[ok], params[ok], int(r["task_id"].nunique()))



@dataclass
class CompareReport:
    """The result of :func:`compare`: one source's models by task category and by average rank.

    ``to_pandas()`` is the category table (one row per model: params, a mean score per category, the mean);
    ``to_pandas("average_ranks")`` and ``to_pandas("published_ranks")`` the rank tables, one row per objective
    and model; ``to_json()`` is all of it (what ``slmselect compare --json`` prints).
    """

    LEVELS: ClassVar[tuple[str, ...]] = ("categories", "average_ranks", "published_ranks")

    source: str
    source_name: str
    value: str  #: the score the category table shows: finetuned, base or tunability
    categories: pd.DataFrame = field(repr=False)  #: index model_id; params_b, one column per category, mean
    average_ranks: dict[str, pd.DataFrame] = field(repr=False)  #: objective -> ranks computed from the source's tasks
    published_ranks: dict[str, pd.DataFrame] = field(repr=False)  #: objective -> ranks as the source published them
    plot: str | None = None  #: the PNG written, if any

    def to_pandas(self, level: str | None = None) -> pd.DataFrame:
        """One table: ``level`` is one of ``LEVELS`` (default: the category table, indexed by model id)."""
        chosen = check_choice("level", level or self.LEVELS[0], self.LEVELS, where="CompareReport.to_pandas")
        if chosen == "categories":
            return self.categories.copy()
        frames = [df.assign(objective=o) for o, df in getattr(self, chosen).items() if len(df)]
        if not frames:
            return pd.DataFrame(columns=["objective", "model_id", "avg_rank", "ci95", "n_tasks"])
        out = pd.concat(frames, ignore_index=True)
        return out[["objective", *(c for c in out.columns if c != "objective")]]

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps({
            "source": self.source, "value": self.value,
            "categories": json.loads(self.categories.reset_index().to_json(orient="records")),
            "average_ranks": {o: json.loads(r.to_json(orient="records")) for o, r in self.average_ranks.items()},
            "published_ranks": {o: json.loads(r.to_json(orient="records")) for o, r in self.published_ranks.items() if len(r)},
            "plot": self.plot,
        }, indent=indent, default=str)

    def __rich_console__(self, console: Any, options: Any) -> Iterator[Any]:
        from slmselect.report.tables import render_compare

        yield from render_compare(self)


def compare(
    source: str | None = None, *, value: str | None = None, families: Sequence[str] | str | None = None,
    max_params: float | str | None = None, sort: str | None = None, plot: str | os.PathLike[str] | None = None,
    db: BenchmarkDB | None = None,
) -> CompareReport:
    """Compare the models of one source: mean score per task category, and average rank with a 95% CI.

    ``source`` defaults to ``distil_guide_2025`` (else the source with the most fine-tuned scores);
    ``value`` is the score the category table shows (``finetuned``, or ``base`` for a source without
    fine-tuned scores; ``tunability`` is fine-tuned minus base); ``families`` and ``max_params`` keep some
    models; ``sort`` names the column to sort the category table by (default: the mean); ``plot`` also writes a
    PNG of the ranks and of the ``value`` score versus size. The same as ``slmselect compare``; the source and model lists of
    ``--list-sources`` / ``--list-models`` are ``load_db().sources`` and ``load_db().models``.
    """
    p = check_params("compare", source=source, value=value, families=families, max_params=max_params, sort_by=sort)
    families, max_params = p["families"], p["max_params"]
    db = db if db is not None else load_db()
    source = check_source(db, p["source"]) if p["source"] else default_source(db)
    value = value_for(db, source, p["value"])
    table = category_table(db, source, value=value, families=families, max_params=max_params, sort_by=p["sort_by"])
    ranks = {o: average_ranks(db, source, o, families=families, max_params=max_params) for o in RANK_OBJECTIVES}
    published = {o: published_ranks(db, source, o) for o in RANK_OBJECTIVES}
    if plot is not None:
        from slmselect.report.plots import plot_compare

        plot_compare(chart_data(db, source, families=families, max_params=max_params, objective=value), plot)
    return CompareReport(source=source, source_name=str(db.sources.at[source, "name"]), value=value, categories=table,
                         average_ranks=ranks, published_ranks=published, plot=None if plot is None else str(plot))
