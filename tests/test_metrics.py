"""Task metrics on hand-checked cases (scikit-learn, rouge-score, seqeval; no models)."""

from __future__ import annotations

import json

import pytest

from slmselect._types import TASK_TYPES
from slmselect.confirmation.metrics import (
    PRIMARY_METRIC,
    accuracy,
    compute_metrics,
    entity_f1,
    entity_set,
    exact_match,
    exact_match_rate,
    item_scores,
    macro_f1,
    normalize_answer,
    parse_call,
    parse_json,
    rouge_l,
    token_f1,
    tool_call_scores,
    values_equal,
)


def test_every_task_type_has_one_primary_metric_that_compute_metrics_returns():
    assert set(PRIMARY_METRIC) == set(TASK_TYPES)
    for task, metric in PRIMARY_METRIC.items():
        ref = '{"name": "f", "arguments": {}}' if task == "tool_calling" else '{"person": ["Ann"]}'
        assert metric in compute_metrics(task, [ref], [ref])
        assert compute_metrics(task, [ref], [ref])[metric] == pytest.approx(1.0)


def test_accuracy_and_macro_f1_by_hand():
    refs = ["a", "a", "b", "c"]
    preds = ["a", "b", "b", "a"]
    assert accuracy(preds, refs) == 0.5
    # a: tp 1, pred 2, ref 2 -> F1 0.5; b: tp 1, pred 2, ref 1 -> P 0.5 R 1 -> 2/3; c: tp 0 -> 0
    assert macro_f1(preds, refs) == pytest.approx((0.5 + 2 / 3 + 0) / 3)
    assert accuracy([" a "], ["a"]) == 1.0


def test_squad_normalisation_exact_match_and_token_f1():
    assert normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert exact_match("the Eiffel tower.", "Eiffel Tower") == 1.0
    assert exact_match("Paris, France", "Paris") == 0.0
    # pred tokens [paris, france], ref [paris]: common 1 -> P 1/2, R 1 -> F1 2/3
    assert token_f1("Paris, France", "Paris") == pytest.approx(2 / 3)
    assert token_f1("an apple", "the apple") == 1.0
    assert token_f1("", "") == 1.0
    assert token_f1("x", "") == 0.0


def test_entity_f1_over_type_text_pairs():
    ref = json.dumps({"person": ["John Smith"], "location": ["Paris", "Lyon"], "organization": []})
    pred = json.dumps({"person": ["john smith"], "location": ["Paris"], "organization": ["UN"]})
    # pairs: tp 2 (person john smith, location paris), pred 3, ref 3 -> F1 2/3
    assert entity_f1([pred], [ref]) == pytest.approx(2 / 3)
    assert entity_set('[{"type": "PER", "text": "Ann"}]') == {("per", "ann")}
    assert entity_set([["LOC", "Rome"]]) == {("loc", "rome")}
    assert entity_f1(["not json"], [ref]) == 0.0
    # micro: summed over examples, not averaged
    assert entity_f1([pred, "{}"], [ref, json.dumps({"person": ["X"]})]) == pytest.approx(2 * 2 / (3 + 4))


def test_values_equal_numbers_key_order_and_bools():
    assert values_equal({"a": 10, "b": [1, 2.0]}, {"b": [1.0, 2], "a": 10.0})
    assert not values_equal({"a": 1}, {"a": True})
    assert not values_equal(10, "10")
    assert not values_equal([1, 2], [2, 1])
    assert values_equal({"x": {"y": "z "}}, {"x": {"y": "z"}})


def test_tool_call_accuracy_and_name_accuracy():
    refs = [
        json.dumps({"name": "area", "arguments": {"base": 10, "height": 5}}),
        json.dumps({"name": "area", "arguments": {"base": 3, "height": 4}}),
        json.dumps({"name": "convert", "arguments": {"x": "km"}}),
        json.dumps({"name": "convert", "arguments": {"x": "km"}}),
    ]
    preds = [
        '{"arguments": {"height": 5.0, "base": 10}, "name": "area"}',  # same call, other order, 5.0 == 5
        '{"name": "area", "arguments": {"base": 3, "height": 5}}',  # right name, wrong argument
        'Sure! {"name": "convert", "arguments": "{\\"x\\": \\"km\\"}"} done',  # JSON inside text, args as text
        "I cannot help with that",
    ]
    scores = tool_call_scores(preds, refs)
    assert scores == {"call_accuracy": 0.5, "name_accuracy": 0.75, "parse_rate": 0.75}
    assert parse_call({"function": {"name": "f", "parameters": {"a": 1}}}) == ("f", {"a": 1})
    assert parse_call("[]") is None


