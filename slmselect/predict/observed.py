"""The evidence as matrices: one models × units matrix per kind of score (fine-tuned, base, gain).

A *unit* is one (source, task) pair with the source's primary metric. Values are put on a 'higher is
better' 0-1 scale: a lower-is-better score ``y`` becomes ``1 - y`` (a gain changes sign). Every model of the
database is a row, with or without scores, so that models known only by their metadata get predictions too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from slmselect.evidence.db import FLAGGED_SOURCE_WEIGHT, BenchmarkDB
from slmselect.predict.text import dataset_groups

KINDS = ("base", "finetuned", "gain")
OBJECTIVE_VALUE = {"accuracy": "finetuned", "edge": "finetuned", "tunability": "gain", "no_finetune": "base"}


@dataclass
class Observed:
    """Scores of one kind as a models × units matrix (NaN where not measured)."""

    kind: str
    models: np.ndarray  # (M,) model ids: every model of the database
    units: pd.DataFrame  # (U,) source_id, task_id, category, metric, higher_is_better, group
    Y: np.ndarray  # (M, U) scores on a higher-is-better scale, NaN where missing
    raw: np.ndarray  # (M, U) scores as published

    @property
    def present(self) -> np.ndarray:
        return ~np.isnan(self.Y)

    def unit_keys(self) -> list[tuple[str, str]]:
        return list(zip(self.units["source_id"], self.units["task_id"]))


def observe(db: BenchmarkDB, kind: str, models: np.ndarray | None = None) -> Observed:
    """The ``kind`` matrix of ``db`` (kept in ``db.index`` for all of its models)."""
    cache = db.index.observed
    if kind in cache and models is None:
        return cache[kind]
    r = db.primary_results
    if kind == "finetuned":
        v = r["finetuned_score"].astype(float)
    elif kind == "base":
        v = r["base_score"].astype(float)
    elif kind == "gain":
        v = r["finetuned_score"].astype(float) - r["base_score"].astype(float)
    else:
        raise ValueError(f"unknown kind {kind!r}; one of {KINDS}")
    r = r.assign(value=v).dropna(subset=["value"])
    model_ids = np.asarray(db.models.index if models is None else models, dtype=object)
    r = r[r["model_id"].isin(set(model_ids))]
    wide = r.pivot_table(index="model_id", columns=["source_id", "task_id"], values="value", aggfunc="mean")
    wide = wide.reindex(model_ids)
    raw = wide.to_numpy(dtype=float)
    units = pd.DataFrame(list(wide.columns), columns=["source_id", "task_id"]) if len(wide.columns) else \
        pd.DataFrame({"source_id": pd.Series(dtype=object), "task_id": pd.Series(dtype=object)})
    t = db.tasks.reindex(units["task_id"])
    units["category"] = t["category"].to_numpy()
    units["metric"] = t["metric"].to_numpy()
    units["higher_is_better"] = t["higher_is_better"].fillna(True).to_numpy(dtype=bool)
    units["group"] = dataset_groups(db.tasks).reindex(units["task_id"]).to_numpy()
    flagged = set(db.sources.index[db.sources["flag"].fillna("").astype(str) != ""]) if "flag" in db.sources else set()
    units["trust"] = np.where(units["source_id"].isin(flagged), FLAGGED_SOURCE_WEIGHT, 1.0)
    hib = units["higher_is_better"].to_numpy()
    if kind == "gain":
        Y = np.where(hib[None, :], raw, -raw)
    else:
        Y = np.where(hib[None, :], raw, 1.0 - raw)
    out = Observed(kind=kind, models=model_ids, units=units, Y=Y, raw=raw)
    if models is None:
        cache[kind] = out
    return out


def fingerprint(db: BenchmarkDB) -> str:
    """A digest of what the predictor is fitted from: primary results, model metadata, task identity (kept in
    ``db.index``)."""
    if db.index.fingerprint:
        return db.index.fingerprint
    h = hashlib.sha256()
    r = db.primary_results[["source_id", "model_id", "task_id", "metric", "base_score", "finetuned_score"]]
    r = r.sort_values(["source_id", "task_id", "model_id", "metric"], kind="stable")
    h.update(r.to_csv(index=False, float_format="%.6g").encode())
    m = db.models.reindex(columns=["model_id", "family", "params_b", "variant", "release_date", "base_model"])
    h.update(m.sort_index().to_csv(index=False).encode())
    t = db.tasks.reindex(columns=["task_id", "category", "higher_is_better", "dataset", "dataset_id"])
    h.update(t.sort_index().to_csv(index=False).encode())
    if "flag" in db.sources:  # a flagged source's units weigh less, which the settings are chosen under
        h.update(db.sources["flag"].fillna("").astype(str).sort_index().to_csv().encode())
    db.index.fingerprint = h.hexdigest()[:16]
    return db.index.fingerprint
