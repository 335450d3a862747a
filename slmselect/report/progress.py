"""Progress of a confirm run, on any output.

On a terminal: rich bars on stderr, one per candidate and stage. Anywhere else (a pipe, a log file, CI):
plain lines on stderr, one when a stage starts and ends and at least every ``interval`` seconds while it
runs (a background heartbeat covers stages with no steps, such as loading a model), each saying the stage,
the step, the last loss, the time spent and an estimate of the time left::

    [confirm 0:42] SmolLM2-135M-Instruct: LoRA train step 6/12, loss 1.234, 0:14 elapsed, ~0:14 left

``progress=False`` turns both off.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

#: Seconds between plain progress lines while a stage runs.
PLAIN_INTERVAL = 10.0


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


class Stage:
    """One stage of one candidate (``load``, ``base eval``, ``LoRA train`` ...)."""

    def __init__(self, owner: ConfirmProgress | None, label: str, total: float | None, task: Any = None) -> None:
        self._owner, self.label, self.total, self._task = owner, label, total, task
        self.completed = 0.0
        self.note = ""
        self.started = time.monotonic()
        self.finished = False

    def advance(self, n: float = 1, **fields: Any) -> None:
        self.completed += n
        self.note = str(fields.get("note", self.note))
        if self._owner is not None:
            self._owner._update(self, fields)

    def done(self, note: str = "") -> None:
        self.note = note
        self.finished = True
        if self._owner is not None:
            self._owner._finish(self)

    def line(self, now: float) -> str:
        """A plain progress line: step, loss, elapsed and remaining time."""
        spent = now - self.started
        if self.finished:
            return f"{self.label}: done in {_clock(spent)}" + (f", {self.note}" if self.note else "")
        step = f"step {int(self.completed)}/{int(self.total)}" if self.total else ""
        bits = [b for b in (step, self.note, f"{_clock(spent)} elapsed") if b]
        if self.total and 0 < self.completed < self.total:
            bits.append(f"~{_clock(spent / self.completed * (self.total - self.completed))} left")
        return f"{self.label}: " + ", ".join(bits)


class ConfirmProgress:
    """Context manager handing out :class:`Stage` objects; rich bars on a terminal, plain lines elsewhere."""

    def __init__(self, enabled: bool, *, stream: TextIO | None = None, interval: float = PLAIN_INTERVAL) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(enabled)
        self.rich = self.enabled and bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval
        self._bar: Any | None = None
        self._current: Stage | None = None
        self._last_line = 0.0
        self._start = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------------------ lifetime

    def __enter__(self) -> ConfirmProgress:
        self._start = time.monotonic()
        if self.rich:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[note]}"),
                console=Console(file=self.stream),
                transient=False,
            )
            self._bar.__enter__()
        elif self.enabled:
            self._stop.clear()
            self._thread = threading.Thread(target=self._heartbeat, name="slmselect-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)  # type: ignore[arg-type]
            self._bar = None
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=5)
            self._thread = None

    # ------------------------------------------------------------------------------------------ stages

    def stage(self, model_id: str, name: str, total: float | None) -> Stage:
        label = f"{model_id.rstrip('/').rsplit('/', 1)[-1]}: {name}"
        if not self.enabled:
            return Stage(None, label, total)
        if self._bar is not None:
            return Stage(self, label, total, self._bar.add_task(label, total=total, note=""))
        stage = Stage(self, label, total)
        with self._lock:
            self._current = stage
        self._emit(f"{label} ...")
        return stage

    def log(self, message: str) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.console.print(message)
        else:
            self._emit(message)

    # ------------------------------------------------------------------------------------------ drawing

    def _update(self, stage: Stage, fields: dict[str, Any]) -> None:
        if self._bar is not None:
            self._bar.update(stage._task, advance=0, completed=stage.completed, note=stage.note)
        elif time.monotonic() - self._last_line >= self.interval:
            self._emit(stage.line(time.monotonic()))

    def _finish(self, stage: Stage) -> None:
        if self._bar is not None:
            total = stage.total or 1
            self._bar.update(stage._task, completed=total, total=total, note=stage.note)
            return
        with self._lock:
            if self._current is stage:
                self._current = None
        self._emit(stage.line(time.monotonic()))

    def _emit(self, text: str) -> None:
        with self._lock:
            self._last_line = time.monotonic()
            print(f"[confirm {_clock(self._last_line - self._start)}] {text}", file=self.stream, flush=True)

    def _heartbeat(self) -> None:
        while not self._stop.wait(min(1.0, self.interval)):
            with self._lock:
                stage, quiet = self._current, time.monotonic() - self._last_line
            if stage is not None and quiet >= self.interval:
                self._emit(stage.line(time.monotonic()))