def test_parse_json_finds_embedded_values():
    assert parse_json('```json\n{"a": 1}\n```') == {"a": 1}
    assert parse_json("answer: [1, 2] trailing") == [1, 2]
    assert parse_json("no json here") is None


def test_rouge_l_by_hand():
    # LCS of "the cat sat on the mat" / "the cat is on the mat" = the cat on the mat (5): P=R=5/6
    assert rouge_l("the cat sat on the mat", "The cat is on the mat.") == pytest.approx(5 / 6)
    # pred 2 tokens, ref 4, LCS 2 -> P 1, R 0.5 -> 2/3
    assert rouge_l("a b", "a x b y") == pytest.approx(2 / 3)
    assert rouge_l("x", "y") == 0.0
    # rouge-score with Porter stemming: "cats were running" matches "the cat was run" on cat and run
    assert rouge_l("cats were running", "the cat was run") == pytest.approx(2 * (2 / 3) * (2 / 4) / (2 / 3 + 2 / 4))


def test_item_scores_add_up_to_the_primary_metric():
    from slmselect.confirmation import stats

    cases = {
        "classification": (["a", "b", "b", "a"], ["a", "a", "b", "c"]),
        "qa_closed_book": (["Paris, France", "the moon", "x"], ["Paris", "Moon", "y"]),
        "summarization": (["the cat sat on the mat", "a b"], ["The cat is on the mat.", "a x b y"]),
        "tool_calling": (['{"name": "f", "arguments": {"x": 1}}', "nope"], ['{"name": "f", "arguments": {"x": 1.0}}'] * 2),
        "ner_extraction": (
            [json.dumps({"person": ["Ann"], "location": ["Rome"]}), json.dumps({"person": ["Bo"]}), "{}"],
            [json.dumps({"person": ["Ann"]}), json.dumps({"person": ["Bo", "Cy"], "location": ["Oslo"]}), "{}"],
        ),
    }
    for task, (preds, refs) in cases.items():
        metric = PRIMARY_METRIC[task]
        assert stats.point(item_scores(task, preds, refs)) == pytest.approx(compute_metrics(task, preds, refs)[metric])


def test_exact_match_rate_and_seqeval_entity_f1_edge_cases():
    assert exact_match_rate(["the Eiffel tower.", "Paris, France"], ["Eiffel Tower", "Paris"]) == 0.5
    # same text, different types: two different mentions
    assert entity_f1([json.dumps({"org": ["Apple"]})], [json.dumps({"company": ["Apple"]})]) == 0.0
    # no entity on either side anywhere: perfect; entities only predicted: 0
    assert entity_f1(["{}"], ["{}"]) == 1.0
    assert entity_f1([json.dumps({"person": ["Ann"]})], ["{}"]) == 0.0


def test_compute_metrics_rejects_mismatched_lengths_and_unknown_types():
    with pytest.raises(ValueError):
        compute_metrics("classification", ["a"], ["a", "b"])
    with pytest.raises(ValueError):
        compute_metrics("poetry", ["a"], ["a"])


def test_macro_f1_per_class_counts_give_the_metric_and_its_bootstrap():
    """confirm(metric='macro_f1'): the per-example class counts sum to scikit-learn's macro-F1 over the task's
    labels, an answer outside the labels is a miss (not a class), and every metric of a type has item scores."""
    import random

    from slmselect.confirmation.metrics import METRICS, PRIMARY_METRIC, item_scores, macro_f1
    from slmselect.confirmation.stats import interval, point

    rng = random.Random(0)
    labels = ["billing", "bug", "account"]
    for _ in range(50):
        refs = [rng.choice(labels) for _ in range(25)]
        preds = [rng.choice(labels + ["no idea"]) for _ in range(25)]
        items = item_scores("classification", preds, refs, metric="macro_f1", labels=labels)
        assert len(items[0]) == 3 * len(labels)
        assert point(items) == pytest.approx(macro_f1(preds, refs, labels))
        span = interval(items, seed=0, n_boot=200)
        assert span.low <= span.value <= span.high
    assert macro_f1(["bug", "no idea"], ["bug", "billing"], labels) == pytest.approx(0.5)  # bug 1.0, billing 0.0
    assert macro_f1(["bug", "no idea"], ["bug", "billing"]) == pytest.approx(1 / 3)  # 'no idea' counts as a class
    for task, names in METRICS.items():
        assert PRIMARY_METRIC[task] == names[0]
    preds, refs = ["The cat", "a dog"], ["cat", "dog."]
    assert point(item_scores("qa_open_book", preds, refs, metric="exact_match")) == 1.0
