"""The hard constraints of a recommendation: licences, and the feasible models."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from slmselect.errors import ParameterError, did_you_mean
from slmselect.evidence.db import BenchmarkDB

LICENSE_GROUPS = {"commercial": "models whose licence permits commercial use, with or without conditions (see license_conditions)",
                  "permissive": "OSI-style permissive licences only: Apache-2.0, MIT, BSD-3-Clause"}
PERMISSIVE = {"apache-2.0", "mit", "bsd-3-clause"}
COMMERCIAL = {"yes", "with_conditions"}
REFERENCE = "reference model (API-only or >= 70B teacher; not a small model)"
UNKNOWN_SIZE = "size unknown (no parameter count in the database; cannot be checked against size or memory)"


def license_mask(models: pd.DataFrame, licenses: Iterable[str]) -> np.ndarray:
    known = sorted(set(models["license"].dropna()))
    lic = models["license"].fillna("").str.lower().to_numpy()
    mask = np.zeros(len(models), bool)
    for name in licenses:
        n = str(name).strip().lower()
        if n == "commercial":
            mask |= models["commercial_use"].isin(COMMERCIAL).to_numpy()
        elif n == "permissive":
            mask |= np.isin(lic, list(PERMISSIVE))
        elif n in {k.lower() for k in known}:
            mask |= lic == n
        else:
            raise ParameterError(
                f"Unknown licence {name!r}. Known licences: {', '.join(map(repr, known))}, or the groups "
                f"'commercial' and 'permissive'." + did_you_mean(str(name), known + list(LICENSE_GROUPS))
            )
    return mask


@dataclass
class Feasible:
    """Which models satisfy every constraint (``keep``), each constraint's mask, and whom it excluded."""

    keep: np.ndarray
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    excluded: dict[str, list[str]] = field(default_factory=dict)


def feasible_models(db: BenchmarkDB, *, models: Sequence[str] | None = None, max_params: float | None = None,
                    max_memory_gb: float | None = None, licenses: Sequence[str] | None = None,
                    families: Sequence[str] | None = None, min_context: int | None = None,
                    max_latency_ms: float | None = None) -> Feasible:
    """Apply the hard constraints to ``db``'s models; reference models never qualify. The arguments are those
    ``check_params('recommend', ...)`` returns (name lists as lists, sizes in billions)."""
    M = db.models
    out = Feasible(keep=np.ones(len(M), bool))

    def exclude(name: str, mask: np.ndarray) -> None:
        out.masks[name] = mask
        if (~mask).any():
            out.excluded[name] = M.index[~mask].tolist()
        out.keep &= mask

    unknown_size = M["params_b"].isna().to_numpy() & ~M["api_only"].astype(bool).to_numpy()
    exclude(REFERENCE, ~(M["reference"].to_numpy() & ~unknown_size))
    exclude(UNKNOWN_SIZE, ~unknown_size)
    if models is not None:
        ids = [db.resolve_model(m) for m in models]
        exclude("models", M.index.isin(ids))
    if max_params is not None:
        exclude(f"max_params={max_params:g}B", (M["params_b"].astype(float) <= max_params + 1e-9).to_numpy())
    if max_memory_gb is not None:
        exclude(f"max_memory_gb={float(max_memory_gb):g}", (M["memory_gb"] <= float(max_memory_gb)).to_numpy())
    if max_latency_ms is not None and "latency_ms" in M:
        lat = M["latency_ms"].to_numpy(dtype=float)
        exclude(f"max_latency_ms={float(max_latency_ms):g}", np.isnan(lat) | (lat <= float(max_latency_ms)))
    if licenses is not None:
        exclude(f"licenses={list(licenses)}", license_mask(M, licenses))
    if families is not None:
        fams = list(families)
        known = sorted(set(M["family"]))
        low = {f.lower() for f in known}
        for f in fams:
            if f.lower() not in low:
                raise ParameterError(f"Unknown model family {f!r}. Known families: {', '.join(map(repr, known))}." + did_you_mean(f, known))
        exclude(f"families={fams}", M["family"].str.lower().isin([f.lower() for f in fams]).to_numpy())
    if min_context is not None:
        exclude(f"min_context={int(min_context)}", (M["context_len"].fillna(0).astype(float) >= int(min_context)).to_numpy())
    return out


def relax_message(masks: dict[str, np.ndarray], index: pd.Index) -> str:
    fixed = [k for k in masks if k.startswith(("reference", "no ", "size unknown"))]
    user = [k for k in masks if k not in fixed]
    if not user:
        return "No model in the database has evidence for this objective. Try another objective or add results to the database."
    base = np.logical_and.reduce([masks[k] for k in fixed]) if fixed else np.ones(len(index), bool)
    gains = {}
    for k in user:
        others = np.logical_and.reduce([masks[o] for o in user if o != k] + [base])
        gains[k] = int(others.sum())
    parts = "; ".join(f"{k} excludes {int((~masks[k] & base).sum())}" for k in user)
    best = max(gains, key=lambda k: gains[k])
    if gains[best] == 0:
        return f"No model satisfies the constraints ({parts}), and relaxing any single one is not enough: relax several."
    return (f"No model satisfies all constraints ({parts}). Relax {best!r}: without it "
            f"{gains[best]} model(s) would qualify.")
