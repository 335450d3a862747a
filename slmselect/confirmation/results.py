"""What a confirm run measured: one :class:`CandidateResult` per model and the :class:`ConfirmReport`.

The report is plain data (pydantic); :func:`slmselect.report.confirm.render_report` draws it with rich.
"""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar, Literal

import pandas as pd
from pydantic import BaseModel, Field

from slmselect._types import Result

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
    base_ci: tuple[float, float] | None = Field(default=None, description="95% bootstrap interval of base_score")
    finetuned_ci: tuple[float, float] | None = Field(
        default=None, description="95% bootstrap interval of finetuned_score"
    )
    gain_ci: tuple[float, float] | None = Field(
        default=None, description="95% paired-bootstrap interval of the gain (same test examples before and after)"
    )
    validation_score: float | None = Field(
        default=None, description="fine-tuned score on the validation examples (what the pick is made on)"
    )
    test_items: dict[str, list[list[float]]] = Field(
        default_factory=dict,
        description="per test example, 'base' and 'finetuned': [score] or [tp, predicted, reference] (entity F1)",
    )
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
    oom_retries: int = Field(default=0, description="times training was restarted at half the batch after running out of memory")
    config: dict[str, Any] = Field(default_factory=dict)
    reused_from: str | None = Field(
        default=None, description="run id whose stored measurement this is (confirm(resume=True)); None: measured now")
    resumed_from_step: int | None = Field(
        default=None, description="the training step of the checkpoint a killed run left, which training went on from")
    samples: list[dict[str, str]] = Field(
        default_factory=list, description="the first held-out examples: input, reference, base and fine-tuned output"
    )
    serving: dict[str, Any] | None = Field(
        default=None,
        description="llama.cpp on this machine (confirm(serve=True)): format, prompt_tokens_per_second, "
                    "generation_tokens_per_second, latency_p50_ms, latency_p95_ms, peak_rss_bytes, hardware; and score "
                    "(the task's metric on the test examples, answered by the GGUF with greedy decoding)",
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


class Comparison(BaseModel):
    """The pick against another candidate: fine-tuned test scores, paired on the same test examples."""

    model_id: str
    other: str
    difference: float = Field(description="pick's fine-tuned test score minus the other's")
    ci: tuple[float, float] = Field(description="95% paired-bootstrap interval of the difference")
    n_test: int
    too_close: bool = Field(description="the interval spans zero")
    more_examples_needed: int | None = Field(
        default=None,
        description="about how many more test examples would settle it if the difference held (None: no difference)",
    )

    @property
    def text(self) -> str:
        head = (
            f"{self.model_id} - {self.other} = {self.difference:+.3f} [{self.ci[0]:+.3f}, {self.ci[1]:+.3f}] "
            f"on {self.n_test} test examples"
        )
        if not self.too_close:
            if self.difference < 0:
                return f"{head}: {self.other} is better on the test examples (the pick was made on validation)"
            return f"{head}: {self.model_id} is better"
        if self.more_examples_needed is None:
            return f"{head}: too close to call (no difference at all)"
        return f"{head}: too close to call; about {self.more_examples_needed} more test examples would settle it"


class ConfirmReport(Result):
    """The result of :func:`slmselect.confirm`.

    ``to_pandas()`` has one row per candidate (``to_pandas("comparisons")``: the pick against each other one);
    ``to_json()`` is everything, with the pick, the verdict and each gain; ``to_html()`` the report page.
    """

    LEVELS: ClassVar[tuple[str, ...]] = ("candidates", "comparisons")

    run_id: str
    task_type: str
    metric: str
    task_fingerprint: str
    n_train: int
    n_eval: int
    train_indices: list[int] = Field(
        default_factory=list, description="positions of the training examples in the input"
    )
    eval_indices: list[int] = Field(
        default_factory=list, description="positions of the test examples in the input (the reported scores)"
    )
    n_validation: int = 0
    validation_indices: list[int] = Field(
        default_factory=list, description="positions of the validation examples (halving and the pick)"
    )
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
    comparisons: list[Comparison] = Field(default_factory=list)
    instruction: str | None = Field(default=None, description="the task instruction every prompt began with")

    @property
    def pick(self) -> str | None:
        """The finished candidate with the best fine-tuned validation score (the test score when there is no
        validation part, i.e. with one candidate); ties keep the earlier candidate."""
        ok = [c for c in self.candidates if c.status == "ok" and c.finetuned_score is not None]
        if not ok:
            return None

        def key(c: CandidateResult) -> tuple[float, int]:
            score = c.validation_score if c.validation_score is not None else c.finetuned_score
            return (score if score is not None else -1.0, -self.candidates.index(c))

        return max(ok, key=key).model_id

    @property
    def verdict(self) -> str | None:
        """One line on the pick: better than every other candidate, or too close to call."""
        pick = self.pick
        if pick is None:
            return None
        close = [c for c in self.comparisons if c.too_close]
        worse = [c.other for c in self.comparisons if not c.too_close and c.difference < 0]
        if not self.comparisons:
            cut = [c.model_id for c in self.candidates if c.status == "eliminated"]
            if cut:
                return f"{pick}: the others ({', '.join(cut)}) were cut on validation by successive halving"
            return f"{pick} (the only candidate measured)"
        if worse:
            return f"the validation pick {pick} scored below {', '.join(worse)} on the test examples; check both"
        if not close:
            return f"{pick} is better than {', '.join(c.other for c in self.comparisons)} on the test examples"
        more = [c.more_examples_needed for c in close if c.more_examples_needed is not None]
        tail = f"; about {max(more)} more test examples would settle it" if more else ""
        return f"too close to call: {pick} vs {', '.join(c.other for c in close)}{tail}"

    @property
    def beside_metric(self) -> str | None:
        """The metric shown beside the chosen one: macro-F1 beside accuracy for classification, and the other
        way round (None for other task types)."""
        if self.task_type != "classification":
            return None
        return "accuracy" if self.metric == "macro_f1" else "macro_f1"

    @property
    def reused(self) -> list[str]:
        """The candidates taken from the store (``confirm(resume=True)``) instead of trained again."""
        return [c.model_id for c in self.candidates if c.reused_from]

    @property
    def agrees_with_first_choice(self) -> bool | None:
        pick = self.pick
        return None if pick is None or self.first_choice is None else pick == self.first_choice

    def result(self, model_id: str) -> CandidateResult:
        for c in self.candidates:
            if c.model_id == model_id:
                return c
        raise KeyError(model_id)

    def _table(self, level: str) -> pd.DataFrame:
        if level == "comparisons":
            return pd.DataFrame([c.model_dump() for c in self.comparisons], columns=list(Comparison.model_fields))
        rows = []
        for c in self.candidates:
            row = c.model_dump(exclude={"base_metrics", "finetuned_metrics", "config", "samples", "test_items"})
            row["gain"] = c.gain
            row["picked"] = c.model_id == self.pick
            rows.append(row)
        return pd.DataFrame(rows)

    def to_json(self, indent: int | None = 2) -> str:
        data = self.model_dump(mode="json")
        data["pick"] = self.pick
        data["verdict"] = self.verdict
        data["agrees_with_first_choice"] = self.agrees_with_first_choice
        data["reused"] = self.reused
        for c, out in zip(self.candidates, data["candidates"]):
            out["gain"] = c.gain
        if self.halving is not None:
            data["halving"]["steps_saved"] = self.halving.steps_saved
            data["halving"]["seconds_saved_estimate"] = self.halving.seconds_saved_estimate
        return json.dumps(data, indent=indent)

    def to_html(self, path: str | os.PathLike[str] | None = None, *, recommendation: Any = None, profile: Any = None) -> str:
        """The report as one self-contained HTML page (written to ``path`` too when given)."""
        from slmselect.report.html import html_text

        return html_text(path, confirm_report=self, recommendation=recommendation, profile=profile)

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from slmselect.report.confirm import render_report

        yield from render_report(self, options.max_width)
