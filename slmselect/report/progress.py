"""Progress bars for a confirm run: one bar per candidate and stage, drawn by rich on stderr.

Disabled (every call a no-op) when ``progress=False`` or stderr is not a terminal.
"""

from __future__ import annotations

import sys
from typing import Any


class Stage:
    def __init__(self, bar: Any | None, task: Any | None) -> None:
        self._bar, self._task = bar, task

    def advance(self, n: float = 1, **fields: Any) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=n, **fields)

    def done(self, note: str = "") -> None:
        if self._bar is not None:
            task = self._bar.tasks[self._task]
            self._bar.update(self._task, completed=task.total or 1, total=task.total or 1, note=note)


class ConfirmProgress:
    def __init__(self, enabled: bool) -> None:
        self.enabled = bool(enabled) and sys.stderr.isatty()
        self._bar: Any | None = None

    def __enter__(self) -> ConfirmProgress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[note]}"),
                console=Console(stderr=True),
                transient=False,
            )
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)  # type: ignore[arg-type]
            self._bar = None

    def stage(self, model_id: str, name: str, total: float | None) -> Stage:
        if self._bar is None:
            return Stage(None, None)
        short = model_id.rsplit("/", 1)[-1]
        return Stage(self._bar, self._bar.add_task(f"{short}: {name}", total=total, note=""))

    def log(self, message: str) -> None:
        if self._bar is not None:
            self._bar.console.print(message)
