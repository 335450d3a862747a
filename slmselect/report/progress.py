"""Progress events (:mod:`slmselect.events`) drawn on any output.

On a terminal: rich bars on stderr, one per stage (set-up, and each candidate's stages). Anywhere else (a
pipe, a log file, CI): plain lines on stderr, without colours, cursor moves or clock times: one when a stage
starts and ends, one each time it passes a tenth of its steps, and, while it runs, at least every
``interval`` seconds (a background heartbeat covers stages with no steps, such as importing torch or loading
a model). Each line says the stage, the step, the last loss, the time spent and an estimate of the time
left::

    [confirm] SmolLM2-135M-Instruct: LoRA train: step 6/12, loss 1.234, 0:14 elapsed, ~0:14 left

:func:`reporter` turns a call's ``progress=`` argument (``True``, ``False`` or a callable) into the
:class:`~slmselect.events.Reporter` the call sends its events to.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, TextIO

from slmselect.events import Event, ProgressMessage, Reporter, StageAdvanced, StageFinished, StageStarted

#: Longest silence, in seconds, of the plain lines while a stage runs.
PLAIN_INTERVAL = 7.0


def clock(seconds: float) -> str:
    """A duration as ``m:ss`` (``h:mm:ss`` from an hour)."""
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


@dataclass
class _Open:
    """A stage that started and has not finished."""

    label: str
    total: float | None
    started: float
    done: float = 0.0
    note: str = ""
    last_line: float = 0.0
    task: Any = None  # its rich bar

    def line(self, now: float) -> str:
        step = f"step {int(self.done)}/{int(self.total)}" if self.total else ""
        bits = [b for b in (step, self.note, f"{clock(now - self.started)} elapsed") if b]
        if self.total and 0 < self.done < self.total:
            bits.append(f"~{clock((now - self.started) / self.done * (self.total - self.done))} left")
        return f"{self.label}: " + ", ".join(bits)


class ProgressPrinter:
    """A progress callback that draws: rich bars when ``stream`` is a terminal, plain lines otherwise.

    It needs no closing: the bars (or the plain lines' heartbeat) start with the first stage and stop when no
    stage is running."""

    def __init__(self, job: str, *, stream: TextIO | None = None, interval: float = PLAIN_INTERVAL) -> None:
        self.job = job
        self.stream = stream if stream is not None else sys.stderr
        self.rich = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval
        self._bar: Any | None = None
        self._console: Any | None = None
        self._open: dict[tuple[str, str, int], _Open] = {}
        self._last_line = time.monotonic()
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------------------ events

    def __call__(self, event: Event) -> None:
        with self._lock:
            now = time.monotonic()
            if isinstance(event, StageStarted):
                self._started(event, now)
            elif isinstance(event, StageAdvanced):
                self._advanced(event, now)
            elif isinstance(event, StageFinished):
                self._finished(event, now)
            elif isinstance(event, ProgressMessage):
                who = _short(event.subject)
                self._print(f"{who}: {event.text}" if who else event.text)

    def _started(self, event: StageStarted, now: float) -> None:
        stage = _Open(_label(event), event.total, now, last_line=now)
        self._open[_key(event)] = stage
        if self.rich:
            stage.task = self._bars().add_task(stage.label, total=event.total, note="")
            return
        self._print(f"{stage.label} ...")
        if self._thread is None:
            self._thread = threading.Thread(target=self._heartbeat, name="slmselect-progress", daemon=True)
            self._thread.start()

    def _advanced(self, event: StageAdvanced, now: float) -> None:
        stage = self._open.get(_key(event))
        if stage is None:
            return
        tenth = int(10 * stage.done / stage.total) if stage.total else 0
        stage.done, stage.note, stage.total = event.done, event.note, event.total
        if self._bar is not None:
            self._bar.update(stage.task, completed=stage.done, total=stage.total, note=stage.note)
        elif now - stage.last_line >= self.interval or (
                stage.total and stage.done < stage.total and int(10 * stage.done / stage.total) > tenth):
            stage.last_line = now
            self._print(stage.line(now))

    def _finished(self, event: StageFinished, now: float) -> None:
        stage = self._open.pop(_key(event), None)
        if self._bar is not None and stage is not None:
            total = stage.total or 1
            self._bar.update(stage.task, completed=total if event.ok else stage.done, total=total, note=event.note)
            if not self._open:  # the bars stay on the screen as they are; the next stage starts new ones
                self._bar.stop()
                self._bar = None
            return
        outcome = f"done in {clock(event.seconds)}" if event.ok else f"stopped after {clock(event.seconds)}"
        self._print(f"{stage.label if stage is not None else _label(event)}: {outcome}"
                    + (f", {event.note}" if event.note else ""))

    # ------------------------------------------------------------------------------------------ drawing

    def _bars(self) -> Any:
        if self._bar is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                TextColumn("{task.fields[note]}"), console=self._rich_console(), transient=False,
            )
            self._bar.start()
        return self._bar

    def _rich_console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.stream)
        return self._console

    def _print(self, text: str) -> None:
        self._last_line = time.monotonic()
        if self.rich:
            self._rich_console().print(text, markup=False, highlight=False)
        else:
            print(f"[{self.job}] {text}", file=self.stream, flush=True)

    def _heartbeat(self) -> None:
        """While a stage runs, a line for each running stage whenever nothing was printed for ``interval``
        seconds; the thread ends when no stage runs (the next stage starts another)."""
        wait = self.interval
        while True:
            time.sleep(max(0.05, wait))
            with self._lock:
                if not self._open:
                    self._thread = None
                    return
                now = time.monotonic()
                quiet = now - self._last_line
                if quiet >= self.interval:
                    for stage in self._open.values():
                        stage.last_line = now
                        self._print(stage.line(now))
                    quiet = 0.0
                wait = self.interval - quiet


def _short(subject: str) -> str:
    return subject.rstrip("/").rsplit("/", 1)[-1] if subject else ""


def _label(event: Any) -> str:
    who = _short(event.subject)
    return f"{who}: {event.stage}" if who else event.stage


def _key(event: Any) -> tuple[str, str, int]:
    return (event.subject, event.stage, event.pid)


def reporter(progress: Any, job: str) -> Reporter:
    """The :class:`~slmselect.events.Reporter` for a call's ``progress=`` argument, as the parameter layer
    checked it: ``True`` draws with a :class:`ProgressPrinter` on stderr, ``False`` (or None) sends nothing, a
    callable receives every event."""
    if progress is True:
        return Reporter(ProgressPrinter(job), job)
    return Reporter(progress if callable(progress) else None, job)
