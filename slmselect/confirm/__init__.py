"""Confirm a recommendation by measuring it: short LoRA fine-tunes of the candidates on your own data.

``confirm(examples, models=[...])`` or ``confirm(examples, recommendation=rec)`` returns a
:class:`ConfirmReport`; every measured candidate is also appended to the local results store
(:class:`ResultsStore`, read back with :func:`load_local_results`) that ``recommend()`` learns from.
Importing this package does not import torch.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from slmselect.confirm._confirm import confirm
from slmselect.confirm._report import CandidateResult, ConfirmReport, HalvingSummary
from slmselect.confirm._store import ResultsStore, load_local_results

__all__ = ["CandidateResult", "ConfirmReport", "HalvingSummary", "ResultsStore", "confirm", "load_local_results"]


class _CallablePackage(types.ModuleType):
    """``slmselect.confirm`` is both this package and the function: once the package is imported, Python
    binds the name ``confirm`` in ``slmselect`` to the package, so the package forwards calls to the function."""

    def __call__(self, *args: Any, **kwargs: Any) -> ConfirmReport:
        return confirm(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
