"""Typing a task by meaning (descriptions) and by field names, from the one task-type table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slmselect import profile_task, recommend
from slmselect._types import TASK_TYPES
from slmselect.cli import main
from slmselect.profile.task_types import TASK_TABLE, type_by_meaning, type_of_field


def test_the_table_covers_every_task_type_once() -> None:
    assert sorted(t.name for t in TASK_TABLE) == sorted(TASK_TYPES)
    fields = [f for t in TASK_TABLE for f in t.output_fields]
    assert len(fields) == len(set(fields)), "an output field name may mark one type only"


@pytest.mark.parametrize("description, expected", [
    ("Given a user request and a list of function schemas, call the right function with the right arguments as JSON.",
     "tool_calling"),
    ("Find mentions of people, locations and products in tweets.", "ner_extraction"),
    ("Sort incoming support tickets into billing, outage or account questions.", "classification"),
    ("Read the contract clause we give you and answer the user's question about it.", "qa_open_book"),
    ("Boil a long legal document down to three sentences.", "summarization"),
])
def test_descriptions_are_typed_by_meaning(description: str, expected: str) -> None:
    guess = type_by_meaning(description)
    assert guess is not None and guess.task_type == expected, guess
    assert guess.similarity[expected] == max(guess.similarity.values())
    assert "cosine" in guess.reason()


def test_empty_description_has_no_type() -> None:
    assert type_by_meaning("   ") is None


@pytest.mark.parametrize("field, role, expected", [
    ("entities", "output", "ner_extraction"), ("tool_calls", "output", "tool_calling"),
    ("label", "output", "classification"), ("summary", "output", "summarization"),
    ("tools", "input", "tool_calling"), ("context", "input", "qa_open_book"), ("text", "input", None),
])
def test_field_names_mark_types(field: str, role: str, expected: str | None) -> None:
    assert type_of_field(field, role=role) == expected


def test_an_output_field_name_decides_ambiguous_examples() -> None:
    # short free-text outputs that repeat little: the field name 'summary' settles it
    rows = [{"document": f"The council met on day {i} and discussed the budget, roads, parks and the new library "
                         f"at length, with {i} residents attending and several speakers from local groups.",
             "summary": f"Council meeting {i} on budget"} for i in range(12)]
    prof = profile_task(rows)
    assert prof.task_type == "summarization"
    assert any("'summary'" in r for r in prof.reasons)


def test_description_only_recommendation_says_the_type_and_why() -> None:
    rec = recommend(description="Find mentions of people, locations and products in tweets.", include_local=False)
    assert rec.task_type == "ner_extraction"
    assert rec.task_type_reason and "named entities" in rec.task_type_reason


def test_cli_prints_the_inferred_type_and_why(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    rows = [{"query": f"What's the weather in city {i}?",
             "tools": json.dumps([{"name": "get_weather", "parameters": {"city": "string"}}]),
             "tool_calls": json.dumps({"name": "get_weather", "arguments": {"city": f"city {i}"}})} for i in range(10)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["recommend", str(path), "--no-local"]) == 0
    out = capsys.readouterr().out
    assert "Task type: tool_calling" in out
    assert "tool" in out.split("Task type: tool_calling", 1)[1].splitlines()[0]
