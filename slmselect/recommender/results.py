"""What recommend() returns: ranked candidates with their evidence, and how the ranking was made."""

from __future__ import annotations

import os
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from slmselect._types import Result, TaskProfile


class Evidence(BaseModel):
    """One benchmark result that informed a candidate's prediction."""

    source_id: str
    task_id: str
    category: str
    metric: str
    score: float
    similarity: float = Field(description="similarity of this benchmark task to yours (type and meaning), -1..1")
    weight: float = Field(description="share of this candidate's prediction that rests on this result, 0-1 (the rest: other "
                                      "results and the model's overall standing)")


class Candidate(BaseModel):
    """A recommended model: where it stands on your task, the facts that matter, and the evidence behind it."""

    rank: int
    model_id: str
    family: str
    params_b: float | None
    memory_gb: float | None = Field(description="inference memory in GB: the estimate for the deployment format "
                                                "(Recommendation.constraints['deploy']; bf16 with a 4k-token KV cache when none "
                                                "is given), or the peak resident memory measured in llama.cpp (memory_source)")
    memory_source: str = Field(default="estimate", description="estimate | measured (llama.cpp on this machine)")
    latency_ms: float | None = Field(default=None, description="p95 latency per example measured in llama.cpp (None: not measured)")
    license: str | None
    commercial_use: str | None = Field(description="yes | with_conditions | no (empty when the licence is unknown)")
    license_conditions: str | None = Field(default=None, description="what the licence requires for commercial use, when it has conditions")
    context_len: int | None
    languages: str | None = Field(default=None, description="ISO codes it supports ('en': English only; 'many': 100+ claimed); None: unknown")
    tool_calls: str | None = Field(default=None, description="yes | no: whether its chat template takes tools; None: unknown")
    variant: str | None = None
    superseded_by: str | None = Field(default=None, description="the model that supersedes it, when the database records one")
    fact_sources: dict[str, str] = Field(default_factory=dict, description="model fact -> the URL it comes from")
    gap: float | None = Field(default=None, description="how far below the first candidate it is expected to score on this task (0-1; 0 for the first)")
    gap_lower: float | None = Field(default=None, description="95% interval of the gap")
    gap_upper: float | None = None
    p_best: float | None = Field(default=None, description="probability that this model is the best of the ranked candidates on this task")
    predicted_score: float | None = Field(
        description="expected score on the objective's value (0-1; a gain for tunability): the measurement for a measured "
                    "model, else the task's level (a range for tasks like this one, unless a measurement anchors it) plus the standing")
    lower: float = Field(description="95% interval of predicted_score")
    upper: float
    measured: bool = Field(default=False, description="predicted_score is a measurement on your own data")
    relative_score: float | None = Field(
        description="predicted standing on this task (overall standing + task-specific deviation; sd units); the order")
    low_evidence: bool
    evidence_share: float
    standing: float | None = Field(default=None, description="the model's overall standing for this kind of score (the prior the evidence moves)")
    cold_start: bool = Field(
        default=False, description="no score of this kind in the database: predicted from metadata (and base scores)")
    other_variant: str | None = Field(default=None, description="its base/instruct twin, shown in this row (one row per model)")
    requirements: list[str] = Field(default_factory=list, description="task requirements it is known to miss, or unknown")
    sources: list[str]
    evidence: list[Evidence]
    notes: list[str] = Field(default_factory=list)


class Recommendation(Result):
    """The result of :func:`recommend`: ranked candidates, exclusions, and how the ranking was made.

    ``to_pandas()`` has one row per ranked candidate (``to_pandas("cold_start")``: the models listed apart);
    ``to_json()`` is everything, the evidence included; ``to_html()`` the report page.
    """

    LEVELS: ClassVar[tuple[str, ...]] = ("candidates", "cold_start")

    objective: str
    value: str = Field(description="what the predicted score measures: finetuned, gain or base score")
    candidates: list[Candidate]
    excluded: dict[str, list[str]] = Field(default_factory=dict, description="constraint -> models it excluded")
    constraints: dict[str, Any] = Field(default_factory=dict)
    profile: TaskProfile | None = None
    description: str | None = None
    embedder: str
    task_type: str | None = Field(default=None, description="the task type the ranking used")
    task_type_reason: str | None = Field(default=None, description="why that type: from the examples, or the description's meaning")
    notes: list[str] = Field(default_factory=list)
    requirements: dict[str, Any] = Field(default_factory=dict, description="what the task asks of a model, and where each came from")
    level_lower: float | None = Field(default=None, description="the first candidate's score range on tasks like this one (95%)")
    level_upper: float | None = None
    anchored: bool = Field(default=False, description="a measurement on this very task fixes the level")
    measured: dict[str, float] = Field(default_factory=dict, description="scores measured on this very task, by model")
    floor: float | None = Field(default=None, description="classification: accuracy of always answering the majority label")
    cold_start: list[Candidate] = Field(
        default_factory=list,
        description="the best feasible models with no score of this kind (predicted from metadata and base scores), "
                    "listed apart from the ranking unless named with models= or needed to fill it")

    @property
    def best(self) -> Candidate:
        return self.candidates[0]

    def model_ids(self, top_k: int | None = None) -> list[str]:
        return [c.model_id for c in self.candidates[: top_k or len(self.candidates)]]

    def _table(self, level: str) -> pd.DataFrame:
        rows = [c.model_dump(exclude={"evidence"}) | {"top_evidence": c.evidence[0].task_id if c.evidence else None}
                for c in (self.candidates if level == "candidates" else self.cold_start)]
        return pd.DataFrame(rows, columns=[*(f for f in Candidate.model_fields if f != "evidence"), "top_evidence"])

    def to_html(self, path: str | os.PathLike[str] | None = None, *, confirm_report: Any = None) -> str:
        """The recommendation as one self-contained HTML page (written to ``path`` too when given)."""
        from slmselect.report.html import html_text

        return html_text(path, recommendation=self, confirm_report=confirm_report)

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from slmselect.report.tables import render_recommendation

        yield from render_recommendation(self)


def model_fields(M: pd.DataFrame, mid: str) -> dict[str, Any]:
    """The database facts a Candidate carries about its model."""
    row = M.loc[mid]
    return dict(
        model_id=mid, family=row["family"],
        params_b=None if pd.isna(row["params_b"]) else float(row["params_b"]),
        memory_gb=None if pd.isna(row["memory_gb"]) else round(float(row["memory_gb"]), 2),
        memory_source=str(row.get("memory_source") or "estimate"),
        latency_ms=None if pd.isna(row.get("latency_ms", np.nan)) else round(float(row["latency_ms"]), 1),
        license=text_cell(row["license"]), commercial_use=text_cell(row["commercial_use"]),
        license_conditions=text_cell(row.get("license_conditions")),
        context_len=None if pd.isna(row["context_len"]) else int(row["context_len"]),
        languages=text_cell(row.get("languages")), tool_calls=text_cell(row.get("tool_calls")),
        variant=text_cell(row.get("variant")), superseded_by=text_cell(row.get("superseded_by")),
        fact_sources={f: str(row.get(f + "_source")) for f in ("context", "languages", "tool_calls", "twin", "superseded")
                      if text_cell(row.get(f + "_source"))},
    )


def text_cell(v: Any) -> str | None:
    """A text cell of the models frame, None when empty."""
    return None if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) or v == "" else str(v)
