"""Build the chat request that asks a teacher model for one new example of the task.

Each request shows the task (from its profile: type, description, labels, output format, lengths,
language) and a few seeds chosen at random for that request, and asks for ONE new example as a JSON
object ``{"input": ..., "output": ...}`` (``"context"`` too when the seeds have one). For classification
the request names the label the new example must have, cycling through the labels so that the
expanded set stays balanced. ``response_format`` is one of

* ``json_object`` — OpenAI's JSON mode ``{"type": "json_object"}``, which vLLM, llama.cpp and Ollama accept;
* ``json_schema`` — OpenAI's structured outputs ``{"type": "json_schema", "json_schema": {...}}`` (OpenAI,
  vLLM, llama.cpp's own ``llama-server``, Ollama), with a schema that also pins the label set and tool names;
* ``json_object_schema`` — the same schema as ``{"type": "json_object", "schema": {...}}``, the form
  llama-cpp-python's server and some hosted APIs take;
* ``none`` — plain text; the first JSON object in the reply is used.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from slmselect._validate import RESPONSE_FORMATS
from slmselect.expansion.spec import TaskSpec, tool_names

__all__ = ["RESPONSE_FORMATS", "Request", "build_request"]

PROMPT_VERSION = 1

_TASKS = {
    "classification": "Classify the input into exactly one of the labels below.",
    "ner_extraction": "Extract the named entities from the input, as JSON in the same shape as in the examples. "
                      "Every entity must appear word for word in the input.",
    "qa_open_book": "Answer the question using only the context passage.",
    "qa_closed_book": "Answer the question briefly and correctly.",
    "tool_calling": "Answer the user's request with a call to one of the available tools, as JSON "
                    '{"name": ..., "arguments": {...}} in the same shape as in the examples.',
    "summarization": "Summarise the input.",
    "generation": "Write the output for the input, in the same style as the examples.",
}
_LANGUAGES = {
    "en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "pt": "Portuguese",
    "nl": "Dutch", "ja": "Japanese", "ko": "Korean", "zh": "Chinese", "ru": "Russian", "ar": "Arabic",
}
SYSTEM = (
    "You write new, realistic training examples for a machine-learning task. "
    "Each example is different from every example you are shown. Reply with one JSON object and nothing else."
)


@dataclass(frozen=True)
class Request:
    """One chat request and what its answer is checked against."""

    messages: list[dict[str, str]]
    response_format: dict[str, Any] | None
    tools: str | None  # the tools text offered (tool calling), copied into the new example
    tools_raw: Any  # the same tools as the seed holds them, for the output row
    target_label: str | None


def _shot(spec: TaskSpec, i: int) -> dict[str, Any]:
    e = spec.seeds[i]
    out: Any = e.output
    if spec.json_output:
        try:
            out = json.loads(e.output)
        except ValueError:
            pass
    shot: dict[str, Any] = {"input": e.input, "output": out}
    if spec.has_context:
        shot = {"context": e.context or "", **shot}
    return shot


def _words(texts: list[str]) -> tuple[int, int]:
    counts = sorted(len(t.split()) for t in texts)
    return counts[0], counts[-1]


def _schema(spec: TaskSpec, tools: str | None) -> dict[str, Any]:
    if spec.labels:
        output: dict[str, Any] = {"type": "string", "enum": list(spec.labels)}
    elif spec.profile.output_format == "tool_call":
        names = sorted(tool_names(tools))
        output = {
            "type": "object",
            "properties": {"name": {"type": "string", **({"enum": names} if names else {})}, "arguments": {"type": "object"}},
            "required": ["name", "arguments"],
        }
    elif spec.json_output:
        output = {"type": "object"} if spec.seeds and spec.seeds[0].output.startswith("{") else {"type": "array"}
    else:
        output = {"type": "string"}
    props: dict[str, Any] = {"input": {"type": "string"}, "output": output}
    if spec.has_context:
        props = {"context": {"type": "string"}, **props}
    return {"type": "object", "properties": props, "required": list(props)}


def build_request(spec: TaskSpec, index: int, *, seed: int, shots: int, response_format: str) -> Request:
    """The request for the ``index``-th new example (deterministic in ``seed`` and ``index``)."""
    rng = random.Random(f"{seed}:{index}")
    picks = rng.sample(range(len(spec.seeds)), k=min(shots, len(spec.seeds)))
    profile = spec.profile
    lines = [f"Task: {profile.description}" if profile.description else "", _TASKS[profile.task_type]]
    target = spec.labels[index % len(spec.labels)] if spec.labels else None
    if spec.labels:
        lines.append("Labels: " + ", ".join(json.dumps(label, ensure_ascii=False) for label in spec.labels))
    tools = tools_raw = None
    if spec.has_tools:
        with_tools = [i for i in picks if spec.seeds[i].tools] or [i for i, s in enumerate(spec.seeds) if s.tools]
        source = with_tools[0]
        tools = spec.seeds[source].tools
        tools_raw = spec.raw[source].get(spec.fields.get("tools", ""))
        lines.append(f"Available tools: {tools}")
    lines.append(f"Here are {len(picks)} examples, one JSON object per line:")
    lines.extend(json.dumps(_shot(spec, i), ensure_ascii=False) for i in picks)
    lo, hi = _words([e.input for e in spec.seeds])
    ask = [
        "Write ONE new example of this task: a new input on a different subject or with different details, "
        "not a rewording of one shown.",
        f"Its input is {lo} to {hi} words long.",
    ]
    if not spec.labels:
        olo, ohi = _words([e.output for e in spec.seeds])
        ask.append(f"Its output is {olo} to {ohi} words long." if not spec.json_output else "Its output is JSON like the examples'.")
        if tools:
            ask.append("Its output calls one of the available tools above.")
    else:
        ask.append(f"Its output must be the label {json.dumps(target, ensure_ascii=False)}.")
    language = _LANGUAGES.get(profile.language)
    if language:
        ask.append(f"Write it in {language}.")
    keys = '"context", "input" and "output"' if spec.has_context else '"input" and "output"'
    ask.append(f"Reply with a single JSON object with the keys {keys}.")
    user = "\n".join(line for line in lines if line) + "\n\n" + " ".join(ask)
    if response_format == "json_object":
        fmt: dict[str, Any] | None = {"type": "json_object"}
    elif response_format == "json_schema":
        fmt = {"type": "json_schema", "json_schema": {"name": "example", "schema": _schema(spec, tools), "strict": True}}
    elif response_format == "json_object_schema":
        fmt = {"type": "json_object", "schema": _schema(spec, tools)}
    else:
        fmt = None
    return Request(
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}],
        response_format=fmt, tools=tools, tools_raw=tools_raw, target_label=target,
    )
