"""The store's runs as evidence: confirm's local measurements turned into units the predictor reads.

Each task the store holds runs for (one data fingerprint) becomes a task ``local_<fingerprint[:12]>`` of the
source ``local``, with the mean base and fine-tuned score of its successful runs per model and metric.
"""

from __future__ import annotations

import json
import os
import warnings

import pandas as pd

from slmselect.errors import MissingDependencyError, SlmselectWarning, StoreError
from slmselect.evidence.db import BenchmarkDB
from slmselect.evidence.store.results import load_local_results

#: The source the store's runs are evidence of.
LOCAL_SOURCE = "local"


def local_task_id(fingerprint: str) -> str:
    """The task id of the examples with this fingerprint among the store's units."""
    return "local_" + fingerprint[:12]


def local_units(db: BenchmarkDB, store: str | os.PathLike[str] | None) -> BenchmarkDB:
    """``db`` with the store's successful confirm runs appended (source ``local``), for models ``db`` knows.
    An unreadable store (or one whose driver, psycopg, is not installed) is a warning naming it and --no-local,
    and ``db`` itself is returned; so it is when the store holds nothing."""
    try:
        local = load_local_results(store)
    except (StoreError, MissingDependencyError) as err:
        warnings.warn(f"{err} Answering from the published evidence only; --no-local skips the local results.",
                      SlmselectWarning, stacklevel=3)
        return db
    if local is None or not len(local):
        return db
    local = local[(local["status"] == "ok") & local["model_id"].isin(db.models.index)]
    if not len(local):
        return db
    local = local.assign(task_id=local["task_fingerprint"].map(local_task_id))
    res = (local.groupby(["model_id", "task_id", "metric"], as_index=False)
           .agg(base_score=("base_score", "mean"), finetuned_score=("finetuned_score", "mean"), n=("run_id", "count")))
    res = res.assign(source_id=LOCAL_SOURCE, primary=True, base_setting="slmselect confirm", provenance="LOCAL",
                     notes=res["n"].map(lambda n: f"mean of {n} local confirm run(s); configuration in the results store"))
    res = res.drop(columns="n")
    first = local.drop_duplicates("task_id").set_index("task_id")
    tasks = pd.DataFrame({
        "task_id": first.index,
        "category": first["task_type"].to_numpy(),
        "metric": first["metric"].to_numpy(),
        "higher_is_better": True,
        "dataset": "local examples, fingerprint " + first["task_fingerprint"].str.slice(0, 12),
        "description": first["description"].fillna("").to_numpy(),
        "prompt_template": None,
        "example_inputs": [json.loads(s) if isinstance(s, str) and s else [] for s in first["sample_inputs"]],
        "output_format": None,
        "source_url": None,
    })
    sources = pd.DataFrame([{"source_id": LOCAL_SOURCE, "name": "Local slmselect confirm runs", "kind": "local",
                             "url": None, "setup": "short LoRA fine-tunes measured on your own data", "notes": None}])
    return db.with_results(res, tasks, sources)


def local_scores(db: BenchmarkDB, task_id: str, kind: str) -> dict[str, float]:
    """{model: score of ``kind`` ("finetuned", "base" or "gain")} of the store's unit ``task_id``
    (:func:`local_task_id`), in a database :func:`local_units` extended (empty otherwise)."""
    if LOCAL_SOURCE not in db.sources.index:
        return {}
    r = db.results[(db.results["task_id"] == task_id) & (db.results["source_id"] == LOCAL_SOURCE)]
    out: dict[str, float] = {}
    for row in r.itertuples():
        v = {"finetuned": row.finetuned_score, "base": row.base_score, "gain": row.finetuned_score - row.base_score}[kind]
        if v == v and v is not None:
            out[str(row.model_id)] = round(float(v), 4)
    return out
