"""Read task examples from the forms users have them in, find their fields, and normalise them to :class:`Example`.

``load_examples`` turns a list of dicts, a pandas DataFrame, a ``datasets.Dataset`` or a .jsonl/.json/.csv
file into ``list[dict]``; ``normalise`` finds which field is the input, the output, the context and the
tool schemas, and returns :class:`Example` objects plus the role -> field mapping it used. Every problem
raises :class:`InputError` with a message that says what is wrong and how to fix it.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import json
import math
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

from slmselect.errors import InputError, MissingDependencyError, SlmselectWarning, did_you_mean
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
TEXT_TYPES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv")
#: Compression around a text file, read by pandas (``.zst`` needs the ``zstandard`` package).
COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd"}
FILE_TYPES = (*TEXT_TYPES, ".parquet", ".xlsx", ".xls")
MIN_EXAMPLES = 2
#: CSV separators tried when a file's header has no comma (spreadsheets in much of Europe write ';').
CSV_SEPARATORS = ",;\t|"
SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
#: CoNLL-style entity tags, spelled as the entity-span form names them.
ENTITY_NAMES = {"PER": "person", "ORG": "organization", "LOC": "location", "MISC": "miscellaneous"}


def is_missing(value: Any) -> bool:
    """None, NaN or a blank string."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _rows(indices: list[int], limit: int = 5) -> str:
    shown = ", ".join(map(str, indices[:limit]))
    return shown + (f" and {len(indices) - limit} more" if len(indices) > limit else "")


# --------------------------------------------------------------------------------------------- reading


#: Files larger than this are refused (they are read whole into memory).
MAX_FILE_BYTES = 1 << 30
#: Deepest nesting of lists/dicts accepted in one example (JSON parsers and json.dumps recurse).
MAX_DEPTH = 64
#: Longest CSV/TSV cell accepted, in characters.
MAX_CELL_CHARS = 64 << 20
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32 (byte-order mark)"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32 (byte-order mark)"),
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8 (byte-order mark)"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16 (byte-order mark)"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16 (byte-order mark)"),
)


def _guess_encoding(raw: bytes) -> tuple[str, str]:
    """(codec, name to show) from a byte-order mark, or from where the NUL bytes fall (UTF-16 without a BOM)."""
    for bom, codec, name in _BOMS:
        if raw.startswith(bom):
            return codec, name
    sample = raw[:8192]
    if b"\x00" in sample and len(sample) >= 4:
        even, odd = sample[0::2], sample[1::2]
        z_even, z_odd = even.count(0) / len(even), odd.count(0) / max(len(odd), 1)
        if z_odd > 0.3 and z_even < 0.05:
            return "utf-16-le", "UTF-16-LE (no byte-order mark)"
        if z_even > 0.3 and z_odd < 0.05:
            return "utf-16-be", "UTF-16-BE (no byte-order mark)"
        return "binary", "binary"
    return "utf-8", "UTF-8"


