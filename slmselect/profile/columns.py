"""Examples as columns of text, for profiling many of them without one :class:`Example` object per row.

``read_columns`` gives the texts :func:`slmselect.profile.readers.read_examples` would: rows whose input and
output are plain strings (and whose context, if any, is text or missing) are read a column at a time; every
other shape (chat, tool calls, entity dicts, instruction + input, options) goes through ``normalise``.
``text_keys`` and ``fingerprint`` compute, over whole columns, exactly what ``text_key`` and the profile's
fingerprint compute one example at a time.
"""

from __future__ import annotations

import hashlib
import json
import re
from operator import itemgetter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from slmselect.profile.readers import (
    as_text, check_count, detect_fields, empty_values_error, load_examples, normalise,
    one_output_note, read_examples, text_key, variant_groups, variant_merges,
)
from slmselect._types import Example

__all__ = ["Columns", "fingerprint", "read_columns", "text_keys"]


@dataclass(frozen=True)
class Columns:
    """The normalised examples, one list per field (``None`` where an example has no context / tools)."""

    inputs: list[str]
    outputs: list[str]
    contexts: list[str | None]
    tools: list[str | None]

    def __len__(self) -> int:
        return len(self.inputs)

    @classmethod
    def of(cls, examples: Sequence[Example]) -> Columns:
        return cls([e.input for e in examples], [e.output for e in examples], [e.context for e in examples],
                   [e.tools for e in examples])

    def examples(self, rows: Iterable[int] | None = None) -> list[Example]:
        """The examples at ``rows`` (all by default), in that order."""
        return [Example(input=self.inputs[i], output=self.outputs[i], context=self.contexts[i], tools=self.tools[i])
                for i in (range(len(self)) if rows is None else rows)]


def _texts(values: list[Any]) -> list[str | None]:
    """Each value as ``normalise`` writes it, ``None`` where it is missing."""
    if set(map(type, values)) <= {str, type(None)}:
        return [None if v is None else (v.strip() or None) for v in values]
    return [as_text(v) for v in values]


def _column(records: list[dict[str, Any]], key: str) -> list[Any]:
    """Each record's value of ``key`` (None where it has none)."""
    try:
        return list(map(itemgetter(key), records))
    except KeyError:
        return [r.get(key) for r in records]


def _plain_columns(records: list[dict[str, Any]], fields: dict[str, str]) -> Columns | None:
    """The columns of rows whose input and output are strings (numbers too, for the output), else None."""
    if fields.keys() - {"input", "output", "context"}:
        return None
    inp, out = fields["input"], fields["output"]
    ins, outs = _column(records, inp), _column(records, out)
    if set(map(type, ins)) != {str} or not set(map(type, outs)) <= {str, int}:
        return None
    outputs = list(map(str.strip, outs)) if set(map(type, outs)) == {str} else [
        v.strip() if type(v) is str else str(v) for v in outs]
    if "" in outputs:
        raise empty_values_error("output", [i for i, o in enumerate(outputs) if not o], len(records), out)
    inputs = list(map(str.strip, ins))
    if "" in inputs:
        raise empty_values_error("input", [i for i, t in enumerate(inputs) if not t], len(records), inp)
    ctx = fields.get("context")
    contexts = _texts(_column(records, ctx)) if ctx else [None] * len(records)
    one_output_note(set(outputs), len(records), out, stacklevel=5)
    return Columns(inputs, outputs, contexts, [None] * len(records))


def read_columns(source: Any, *, split: str | None = None, normalize_labels: bool = False,
                 **names: str | None) -> tuple[Columns, dict[str, str]]:
    """What :func:`~slmselect.profile.readers.read_examples` reads, as :class:`Columns` (``names``: its
    ``input_field``, ``output_field`` and ``context_field``)."""
    if isinstance(source, (list, tuple)) and source and isinstance(source[0], Example):
        examples, fields = read_examples(source, split=split, normalize_labels=normalize_labels, **names)
        return Columns.of(examples), fields
    records = load_examples(source, split=split)
    check_count(records)
    fields = detect_fields(records, **names)
    cols = _plain_columns(records, fields)
    if cols is None:
        examples, fields = normalise(records, **names)
        cols = Columns.of(examples)
    return (merge_variants(cols) if normalize_labels else cols), fields


def merge_variants(cols: Columns) -> Columns:
    """``cols`` with each group of label variants merged into its most frequent spelling."""
    from collections import Counter

    to = variant_merges(variant_groups(Counter(o.strip() for o in cols.outputs)))
    if not to:
        return cols
    outputs = [to[s] if (s := o.strip()) in to else o for o in cols.outputs]
    return Columns(cols.inputs, outputs, cols.contexts, cols.tools)


# ------------------------------------------------------------------------------------------- whole columns

