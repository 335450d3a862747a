"""slmselect: which small language model should I fine-tune for this task?

Profile a task from a few examples, recommend base models from a database of published and locally
measured fine-tuning results, and confirm the pick with short LoRA fine-tunes on your own data.

Importing the package is light: torch, transformers and rich load only when a function needs them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "recommend": "._recommend",
    "Recommendation": "._recommend",
    "Candidate": "._recommend",
    "profile_task": "._profile",
    "TaskProfile": "._types",
    "load_db": "._db",
    "validate_db": "._db",
    "BenchmarkDB": "._db",
    "confirm": "._finetune",
    "ConfirmReport": "._finetune",
    "evaluate": "._evaluate",
    "SlmselectError": "._exceptions",
    "InputError": "._exceptions",
    "ParameterError": "._exceptions",
    "NoCandidatesError": "._exceptions",
    "DatabaseError": "._exceptions",
    "ConfirmError": "._exceptions",
}

__all__ = sorted(_LAZY) + ["__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from ._db import BenchmarkDB, load_db, validate_db
    from ._exceptions import ConfirmError, DatabaseError, InputError, NoCandidatesError, ParameterError, SlmselectError
    from ._profile import profile_task
    from ._recommend import Candidate, Recommendation, recommend
    from ._types import TaskProfile
    from ._finetune import ConfirmReport, confirm


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'slmselect' has no attribute {name!r}")
    value = getattr(import_module(mod, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
