"""Memory and latency as deployed: ``recommend(deploy=...)``'s estimate, and llama.cpp's measurements on
this machine (``confirm(serve=True)``, ``slmselect serve-bench``) in its place once they exist."""

from __future__ import annotations

import copy
import json
import os
from typing import Any

import numpy as np
import pandas as pd

from slmselect._types import TaskProfile
from slmselect.evidence.db import MEMORY_CONTEXT_TOKENS, BenchmarkDB
from slmselect.evidence.footprint import deploy_memory_gb, describe, task_context


def measured_serving(store: str | os.PathLike[str] | None, models: pd.Index, fmt: str | None,
                     fingerprint: str | None) -> dict[str, dict[str, Any]]:
    """The newest llama.cpp measurement of each model in the results store (at ``fmt`` when given), one on
    this very task (same fingerprint) before any other."""
    try:
        from slmselect.evidence.store import load_local_results

        frame = load_local_results(store)
    except Exception:  # noqa: BLE001 - local_units already warned about an unreadable store
        return {}
    if frame is None or not len(frame) or "serving" not in frame:
        return {}
    frame = frame[frame["serving"].notna() & frame["model_id"].isin(models)]
    out: dict[str, tuple[tuple[bool, str], dict[str, Any]]] = {}
    for row in frame.itertuples():
        try:
            serving = json.loads(row.serving) if isinstance(row.serving, str) else dict(row.serving)
        except (TypeError, ValueError):
            continue
        if fmt is not None and serving.get("format") != fmt:
            continue
        key = (row.task_fingerprint == fingerprint, str(row.created_at))
        if row.model_id not in out or key >= out[row.model_id][0]:
            out[str(row.model_id)] = (key, serving | {"same_task": key[0]})
    return {m: s for m, (_, s) in out.items()}


def deployed(db: BenchmarkDB, profile: TaskProfile | None, *, deploy: str | None, context: int | None,
             measured: dict[str, dict[str, Any]]) -> tuple[BenchmarkDB, dict[str, Any], list[str]]:
    """``db`` with ``memory_gb`` for the deployment format (measured where measured) and ``latency_ms`` (the
    measured p95, NaN where not measured); the constraints to record and the notes to show."""
    notes: list[str] = []
    record: dict[str, Any] = {}
    M = db.models.copy()
    if deploy is not None:
        ctx = task_context(profile.input_tokens.max if profile else None,
                           profile.output_tokens.max if profile else None, context) \
            if profile is not None or context is not None else MEMORY_CONTEXT_TOKENS
        M["memory_gb"] = deploy_memory_gb(M, deploy, ctx)
        record = {"deploy": deploy, "context": ctx}
        notes.append(f"Memory by deployment format: {describe(deploy, ctx)}"
                     + (" (the task's longest input and answer, as profiled)." if context is None and profile else ".")
                     + " GB = 10^9 bytes; docs/edge.md checks the estimate against llama.cpp's files and processes.")
    elif context is not None:
        notes.append("context= sets the KV cache of the deployment estimate: give deploy= (bf16, q8_0, q4_k_m) too.")
    M["memory_source"] = "estimate"
    M["latency_ms"] = np.nan
    for mid, s in measured.items():
        if s.get("peak_rss_bytes"):
            M.at[mid, "memory_gb"] = float(s["peak_rss_bytes"]) / 1e9
            M.at[mid, "memory_source"] = "measured"
        if s.get("latency_p95_ms") is not None:
            M.at[mid, "latency_ms"] = float(s["latency_p95_ms"])
    if measured:
        hw = next(iter(measured.values())).get("hardware") or {}
        where = ", ".join(str(x) for x in (hw.get("cpu"), hw.get("gpu")) if x) or "this machine"
        notes.append("Measured in llama.cpp on " + where + ": "
                     + "; ".join(f"{m} at {s.get('format')}: peak {s['peak_rss_bytes'] / 1e9:.2f} GB, p95 "
                                 f"{s.get('latency_p95_ms'):.0f} ms per example" + ("" if s.get("same_task") else " (another task)")
                                 for m, s in measured.items())
                     + ". These measurements replace the estimates for memory and latency.")
    out = copy.copy(db)  # shares the database's caches; only the models frame differs
    out.models = M
    return out, record, notes
