"""Read task examples from the forms users have them in, find their fields, and normalise them to :class:`Example`.

``load_examples`` turns a list of dicts, a pandas DataFrame, a ``datasets.Dataset`` or a .jsonl/.json/.csv
file into ``list[dict]``; ``normalise`` finds which field is the input, the output, the context and the
tool schemas, and returns :class:`Example` objects plus the role -> field mapping it used. Every problem
raises :class:`InputError` with a message that says what is wrong and how to fix it.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from slmselect.errors import InputError, did_you_mean
from slmselect._types import Example

__all__ = ["load_examples", "normalise", "read_examples"]

# Accepted field names, most specific first.
INPUT_FIELDS = ("input", "prompt", "instruction", "question", "query", "text", "sentence", "document", "article", "source")
OUTPUT_FIELDS = (
    "output", "completion", "response", "answer", "label", "target", "summary", "highlights",
    "labels", "category", "class", "intent", "answers",
)
CONTEXT_FIELDS = ("context", "passage", "document", "paragraph", "article", "text")
TOOL_FIELDS = ("tools", "functions")
CALL_FIELDS = ("call", "tool_call", "tool_calls", "function_call", "answer", "output")
NER_FIELDS = ("entities", "spans")
CHAT_FIELDS = ("messages", "conversations")
OPTION_FIELDS = ("options", "choices")
FILE_TYPES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv")
MIN_EXAMPLES = 2


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _rows(indices: list[int], limit: int = 5) -> str:
    shown = ", ".join(map(str, indices[:limit]))
    return shown + (f" and {len(indices) - limit} more" if len(indices) > limit else "")


# --------------------------------------------------------------------------------------------- reading


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise InputError(
            f"{path} is not valid UTF-8: byte 0x{raw[err.start]:02x} at byte offset {err.start} (line {line}) "
            f"cannot be decoded. Re-encode the file as UTF-8, e.g. `iconv -f latin1 -t utf-8 {path.name} > fixed{path.suffix}` "
            f"or in Python: Path(p).write_text(Path(p).read_text(encoding='latin-1'), encoding='utf-8')."
        ) from None


def _parse_json_lines(text: str, path: Path) -> list[Any]:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            start = line.strip()[:60] + ("..." if len(line.strip()) > 60 else "")
            raise InputError(
                f"{path}: line {number} is not valid JSON ({err.msg}, column {err.colno}); it starts with {start!r}. "
                "Each line of a JSON Lines file must hold one complete JSON object; fix or delete that line."
            ) from None
    return records


def _read_json(text: str, path: Path) -> list[Any]:
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputError(
                f"{path} is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}. "
                "Fix the file, or write it as JSON Lines (one object per line)."
            ) from None
        return data
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return _parse_json_lines(text, path)  # JSON Lines saved as .json
        if isinstance(data, dict):
            lists = [v for v in data.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
            return lists[0] if len(lists) == 1 else [data]
        return [data]
    return _parse_json_lines(text, path)


def _read_file(path: Path) -> list[Any]:
    if not path.exists():
        near = difflib.get_close_matches(path.name, [p.name for p in path.parent.iterdir()], n=1, cutoff=0.8) if path.parent.is_dir() else []
        hint = f" Did you mean {near[0]!r}?" if near else ""
        raise InputError(f"Examples file {str(path)!r} does not exist; check the path.{hint}")
    if path.is_dir():
        raise InputError(f"{path} is a folder; pass a {', '.join(FILE_TYPES)} file inside it.")
    suffix = path.suffix.lower()
    if suffix not in FILE_TYPES:
        raise InputError(
            f"Unsupported examples file type {suffix or '(no extension)'!r} for {path.name}; use one of "
            f"{', '.join(FILE_TYPES)} (JSON Lines, a JSON array of objects, or CSV with a header row), "
            "or load it yourself and pass a list of dicts or a pandas DataFrame."
        )
    text = _decode(path)
    if suffix in (".csv", ".tsv"):
        csv.field_size_limit(1 << 30)
        reader = csv.DictReader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ",")
        return [dict(row) for row in reader]
    if suffix == ".json":
        return _read_json(text, path)
    return _parse_json_lines(text, path)


def load_examples(source: Any) -> list[dict[str, Any]]:
    """Read examples into a list of dicts.

    ``source`` may be a list (or tuple) of dicts, a pandas DataFrame, a ``datasets.Dataset``, or a
    ``str``/``Path`` to a .jsonl/.ndjson, .json (an array of objects, or JSON lines), .csv or .tsv file.
    """
    module = type(source).__module__ or ""
    if isinstance(source, (str, Path)):
        records: list[Any] = _read_file(Path(source).expanduser())
    elif module.startswith("pandas") and hasattr(source, "to_dict"):
        if type(source).__name__ == "Series":
            raise InputError("Got a pandas Series; pass the whole DataFrame with one column per field.")
        records = source.to_dict(orient="records")
    elif module.startswith("datasets"):
        import datasets

        if isinstance(source, (datasets.DatasetDict, datasets.IterableDatasetDict)):
            raise InputError(
                f"Got a DatasetDict with splits {', '.join(map(repr, source))}; pass one split, e.g. ds[{next(iter(source))!r}]."
            )
        records = list(source)
    elif isinstance(source, Mapping):
        raise InputError(
            "Got a single dict; pass a list of example dicts, e.g. [{'text': ..., 'label': ...}, ...]."
        )
    elif isinstance(source, Iterable) and not isinstance(source, (bytes, bytearray)):
        records = list(source)
    else:
        raise InputError(
            f"Cannot read examples from a {type(source).__name__}; pass a list of dicts, a pandas DataFrame, "
            "a datasets.Dataset, or a path to a .jsonl, .json or .csv file."
        )
    if not records:
        raise InputError("No examples found (the input is empty); give at least 2 input/output examples.")
    bad = [i for i, r in enumerate(records) if not isinstance(r, Mapping)]
    if bad:
        raise InputError(
            f"Each example must be a dict (a record with named fields) but row {bad[0]} is a "
            f"{type(records[bad[0]]).__name__} ({len(bad)} such rows: {_rows(bad)}). "
            "Use records like {'input': ..., 'output': ...} or {'text': ..., 'label': ...}."
        )
    return [dict(r) for r in records]


# --------------------------------------------------------------------------------------------- fields


def _pick(keys: set[str], names: Iterable[str], exclude: Iterable[str | None] = ()) -> str | None:
    lowered = {k.lower(): k for k in keys}
    skip = {e for e in exclude if e}
    for name in names:
        if name in lowered and lowered[name] not in skip:
            return lowered[name]
    return None


def _check_field(role: str, name: str, keys: set[str]) -> None:
    if name not in keys:
        raise InputError(
            f"The {role}_field {name!r} is not in the examples; fields found: {', '.join(map(repr, sorted(keys)))}."
            + did_you_mean(name, keys)
        )


def _no_fields_error(keys: set[str], missing: str) -> InputError:
    names = {"input": INPUT_FIELDS, "output": OUTPUT_FIELDS + NER_FIELDS}.get(missing, INPUT_FIELDS + OUTPUT_FIELDS)
    known = {*INPUT_FIELDS, *OUTPUT_FIELDS, *CONTEXT_FIELDS, *TOOL_FIELDS, *NER_FIELDS, *CHAT_FIELDS, *OPTION_FIELDS}
    hints = [f"For {k!r}:{h}" for k in sorted(keys) if k.lower() not in known and (h := did_you_mean(k, names))]
    return InputError(
        f"Could not find the {missing} field of the examples. Fields found: {', '.join(map(repr, sorted(keys)))}. "
        f"Accepted {missing} field names: {', '.join(names)}; chat records use 'messages', tool calling "
        "'tools' + 'call'. " + " ".join(hints) + (" " if hints else "")
        + "Rename the fields, or pass input_field=... and output_field=... explicitly."
    )


def detect_fields(
    records: list[dict[str, Any]],
    *,
    input_field: str | None = None,
    output_field: str | None = None,
    context_field: str | None = None,
) -> dict[str, str]:
    """Return the role -> field mapping.

    Roles: input, output, context, tools, messages (chat), instruction_input (Alpaca-style 'input' added
    to the instruction), options (multiple-choice options appended to the input).
    """
    keys: set[str] = set()
    for r in records:
        keys.update(r)
    for role, name in (("input", input_field), ("output", output_field), ("context", context_field)):
        if name is not None:
            _check_field(role, name, keys)
    fields: dict[str, str] = {}
    chat = _pick(keys, CHAT_FIELDS)
    if chat and input_field is None and output_field is None:
        fields["messages"] = chat
        tools = _pick(keys, TOOL_FIELDS)
        if tools:
            fields["tools"] = tools
        return fields
    tools = _pick(keys, TOOL_FIELDS)
    if tools:
        fields["tools"] = tools
    ner = _pick(keys, NER_FIELDS)
    if output_field is None and ner and not tools:
        output_field = ner
    if output_field is None and tools:
        output_field = _pick(keys, CALL_FIELDS)
    inp = input_field or _pick(keys, ("instruction",)) or _pick(keys, INPUT_FIELDS, exclude=(output_field,))
    if inp and inp.lower() == "instruction" and input_field is None:
        extra = _pick(keys, ("input",))
        if extra:
            fields["instruction_input"] = extra
    out = output_field or _pick(keys, OUTPUT_FIELDS, exclude=(inp, fields.get("instruction_input")))
    if inp is None or out is None:
        raise _no_fields_error(keys, "input/output" if inp is None and out is None else ("input" if inp is None else "output"))
    fields["input"], fields["output"] = inp, out
    ctx = context_field or _pick(keys, CONTEXT_FIELDS, exclude=(inp, out))
    if ctx:
        fields["context"] = ctx
    options = _pick(keys, OPTION_FIELDS, exclude=(inp, out, ctx))
    if options:
        fields["options"] = options
    return fields


# --------------------------------------------------------------------------------------------- values


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "dict"
    if isinstance(value, (list, tuple)):
        return "list"
    return "text/number"


def _chat_example(index: int, messages: Any) -> tuple[str, str]:
    if not isinstance(messages, list) or not all(isinstance(m, Mapping) for m in messages):
        raise InputError(f"Row {index}: 'messages' must be a list of {{'role': ..., 'content': ...}} dicts.")
    last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=None)
    if last is None:
        raise InputError(
            f"Row {index} has no assistant message; the last assistant message is the output to learn, "
            "so each conversation needs one."
        )
    reply = messages[last]
    output = reply.get("content")
    if _missing(output) and reply.get("tool_calls"):
        output = reply["tool_calls"]
    if _missing(output):
        raise InputError(f"Row {index}: the last assistant message is empty; give it the expected reply.")
    turns = [m for m in messages[:last] if not _missing(m.get("content"))]
    if len(turns) == 1:
        text = _as_text(turns[0]["content"])
    else:
        text = "\n".join(f"{m.get('role', 'user')}: {_as_text(m['content'])}" for m in turns)
    return text, _as_text(output)


def normalise(
    records: Any,
    *,
    input_field: str | None = None,
    output_field: str | None = None,
    context_field: str | None = None,
) -> tuple[list[Example], dict[str, str]]:
    """Turn records into :class:`Example` objects and report which field played which role.

    Dict or list outputs (entities, tool calls) become JSON text. Raises :class:`InputError` for too few
    examples, unknown fields, outputs of mixed types, and rows without an input or an output.
    """
    records = load_examples(records)  # checks emptiness and that rows are dicts
    if len(records) < MIN_EXAMPLES:
        raise InputError(
            f"Only 1 example was given; at least {MIN_EXAMPLES} are needed to profile a task "
            "(20 or more give a reliable profile)."
        )
    fields = detect_fields(records, input_field=input_field, output_field=output_field, context_field=context_field)
    if "messages" in fields:
        pairs = [_chat_example(i, r.get(fields["messages"])) for i, r in enumerate(records)]
        tools_key = fields.get("tools")
        examples = [
            Example(input=i, output=o, tools=_as_text(r[tools_key]) if tools_key and not _missing(r.get(tools_key)) else None)
            for (i, o), r in zip(pairs, records)
        ]
        return examples, {"input": fields["messages"], "output": fields["messages"], **fields}

    inp, out = fields["input"], fields["output"]
    no_output = [i for i, r in enumerate(records) if _missing(r.get(out)) or r.get(out) in ({}, [])]
    if fields.get("tools") or "entities" in out.lower() or "spans" in out.lower():
        no_output = [i for i, r in enumerate(records) if _missing(r.get(out))]  # [] = "no entities" is fine
    if no_output:
        raise InputError(
            f"{len(no_output)} of {len(records)} examples have no output in field {out!r} "
            f"(rows {_rows(no_output)}, 0-based). Fill them in or drop those rows."
        )
    no_input = [i for i, r in enumerate(records) if _missing(r.get(inp))]
    if no_input:
        raise InputError(
            f"{len(no_input)} of {len(records)} examples have no input in field {inp!r} "
            f"(rows {_rows(no_input)}, 0-based). Fill them in or drop those rows."
        )
    kinds: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        value = r[out]
        if isinstance(value, str) and fields.get("tools") and value.lstrip()[:1] in "{[":
            value = {}  # a call given as JSON text counts as a dict
        kinds.setdefault(_kind(value), []).append(i)
    if len(kinds) > 1:
        parts = "; ".join(f"{kind} in row{'s' if len(rows) > 1 else ''} {_rows(rows)}" for kind, rows in sorted(kinds.items(), key=lambda kv: -len(kv[1])))
        raise InputError(
            f"The output field {out!r} mixes types: {parts} (0-based). Every output must be of one kind: "
            "all labels/text, or all dicts (entities, tool calls), or all lists."
        )
    first_answer = out.lower() in ("answer", "answers") and "tools" not in fields
    examples = []
    for r in records:
        text = _as_text(r[inp])
        value = r[out]
        if first_answer and isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
            value = value[0]  # several reference answers: the first is the one to learn
        if "instruction_input" in fields and not _missing(r.get(fields["instruction_input"])):
            text = f"{text}\n\n{_as_text(r[fields['instruction_input']])}"
        if "options" in fields and not _missing(r.get(fields["options"])):
            opts = r[fields["options"]]
            text = f"{text}\n" + ("\n".join(map(_as_text, opts)) if isinstance(opts, (list, tuple)) else _as_text(opts))
        ctx = r.get(fields["context"]) if "context" in fields else None
        tools = r.get(fields["tools"]) if "tools" in fields else None
        examples.append(
            Example(
                input=text,
                output=_as_text(value),
                context=None if _missing(ctx) else _as_text(ctx),
                tools=None if _missing(tools) else _as_text(tools),
            )
        )
    return examples, fields


def read_examples(
    source: Any,
    *,
    input_field: str | None = None,
    output_field: str | None = None,
    context_field: str | None = None,
) -> tuple[list[Example], dict[str, str]]:
    """``load_examples`` then ``normalise``; a list of :class:`Example` passes straight through."""
    if isinstance(source, (list, tuple)) and source and all(isinstance(e, Example) for e in source):
        if len(source) < MIN_EXAMPLES:
            raise InputError(f"Only 1 example was given; at least {MIN_EXAMPLES} are needed to profile a task.")
        return list(source), {"input": "input", "output": "output"}
    return normalise(source, input_field=input_field, output_field=output_field, context_field=context_field)
