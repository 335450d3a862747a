"""Label hygiene said before anything runs: label spellings, tiny classes, a dominant class, near-duplicate
inputs (counted, and kept on one side of every split)."""

from __future__ import annotations

import subprocess
import sys
import warnings

from slmselect import profile_task
from slmselect.confirmation.data import split_examples
from slmselect.errors import SlmselectWarning
from slmselect.profile.readers import read_examples


def _warnings(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return out, [str(w.message) for w in caught if issubclass(w.category, SlmselectWarning)]


ROWS = ([{"text": f"great product number {i}", "label": "positive"} for i in range(10)]
        + [{"text": f"loved item {i}", "label": "Positive"} for i in range(3)]
        + [{"text": f"broken thing {i}", "label": "negative"} for i in range(8)]
        + [{"text": f"awful service {i}", "label": "Negative."} for i in range(2)])


def test_label_variants_are_listed_and_can_be_merged(tmp_path):
    p, said = _warnings(lambda: profile_task(ROWS))
    assert p.labels == ["Negative.", "Positive", "negative", "positive"]
    variants = next(m for m in said if "differ only in case, spacing or punctuation" in m)
    assert "'positive' x10, 'Positive' x3" in variants and "'negative' x8, 'Negative.' x2" in variants
    assert "normalize_labels=True" in variants
    merged, said = _warnings(lambda: profile_task(ROWS, normalize_labels=True))
    assert merged.labels == ["negative", "positive"] and not any("differ only" in m for m in said)
    examples, _ = read_examples(ROWS, normalize_labels=True)  # what confirm trains and scores on
    assert {e.output for e in examples} == {"positive", "negative"}
    (tmp_path / "t.jsonl").write_text("".join(__import__("json").dumps(r) + "\n" for r in ROWS))
    out = subprocess.run([sys.executable, "-m", "slmselect", "profile", str(tmp_path / "t.jsonl"), "--normalize-labels",
                          "--json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert '"negative"' in out.stdout and '"Positive"' not in out.stdout


def test_tiny_classes_and_a_dominant_class_are_warned_about():
    rows = [{"text": f"hello there {i}", "label": "ham"} for i in range(40)] + [
        {"text": "win a prize now", "label": "spam"}, {"text": "cheap pills", "label": "spam"},
        {"text": "call me back", "label": "other"}]
    p, said = _warnings(lambda: profile_task(rows))
    tiny = next(m for m in said if "fewer than 3 examples" in m)
    assert "'spam' (2)" in tiny and "'other' (1)" in tiny and "never tested or the model never trains on it" in tiny
    imbalance = next(m for m in said if m.startswith("Imbalanced classes"))
    assert "'ham' is 93%" in imbalance and "macro-F1" in imbalance
    _, said = _warnings(lambda: profile_task(ROWS, normalize_labels=True))
    assert not any("Imbalanced" in m or "fewer than 3" in m for m in said)


def test_near_duplicate_inputs_are_counted_and_kept_on_one_side_of_every_split():
    rows = [{"text": f"Question number {i} about billing?", "label": "a" if i % 2 else "b"} for i in range(30)]
    rows += [{"text": "question NUMBER 3 about billing", "label": "a"},  # case and punctuation only
             {"text": "Question number 4   about billing?", "label": "b"}]  # whitespace only
    p = profile_task(rows)
    assert p.duplicate_inputs == 2
    examples, _ = read_examples(rows)
    for seed in range(5):
        train, val, test = split_examples(examples, task_type="classification", eval_examples=8, validation_examples=4,
                                          seed=seed)
        part = {i: name for name, idx in (("train", train), ("val", val), ("test", test)) for i in idx}
        assert part[3] == part[30] and part[4] == part[31]