def _decode(path: Path) -> tuple[str, str]:
    """The file's text and the name of the encoding it was read with."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(
                f"{path} is {size / 2**30:.1f} GiB, more than the {MAX_FILE_BYTES >> 30} GiB slmselect reads at once; "
                "a few hundred to a few thousand examples are enough: pass a sample of the file."
            )
        raw = path.read_bytes()
    except PermissionError:
        raise InputError(f"{path} cannot be read (permission denied); check its permissions.") from None
    except OSError as err:
        raise InputError(f"{path} cannot be read: {err.strerror or err}.") from None
    codec, name = _guess_encoding(raw)
    if codec == "binary":
        raise InputError(
            f"{path} holds NUL bytes in no text encoding's pattern: it looks like a binary file (a spreadsheet, an "
            f"archive, a database), not {', '.join(FILE_TYPES)} text. Export it as JSON Lines or CSV."
        )
    try:
        return raw.decode(codec), name
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        if codec != "utf-8":
            raise InputError(
                f"{path} looks like {name} but byte offset {err.start} (line {line}) cannot be decoded as such: "
                f"the file is damaged or mixes encodings. Re-save it as UTF-8."
            ) from None
        raise InputError(
            f"{path} is not valid UTF-8: byte 0x{raw[err.start]:02x} at byte offset {err.start} (line {line}) "
            f"cannot be decoded; it is probably Latin-1 or Windows-1252. Re-encode the file as UTF-8, e.g. "
            f"`iconv -f latin1 -t utf-8 {path.name} > fixed{path.suffix}` "
            f"or in Python: Path(p).write_text(Path(p).read_text(encoding='latin-1'), encoding='utf-8')."
        ) from None


def _too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether lists/dicts in ``value`` nest more than ``limit`` levels (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, Mapping):
            children: Iterable[Any] = v.values()
        elif isinstance(v, (list, tuple)):
            children = v
        else:
            continue
        if d > limit:
            return True
        stack.extend((c, d + 1) for c in children)
    return False


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise _DeepJSON from None


class _DeepJSON(Exception):
    pass


def _deep_error(where: str) -> InputError:
    return InputError(
        f"{where} nests lists/objects too deeply for a JSON parser (more than {MAX_DEPTH} levels are refused); "
        "an example is a flat record such as {'input': ..., 'output': ...}: flatten the data or store it as text."
    )


#: The JSON scanner json.loads runs, called on each line without json.loads' per-call overhead.
_SCAN = json.JSONDecoder().scan_once
_JSON_SPACE = " \t\r\n"


def _parse_json_lines(text: str, where: str) -> list[Any]:
    records = []
    scan = _SCAN
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        body = line.strip(_JSON_SPACE)
        try:  # the fast path: the line is one JSON value and nothing else (what json.loads accepts)
            value, end = scan(body, 0)
            if end == len(body):
                records.append(value)
                continue
        except (StopIteration, ValueError, RecursionError):
            pass
        try:  # anything else: json.loads, for its verdict and its message
            records.append(_loads(line))
        except _DeepJSON:
            raise _deep_error(f"{where}: line {number}") from None
        except json.JSONDecodeError as err:
            start = line.strip()[:60] + ("..." if len(line.strip()) > 60 else "")
            raise InputError(
                f"{where}: line {number} is not valid JSON ({err.msg}, column {err.colno}); it starts with {start!r}. "
                "Each line of a JSON Lines file must hold one complete JSON object; fix or delete that line."
            ) from None
    return records


def _read_json(text: str, where: str) -> list[Any]:
    if text.lstrip().startswith("["):
        try:
            data = _loads(text)
        except _DeepJSON:
            raise _deep_error(where) from None
        except json.JSONDecodeError as err:
            raise InputError(
                f"{where} is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}. "
                "Fix the file, or write it as JSON Lines (one object per line)."
            ) from None
        return data
    if text.lstrip().startswith("{"):
        try:
            data = _loads(text)
        except _DeepJSON:
            raise _deep_error(where) from None
        except json.JSONDecodeError:
            return _parse_json_lines(text, where)  # JSON Lines saved as .json
        if isinstance(data, dict):
            lists = [v for v in data.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
            return lists[0] if len(lists) == 1 else [data]
        return [data]
    return _parse_json_lines(text, where)


def _check_columns(names: list[str], where: str) -> None:
    """Refuse unnamed and repeated column names (a repeated one would silently drop a column)."""
    unnamed = [i + 1 for i, n in enumerate(names) if not n]
    if unnamed:
        raise InputError(
            f"{where}: column {_rows(unnamed)} of the header has no name (of {len(names)} columns); "
            "name every column, or delete the empty one (often a trailing comma or an index column)."
        )
    seen = Counter(names)
    dup = [n for n, c in seen.items() if c > 1]
    if dup:
        where_dup = "; ".join(f"{n!r} at columns {_rows([i + 1 for i, m in enumerate(names) if m == n])}" for n in dup)
        raise InputError(
            f"{where}: the column name{'s' if len(dup) > 1 else ''} {', '.join(map(repr, dup))} "
            f"appear{'' if len(dup) > 1 else 's'} more than once ({where_dup}); only one of them could be read. "
            "Rename or delete the duplicates."
        )


def _read_csv(text: str, where: str, delimiter: str) -> list[dict[str, str]]:
    old_limit = csv.field_size_limit(MAX_CELL_CHARS)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[dict[str, str]] = []
    try:
        header = next(reader, None)
        if header is None:
            return rows
        names = [h.strip() for h in header]
        _check_columns(names, f"{where}: line 1")
        for cells in reader:
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue  # a blank line
            if len(cells) != len(names):
                more = "more" if len(cells) > len(names) else "fewer"
                raise InputError(
                    f"{where}: line {reader.line_num} (row {len(rows)}) has {len(cells)} cells but the header has "
                    f"{len(names)} columns ({more} cells than columns). Put cells that hold a "
                    f"{SEPARATOR_NAMES.get(delimiter, repr(delimiter))} or a line break in double quotes, or fix that line."
                )
            rows.append(dict(zip(names, cells)))
    except csv.Error as err:
        raise InputError(
            f"{where}: line {reader.line_num} cannot be parsed as {'TSV' if delimiter == chr(9) else 'CSV'}: {err}. "
            f"Fix that line (cells are limited to {MAX_CELL_CHARS >> 20} M characters)."
        ) from None
    finally:
        csv.field_size_limit(old_limit)
    return rows


def _kinds(path: Path) -> tuple[str, str | None]:
    """(the file's own type, its compression or None): ``train.jsonl.gz`` -> (".jsonl", "gzip")."""
    suffixes = [x.lower() for x in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        return (suffixes[-2] if len(suffixes) > 1 else ""), COMPRESSIONS[suffixes[-1]]
    return (suffixes[-1] if suffixes else ""), None


def _sniff_separator(text: str, default: str, where: str) -> str:
    """The CSV separator: ``default`` unless the header holds none of it and another one splits it (said in a warning)."""
    header = text.split("\n", 1)[0]
    if default in header:
        return default
    try:
        found = csv.Sniffer().sniff(text[:65536], delimiters=CSV_SEPARATORS).delimiter
    except csv.Error:
        return default
    if found != default and found in header:
        name = SEPARATOR_NAMES.get(found, repr(found))
        warnings.warn(f"{where}: read as {name}-separated (detected from the header row, which has no "
                      f"{'comma' if default == ',' else 'tab'}).", SlmselectWarning, stacklevel=4)
        return found
    return default


def _open_text(path: Path, compression: str | None) -> Any:
    """A text handle on a possibly compressed file (for a sample, or a JSON array)."""
    import bz2
    import gzip
    import lzma

    if compression == "zstd":
        import zstandard

        return io.TextIOWrapper(zstandard.open(path, "rb"), encoding="utf-8-sig", errors="replace")
    opener = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}.get(compression or "")
    if opener is None:
        return open(path, encoding="utf-8-sig", errors="replace")
    return opener(path, "rt", encoding="utf-8-sig", errors="replace")


def _read_frame(path: Path, kind: str, compression: str | None) -> list[Any]:
    """Parquet, Excel and compressed files through pandas (and pyarrow), as records."""
    import pandas as pd

    where = str(path)
    try:
        if kind == ".parquet":
            frame = pd.read_parquet(path)
        elif kind in (".xlsx", ".xls"):
            from slmselect._packages import installed

            engine = "openpyxl" if kind == ".xlsx" else "xlrd"
            if not installed(engine):
                raise ImportError(f"No module named {engine!r}")
            frame = pd.read_excel(path, dtype=object, engine=engine)
        elif kind in (".csv", ".tsv"):
            with _open_text(path, compression) as fh:
                sample = fh.read(65536)
            sep = _sniff_separator(sample, "\t" if kind == ".tsv" else ",", where)
            frame = pd.read_csv(path, sep=sep, compression=compression, dtype=str, keep_default_na=False,
                                encoding="utf-8-sig")
        elif kind in (".jsonl", ".ndjson"):
            frame = pd.read_json(path, lines=True, compression=compression, dtype=False)
        elif kind == ".json":
            with _open_text(path, compression) as fh:
                return _read_json(fh.read(), where)
        else:
            raise InputError(
                f"{path.name} is {compression}-compressed but its own type {kind or '(no extension)'!r} is none of "
                f"{', '.join(TEXT_TYPES)}; name it like train.jsonl.gz, or decompress it."
            )
    except ImportError as err:
        extra = {".parquet": "pyarrow", ".xlsx": "openpyxl", ".xls": "xlrd"}.get(kind, "zstandard")
        how = "pip install 'slmselect[excel]'" if kind in (".xlsx", ".xls") else f"pip install {extra}"
        raise MissingDependencyError(f"Reading {path.name} needs the {extra!r} package ({err}); install it with {how}, "
                         "or export the file as JSON Lines or CSV.") from None
    except InputError:
        raise
    except Exception as err:  # noqa: BLE001 - any reader's complaint about the file becomes one clear message
        raise InputError(f"{where} cannot be read as {kind.lstrip('.').upper() or 'data'}"
                         f"{f' ({compression})' if compression else ''}: {str(err)[:300]}. Check that the file is "
                         "complete and of the type its name says.") from None
    _check_columns([str(c).strip() for c in frame.columns], where)
    return frame.to_dict(orient="records")


def _read_file(path: Path) -> list[Any]:
    if not path.exists():
        near = difflib.get_close_matches(path.name, [p.name for p in path.parent.iterdir()], n=1, cutoff=0.8) if path.parent.is_dir() else []
        hint = f" Did you mean {near[0]!r}?" if near else ""
        raise InputError(f"Examples file {str(path)!r} does not exist; check the path.{hint}")
    if path.is_dir():
        raise InputError(f"{path} is a folder; pass a {', '.join(FILE_TYPES)} file inside it.")
    suffix, compression = _kinds(path)
    if compression is None and suffix not in FILE_TYPES:
        raise InputError(
            f"Unsupported examples file type {suffix or '(no extension)'!r} for {path.name}; use one of "
            f"{', '.join(FILE_TYPES)}, optionally compressed ({', '.join(COMPRESSIONS)}: JSON Lines, a JSON array "
            "of objects, CSV with a header row, Parquet, Excel), or load it yourself and pass a list of dicts or a "
            "pandas DataFrame."
        )
    if compression is not None or suffix not in TEXT_TYPES:
        return _read_frame(path, suffix, compression)
    text, encoding = _decode(path)
    where = str(path) if encoding.startswith("UTF-8") else f"{path} (read as {encoding})"
    if suffix in (".csv", ".tsv"):
        default = "\t" if suffix == ".tsv" else ","
        return _read_csv(text, where, _sniff_separator(text, default, where))
    if suffix == ".json":
        return _read_json(text, where)
    return _parse_json_lines(text, where)


def load_examples(source: Any, *, split: str | None = None) -> list[dict[str, Any]]:
    """Read examples into a list of dicts.

    ``source`` may be a list (or tuple) of dicts, a pandas DataFrame, a ``datasets.Dataset`` (a
    ``DatasetDict`` with ``split``), or a ``str``/``Path`` to a .jsonl/.ndjson, .json (an array of objects, or
    JSON lines), .csv/.tsv (the separator detected), .parquet or .xlsx file, optionally compressed (.gz, .bz2,
    .xz, .zst). Token-level NER (``tokens`` + ``ner_tags``, as strings or as ``ClassLabel`` ids of a Dataset)
    becomes the entity-span form ``{"text", "entities"}`` that confirm trains on.
    """
    module = type(source).__module__ or ""
    tag_names: list[str] | None = None
    if isinstance(source, (str, Path)):
        records: list[Any] = _read_file(Path(source).expanduser())
    elif module.startswith("pandas") and hasattr(source, "to_dict"):
        if type(source).__name__ == "Series":
            raise InputError("Got a pandas Series; pass the whole DataFrame with one column per field.")
        _check_columns([str(c).strip() for c in source.columns], "The DataFrame")
        records = source.to_dict(orient="records")
    elif module.startswith("datasets"):
        import datasets

        if isinstance(source, (datasets.DatasetDict, datasets.IterableDatasetDict)):
            if split is None:
                raise InputError(
                    f"Got a DatasetDict with splits {', '.join(map(repr, source))}; say which with split=, e.g. "
                    f"split={next(iter(source))!r}, or pass one split, e.g. ds[{next(iter(source))!r}]."
                )
            if split not in source:
                raise InputError(f"The DatasetDict has no split {split!r}; it has {', '.join(map(repr, source))}."
                                 + did_you_mean(split, list(source)))
            source = source[split]
        features = getattr(source, "features", None) or {}
        tag_feature = getattr(features.get("ner_tags"), "feature", None) if hasattr(features, "get") else None
        tag_names = list(getattr(tag_feature, "names", None) or []) or None
        try:
            records = list(source)
        except TypeError as err:  # an IterableDataset of a broken generator, a Dataset of a bad format
            raise InputError(f"Could not iterate over the {type(source).__name__}: {err}.") from None
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
    plain = set(map(type, records)) == {dict}
    bad = [] if plain else [i for i, r in enumerate(records) if not isinstance(r, Mapping)]
    if bad:
        raise InputError(
            f"Each example must be a dict (a record with named fields) but row {bad[0]} is a "
            f"{type(records[bad[0]]).__name__} ({len(bad)} such rows: {_rows(bad)}). "
            "Use records like {'input': ..., 'output': ...} or {'text': ..., 'label': ...}."
        )
    if all("tokens" in r and "ner_tags" in r for r in records):
        records = token_ner_to_spans(records, tag_names)
        plain = True
    if plain:
        fast = _plain_rows(records)
        if fast is not None:
            return fast
    out = []
    for i, r in enumerate(records):
        row = {str(k).strip() if not isinstance(k, str) else k: v for k, v in r.items()}
        if len(row) < len(r):
            raise InputError(f"Row {i} has field names that collide once written as text: {list(r)}; rename them.")
        if _too_deep(row):
            raise _deep_row_error(i)
        out.append(row)
    return out


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain_rows(records: list[dict[Any, Any]]) -> list[dict[str, Any]] | None:
    """The rows as they are, checked a column at a time: string keys only (nothing to rename), nesting checked
    only in rows that hold a list or dict. None when a key is not a string (the per-row path renames it)."""
    keys = set().union(*records)
    if not all(type(k) is str for k in keys):
        return None
    if set(map(type, chain.from_iterable(map(dict.values, records)))) <= _SCALARS:
        return records
    nested = sorted({i for key in keys for i, r in enumerate(records) if type(r.get(key)) not in _SCALARS})
    for i in nested:
        if _too_deep(records[i]):
            raise _deep_row_error(i)
    return records


def _deep_row_error(row: int) -> InputError:
    return InputError(
        f"Row {row} nests lists/dicts more than {MAX_DEPTH} levels deep; an example is a flat record such as "
        "{'input': ..., 'output': ...}: flatten it or store the nested part as text."
    )


def _tag_text(tag: Any, names: list[str] | None, row: int) -> str:
    if isinstance(tag, str):
        return tag
    if names is not None and isinstance(tag, (int,)) and 0 <= tag < len(names):
        return names[tag]
    raise InputError(
        f"Row {row}: ner_tags holds {tag!r}, a class id without its name. Pass the datasets.Dataset itself (its "
        "ClassLabel feature names the ids), or tags as strings such as 'B-PER', 'I-PER', 'O'."
    )


def bio_spans(tokens: list[str], tags: list[str]) -> list[tuple[str, str]]:
    """(entity type, text) of each entity in BIO / IOB / BIOES tags over ``tokens``."""
    spans: list[tuple[str, str]] = []
    current: list[str] = []
    kind = ""

    def flush() -> None:
        if current and kind:
            spans.append((kind, " ".join(current)))
        current.clear()

    for token, tag in zip(tokens, tags):
        prefix, _, label = str(tag).partition("-")
        if not label and prefix not in ("O", ""):  # a bare type (IO tagging)
            prefix, label = "I", prefix
        if prefix in ("B", "S") or (prefix in ("I", "E") and label != kind):
            flush()
            kind = label
            current.append(token)
        elif prefix in ("I", "E"):
            current.append(token)
        else:
            flush()
            kind = ""
        if prefix in ("E", "S"):
            flush()
            kind = ""
    flush()
    return spans


def token_ner_to_spans(records: list[Any], names: list[str] | None = None) -> list[dict[str, Any]]:
    """Token-level NER rows (``tokens`` + ``ner_tags``) as ``{"text", "entities"}``: the tokens joined by spaces,
    and every entity type of the data (CoNLL's PER/ORG/LOC/MISC spelled out) with the spans found in the row."""
    rows = []
    types: dict[str, None] = {}
    for i, r in enumerate(records):
        tokens = [str(t) for t in r["tokens"]]
        tags = [_tag_text(t, names, i) for t in r["ner_tags"]]
        if len(tokens) != len(tags):
            raise InputError(f"Row {i} has {len(tokens)} tokens but {len(tags)} ner_tags; give one tag per token.")
        spans = [(ENTITY_NAMES.get(k.upper(), k.lower()), text) for k, text in bio_spans(tokens, tags)]
        for k, _ in spans:
            types.setdefault(k, None)
        rows.append((r, tokens, spans))
    for name in names or []:
        kind = name.partition("-")[2]
        if kind:
            types.setdefault(ENTITY_NAMES.get(kind.upper(), kind.lower()), None)
    out = []
    for r, tokens, spans in rows:
        entities: dict[str, list[str]] = {k: [] for k in types}
        for k, text in spans:
            entities[k].append(text)
        rest = {k: v for k, v in r.items() if k not in ("tokens", "ner_tags", "pos_tags", "chunk_tags")}
        out.append({"text": " ".join(tokens), "entities": entities, **{k: v for k, v in rest.items() if k not in ("text", "entities")}})
    return out


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


def as_text(value: Any) -> str | None:
    """A field's value as text: strings stripped, dicts, lists and tuples as JSON, whole floats without '.0'
    (a label 3.0 read from a table is "3"), anything else by ``str``; None for a missing value
    (:func:`is_missing`)."""
    if is_missing(value):
        return None
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


#: Code fences around a reply, with their language tag.
_FENCE = re.compile(r"^```[\w-]*\s*|\s*```$")


def parse_json(text: str, *, strict: bool = False, opening: str = "{[") -> Any:
    """The JSON value ``text`` holds, or None.

    ``strict`` (how the profiler reads structured outputs): the whole text, and only a value that starts with
    one of ``opening``. Otherwise (a model's reply): code fences and surrounding space removed, the whole text
    as any JSON value, else the first value that starts at one of ``opening`` after other words."""
    if strict:
        if text[:1] not in opening:
            return None
        try:
            return json.loads(text)
        except ValueError:
            return None
    text = _FENCE.sub("", text.strip())
    try:
        return json.loads(text)
    except ValueError:
        pass
    decoder = json.JSONDecoder()
    for i, c in enumerate(text):
        if c in opening:
            try:
                return decoder.raw_decode(text[i:])[0]
            except ValueError:
                continue
    return None


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
    if is_missing(output) and reply.get("tool_calls"):
        output = reply["tool_calls"]
    if is_missing(output):
        raise InputError(f"Row {index}: the last assistant message is empty; give it the expected reply.")
    turns = [m for m in messages[:last] if not is_missing(m.get("content"))]
    if len(turns) == 1:
        text = as_text(turns[0]["content"])
    else:
        text = "\n".join(f"{m.get('role', 'user')}: {as_text(m['content'])}" for m in turns)
    return text, as_text(output)


def normalise(
    records: Any,
    *,
    input_field: str | None = None,
    output_field: str | None = None,
    context_field: str | None = None,
    split: str | None = None,
) -> tuple[list[Example], dict[str, str]]:
    """Turn records into :class:`Example` objects and report which field played which role.

    Dict or list outputs (entities, tool calls) become JSON text. Raises :class:`InputError` for too few
    examples, unknown fields, outputs of mixed types, and rows without an input or an output.
    """
    records = load_examples(records, split=split)  # checks emptiness and that rows are dicts
    check_count(records)
    fields = detect_fields(records, input_field=input_field, output_field=output_field, context_field=context_field)
    if "messages" in fields:
        pairs = [_chat_example(i, r.get(fields["messages"])) for i, r in enumerate(records)]
        tools_key = fields.get("tools")
        examples = [
            Example(input=i, output=o, tools=as_text(r.get(tools_key)) if tools_key else None)
            for (i, o), r in zip(pairs, records)
        ]
        return examples, {"input": fields["messages"], "output": fields["messages"], **fields}

    inp, out = fields["input"], fields["output"]
    no_output = [i for i, r in enumerate(records) if is_missing(r.get(out)) or r.get(out) in ({}, [])]
    if fields.get("tools") or "entities" in out.lower() or "spans" in out.lower():
        no_output = [i for i, r in enumerate(records) if is_missing(r.get(out))]  # [] = "no entities" is fine
    if no_output:
        raise empty_values_error("output", no_output, len(records), out)
    no_input = [i for i, r in enumerate(records) if is_missing(r.get(inp))]
    if no_input:
        raise empty_values_error("input", no_input, len(records), inp)
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
        text = as_text(r[inp])
        value = r[out]
        if first_answer and isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
            value = value[0]  # several reference answers: the first is the one to learn
        if "instruction_input" in fields and not is_missing(r.get(fields["instruction_input"])):
            text = f"{text}\n\n{as_text(r[fields['instruction_input']])}"
        if "options" in fields and not is_missing(r.get(fields["options"])):
            opts = r[fields["options"]]
            text = f"{text}\n" + ("\n".join(t for t in map(as_text, opts) if t is not None) if isinstance(opts, (list, tuple)) else as_text(opts))
        ctx = r.get(fields["context"]) if "context" in fields else None
        tools = r.get(fields["tools"]) if "tools" in fields else None
        examples.append(
            Example(
                input=text,
                output=as_text(value),
                context=as_text(ctx),
                tools=as_text(tools),
            )
        )
    one_output_note({e.output for e in examples}, len(examples), out)
    return examples, fields


def check_count(records: Sequence[Any]) -> None:
    """Refuse fewer than :data:`MIN_EXAMPLES` rows."""
    if len(records) < MIN_EXAMPLES:
        raise InputError(
            f"Only 1 example was given; at least {MIN_EXAMPLES} are needed to profile a task "
            "(20 or more give a reliable profile)."
        )


def empty_values_error(role: str, rows: list[int], n: int, field: str) -> InputError:
    """Rows (0-based) whose ``role`` (input/output) in ``field`` is empty or missing."""
    return InputError(
        f"{len(rows)} of {n} examples have no {role} in field {field!r} "
        f"(rows {_rows(rows)}, 0-based). Fill them in or drop those rows."
    )


def one_output_note(outputs: set[str], n: int, field: str, stacklevel: int = 4) -> None:
    """Warn when every example has the same output (one class): nothing to tell apart, nothing to learn."""
    if len(outputs) == 1:
        value = next(iter(outputs))
        shown = value if len(value) <= 60 else value[:57] + "..."
        warnings.warn(
            f"All {n} examples have the same output in field {field!r} ({shown!r}): a classifier "
            "needs examples of at least two classes, and a model can score perfectly by always answering this. "
            "Add examples with other outputs.",
            SlmselectWarning,
            stacklevel=stacklevel,
        )


def read_examples(
    source: Any,
    *,
    input_field: str | None = None,
    output_field: str | None = None,
    context_field: str | None = None,
    split: str | None = None,
    normalize_labels: bool = False,
) -> tuple[list[Example], dict[str, str]]:
    """``load_examples`` then ``normalise``; a list of :class:`Example` passes straight through.
    ``normalize_labels`` merges labels that differ only in case, spacing or punctuation (:func:`merge_label_variants`)."""
    if isinstance(source, (list, tuple)) and source and all(isinstance(e, Example) for e in source):
        if len(source) < MIN_EXAMPLES:
            raise InputError(f"Only 1 example was given; at least {MIN_EXAMPLES} are needed to profile a task.")
        examples, fields = list(source), {"input": "input", "output": "output"}
    else:
        examples, fields = normalise(source, input_field=input_field, output_field=output_field,
                                     context_field=context_field, split=split)
    return (merge_label_variants(examples) if normalize_labels else examples), fields


#: Outputs longer than this are not labels (no variant merging, no label checks).
LABEL_MAX_CHARS = 64


def label_key(text: str) -> str:
    """A label as its variants share it: lower case, no spaces, punctuation or underscores."""
    return re.sub(r"[\W_]+", "", text.casefold())


def text_key(text: str | None) -> str:
    """An input as its near-duplicates share it: lower case, whitespace collapsed, punctuation dropped."""
    return " ".join(re.sub(r"[^\w\s]+", " ", (text or "").casefold()).split())


def label_variants(examples: Sequence[Example]) -> list[list[tuple[str, int]]]:
    """Groups of two or more labels that differ only in case, spacing or punctuation, each as (label, count),
    most frequent first (empty when the outputs are not short labels)."""
    return variant_groups(Counter(e.output.strip() for e in examples))


def variant_groups(counts: Counter[str]) -> list[list[tuple[str, int]]]:
    """:func:`label_variants` from the count of each (stripped) output."""
    if not counts or max(map(len, counts)) > LABEL_MAX_CHARS:
        return []
    groups: dict[str, list[tuple[str, int]]] = {}
    for label, n in counts.most_common():
        groups.setdefault(label_key(label), []).append((label, n))
    return [g for g in groups.values() if len(g) > 1]


def merge_label_variants(examples: Sequence[Example]) -> list[Example]:
    """Examples with each group of label variants merged into its most frequent spelling."""
    to = variant_merges(label_variants(examples))
    return [e.model_copy(update={"output": to[e.output.strip()]}) if e.output.strip() in to else e for e in examples]


def variant_merges(groups: list[list[tuple[str, int]]]) -> dict[str, str]:
    """Each label variant -> the most frequent spelling of its group."""
    return {label: group[0][0] for group in groups for label, _ in group[1:]}
