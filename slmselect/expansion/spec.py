"""What a generated example must look like: the task's spec, built once from the seeds and their profile.

:class:`TaskSpec` holds the seeds (normalised and as the user wrote them), the field mapping, the
label set, the tool names each seed offers, the entity types and the token-length ranges that
:mod:`slmselect.expansion.checks` enforces. :func:`to_row` and :func:`from_row` convert between an
:class:`Example` and a row in the seeds' own format (their field names; JSON outputs as JSON values;
chat records as ``messages``), so that the expanded file reads like the seeds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from slmselect._types import Example, TaskProfile
from slmselect.profile.profiler import count_tokens, profile_task
from slmselect.profile.readers import load_examples, normalise

__all__ = ["TaskSpec", "build_spec", "from_row", "to_row", "tool_names"]

#: Formats whose outputs are JSON (entities, tool calls, JSON objects).
JSON_FORMATS = ("spans", "tool_call", "json")


def tool_names(tools: str | None) -> set[str]:
    """Names of the functions in a tools field (a list or dict of schemas, OpenAI-style or flat)."""
    if not tools:
        return set()
    try:
        value = json.loads(tools)
    except ValueError:
        return set()
    items = value if isinstance(value, list) else [value]
    names = set()
    for item in items:
        if isinstance(item, Mapping):
            fn = item.get("function") if isinstance(item.get("function"), Mapping) else item
            if isinstance(fn.get("name"), str):
                names.add(fn["name"])
    return names


def _entity_types(outputs: list[Any]) -> set[str]:
    types: set[str] = set()
    for value in outputs:
        if isinstance(value, Mapping):
            types.update(str(k) for k in value)
        elif isinstance(value, list):
            types.update(str(s.get("label", s.get("type", ""))) for s in value if isinstance(s, Mapping))
    types.discard("")
    return types


def _range(counts: list[int], factor: float) -> tuple[int, int]:
    return max(1, math.floor(min(counts) / factor)), math.ceil(max(counts) * factor) + 2


@dataclass(frozen=True)
class TaskSpec:
    """The seeds and the rules a generated example has to meet."""

    profile: TaskProfile
    fields: dict[str, str]
    seeds: list[Example]
    raw: list[dict[str, Any]]
    labels: tuple[str, ...] | None
    input_range: tuple[int, int]
    output_range: tuple[int, int]
    entity_types: frozenset[str] = field(default_factory=frozenset)
    json_output: bool = False
    output_as_value: bool = False  # the seeds hold outputs as JSON values (dict/list), not as text
    has_context: bool = False
    has_tools: bool = False
    system_message: str | None = None

    @property
    def chat(self) -> bool:
        return "messages" in self.fields


def build_spec(
    seeds: Any,
    *,
    description: str | None = None,
    input_field: str | None = None,
    output_field: str | None = None,
    context_field: str | None = None,
    length_factor: float = 2.0,
) -> TaskSpec:
    """Read and profile the seeds and derive the rules for new examples.

    Lengths are in tokens (the profile's counter): a new input or output may be ``length_factor`` times
    shorter than the shortest seed's or longer than the longest seed's, no more.
    """
    raw = load_examples(seeds)
    examples, fields = normalise(raw, input_field=input_field, output_field=output_field, context_field=context_field)
    profile = profile_task(examples, description=description)
    profile = profile.model_copy(update={"fields": fields})
    in_counts, _ = count_tokens([e.input for e in examples])
    out_counts, _ = count_tokens([e.output for e in examples])
    json_output = profile.output_format in JSON_FORMATS
    parsed = [_loads(e.output) for e in examples] if json_output else []
    out_key = fields.get("output")
    as_value = bool(raw) and "messages" not in fields and isinstance(raw[0].get(out_key or ""), (dict, list))
    system = None
    if "messages" in fields:
        systems = {
            m.get("content") for r in raw for m in (r.get(fields["messages"]) or [])
            if isinstance(m, Mapping) and m.get("role") == "system"
        }
        system = next(iter(systems)) if len(systems) == 1 else None
    return TaskSpec(
        profile=profile,
        fields=fields,
        seeds=examples,
        raw=raw,
        labels=tuple(profile.labels) if profile.labels else None,
        input_range=_range(in_counts, length_factor),
        output_range=_range(out_counts, length_factor),
        entity_types=frozenset(_entity_types(parsed)) if profile.task_type == "ner_extraction" else frozenset(),
        json_output=json_output,
        output_as_value=as_value,
        has_context=any(e.context for e in examples),
        has_tools=any(e.tools for e in examples),
        system_message=system if isinstance(system, str) else None,
    )


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------- rows


def to_row(example: Example, spec: TaskSpec, *, tools_raw: Any = None) -> dict[str, Any]:
    """The example as a record in the seeds' format (``tools_raw``: the tools value as a seed holds it)."""
    f = spec.fields
    if spec.chat:
        messages = [{"role": "system", "content": spec.system_message}] if spec.system_message else []
        messages += [{"role": "user", "content": example.input}, {"role": "assistant", "content": example.output}]
        row: dict[str, Any] = {f["messages"]: messages}
    else:
        output: Any = _loads(example.output) if spec.output_as_value else example.output
        row = {f["input"]: example.input, f["output"]: example.output if output is None else output}
        if example.context is not None and "context" in f:
            row[f["context"]] = example.context
    if "tools" in f and example.tools is not None:
        row[f["tools"]] = tools_raw if tools_raw is not None else example.tools
    return row


def from_row(row: Any, spec: TaskSpec) -> Example | None:
    """Read back a row written by :func:`to_row` (or any row in the seeds' format); None if it is not one."""
    if not isinstance(row, Mapping):
        return None
    f = spec.fields

    def text(value: Any) -> str | None:
        if isinstance(value, str):
            return value.strip() or None
        if isinstance(value, (dict, list)):
            return json.dumps(value, ensure_ascii=False)
        return None

    tools = text(row.get(f["tools"])) if "tools" in f else None
    if spec.chat:
        messages = row.get(f["messages"])
        if not isinstance(messages, list) or not all(isinstance(m, Mapping) for m in messages):
            return None
        users = [m for m in messages if m.get("role") == "user"]
        replies = [m for m in messages if m.get("role") == "assistant"]
        if not users or not replies:
            return None
        inp, out = text(users[-1].get("content")), text(replies[-1].get("content"))
        return Example(input=inp, output=out, tools=tools) if inp and out else None
    inp, out = text(row.get(f["input"])), text(row.get(f["output"]))
    if not inp or not out:
        return None
    ctx = text(row.get(f["context"])) if "context" in f else None
    return Example(input=inp, output=out, context=ctx, tools=tools)
