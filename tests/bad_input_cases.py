"""The bad inputs slmselect is tested against, as data: what goes in, the exit code and the message that come out.

Used by ``tests/test_bad_input_cli.py`` (each case run as a real ``python -m slmselect.cli`` subprocess, or as a
Python call for API cases) and by ``scripts/bad_inputs_doc.py``, which writes ``docs/bad-inputs.md`` from the
same table and the messages the runs actually print.

Exit codes: 0 ok, 2 bad input, 3 nothing satisfies the constraints, 4 malformed database, 5 an optional extra is
not installed, 130 interrupted.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHIPPED_DB = REPO / "benchmarks_db"

TICKETS = [
    {"text": "My invoice shows the wrong amount", "label": "billing"},
    {"text": "The app crashes when I open settings", "label": "bug"},
    {"text": "How do I change my password?", "label": "account"},
    {"text": "I was charged twice this month", "label": "billing"},
    {"text": "Login page shows error 500", "label": "bug"},
    {"text": "Can I add a second user to my plan?", "label": "account"},
]
CSV_TEXT = "text,label\n" + "".join(f"{r['text'].replace(',', '')},{r['label']}\n" for r in TICKETS)


@dataclass
class Case:
    """One bad input. ``argv`` runs ``slmselect ARGV`` in a folder prepared by ``setup``; ``call`` runs Python there."""

    id: str
    what: str  # what goes in, in words
    code: int  # expected exit code (for ``call``: the code the error class maps to; 0 = no error)
    message: str  # a regex the output (stderr + stdout, or the error message) must match
    argv: list[str] | None = None
    call: Callable[[Path], Any] | None = None
    setup: Callable[[Path], None] | None = None
    env: dict[str, str] = field(default_factory=dict)  # values may use {tmp}
    check: Callable[[Path, str], None] | None = None  # extra assertion on (folder, output)
    slow: bool = False

    @property
    def shown(self) -> str:
        if self.argv is not None:
            return "slmselect " + " ".join(a if " " not in a else repr(a) for a in self.argv)
        return (self.call.__doc__ or self.call.__name__).strip() if self.call else ""


# --------------------------------------------------------------------------------------------- file makers


def _gzip_half(data: str) -> bytes:
    import gzip

    packed = gzip.compress(data.encode())
    return packed[: len(packed) // 2]


def _write(name: str, content: str | bytes) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        path = tmp / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")

    return setup


def _jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def _db(change: Callable[[Path], None]) -> Callable[[Path], None]:
    """A copy of the shipped database in tmp/db, changed by ``change``."""

    def setup(tmp: Path) -> None:
        shutil.copytree(SHIPPED_DB, tmp / "db")
        change(tmp / "db")

    return setup


def _edit_csv(name: str, edit: Callable[[list[dict[str, str]]], list[dict[str, str]]]) -> Callable[[Path], None]:
    def change(db: Path) -> None:
        with (db / name).open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            header, rows = list(reader.fieldnames or []), list(reader)
        rows = edit(rows)
        with (db / name).open("w", encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, fieldnames=header)
            w.writeheader()
            w.writerows(rows)

    return change


def _set(row: int, **values: str) -> Callable[[list[dict[str, str]]], list[dict[str, str]]]:
    def edit(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        rows[row].update(values)
        return rows

    return edit


def _results_folder(db: Path) -> None:
    (db / "results.csv").unlink()
    (db / "results.csv").mkdir()


def _no_candidate_over(limit_b: float) -> Callable[[Path, str], None]:
    def check(tmp: Path, out: str) -> None:
        rec = json.loads(out[out.index("{"):])
        sizes = [c["params_b"] for c in rec["candidates"]]
        assert sizes and all(s <= limit_b for s in sizes), sizes

    return check


def _pickled_folder(tmp: Path) -> None:
    """A model folder with a config and only a pickled weights file (never unpickled by the test)."""
    folder = tmp / "pickled-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}))
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x02}q\x00.")  # a pickle of {}


def _one_mb_examples(tmp: Path) -> None:
    long = "The quarterly report lists revenue by region and product line. " * 16_000  # ~1 MB
    rows = [dict(r) for r in TICKETS]
    rows[0]["text"] = long
    (tmp / "long.jsonl").write_text(_jsonl(rows), encoding="utf-8")


# --------------------------------------------------------------------------------------------- Python calls


def _recommend(**kw: Any) -> Callable[[Path], Any]:
    def call(tmp: Path) -> Any:
        from slmselect import recommend

        return recommend(description="route support tickets to billing, bug or account", **kw)

    call.__doc__ = "recommend(description=..., " + ", ".join(f"{k}={v!r}" for k, v in kw.items()) + ")"
    return call


def _profile(make: Callable[[], Any], shown: str) -> Callable[[Path], Any]:
    def call(tmp: Path) -> Any:
        from slmselect import profile_task

        return profile_task(make())

    call.__doc__ = f"profile_task({shown})"
    return call


def _deep_rows() -> list[dict[str, Any]]:
    nested: Any = "x"
    for _ in range(200):
        nested = [nested]
    return [dict(r) for r in TICKETS] + [{"text": nested, "label": "bug"}]


def _dup_frame() -> Any:
    import pandas as pd

    return pd.DataFrame([[r["text"], r["label"], "x"] for r in TICKETS], columns=["text", "label", "label"])


def _one_class() -> list[dict[str, str]]:
    return [{"text": r["text"], "label": "bug"} for r in TICKETS]


def _load_pickled(tmp: Path) -> Any:
    """load_model('./pickled-model', cpu) on a folder holding only pytorch_model.bin"""
    from slmselect.confirmation.device import choose_device
    from slmselect.confirmation.weights import load_model

    return load_model(str(tmp / "pickled-model"), choose_device("cpu", cuda_available=False))


def _load_db_inf(tmp: Path) -> Any:
    """load_db(folder) with params_b=inf in models.csv"""
    from slmselect.evidence.db import load_db

    return load_db(tmp / "db")


def _parse_size(value: Any) -> Callable[[Path], Any]:
    def call(tmp: Path) -> Any:
        from slmselect._validate import parse_size

        return parse_size(value)

    call.__doc__ = f"parse_size({value!r})"
    return call


# --------------------------------------------------------------------------------------------- the cases

DB_ENV = {"SLMSELECT_DB": "{tmp}/db"}
DESC = ["--description", "route support tickets to billing, bug or account"]

CASES: list[Case] = [
    # files
    Case("missing-file", "an examples file that does not exist (a typo)", 2, r"does not exist.*Did you mean 'tickets.jsonl'",
         argv=["profile", "tickest.jsonl"], setup=_write("tickets.jsonl", _jsonl(TICKETS))),
    Case("folder-as-file", "a folder instead of an examples file", 2, r"is a folder; pass a \.jsonl",
         argv=["profile", "data"], setup=lambda t: (t / "data").mkdir()),
    Case("xlsx", "a spreadsheet (.xlsx) without the Excel extra", 5, r"Reading tickets\.xlsx needs the 'openpyxl' package.*pip install 'slmselect\[excel\]'",
         argv=["profile", "tickets.xlsx"], setup=_write("tickets.xlsx", b"PK\x03\x04\x14\x00")),
    Case("gz-truncated", "a .jsonl.gz file cut off half way (an interrupted download)", 2,
         r"cut\.jsonl\.gz cannot be read as JSONL \(gzip\).*complete",
         argv=["profile", "cut.jsonl.gz"], setup=_write("cut.jsonl.gz", _gzip_half(_jsonl(TICKETS * 40)))),
    Case("csv-semicolon", "a semicolon-separated CSV, as spreadsheets in much of Europe write it", 0,
         r"read as semicolon-separated",
         argv=["profile", "eu.csv"], setup=_write("eu.csv", CSV_TEXT.replace(",", ";"))),
    Case("ner-ids-without-names", "token NER with ner_tags as bare class ids", 2, r"class id without its name",
         call=_profile(lambda: [{"tokens": ["Peter", "Blackburn"], "ner_tags": [1, 2]},
                                {"tokens": ["Brussels"], "ner_tags": [5]}], "[{'tokens': [...], 'ner_tags': [1, 2]}, ...]")),
    Case("empty-file", "an empty .jsonl file", 2, r"No examples found",
         argv=["profile", "empty.jsonl"], setup=_write("empty.jsonl", "\n\n")),
    Case("latin1", "a CSV saved as Latin-1", 2, r"not valid UTF-8: byte 0xe9 .*line 8.*Latin-1",
         argv=["profile", "latin.csv"], setup=_write("latin.csv", (CSV_TEXT.replace("password", "pass") + "caf\u00e9 au lait?,account\n").encode("latin-1"))),
    Case("utf16-bom", "a CSV saved as UTF-16 with a byte-order mark (Excel's 'Unicode text')", 0, r"classification",
         argv=["profile", "u16.csv"], setup=_write("u16.csv", CSV_TEXT.encode("utf-16"))),
    Case("utf16-no-bom", "a CSV saved as UTF-16-LE without a byte-order mark", 0, r"classification",
         argv=["profile", "u16le.csv"], setup=_write("u16le.csv", CSV_TEXT.encode("utf-16-le"))),
    Case("binary", "a binary file named .csv", 2, r"looks like a binary file",
         argv=["profile", "blob.csv"], setup=_write("blob.csv", bytes(range(256)) * 8)),
    Case("csv-extra-cell", "a CSV row with one cell more than the header", 2, r"line 3 \(row 1\) has 3 cells but the header has 2 columns",
         argv=["profile", "extra.csv"], setup=_write("extra.csv", CSV_TEXT.replace("bug\n", "bug,urgent\n", 1))),
    Case("csv-short-row", "a CSV row with one cell fewer than the header", 2, r"line 4 \(row 2\) has 1 cells but the header has 2 columns",
         argv=["profile", "short.csv"], setup=_write("short.csv", CSV_TEXT.replace(",account\n", "\n", 1))),
    Case("csv-duplicate-column", "a CSV with two columns named label", 2, r"'label' appears more than once \('label' at columns 2, 3\)",
         argv=["profile", "dup.csv"], setup=_write("dup.csv", "text,label,label\n" + "".join(f"{r['text'].replace(',', '')},{r['label']},x\n" for r in TICKETS))),
    Case("csv-unnamed-column", "a CSV whose header ends with a comma (an unnamed column)", 2, r"column 3 of the header has no name",
         argv=["profile", "trail.csv"], setup=_write("trail.csv", CSV_TEXT.replace("\n", ",\n"))),
    Case("tsv-quote", "a TSV with an unclosed quote swallowing the rest of the file", 2, r"line \d+ .*has 1 cells|cannot be parsed as TSV|has \d+ cells",
         argv=["profile", "q.tsv"], setup=_write("q.tsv", "text\tlabel\n\"open quote\tbug\nsecond\taccount\n")),
    Case("jsonl-bad-line", "a JSON Lines file with a broken line 2", 2, r"line 2 is not valid JSON",
         argv=["profile", "bad.jsonl"], setup=_write("bad.jsonl", json.dumps(TICKETS[0]) + '\n{"text": "unterminated, "label": "bug"}\n')),
    Case("jsonl-deep", "a JSON line nested 100,000 levels deep", 2, r"line 2 nests lists/objects too deeply",
         argv=["profile", "deep.jsonl"], setup=_write("deep.jsonl", json.dumps(TICKETS[0]) + '\n{"text": ' + "[" * 100_000 + "]" * 100_000 + ', "label": "x"}\n')),
    Case("json-not-examples", "a JSON file holding a list of numbers", 2, r"must be a dict .*row 0 is a int",
         argv=["profile", "nums.json"], setup=_write("nums.json", "[1, 2, 3]")),
    Case("no-known-fields", "records whose field names slmselect cannot place", 2, r"Could not find the output field.*For 'lable': Did you mean 'label'",
         argv=["profile", "lable.jsonl"], setup=_write("lable.jsonl", _jsonl([{"text": r["text"], "lable": r["label"]} for r in TICKETS]))),
    Case("missing-labels", "examples with empty outputs", 2, r"2 of 6 examples have no output in field 'label' \(rows 1, 4",
         argv=["profile", "gaps.jsonl"], setup=_write("gaps.jsonl", _jsonl([r | ({"label": ""} if i in (1, 4) else {}) for i, r in enumerate(TICKETS)]))),
    Case("one-class", "examples that all have the same label", 0, r"All 6 examples have the same output in field 'label' \('bug'\)",
         argv=["profile", "one.jsonl"], setup=_write("one.jsonl", _jsonl(_one_class()))),
    Case("long-examples", "1 MB examples, longer than every candidate's context", 0, r"exceeds the context of every candidate",
         argv=["recommend", "long.jsonl", "--max-params", "1B", "--top-k", "2", "--no-local"], setup=_one_mb_examples, slow=True),
    # parameters
    Case("max-params-count", "--max-params 1000000000 (a parameter count)", 0, r'"params_b"',
         argv=["recommend", *DESC, "--max-params", "1000000000", "--json", "--no-local"], check=_no_candidate_over(1.0)),
    Case("max-params-float-count", "max_params=1e9 in Python", 0, r"",
         call=_recommend(max_params=1e9, include_local=False),
         check=None),
    Case("max-params-word", "--max-params lots", 2, r"The 'max_params' parameter of recommend must be a model size.*Got 'lots' instead",
         argv=["recommend", *DESC, "--max-params", "lots"]),
    Case("max-params-zero", "--max-params 0", 2, r"'max_params' parameter of recommend must be a positive, finite model size",
         argv=["recommend", *DESC, "--max-params", "0"]),
    Case("max-params-ambiguous", "max_params=50000 (50 trillion, or a 50k count?)", 2, r"'max_params' parameter .* is ambiguous",
         call=_parse_size(50000)),
    Case("max-params-huge-unit", "max_params='500000B'", 2, r"more than any model has; did you mean 500000M",
         call=_parse_size("500000B")),
    Case("min-context-negative", "--min-context -5", 2, r"The 'min_context' parameter of recommend must be an int in the range \[1, inf\)",
         argv=["recommend", *DESC, "--min-context", "-5"]),
    Case("languages-word", "--languages deutsch (a language name, not a code)", 2,
         r"The 'languages' parameter of recommend must be two-letter ISO 639-1 language codes.*Got 'deutsch' instead",
         argv=["recommend", *DESC, "--languages", "deutsch"]),
    Case("task-type-unknown", "--task-type open_book_questions", 2,
         r"The 'task_type' parameter of recommend must be one of 'classification'.*Got 'open_book_questions' instead",
         argv=["recommend", *DESC, "--task-type", "open_book_questions"]),
    Case("measured-not-pairs", "--measured 0.82 (a score without its model)", 2,
         r"The 'measured' parameter of recommend must be a mapping of model id to measured score",
         argv=["recommend", *DESC, "--measured", "0.82"]),
    Case("measured-percent", "measured={'Qwen/Qwen3-1.7B': 82} (a percentage, not 0-1)", 2,
         r"The 'measured' parameter of recommend must be a mapping of model id to measured score on a 0-1 scale",
         call=_recommend(measured={"Qwen/Qwen3-1.7B": 82}, include_local=False)),
    Case("measured-unknown-model", "--measured Qwen/Qwen3-17B=0.8 (a typo in the model id)", 2,
         r"Model 'Qwen/Qwen3-17B' is not in the benchmark database. Did you mean 'Qwen/Qwen3-1.7B'",
         argv=["recommend", *DESC, "--measured", "Qwen/Qwen3-17B=0.8", "--no-local"]),
    Case("top-k-zero", "--top-k 0", 2, r"The 'top_k' parameter of recommend must be an int in the range \[1, inf\)\. Got 0 instead",
         argv=["recommend", *DESC, "--top-k", "0"]),
    Case("top-k-bool", "top_k=True in Python", 2, r"'top_k' parameter of recommend must be an int.*Got True instead",
         call=_recommend(top_k=True)),
    Case("max-memory-word", "--max-memory lots", 2, r"max.memory",
         argv=["recommend", *DESC, "--max-memory", "lots"]),
    Case("max-memory-word-py", "max_memory_gb='lots' in Python", 2, r"The 'max_memory_gb' parameter of recommend must be a float in the range \(0, inf\).*Got 'lots' instead",
         call=_recommend(max_memory_gb="lots")),
    Case("edge-tolerance-word", "edge_tolerance='abc' in Python", 2, r"The 'edge_tolerance' parameter of recommend must be a float in the range \[0, 1\]",
         call=_recommend(edge_tolerance="abc")),
    Case("edge-tolerance-range", "--edge-tolerance 5 (points, not percent)", 2, r"'edge_tolerance' parameter of recommend must be a float in the range \[0, 1\]",
         argv=["recommend", *DESC, "--edge-tolerance", "5"]),
    Case("licenses-number", "licenses=5 in Python", 2, r"'licenses' parameter of recommend must be a comma-separated string or a list of strings",
         call=_recommend(licenses=5)),
    Case("objective-typo", "--objective acuracy", 2, r"'objective' parameter of recommend must be one of.*Did you mean 'accuracy'",
         argv=["recommend", *DESC, "--objective", "acuracy"]),
    Case("license-unknown", "--license apache2.1 (no such licence)", 2, r"Unknown licence 'apache2\.1'.*Did you mean 'Apache-2\.0'",
         argv=["recommend", *DESC, "--license", "apache2.1"]),
    Case("family-typo", "--family Qwen9", 2, r"Unknown model family 'Qwen9'",
         argv=["recommend", *DESC, "--family", "Qwen9"]),
    Case("nothing-fits", "--max-params 10M (no model is that small)", 3, r"No model satisfies",
         argv=["recommend", *DESC, "--max-params", "10M"]),
    Case("no-task", "recommend with neither examples nor a description", 2, r"examples file|--description|description",
         argv=["recommend"]),
    Case("dup-frame", "a DataFrame with two columns named label", 2, r"The DataFrame: the column name 'label' appears more than once",
         call=_profile(_dup_frame, "DataFrame with columns text, label, label")),
    Case("deep-rows", "an example nested 200 lists deep", 2, r"Row 6 nests lists/dicts more than 64 levels deep",
         call=_profile(_deep_rows, "rows with one value nested 200 lists deep")),
    # benchmark database
    Case("db-results-header-only", "db validate on a results.csv holding only its header", 4, r"results\.csv:2: .*header but no rows",
         argv=["db", "validate", "db"], setup=_db(_edit_csv("results.csv", lambda rows: []))),
    Case("db-recommend-header-only", "recommend on that database", 4, r"results\.csv.*no rows",
         argv=["recommend", *DESC], setup=_db(_edit_csv("results.csv", lambda rows: [])), env=DB_ENV),
    Case("db-params-inf", "db validate with params_b=inf", 4, r"^1 problem.*models\.csv:2: field 'params_b': Input should be a finite number",
         argv=["db", "validate", "db"], setup=_db(_edit_csv("models.csv", _set(0, params_b="inf")))),
    Case("db-params-inf-py", "load_db on that database", 4, r"params_b.*finite number",
         call=_load_db_inf, setup=_db(_edit_csv("models.csv", _set(0, params_b="inf")))),
    Case("db-huge-cell", "db validate on a cell over 131,072 characters", 4, r"^1 problem.*sources\.csv:2: field 'notes': cell of 200,000 characters; at most 131,072",
         argv=["db", "validate", "db"], setup=_db(_edit_csv("sources.csv", _set(0, notes="x" * 200_000)))),
    Case("db-results-folder", "db validate where results.csv is a folder", 4, r"results\.csv:0: .*is a folder, not a CSV file",
         argv=["db", "validate", "db"], setup=_db(_results_folder)),
    Case("db-meta-list", "db validate where meta.json is a list", 4, r"meta\.json:1: .*must be a JSON object",
         argv=["db", "validate", "db"], setup=_db(lambda d: (d / "meta.json").write_text("[1]"))),
    Case("db-unknown-model", "db validate with a result for a model not in models.csv", 4, r"results\.csv:2: field 'model_id': 'acme/Nope-1B' is not in models",
         argv=["db", "validate", "db"], setup=_db(_edit_csv("results.csv", _set(0, model_id="acme/Nope-1B")))),
    Case("db-score-percent", "db validate with a score of 87 (percent, not 0-1)", 4, r"field 'finetuned_score': Input should be less than or equal to 1",
         argv=["db", "validate", "db"], setup=_db(_edit_csv("results.csv", _set(0, finetuned_score="87")))),
    Case("db-missing-folder", "db validate on a folder that does not exist", 4, r"does not exist",
         argv=["db", "validate", "no-such-db"]),
    # model paths
    Case("confirm-metric-of-another-task", "confirm --metric token_f1 on a classification task", 2,
         r"'metric' parameter of confirm must be one of 'accuracy', 'macro_f1' for a classification task",
         argv=["confirm", "tickets.jsonl", "--models", "HuggingFaceTB/SmolLM2-135M-Instruct", "--metric", "token_f1",
               "--no-store"], setup=_write("tickets.jsonl", _jsonl(TICKETS)), slow=True),
    Case("confirm-resume-without-store", "confirm --resume --no-store", 2,
         r"resume=True reuses results from the results store; it cannot work with store=False",
         argv=["confirm", "tickets.jsonl", "--models", "HuggingFaceTB/SmolLM2-135M-Instruct", "--resume", "--no-store"],
         setup=_write("tickets.jsonl", _jsonl(TICKETS)), slow=True),
    Case("model-passwd", "confirm --models /etc/passwd", 2, r"'/etc/passwd' is not a model: it is a file of [\d,]+ bytes of text",
         argv=["confirm", "tickets.jsonl", "--models", "/etc/passwd", "--no-store"], setup=_write("tickets.jsonl", _jsonl(TICKETS)), slow=True),
    Case("model-system-folder", "confirm --models on a system folder", 2, r"is not a model folder: it is a folder of \d+ entries",
         argv=["confirm", "tickets.jsonl", "--models", "/etc", "--no-store"], setup=_write("tickets.jsonl", _jsonl(TICKETS)), slow=True),
    Case("model-missing-gguf", "confirm --models ./missing.gguf", 2, r"'\./missing\.gguf' looks like a local path but does not exist",
         argv=["confirm", "tickets.jsonl", "--models", "./missing.gguf", "--no-store"], setup=_write("tickets.jsonl", _jsonl(TICKETS)), slow=True),
    Case("model-pickled", "a model folder with only pickled weights (pytorch_model.bin)", 2, r"has only pickled weights .* does not load them.*allow_pickle=True",
         call=_load_pickled, setup=_pickled_folder),
]
