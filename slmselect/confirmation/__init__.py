"""Confirm a recommendation by measuring it: short LoRA fine-tunes of the candidates on your own data.

``confirm(examples, models=[...])`` or ``confirm(examples, recommendation=rec)`` returns a
:class:`ConfirmReport`; every measured candidate is also appended to the local results store
(:class:`ResultsStore`, read back with :func:`load_local_results`) that ``recommend()`` learns from.
Importing this package does not import torch.
"""

from __future__ import annotations

from slmselect.confirmation.runner import confirm
from slmselect.confirmation.results import CandidateResult, ConfirmReport, HalvingSummary
from slmselect.evidence.store import ResultsStore, load_local_results

__all__ = ["CandidateResult", "ConfirmReport", "HalvingSummary", "ResultsStore", "confirm", "load_local_results"]

