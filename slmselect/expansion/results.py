"""``ExpandReport``: what one ``expand()`` run asked, got, kept and rejected."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from slmselect._types import Result

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


class ExpandReport(Result):
    """The outcome of one :func:`~slmselect.expand` run (counts are for this run unless said).

    ``to_pandas()`` is one row of counts (``to_pandas("rejected")``: the rejected replies and failed requests
    by reason); ``to_json()`` is everything, with ``total``, ``complete`` and ``acceptance_rate``.
    """

    LEVELS: ClassVar[tuple[str, ...]] = ("summary", "rejected")

    output: str = Field(description="the expanded JSON Lines file")
    n: int = Field(description="how many valid expanded rows were asked for in the file")
    existing: int = Field(0, description="valid rows already in the file when the run started (kept, not re-asked)")
    existing_invalid: int = Field(0, description="rows already in the file that fail the checks (kept, not counted)")
    repaired_partial_line: bool = Field(False, description="a line cut short by an interrupted run was dropped")
    written: int = Field(0, description="rows this run appended")
    requests: int = Field(0, description="chat requests this run sent (each may have been retried)")
    retries: int = Field(0, description="retries after a time-out, connection error, 429, 5xx or malformed body")
    failed_requests: int = Field(0, description="requests that still failed after their retries")
    abandoned: int = Field(0, description="requests whose answer went unused: still in flight (cancelled) or arriving after the file was full or the run stopped")
    failures: dict[str, int] = Field(default_factory=dict, description="failed requests by reason")
    rejected: dict[str, int] = Field(default_factory=dict, description="teacher replies rejected, by reason")
    rejected_samples: list[dict[str, str]] = Field(default_factory=list, description="a few rejected replies, cut to 200 characters")
    task_type: str = ""
    model: str = ""
    base_url: str = Field("", description="the endpoint, without any credentials")
    seed: int = 0
    elapsed_s: float = 0.0

    @property
    def total(self) -> int:
        """Valid rows in the file now."""
        return self.existing + self.written

    @property
    def complete(self) -> bool:
        return self.total >= self.n

    @property
    def acceptance_rate(self) -> float | None:
        """Share of this run's answered requests whose example was kept."""
        answered = self.requests - self.failed_requests - self.abandoned
        return self.written / answered if answered else None

    def summary(self) -> dict[str, Any]:
        return {**self.model_dump(), "total": self.total, "complete": self.complete, "acceptance_rate": self.acceptance_rate}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.summary(), indent=indent, default=str)

    def _table(self, level: str) -> pd.DataFrame:
        import pandas as pd

        if level == "rejected":
            rows = [{"kind": kind, "reason": reason, "count": count}
                    for kind, counts in (("rejected", self.rejected), ("failed", self.failures))
                    for reason, count in sorted(counts.items(), key=lambda kv: -kv[1])]
            return pd.DataFrame(rows, columns=["kind", "reason", "count"])
        row = self.summary()
        for key in ("failures", "rejected", "rejected_samples"):
            row.pop(key)
        return pd.DataFrame([row])

    def __str__(self) -> str:
        rate = self.acceptance_rate
        lines = [
            f"{self.output}: {self.total} of {self.n} rows ({self.existing} already there, {self.written} new)"
            + ("" if self.complete else " — incomplete: rerun to continue, or raise max_requests"),
            f"teacher {self.model!r} at {self.base_url}: {self.requests} requests, {self.retries} retries, "
            f"{self.failed_requests} failed" + (f", {rate:.0%} of answers kept" if rate is not None else ""),
        ]
        if self.rejected:
            lines.append("rejected: " + ", ".join(f"{k} {v}" for k, v in sorted(self.rejected.items(), key=lambda kv: -kv[1])))
        if self.failures:
            lines.append("failed: " + ", ".join(f"{k} {v}" for k, v in sorted(self.failures.items())))
        if self.existing_invalid:
            lines.append(f"{self.existing_invalid} rows already in the file fail the checks; they were kept but not counted")
        if self.repaired_partial_line:
            lines.append("a row cut short by an interrupted run was dropped from the end of the file")
        return "\n".join(lines)
