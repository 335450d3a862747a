"""confirm() trains on an expanded file and still tests on held-out seeds only (real SmolLM2, a few steps)."""

from __future__ import annotations

import json

import pytest
from public_datasets import trec

from slmselect import confirm
from slmselect.confirmation.data import split_examples
from slmselect.profile.readers import read_examples

SMOL = "HuggingFaceTB/SmolLM2-135M-Instruct"
pytestmark = pytest.mark.slow


def test_confirm_trains_on_the_expanded_file_and_tests_on_held_out_seeds(models_ready, tmp_path):
    seeds = trec(24, seed=0)
    examples, _ = read_examples(seeds)
    _, _, eval_idx = split_examples(examples, task_type="classification", eval_examples=6, validation_examples=0, seed=0)
    held_out = examples[eval_idx[0]]
    expanded = [{"text": q, "label": label} for q, label in [
        ("Which river flows through Vienna ?", "location"), ("How many moons does Neptune have ?", "numeric"),
        ("Who painted the ceiling of the Sistine Chapel ?", "human"),
        (held_out.input.upper(), held_out.output),  # a held-out seed that came back: never trained on
    ]]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in expanded))
    report = confirm(seeds, models=[SMOL], train_examples=path, eval_examples=6, steps=1, batch_size=4,
                     store=False, progress=False, output_dir=tmp_path / "adapters")
    assert report.n_eval == 6 and report.n_validation == 0  # one candidate: no validation part
    assert report.n_train == 18 + 3
