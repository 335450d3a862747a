"""What a confirm run measured: one :class:`CandidateResult` per model and the :class:`ConfirmReport`.

The report is plain data (pydantic); :func:`render_report` draws it with rich, imported only there.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Status = Literal["ok", "failed", "refused", "eliminated", "interrupted"]


class CandidateResult(BaseModel):
    """One candidate's measurements (scores are the task's primary metric, 0-1)."""

    model_id: str
    status: Status
    reason: str | None = Field(default=None, description="why a candidate failed, was refused or eliminated")
    metric: str
    base_score: float | None = None
    finetuned_score: float | None = None
    base_metrics: dict[str, float] = Field(default_factory=dict)
    finetuned_metrics: dict[str, float] = Field(default_factory=dict)
    steps: int = 0
    train_seconds: float | None = None
    tokens_per_second: float | None = Field(default=None, description="real (non-padding) training tokens per second")
    peak_memory_bytes: int | None = None
    memory_estimate_bytes: int | None = None
    load_seconds: float | None = None
    eval_seconds: float | None = None
    weights_source: str | None = None
    n_params: int | None = None
    trainable_params: int | None = None
    adapter_path: str | None = None
    final_loss: float | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    samples: list[dict[str, str]] = Field(
        default_factory=list, description="the first held-out examples: input, reference, base and fine-tuned output"
    )

    @property
    def gain(self) -> float | None:
        if self.base_score is None or self.finetuned_score is None:
            return None
        return self.finetuned_score - self.base_score

    @property
    def peak_memory_gb(self) -> float | None:
        return None if self.peak_memory_bytes is None else self.peak_memory_bytes / 1024**3


class HalvingSummary(BaseModel):
    """Compute used by successive halving against training every candidate for the full budget."""

    rung_steps: int
    full_steps: int
    kept: list[str]
    eliminated: list[str]
    rung_scores: dict[str, float]
    steps_used: int
    steps_full_budget: int
    seconds_used: float
    seconds_full_budget_estimate: float = Field(description="measured seconds per step of each candidate x full budget")

    @property
    def steps_saved(self) -> int:
        return self.steps_full_budget - self.steps_used

    @property
    def seconds_saved_estimate(self) -> float:
        return max(0.0, self.seconds_full_budget_estimate - self.seconds_used)


class ConfirmReport(BaseModel):
    """The result of :func:`slmselect.confirmation`."""

    run_id: str
    task_type: str
    metric: str
    task_fingerprint: str
    n_train: int
    n_eval: int
    train_indices: list[int] = Field(
        default_factory=list, description="positions of the training examples in the input"
    )
    eval_indices: list[int] = Field(default_factory=list, description="positions of the held-out examples in the input")
    device: str
    candidates: list[CandidateResult]
    first_choice: str | None = Field(
        default=None, description="the recommendation's first candidate, or the first model given"
    )
    interrupted: bool = False
    halving: HalvingSummary | None = None
    store_path: str | None = None
    output_dir: str | None = None
    notes: list[str] = Field(default_factory=list)

    @property
    def pick(self) -> str | None:
        """The candidate with the best fine-tuned score among those that finished."""
        ok = [c for c in self.candidates if c.status == "ok" and c.finetuned_score is not None]
        if not ok:
            return None
        return max(ok, key=lambda c: (c.finetuned_score, -self.candidates.index(c))).model_id

    @property
    def agrees_with_first_choice(self) -> bool | None:
        pick = self.pick
        return None if pick is None or self.first_choice is None else pick == self.first_choice

    def result(self, model_id: str) -> CandidateResult:
        for c in self.candidates:
            if c.model_id == model_id:
                return c
        raise KeyError(model_id)

    def to_pandas(self) -> Any:
        import pandas as pd

        rows = []
        for c in self.candidates:
            row = c.model_dump(exclude={"base_metrics", "finetuned_metrics", "config", "samples"})
            row["gain"] = c.gain
            row["picked"] = c.model_id == self.pick
            rows.append(row)
        return pd.DataFrame(rows)

    def to_json(self, **kw: Any) -> str:
        import json

        data = self.model_dump(mode="json")
        data["pick"] = self.pick
        data["agrees_with_first_choice"] = self.agrees_with_first_choice
        for c, out in zip(self.candidates, data["candidates"]):
            out["gain"] = c.gain
        if self.halving is not None:
            data["halving"]["steps_saved"] = self.halving.steps_saved
            data["halving"]["seconds_saved_estimate"] = self.halving.seconds_saved_estimate
        return json.dumps(data, indent=kw.pop("indent", 2), **kw)

    def __rich_console__(self, console: Any, options: Any) -> Any:
        yield from render_report(self, options.max_width)


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def render_report(report: ConfirmReport, width: int = 120) -> Any:
    """Rich renderables for a report: a table of candidates and a few lines of summary (throughput and
    peak memory only when ``width`` leaves room for them)."""
    from rich.table import Table
    from rich.text import Text

    title = (
        f"confirm: {report.task_type}, {report.metric} on {report.n_eval} held-out examples ({report.n_train} trained)"
    )
    table = Table(title=title, title_justify="left")
    wide = width >= 110
    columns = ["status", "base", "tuned", "gain", "steps", "train s"] + (["tok/s", "peak GB"] if wide else [])
    longest = max((len(c.model_id) + 2 for c in report.candidates), default=10)
    room = width - sum(max(len(n), 6) + 3 for n in columns) - 4  # cells, padding and borders of the others
    table.add_column("model", no_wrap=True, overflow="ellipsis", max_width=max(12, min(longest, room)))
    for name in columns:
        table.add_column(name, justify="left" if name == "status" else "right", no_wrap=True, min_width=len(name))
    pick = report.pick
    for c in report.candidates:
        gain = c.gain
        cells = {
            "status": c.status,
            "base": _fmt(c.base_score),
            "tuned": _fmt(c.finetuned_score),
            "gain": "-" if gain is None else f"{gain:+.3f}",
            "steps": str(c.steps),
            "train s": _fmt(c.train_seconds, ".1f"),
            "tok/s": _fmt(c.tokens_per_second, ".0f"),
            "peak GB": _fmt(c.peak_memory_gb, ".2f"),
        }
        name = f"* {c.model_id}" if c.model_id == pick else c.model_id
        table.add_row(name, *(cells[k] for k in columns))
    yield table
    lines: list[str] = []
    if pick:
        agree = report.agrees_with_first_choice
        tail = (
            ""
            if agree is None
            else (" (agrees with the first choice)" if agree else f" (first choice was {report.first_choice})")
        )
        lines.append(f"pick: {pick}{tail}")
    else:
        lines.append("no candidate finished")
    for c in report.candidates:
        if c.reason and c.status != "ok":
            lines.append(f"{c.model_id}: {c.status}: {c.reason.splitlines()[0]}")
    if report.halving is not None:
        h = report.halving
        lines.append(
            f"successive halving: {h.rung_steps}-step rung, kept {', '.join(h.kept)}; "
            f"{h.steps_used} of {h.steps_full_budget} training steps "
            f"(saved {h.steps_saved}, ~{h.seconds_saved_estimate:.0f} s)"
        )
    if report.interrupted:
        lines.append("interrupted: the candidates above that finished are kept")
    if report.store_path:
        lines.append(f"results stored in {report.store_path}")
    lines.extend(report.notes)
    yield Text("\n".join(lines))
