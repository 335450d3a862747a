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
    "recommend": ".recommender",
    "Recommendation": ".recommender",
    "Candidate": ".recommender",
    "profile_task": ".profile.profiler",
    "TaskProfile": "._types",
    "load_db": ".evidence.db",
    "validate_db": ".evidence.db",
    "BenchmarkDB": ".evidence.db",
    "compare": ".evidence.compare",
    "CompareReport": ".evidence.compare",
    "import_recovery": ".evidence.store",
    "confirm": ".confirmation",
    "ConfirmReport": ".confirmation",
    "CandidateResult": ".confirmation",
    "export": ".confirmation.export",
    "register_model_source": ".confirmation.sources",
    "ModelSource": ".confirmation.sources",
    "HubModel": ".confirmation.sources",
    "LocalFolder": ".confirmation.sources",
    "GGUFFile": ".confirmation.sources",
    "PackagedGGUF": ".confirmation.sources",
    "ensure_converted": ".confirmation.weights",
    "is_cached": ".confirmation.cache",
    "cache_info": ".confirmation.cache",
    "StageStarted": ".events",
    "StageAdvanced": ".events",
    "StageFinished": ".events",
    "ProgressMessage": ".events",
    "evaluate": ".evaluation",
    "EvaluationReport": ".evaluation",
    "expand": ".expansion",
    "ExpandReport": ".expansion",
    "SlmselectError": ".errors",
    "InputError": ".errors",
    "ParameterError": ".errors",
    "UnknownModelError": ".errors",
    "NoCandidatesError": ".errors",
    "DatabaseError": ".errors",
    "StoreError": ".errors",
    "ConfirmError": ".errors",
    "ModelLoadError": ".errors",
    "TeacherError": ".errors",
    "MissingDependencyError": ".errors",
    "ServingError": ".deploy.bench",
    "SlmselectWarning": ".errors",
}

__all__ = sorted(_LAZY) + ["__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from slmselect.evidence.compare import CompareReport, compare
    from slmselect.evidence.db import BenchmarkDB, load_db, validate_db
    from slmselect.evidence.store import import_recovery
    from slmselect.errors import (
        ConfirmError, DatabaseError, InputError, MissingDependencyError, ModelLoadError, NoCandidatesError,
        ParameterError, SlmselectError, SlmselectWarning, StoreError, TeacherError, UnknownModelError,
    )
    from slmselect.deploy.bench import ServingError
    from slmselect.evaluation import EvaluationReport, evaluate
    from slmselect.expansion import ExpandReport, expand
    from slmselect.profile.profiler import profile_task
    from slmselect.recommender import Candidate, Recommendation, recommend
    from slmselect._types import TaskProfile
    from slmselect.confirmation import CandidateResult, ConfirmReport, confirm
    from slmselect.confirmation.export import export
    from slmselect.confirmation.cache import cache_info, is_cached
    from slmselect.confirmation.weights import ensure_converted
    from slmselect.events import ProgressMessage, StageAdvanced, StageFinished, StageStarted
    from slmselect.confirmation.sources import (
        GGUFFile, HubModel, LocalFolder, ModelSource, PackagedGGUF, register_model_source,
    )


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'slmselect' has no attribute {name!r}")
    value = getattr(import_module(mod, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
