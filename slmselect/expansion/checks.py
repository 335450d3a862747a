"""Check a teacher's reply against the task spec, and keep the expanded set free of copies.

:func:`parse_reply` turns the text a teacher returned into an :class:`Example` (or a rejection reason);
:func:`check_example` applies the task's rules (labels in the label set, valid JSON calls to an offered
tool, entities that appear in the input and have known types, lengths in range, a context when the seeds
have one); :class:`Deduper` rejects exact copies (after normalising case, spacing and punctuation) of
seeds and of accepted examples, and near-copies (character 4-gram Jaccard similarity at or above a
threshold) of seeds and of accepted examples.

Rejection reasons are short stable keys, counted in :class:`~slmselect.expansion.runner.ExpandReport`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from slmselect._types import Example
from slmselect.expansion.spec import TaskSpec, tool_names
from slmselect.profile.profiler import count_tokens, entity_strings, is_call
from slmselect.profile.readers import as_text, parse_json

__all__ = ["Deduper", "check_example", "parse_reply"]

def parse_reply(content: str, spec: TaskSpec) -> Example | str:
    """The example in a teacher's reply, or the reason it is not one."""
    obj = parse_json(content or "", opening="{")
    if not isinstance(obj, dict):
        return "not_json"
    inp, out = as_text(obj.get("input")), obj.get("output")
    if spec.json_output and isinstance(out, str) and out.strip()[:1] in "{[":
        try:
            out = json.loads(out)
        except ValueError:
            return "invalid_output_json"
    if spec.json_output and isinstance(out, list) and out == [] and spec.profile.task_type == "ner_extraction":
        out_text: str | None = "[]"  # "no entities" is a valid NER answer
    else:
        out_text = as_text(out)
    if not inp or not out_text:
        return "missing_field"
    ctx = as_text(obj.get("context")) if spec.has_context else None
    return Example(input=inp, output=out_text, context=ctx)


def _check_label(output: str, labels: tuple[str, ...]) -> str | None:
    """The label as the seeds spell it, or None when ``output`` is no label of the set."""
    want = output.strip().strip(".").strip().lower()
    return next((label for label in labels if label.lower() == want), None)


def check_example(example: Example, spec: TaskSpec, *, tools: str | None = None) -> Example | str:
    """``example`` (its label spelt as in the seeds) when it meets the spec, else the reason it does not.

    ``tools`` is the tools text offered to the teacher for this example (tool calling only).
    """
    task = spec.profile.task_type
    if spec.has_context and not example.context:
        return "missing_context"
    if spec.labels:
        label = _check_label(example.output, spec.labels)
        if label is None:
            return "label_not_in_set"
        example = example.model_copy(update={"output": label})
    elif spec.json_output:
        try:
            value = json.loads(example.output)
        except ValueError:
            return "invalid_output_json"
        if task == "tool_calling" or spec.profile.output_format == "tool_call":
            if not is_call(value):
                return "not_a_tool_call"
            offered = tool_names(tools)
            calls = value if isinstance(value, list) else [value]
            names = [(c.get("function") if isinstance(c.get("function"), dict) else c).get("name") for c in calls]
            if offered and any(name not in offered for name in names):
                return "unknown_tool"
        elif task == "ner_extraction":
            found = entity_strings(value) if value not in ([], {}) else []
            if found is None:
                return "invalid_entities"
            if any(s.lower() not in example.input.lower() for s in found):
                return "entity_not_in_input"
            if spec.entity_types and not _types_of(value) <= spec.entity_types:
                return "unknown_entity_type"
        example = example.model_copy(update={"output": json.dumps(value, ensure_ascii=False)})
    (n_in, n_out), _ = count_tokens([example.input, example.output])
    lo, hi = spec.input_range
    if not lo <= n_in <= hi:
        return "input_length"
    lo, hi = spec.output_range
    if not spec.labels and not lo <= n_out <= hi:
        return "output_length"
    if tools is not None:
        example = example.model_copy(update={"tools": tools})
    return example


def _types_of(value: Any) -> set[str]:
    if isinstance(value, dict):
        return {str(k) for k in value}
    if isinstance(value, list):
        return {str(s.get("label", s.get("type", ""))) for s in value if isinstance(s, dict)} - {""}
    return set()


# --------------------------------------------------------------------------------------------- copies


def _normal(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def _shingles(text: str, k: int = 4) -> frozenset[str]:
    text = _normal(text)
    return frozenset(text[i : i + k] for i in range(max(1, len(text) - k + 1)))


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


class Deduper:
    """Rejects exact and near copies of the seeds and of the examples accepted so far.

    An example's identity is its input (with its context): a second example with the same input is a copy
    even when its output differs. ``near_copy`` is the character 4-gram Jaccard similarity at or above
    which an input counts as a near-copy (1.0 turns the near-copy check off).
    """

    def __init__(self, seeds: Iterable[Example], *, near_copy: float = 0.8) -> None:
        self.near_copy = near_copy
        self._seen: set[str] = set()
        self._seed_shingles: list[frozenset[str]] = []
        self._shingles: list[frozenset[str]] = []
        for s in seeds:
            self._seen.add(self._key(s))
            self._seed_shingles.append(_shingles(s.input))

    @staticmethod
    def _key(e: Example) -> str:
        return _normal(e.input) + "\x00" + _normal(e.context or "")

    def check(self, example: Example) -> str | None:
        """None (and remember the example) if it is new, else ``duplicate``, ``near_copy_of_seed`` or ``near_duplicate``."""
        key = self._key(example)
        if key in self._seen:
            return "duplicate"
        sh = _shingles(example.input)
        if self.near_copy < 1.0:
            if any(_jaccard(sh, s) >= self.near_copy for s in self._seed_shingles):
                return "near_copy_of_seed"
            if any(_jaccard(sh, s) >= self.near_copy for s in self._shingles):
                return "near_duplicate"
        self._seen.add(key)
        self._shingles.append(sh)
        return None
