"""Everyday data formats: Parquet, compressed files, a semicolon CSV, token-level NER and a DatasetDict split,
each written as a real file (or a real datasets object) and read back through profile_task / load_examples."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import warnings

import pandas as pd
import pytest

from slmselect import profile_task
from slmselect.errors import InputError, SlmselectWarning
from slmselect.profile.readers import load_examples
from bad_input_cases import TICKETS

# the support tickets of the bad-input cases, one with a comma inside its text (a semicolon CSV must keep it)
ROWS = [dict(r) for r in TICKETS]
ROWS[0]["text"] += ", twice"


def _jsonl(rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def test_parquet_and_compressed_files_read_like_the_plain_rows(tmp_path):
    expected = profile_task(ROWS).fingerprint
    pd.DataFrame(ROWS).to_parquet(tmp_path / "t.parquet")
    (tmp_path / "t.jsonl.gz").write_bytes(gzip.compress(_jsonl(ROWS)))
    (tmp_path / "t.jsonl.xz").write_bytes(lzma.compress(_jsonl(ROWS)))
    (tmp_path / "t.json.bz2").write_bytes(bz2.compress(json.dumps(ROWS).encode()))
    csv_text = pd.DataFrame(ROWS).to_csv(index=False)
    (tmp_path / "t.csv.gz").write_bytes(gzip.compress(csv_text.encode()))
    for name in ("t.parquet", "t.jsonl.gz", "t.jsonl.xz", "t.json.bz2", "t.csv.gz"):
        assert profile_task(tmp_path / name).fingerprint == expected, name


def test_a_truncated_compressed_file_is_a_clear_error(tmp_path):
    data = gzip.compress(_jsonl(ROWS * 50))
    (tmp_path / "cut.jsonl.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.jsonl\.gz cannot be read as JSONL \(gzip\).*complete"):
        load_examples(tmp_path / "cut.jsonl.gz")
    (tmp_path / "x.txt.gz").write_bytes(gzip.compress(b"hello"))
    with pytest.raises(InputError, match=r"its own type '\.txt' is none of"):
        load_examples(tmp_path / "x.txt.gz")


def test_a_semicolon_csv_is_read_and_the_separator_named(tmp_path):
    text = "text;label\n" + "".join(f"{r['text']};{r['label']}\n" for r in ROWS)  # commas inside the text
    (tmp_path / "eu.csv").write_text(text, encoding="utf-8-sig")  # with a byte-order mark, as spreadsheets save
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = load_examples(tmp_path / "eu.csv")
    assert rows == ROWS
    assert any(issubclass(w.category, SlmselectWarning) and "semicolon-separated" in str(w.message) for w in caught)
    # a plain comma CSV says nothing
    (tmp_path / "plain.csv").write_text(pd.DataFrame(ROWS).to_csv(index=False))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_examples(tmp_path / "plain.csv") == ROWS


NER = [
    {"tokens": ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."],
     "ner_tags": ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"]},
    {"tokens": ["Peter", "Blackburn", "visited", "Brussels"], "ner_tags": ["B-PER", "I-PER", "O", "B-LOC"]},
    {"tokens": ["Germany", "'s", "representative"], "ner_tags": ["B-LOC", "O", "O"]},
]


def test_token_level_ner_becomes_entity_spans(tmp_path):
    rows = load_examples(NER)
    assert rows[1] == {"text": "Peter Blackburn visited Brussels",
                       "entities": {"organization": [], "miscellaneous": [], "person": ["Peter Blackburn"], "location": ["Brussels"]}}
    assert rows[0]["entities"]["miscellaneous"] == ["German", "British"]
    p = profile_task(NER)
    assert p.task_type == "ner_extraction" and p.output_format == "spans"
    with pytest.raises(InputError, match="class id without its name"):
        load_examples([{"tokens": ["a", "b"], "ner_tags": [1, 0]}, {"tokens": ["c"], "ner_tags": [0]}])


def test_a_dataset_with_classlabel_tags_and_a_datasetdict_split():
    datasets = pytest.importorskip("datasets")
    names = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
    ids = [{"tokens": r["tokens"], "ner_tags": [names.index(t) for t in r["ner_tags"]]} for r in NER]
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=names))})
    ds = datasets.Dataset.from_list(ids, features=features)
    assert load_examples(ds) == load_examples(NER)
    dd = datasets.DatasetDict({"train": ds, "validation": ds})
    with pytest.raises(InputError, match="say which with split="):
        load_examples(dd)
    with pytest.raises(InputError, match="no split 'trian'.*Did you mean 'train'"):
        load_examples(dd, split="trian")
    assert profile_task(dd, split="validation").fingerprint == profile_task(NER).fingerprint
