"""Shared data types that cross module boundaries (pydantic models and literals)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from slmselect.errors import check_choice

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from typing_extensions import Self

#: Task types a profile can take. They use the same words as the database's task categories.
TaskType = Literal[
    "classification",
    "ner_extraction",
    "qa_open_book",
    "qa_closed_book",
    "tool_calling",
    "summarization",
    "generation",
]
TASK_TYPES: tuple[str, ...] = TaskType.__args__  # type: ignore[attr-defined]

OutputFormat = Literal["label", "spans", "json", "tool_call", "free_text"]

#: Recommendation objectives.
Objective = Literal["accuracy", "tunability", "edge", "no_finetune"]
OBJECTIVES: tuple[str, ...] = Objective.__args__  # type: ignore[attr-defined]
#: Other spellings of the objectives, read case-insensitively with spaces and hyphens as underscores.
OBJECTIVE_ALIASES: dict[str, str] = {
    "max_accuracy": "accuracy", "best": "accuracy", "finetuned": "accuracy",
    "tunable": "tunability", "gain": "tunability",
    "small": "edge", "smallest": "edge",
    "nofinetune": "no_finetune", "base": "no_finetune", "zero_shot": "no_finetune", "zeroshot": "no_finetune",
}
#: The edge objective: score points (0-1 scale) below the best feasible score a smaller model may be.
EDGE_TOLERANCE = 0.05


class Result(BaseModel):
    """What every result slmselect returns can do: ``to_json(indent=2)`` gives all of it as JSON text (and
    ``from_json`` reads that back), ``to_pandas(level)`` one of its tables, the first of ``LEVELS`` by default."""

    LEVELS: ClassVar[tuple[str, ...]] = ()

    def to_json(self, indent: int | None = 2) -> str:
        return self.model_dump_json(indent=indent)

    @classmethod
    def from_json(cls, text: str | bytes) -> Self:
        return cls.model_validate_json(text)

    def to_pandas(self, level: str | None = None) -> pd.DataFrame:
        """One table of the result: ``level`` is one of ``LEVELS`` (default: the first)."""
        chosen = check_choice("level", level or self.LEVELS[0], self.LEVELS, where=f"{type(self).__name__}.to_pandas")
        return self._table(chosen)

    def _table(self, level: str) -> pd.DataFrame:
        raise NotImplementedError


class Example(BaseModel):
    """One task example in slmselect's normalised form.

    ``output`` is always text: a label, an answer, a JSON string (entities, tool call) or free text.
    """

    model_config = ConfigDict(frozen=True)

    input: str
    output: str
    context: str | None = None
    tools: str | None = Field(default=None, description="JSON text of the tool schemas offered, for tool calling")


class LengthStats(BaseModel):
    """Length statistics of a text field, in tokens."""

    mean: float
    p50: float
    p95: float
    max: int


class TaskProfile(Result):
    """What slmselect inferred about a task from its examples (and description).

    ``to_pandas()`` is one row (the lengths as ``input_tokens_mean``, ``input_tokens_p95``, ...); ``to_json()``
    all of it.
    """

    LEVELS: ClassVar[tuple[str, ...]] = ("profile",)

    task_type: TaskType
    confidence: float = Field(ge=0, le=1, description="how sure the type inference is, 0-1")
    reasons: list[str] = Field(default_factory=list, description="why this type was chosen, for the user")
    n_examples: int = Field(description="examples read (every one, exact)")
    stats_sample: int | None = Field(
        default=None, description="examples the token lengths, language, output format and type evidence were computed "
                                  "on: all of them up to 2,000, else a seeded sample stratified by label (None: not recorded)")
    fields: dict[str, str] = Field(
        default_factory=dict, description="role -> source field name, e.g. {'input': 'text', 'output': 'label'}"
    )
    labels: list[str] | None = None
    majority_label: str | None = Field(default=None, description="classification: the most frequent label")
    majority_rate: float | None = Field(
        default=None, description="classification: the share of examples with the most frequent label (the accuracy of always answering it)")
    duplicate_inputs: int = Field(
        default=0, description="examples whose input (and context) repeats another's, exactly or but for case, whitespace "
                               "and punctuation; confirm keeps such copies on one side of every split")
    output_format: OutputFormat
    input_tokens: LengthStats
    output_tokens: LengthStats
    token_counter: str = Field(description="what counted the tokens (a tokenizer name or 'regex-estimate')")
    language: str = Field(description="ISO 639-1 code of the dominant language, or 'und'")
    description: str | None = None
    sample_inputs: list[str] = Field(default_factory=list)
    fingerprint: str = Field(description="sha256 of the normalised examples; same data -> same fingerprint")

    def matching_text(self) -> str:
        """Text used to compare this task with database tasks by meaning."""
        parts = [self.description or "", self.task_type.replace("_", " ")]
        if self.labels:
            parts.append("labels: " + ", ".join(self.labels[:30]))
        parts.extend(self.sample_inputs[:5])
        return "\n".join(p for p in parts if p)

    def summary(self) -> dict[str, Any]:
        return self.model_dump(exclude={"sample_inputs"})

    def _table(self, level: str) -> pd.DataFrame:
        import pandas as pd

        row = self.summary()
        for field in ("input_tokens", "output_tokens"):
            row.update({f"{field}_{k}": v for k, v in row.pop(field).items()})
        return pd.DataFrame([row])
