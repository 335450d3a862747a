"""Resuming a killed ``confirm``: which candidates were already measured, and where checkpoints are kept.

A run killed outright (the kernel's OOM killer, a pre-empted machine) has stored every candidate it
finished, each as one row of the results store. Each row carries a ``resume_key``: a hash of everything
that decides the measurement (the examples, the split, the model, the prompt, the training settings, the
metric and the device kind). ``confirm(resume=True)`` looks these keys up and reuses the stored results of
the same key instead of training again.

A candidate killed mid-training leaves its last Trainer checkpoint (adapter, optimizer, scheduler, RNG and
data position) in ``<cache>/checkpoints/<run key>/<model>/``, written every ``checkpoint_every`` steps; the
next run with the same key goes on from it, as if it had not stopped. The checkpoint is deleted once the
candidate finishes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from slmselect._types import Example
from slmselect.confirmation.results import CandidateResult
from slmselect.confirmation.cache import cache_root, safe_id

#: What a stored result keeps of a candidate (the sample outputs only when the user keeps samples).
_NOT_STORED = {"samples"}


def _digest(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def run_key(
    fingerprint: str,
    parts: dict[str, list[int]],
    train: list[Example],
    instruction: str,
    settings: dict[str, Any],
) -> str:
    """The key of one run's measurement settings: the data (its fingerprint and the examples trained on,
    which include any ``train_examples``), the split's positions, the instruction and ``settings``."""
    return _digest({
        "fingerprint": fingerprint,
        "parts": parts,
        "train": _digest([e.model_dump() for e in train]),
        "instruction": instruction,
        "settings": settings,
    })[:32]


def candidate_key(key: str, model_id: str) -> str:
    """One candidate's resume key within a run."""
    return _digest({"run": key, "model": model_id})[:32]


def checkpoint_dir(key: str, model_id: str) -> Path:
    """Where a candidate's mid-training checkpoints are kept (under the slmselect cache)."""
    return cache_root() / "checkpoints" / key[:16] / safe_id(model_id)


def stored_result(result: CandidateResult, keep_samples: bool) -> dict[str, Any]:
    """The candidate as the store keeps it (the per-example test scores included, for later comparisons)."""
    return result.model_dump(mode="json", exclude=set() if keep_samples else _NOT_STORED)


def reused_results(store: Any, keys: dict[str, str]) -> dict[str, CandidateResult]:
    """``{model_id: result}`` for every candidate whose key (``keys``: model id -> key) has a finished result
    in ``store``; each is marked with the run it came from."""
    if store is None or not keys:
        return {}
    found = store.finished(keys.values())
    out = {}
    for model_id, key in keys.items():
        if key not in found:
            continue
        data = dict(found[key]["result"])
        data["model_id"] = model_id
        data["reused_from"] = found[key]["run_id"]
        try:
            out[model_id] = CandidateResult.model_validate(data)
        except ValueError:  # a row written by another version that no longer validates: measure again
            continue
    return out


__all__ = ["candidate_key", "checkpoint_dir", "reused_results", "run_key", "stored_result"]