_PUNCT = re.compile(r"[^\w\s]+")
_SPACES = re.compile(r"\s+")
#: Joins texts for one pass of case folding and punctuation removal: a word character (kept by both), folded to itself.
_SEP = "\U0001d7d8"
#: ASCII text: lower case, and every character that is neither a word character nor a separator (NUL) a space.
_ASCII_KEY = bytes(c if chr(c).isalnum() or c in (0, ord("_")) else ord(" ") for c in range(128)).lower() + bytes(128)


def text_keys(texts: Sequence[str | None]) -> list[str]:
    """``text_key`` of each text, computed in a few passes over the joined texts (bytes ones for ASCII text)."""
    texts = [t or "" for t in texts]
    ascii_rows = list(map(str.isascii, texts))
    if all(ascii_rows):
        return _ascii_keys(texts)
    if not any(ascii_rows):
        return _unicode_keys(texts)
    keys = [""] * len(texts)
    for flag, keyer in ((True, _ascii_keys), (False, _unicode_keys)):
        rows = [i for i, a in enumerate(ascii_rows) if a is flag]
        for i, k in zip(rows, keyer([texts[i] for i in rows])):
            keys[i] = k
    return keys


def _ascii_keys(texts: list[str]) -> list[str]:
    joined = "\x00".join(texts)
    if joined.count("\x00") != len(texts) - 1:  # a text holds the separator itself
        return [text_key(t) for t in texts]
    return _squeeze(joined.encode("ascii").translate(_ASCII_KEY)).decode("ascii").split("\x00")


def _squeeze(flat: bytes) -> bytes:
    """``flat`` (word bytes, spaces, NUL separators) with each run of spaces one space, and none next to a
    separator or at either end: two vectorised passes, where a regex and two replaces cost several times more."""
    import numpy as np

    if not flat:
        return flat
    a = np.frombuffer(flat, np.uint8)
    space = a == 32
    keep = np.ones(len(a), bool)
    keep[1:] = ~(space[1:] & space[:-1])  # the first space of each run
    a = a[keep]
    sep = a == 0
    edge = np.zeros(len(a), bool)
    edge[1:] = sep[:-1]
    edge[:-1] |= sep[1:]
    edge[0] = edge[-1] = True
    return a[~((a == 32) & edge)].tobytes()


def _unicode_keys(texts: list[str]) -> list[str]:
    joined = _SEP.join(texts)
    if joined.count(_SEP) != len(texts) - 1:  # a text holds the separator itself
        return [text_key(t) for t in texts]
    flat = _SPACES.sub(" ", _PUNCT.sub(" ", joined.casefold())).strip()
    pieces = flat.replace(" " + _SEP, _SEP).replace(_SEP + " ", _SEP).split(_SEP)
    if len(pieces) != len(texts):  # some character folds to the separator
        return [text_key(t) for t in texts]
    return pieces


def duplicate_count(cols: Columns) -> int:
    """Examples whose input (and context) repeats another's, exactly or but for case, whitespace and punctuation."""
    keys: Iterable[Any] = text_keys(cols.inputs)
    if any(c is not None for c in cols.contexts):
        keys = zip(keys, text_keys(cols.contexts))
    return len(cols) - len(set(keys))


_ESCAPED = re.compile(r'["\\\x00-\x1f]')


def _plain_json(text: str) -> bool:
    """Whether json.dumps writes ``text`` as it is, between quotes (isprintable: no control character, and
    quicker than the regex that decides when it is False)."""
    return '"' not in text and "\\" not in text and (text.isprintable() or not _ESCAPED.search(text))


def _json_column(values: Sequence[str | None]) -> tuple[str, list[str] | None]:
    """A column as json.dumps(..., ensure_ascii=False) writes its strings: (the format of one, the values to
    put in it), with the quoting in the format when no value needs escaping."""
    missing = values.count(None)
    if missing == len(values):
        return "null", None
    if not missing:
        if _plain_json("".join(values)):  # type: ignore[arg-type]
            return '"{}"', values  # type: ignore[return-value]
        return "{}", list(map(json.encoder.encode_basestring, values))  # type: ignore[arg-type]
    return "{}", ["null" if v is None else json.encoder.encode_basestring(v) for v in values]


def fingerprint(cols: Columns) -> str:
    """sha256 of the examples as ``json.dumps([e.model_dump() ...], sort_keys=True, ensure_ascii=False,
    separators=(",", ":"))`` writes them, built a column at a time."""
    parts = [_json_column(c) for c in (cols.contexts, cols.inputs, cols.outputs, cols.tools)]
    row = '{{{{"context":{}, "input":{}, "output":{}, "tools":{}}}}}'.replace(", ", ",").format(*(f for f, _ in parts))
    body = ",".join(map(row.format, *(v for _, v in parts if v is not None))) if len(cols) else ""
    digest = hashlib.sha256(b"[")
    digest.update(body.encode("utf-8"))
    digest.update(b"]")
    return digest.hexdigest()


def first_distinct(texts: Iterable[str], k: int) -> list[str]:
    """The first ``k`` distinct texts, in order."""
    seen: dict[str, None] = {}
    for t in texts:
        seen.setdefault(t, None)
        if len(seen) >= k:
            break
    return list(seen)

