"""Progress as events: what a long call reports while it runs, as plain data.

``confirm``, ``expand`` and ``evaluate`` take ``progress=``: ``True`` (the default: drawn on stderr by
:mod:`slmselect.report.progress`, bars on a terminal and plain lines elsewhere), ``False`` (nothing), or any
callable, which is then called with every event instead::

    events = []
    confirm(examples, models=[...], progress=events.append)
    [e.stage for e in events if isinstance(e, StageStarted)]
    # ['reading the examples', 'profiling the examples', ..., 'load', 'base eval', 'LoRA train', ...]

There are four kinds of event, each a small frozen dataclass. A *stage* is one step of the work (set-up such
as reading the examples or loading a model, a candidate's training, a fold of the evaluation); it starts,
may advance (a training step with its loss, a batch scored, a fold done), and finishes. A :class:`ProgressMessage` is
a one-off line (a candidate failed, a result reused). Every event says which call sent it (``job``), what it
is about (``subject``: a model id for confirm, empty for the run's own set-up), when (``time``, seconds since
the epoch) and from which process (``pid``: a Ray worker's, for a candidate trained on Ray).

Events carry data only; drawing them is the report layer's job. They pickle, so a Ray worker sends them to
the driver, which hands them to the same callback as a local run's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

__all__ = ["Event", "ProgressMessage", "ProgressCallback", "Reporter", "Stage", "StageAdvanced", "StageFinished",
           "StageStarted"]


@dataclass(frozen=True, kw_only=True)
class Event:
    """What every event carries."""

    job: str  #: the call that sent it: ``"confirm"``, ``"expand"``, ``"evaluate"``
    subject: str = ""  #: what it is about: a model id (confirm), the output file (expand); empty: the run itself
    time: float = field(default_factory=time.time)
    pid: int = field(default_factory=os.getpid)


@dataclass(frozen=True, kw_only=True)
class StageStarted(Event):
    stage: str  #: e.g. ``"reading the examples"``, ``"load"``, ``"LoRA train"``, ``"cross-validation"``
    total: float | None = None  #: steps the stage will take, when known


@dataclass(frozen=True, kw_only=True)
class StageAdvanced(Event):
    stage: str
    done: float  #: steps done so far
    total: float | None = None
    note: str = ""  #: e.g. ``"loss 1.234"``


@dataclass(frozen=True, kw_only=True)
class StageFinished(Event):
    stage: str
    seconds: float  #: how long the stage took
    note: str = ""  #: its outcome, e.g. ``"accuracy 0.750"``
    ok: bool = True  #: False when the stage stopped on an error or Ctrl-C


@dataclass(frozen=True, kw_only=True)
class ProgressMessage(Event):
    text: str


ProgressCallback = Callable[[Event], None]


class Stage:
    """One running stage: sends :class:`StageStarted` when made, :class:`StageAdvanced` on :meth:`advance`
    and :class:`StageFinished` on :meth:`done` (or, as a context manager, when the block ends; a block left
    by an exception finishes the stage with ``ok=False``)."""

    def __init__(self, reporter: Reporter, name: str, total: float | None = None, *, subject: str = "") -> None:
        self._reporter, self.name, self.total, self.subject = reporter, name, total, subject
        self.completed = 0.0
        self.note = ""
        self.finished = False
        self._started = time.monotonic()
        reporter.send(StageStarted(job=reporter.job, subject=subject, stage=name, total=total))

    def advance(self, n: float = 1, *, note: str | None = None) -> None:
        self.completed += n
        if note is not None:
            self.note = note
        self._reporter.send(StageAdvanced(job=self._reporter.job, subject=self.subject, stage=self.name,
                                          done=self.completed, total=self.total, note=self.note))

    def done(self, note: str = "", *, ok: bool = True) -> None:
        if self.finished:
            return
        self.finished = True
        self._reporter.send(StageFinished(job=self._reporter.job, subject=self.subject, stage=self.name,
                                          seconds=time.monotonic() - self._started, note=note, ok=ok))

    def __enter__(self) -> Stage:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.done()
        else:
            self.done("interrupted" if issubclass(kind, KeyboardInterrupt) else f"{kind.__name__}", ok=False)


class Reporter:
    """Sends one call's events to a callback (``None``: nowhere)."""

    def __init__(self, callback: ProgressCallback | None, job: str) -> None:
        self.callback, self.job = callback, job

    def send(self, event: Event) -> None:
        if self.callback is not None:
            self.callback(event)

    def stage(self, name: str, total: float | None = None, *, subject: str = "") -> Stage:
        return Stage(self, name, total, subject=subject)

    def message(self, text: str, *, subject: str = "") -> None:
        self.send(ProgressMessage(job=self.job, subject=subject, text=text))
