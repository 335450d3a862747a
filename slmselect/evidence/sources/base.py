"""What a source adapter hands to the build: sources, results keyed by the source's own names, model hints.

An adapter reads one folder of ``benchmarks_db/raw/`` and returns a :class:`SourceData`. It never decides which
database model or task a raw name is: the build maps ``raw_model`` through the model registry and
``raw_task`` through the task registry, and lists the names it could not map.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

#: Columns of results.csv that adapters may fill (the build adds model_id and task_id).
RESULT_FIELDS = (
    "source_id", "model_id", "task_id", "metric", "primary", "base_score", "finetuned_score", "base_stderr",
    "finetuned_stderr", "n_examples", "n_shot", "mode", "base_setting", "finetune_method", "ft_lora_rank", "ft_epochs",
    "ft_train_examples", "ft_recipe", "snapshot_date", "raw_name", "provenance", "notes",
)


@dataclass
class ModelHint:
    """Facts a source table states about a model it names (used only for models the registry lacks)."""

    hf_id: str | None = None
    params_b: float | None = None
    license: str | None = None  # as the source spells it (Hub id such as 'apache-2.0' or a display name)
    base_model: str | None = None
    variant: str | None = None
    release_date: str | None = None
    release_date_kind: str | None = None  # what the date is, e.g. 'Hub upload date (Open LLM Leaderboard)'
    api_only: bool = False
    org: str | None = None
    url: str | None = None


@dataclass
class SourceData:
    """One adapter's output. ``results`` rows carry ``raw_model`` and ``raw_task`` instead of ids."""

    sources: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)  # tasks defined by the source itself (curated)
    rankings: list[dict[str, Any]] = field(default_factory=list)
    hints: dict[tuple[str, str], ModelHint] = field(default_factory=dict)  # (source_id, raw_model) -> facts
    skipped: list[dict[str, Any]] = field(default_factory=list)  # rows left out on purpose, with the reason


class Adapter(Protocol):
    """A source adapter: ``FOLDER`` under ``benchmarks_db/raw/`` and ``read(folder) -> SourceData``."""

    FOLDER: str

    def read(self, folder: Path) -> SourceData: ...


def skip(source_id: str, raw_name: str, rows: int, reason: str, kind: str = "rows") -> dict[str, Any]:
    """A row of the build report for something left out on purpose."""
    return {"source_id": source_id, "kind": kind, "raw_name": raw_name, "rows": rows, "reason": reason}


def hf_id_from_url(url: Any) -> str | None:
    """'https://huggingface.co/Org/Name(/...)' -> 'Org/Name'; anything else -> None."""
    m = re.match(r"https?://huggingface\.co/([^/\s]+/[^/\s?#]+)", str(url or ""))
    return m.group(1) if m and not m.group(1).startswith(("spaces/", "datasets/", "blog/", "docs/")) else None


def pct(value: Any) -> float | None:
    """'62.03%' -> 0.6203; 'N/A' or empty -> None."""
    s = str(value).strip()
    if not s or s.upper() in {"N/A", "NAN", "-"}:
        return None
    return round(float(s.rstrip("%")) / 100.0, 6)


def n_shot_from(text: Any) -> int | None:
    """'5-shot CoT' -> 5, '0-shot' -> 0, anything else -> None."""
    m = re.search(r"(\d+)[- ]shot", str(text or ""), re.I)
    return int(m.group(1)) if m else None
