"""Exceptions raised by slmselect.

Every error the library raises on purpose derives from one root::

    SlmselectError
    ├── InputError            bad examples or files: empty, malformed line, unknown fields, bad encoding
    ├── ParameterError        a bad argument value (objective, licence, top_k, ...); suggests the closest valid value
    │   └── UnknownModelError  a model id that is neither in the database nor resolvable
    ├── DatabaseError         a benchmark database file that does not validate (names file, line, field)
    ├── NoCandidatesError     constraints that no model satisfies (says which constraint to relax)
    ├── StoreError            a results store that cannot be opened, checked or written (names it, never its password)
    ├── ConfirmError          a confirm run that could not measure anything
    │   └── ModelLoadError    weights that cannot be found, converted or loaded
    ├── TeacherError          a teacher server (expand) that cannot be reached, refuses the key, or keeps failing
    └── MissingDependencyError  an optional extra (Ray, psycopg, llama.cpp, ...) that is not installed; says what to install

Each message says what was wrong and what to do about it. Problems that do not stop a run (examples longer
than every candidate's context, a single label) are issued as :class:`SlmselectWarning` through ``warnings``.

Every command of the ``slmselect`` command line exits with the code of :func:`exit_code`:

====  ==========================================================================
0     success
1     the run failed: nothing could be measured, results could not be stored, or the
      teacher server failed or `expand` ended before N rows
2     bad input: examples, files, arguments, model paths
3     nothing satisfies the constraints
4     the benchmark database is malformed
5     an optional extra the run needs is not installed (the message names the pip command)
130   interrupted (Ctrl-C); what finished is kept
====  ==========================================================================
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SlmselectError(Exception):
    """Root of every error slmselect raises on purpose."""


class InputError(SlmselectError, ValueError):
    """The task examples (or a file holding them) cannot be used as given."""


class ParameterError(SlmselectError, ValueError):
    """An argument has a value slmselect does not accept."""


class UnknownModelError(ParameterError):
    """A model id is not in the benchmark database and cannot be resolved."""


class DatabaseError(SlmselectError):
    """A benchmark database file is malformed."""


class NoCandidatesError(SlmselectError):
    """No model satisfies the constraints given."""

    def __init__(self, message: str, *, excluded: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.excluded = excluded or {}


class StoreError(SlmselectError):
    """The local results store cannot be opened, checked or written.

    ``recovery_path`` is set when measurements that could not be stored were saved to a recovery file
    (import it with ``slmselect store import FILE``).
    """

    def __init__(self, message: str, *, recovery_path: str | None = None) -> None:
        super().__init__(message)
        self.recovery_path = recovery_path


class ConfirmError(SlmselectError):
    """A confirm run could not measure any candidate."""


class ModelLoadError(ConfirmError):
    """Weights could not be found, converted or loaded."""


class MissingDependencyError(SlmselectError):
    """An optional extra the call needs (Ray, psycopg, llama.cpp, openpyxl, ...) is not installed: an installation
    problem, not bad input. The message names what to install."""


class SlmselectWarning(UserWarning):
    """Something about the input that will likely give a poor result, though the run can go on."""


class TeacherError(SlmselectError):
    """The teacher model's server could not be used to expand the examples.

    ``report`` holds the :class:`~slmselect.expansion.ExpandReport` of what was done before it failed
    (rows already written stay in the output file), when there is one.
    """

    def __init__(self, message: str, *, report: object = None) -> None:
        super().__init__(message)
        self.report = report


def did_you_mean(value: str, choices: Iterable[str], *, n: int = 3) -> str:
    """Return ' Did you mean 'x'?' (or '') for a mistyped ``value``."""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(value.lower(), list(lowered), n=n, cutoff=0.5)
    if not close:
        # substring matches catch 'qwen3-4b' -> 'Qwen/Qwen3-4B-Instruct-2507'
        close = [c for c in lowered if value.lower() in c][:n]
    if not close:
        return ""
    names = ", ".join(repr(lowered[c]) for c in close)
    return f" Did you mean {names}?"


def check_choice(name: str, value: str, choices: Iterable[str], *, where: str = "") -> str:
    """Validate that ``value`` is one of ``choices`` (case-insensitive), else raise ParameterError."""
    choices = list(choices)
    for c in choices:
        if value == c or value.lower() == c.lower():
            return c
    where = f" of {where}" if where else ""
    raise ParameterError(
        f"The {name!r} parameter{where} must be one of {', '.join(map(repr, choices))}; got {value!r}."
        + did_you_mean(value, choices)
    )


EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_NO_CANDIDATES = 3
EXIT_DATABASE = 4
EXIT_MISSING_DEPENDENCY = 5
EXIT_INTERRUPTED = 130

#: The one exit-code map: the most specific class listed first wins.
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (NoCandidatesError, EXIT_NO_CANDIDATES),
    (DatabaseError, EXIT_DATABASE),
    (MissingDependencyError, EXIT_MISSING_DEPENDENCY),
    (InputError, EXIT_BAD_INPUT),
    (ParameterError, EXIT_BAD_INPUT),
    (ModelLoadError, EXIT_BAD_INPUT),
    (ConfirmError, EXIT_FAILED),
    (TeacherError, EXIT_FAILED),
    (KeyboardInterrupt, EXIT_INTERRUPTED),
    (SlmselectError, EXIT_BAD_INPUT),
)


def exit_code(err: BaseException) -> int:
    """The command line's exit code for an exception (1 for anything slmselect did not raise on purpose)."""
    if isinstance(err, StoreError) and getattr(err, "recovery_path", None):
        return EXIT_FAILED  # measured, but the store refused the rows: they wait in the recovery file
    for cls, code in EXIT_CODES:
        if isinstance(err, cls):
            return code
    return EXIT_FAILED
