"""Expand a few seed examples into a training set with a teacher model behind an OpenAI-compatible server.

``expand(seeds, base_url=..., model=..., n=500, output="train.jsonl")`` returns an :class:`ExpandReport`.
Importing this package does not import torch or transformers.
"""

from __future__ import annotations

from slmselect.expansion.results import ExpandReport
from slmselect.expansion.runner import expand

__all__ = ["ExpandReport", "expand"]
