"""Pieces of confirm that need no model: device choice, split, batching, Trainer set-up, memory estimate, report."""

from __future__ import annotations

import io
import json
from collections import Counter

import pytest

from slmselect.errors import ConfirmError, ParameterError
from slmselect._types import Example
from slmselect.confirmation import CandidateResult, ConfirmReport, HalvingSummary
from slmselect.confirmation.results import Comparison
from slmselect.confirmation.data import (
    IGNORE,
    Encoded,
    choose_max_len,
    collate,
    split_examples,
)
from slmselect.confirmation.device import DeviceChoice, choose_device
from slmselect.confirmation.halving import rung_steps_for, survivors_count
from slmselect.confirmation.memory import WeightsInfo, estimate_memory
from slmselect.confirmation.training import (
    AnswerCollator,
    TrainConfig,
    answer_loss,
    answer_window,
    per_device_batch,
    precision_flags,
    training_arguments,
)
from slmselect.confirmation.cache import safe_id

# ------------------------------------------------------------------------------------------------ device


def test_auto_prefers_cuda_with_bf16():
    c = choose_device("auto", cuda_available=True, cuda_bf16=True, mps_available=True)
    assert (c.device, c.weights_dtype, c.autocast_dtype, c.grad_scaler) == ("cuda", "bfloat16", None, False)


def test_cuda_without_bf16_uses_fp16_autocast_and_a_grad_scaler():
    c = choose_device("auto", cuda_available=True, cuda_bf16=False)
    assert (c.weights_dtype, c.autocast_dtype, c.grad_scaler) == ("float32", "float16", True)
    assert c.label == "cuda/float16"


def test_then_mps_then_cpu_fp32():
    assert choose_device("auto", cuda_available=False, mps_available=True).device == "mps"
    cpu = choose_device("auto", cuda_available=False)
    assert (cpu.device, cpu.weights_dtype, cpu.autocast_dtype) == ("cpu", "float32", None)
    assert cpu.weight_bytes == 4
    assert choose_device("cpu", cuda_available=True, cuda_bf16=True).device == "cpu"
    assert choose_device("cuda:0", cuda_available=True, cuda_bf16=True).device == "cuda:0"
    with pytest.raises(ParameterError, match="CUDA_VISIBLE_DEVICES=1"):  # the Trainer picks the visible GPUs
        choose_device("cuda:1", cuda_available=True, cuda_bf16=True)


def test_bad_or_unavailable_devices_are_parameter_errors():
    with pytest.raises(ParameterError, match="Did you mean 'cuda'"):
        choose_device("cdua", cuda_available=False)
    with pytest.raises(ParameterError, match="no CUDA GPU"):
        choose_device("cuda", cuda_available=False)
    with pytest.raises(ParameterError, match="MPS"):
        choose_device("mps", cuda_available=False, mps_available=False)


# ------------------------------------------------------------------------------------------------ split


def _examples(n_per_label: dict[str, int]) -> list[Example]:
    out = []
    for label, n in n_per_label.items():
        out += [Example(input=f"{label} question {i}", output=label) for i in range(n)]
    return out


def test_split_is_stratified_disjoint_and_deterministic():
    exs = _examples({"a": 60, "b": 30, "c": 6})
    train, val, test = split_examples(exs, task_type="classification", eval_examples=32, seed=3)
    assert len(test) == 32 and len(train) == 64 and val == []
    assert not set(train) & set(test)
    counts = Counter(exs[i].output for i in test)
    assert counts == {"a": 20, "b": 10, "c": 2}
    assert split_examples(exs, task_type="classification", eval_examples=32, seed=3) == (train, val, test)
    assert split_examples(exs, task_type="classification", eval_examples=32, seed=4) != (train, val, test)


def test_three_parts_are_disjoint_cover_everything_and_keep_label_shares():
    exs = _examples({"a": 60, "b": 30, "c": 6})
    train, val, test = split_examples(exs, task_type="classification", eval_examples=32, validation_examples=16)
    assert (len(train), len(val), len(test)) == (48, 16, 32)
    assert sorted(train + val + test) == list(range(len(exs)))
    assert not (set(train) & set(val) or set(train) & set(test) or set(val) & set(test))
    assert Counter(exs[i].output for i in test) == {"a": 20, "b": 10, "c": 2}
    assert Counter(exs[i].output for i in val) == {"a": 10, "b": 5, "c": 1}
    _, val_default, _ = split_examples(exs, task_type="classification", eval_examples=32, validation_examples=None)
    assert len(val_default) == round(0.15 * len(exs))
    with pytest.raises(Exception, match="16 validation"):
        split_examples(exs, task_type="classification", eval_examples=80, validation_examples=16)


def test_split_keeps_identical_inputs_together_and_checks_sizes():
    exs = [Example(input="same", output="x"), Example(input="same", output="x")] + _examples({"y": 10})
    for seed in range(5):
        train, val, held = split_examples(exs, task_type="classification", eval_fraction=0.3, validation_examples=2, seed=seed)
        assert ({0, 1} <= set(train)) or ({0, 1} <= set(held)) or ({0, 1} <= set(val))
    with pytest.raises(Exception, match="distinct inputs"):
        split_examples(exs, task_type="classification", eval_examples=11)
    with pytest.raises(ParameterError):
        split_examples(exs, task_type="generation", eval_fraction=1.5)


# ------------------------------------------------------------------------------------------------ batches


def test_collate_pads_to_the_longest_and_masks_prompt_and_padding():
    pytest.importorskip("torch")
    items = [Encoded([1, 2, 3], [7, 8]), Encoded([4], [9])]
    b = collate(items, pad_id=0)
    assert b["input_ids"].tolist() == [[1, 2, 3, 7, 8], [4, 9, 0, 0, 0]]
    assert b["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]]
    assert b["labels"].tolist() == [[IGNORE, IGNORE, IGNORE, 7, 8], [IGNORE, 9, IGNORE, IGNORE, IGNORE]]
    assert b["keep"].tolist() == [0, 2, 3]  # positions whose next token is an answer token
    assert b["n_tokens"] == 7


def test_max_len_follows_the_p95_and_is_capped():
    assert choose_max_len([40] * 95 + [90] * 5, gpu=False) == 80  # max(1.25 x p95=40, 2 x p50=40) = 80
    assert choose_max_len([2000] * 10, gpu=False) == 512
    assert choose_max_len([2000] * 10, gpu=True) == 2048


def test_answer_window_and_loss_cover_exactly_the_answer_tokens():
    torch = pytest.importorskip("torch")
    batch = AnswerCollator(pad_id=0)(
        [{"input_ids": [1, 2, 3, 7, 8], "prompt_len": 3}, {"input_ids": [4, 5, 6, 9], "prompt_len": 3}]
    )
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    labels = batch["labels"]
    assert labels.tolist() == [[IGNORE, IGNORE, IGNORE, 7, 8], [IGNORE, IGNORE, IGNORE, 9, IGNORE]]
    keep = answer_window(labels)
    assert keep == 3  # positions 2, 3, 4: position 2 predicts the first answer token
    vocab = 11
    full = torch.randn(2, 5, vocab)
    # the same loss from the kept logits as from all logits with the usual shift
    ref = torch.nn.functional.cross_entropy(
        full[:, :-1].reshape(-1, vocab), labels[:, 1:].reshape(-1), ignore_index=IGNORE
    )
    assert answer_loss(full[:, -keep:], labels).item() == pytest.approx(ref.item(), rel=1e-6)


def test_trainer_arguments_per_device():
    pytest.importorskip("transformers")
    cfg = TrainConfig(steps=40, batch_size=8, learning_rate=1e-4, seed=3)
    cpu = choose_device("cpu", cuda_available=False)
    args = training_arguments(cfg, cpu, "/tmp/slmselect-test-args")
    assert args.use_cpu and not args.bf16 and not args.fp16
    assert args.max_steps == 40 and args.warmup_steps == 4 and args.learning_rate == 1e-4 and args.seed == 3
    assert args.per_device_train_batch_size == 8 and args.max_grad_norm == 1.0
    assert getattr(args, "train_sampling_strategy", "group_by_length") == "group_by_length" or args.group_by_length
    # CUDA: bf16 where supported, else fp16 (with the Trainer's loss scaling); MPS and CPU: fp32
    assert precision_flags(choose_device("cuda", cuda_available=True, cuda_bf16=True)) == {"bf16": True, "fp16": False}
    assert precision_flags(choose_device("cuda", cuda_available=True, cuda_bf16=False)) == {"bf16": False, "fp16": True}
    assert precision_flags(choose_device("mps", cuda_available=False, mps_available=True)) == {"bf16": False, "fp16": False}
    assert [per_device_batch(8, n) for n in (1, 2, 3, 16)] == [8, 4, 3, 1]


def test_successive_halving_budget():
    assert rung_steps_for(40) == 10 and rung_steps_for(4) == 1 and rung_steps_for(1) == 1
    assert [survivors_count(n) for n in (2, 3, 4, 5)] == [1, 2, 2, 3]
    steps, n = 40, 3
    assert n * rung_steps_for(steps) + survivors_count(n) * (steps - rung_steps_for(steps)) <= n * steps


# ------------------------------------------------------------------------------------------------ memory


def test_memory_estimate_counts_weights_conversion_and_activations():
    info = WeightsInfo(n_params=100_000_000, hidden=512, layers=20, intermediate=1536, vocab=50_000, gguf=True)
    est = estimate_memory(info, weight_bytes=4, batch_size=8, seq_len=128)
    assert est.weights == 400_000_000 and est.conversion == 400_000_000
    assert est.activations == 8 * 128 * 20 * (10 * 512 + 3 * 1536) * 4 + 8 * 128 * 50_000 * 12
    assert est.total > est.weights + est.conversion + est.activations
    assert "GB" in est.describe()
    half = estimate_memory(WeightsInfo(n_params=100_000_000), weight_bytes=2, batch_size=8, seq_len=128)
    assert half.weights == 200_000_000 and half.conversion == 0
    assert estimate_memory(WeightsInfo(), weight_bytes=4, batch_size=1, seq_len=1) is None


def test_safe_id():
    assert safe_id("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB--SmolLM2-135M-Instruct"
    assert safe_id("weird id:v1") == "weird_id_v1"


# ------------------------------------------------------------------------------------------------ report


def _report() -> ConfirmReport:
    a = CandidateResult(
        model_id="org/a",
        status="ok",
        metric="accuracy",
        base_score=0.1,
        finetuned_score=0.6,
        steps=40,
        train_seconds=10.0,
        tokens_per_second=500.0,
        peak_memory_bytes=2 * 1024**3,
        validation_score=0.5,
        base_ci=(0.0, 0.2),
        finetuned_ci=(0.45, 0.75),
        gain_ci=(0.3, 0.7),
    )
    b = CandidateResult(
        model_id="org/b", status="ok", metric="accuracy", base_score=0.2, finetuned_score=0.7, steps=40,
        validation_score=0.625,
    )
    c = CandidateResult(model_id="org/c", status="failed", metric="accuracy", reason="Could not load weights\nTried: x")
    h = HalvingSummary(
        rung_steps=10,
        full_steps=40,
        kept=["org/a", "org/b"],
        eliminated=["org/c"],
        rung_scores={"org/a": 0.4},
        steps_used=90,
        steps_full_budget=120,
        seconds_used=90.0,
        seconds_full_budget_estimate=120.0,
    )
    return ConfirmReport(
        run_id="r",
        task_type="classification",
        metric="accuracy",
        task_fingerprint="f",
        n_train=64,
        n_eval=32,
        device="cpu/float32",
        n_validation=16,
        candidates=[a, b, c],
        first_choice="org/a",
        halving=h,
        comparisons=[
            Comparison(model_id="org/b", other="org/a", difference=0.1, ci=(-0.05, 0.25), n_test=32, too_close=True,
                       more_examples_needed=40)
        ],
    )


def test_report_pick_gain_exports_and_rendering():
    report = _report()
    assert report.pick == "org/b" and report.agrees_with_first_choice is False
    assert report.result("org/a").gain == pytest.approx(0.5)
    frame = report.to_pandas()
    assert frame["picked"].tolist() == [False, True, False]
    data = json.loads(report.to_json())
    assert data["pick"] == "org/b" and data["halving"]["steps_saved"] == 30
    assert data["candidates"][0]["gain"] == pytest.approx(0.5)
    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, width=140, color_system=None).print(report)
    text = buf.getvalue()
    assert "* org/b" in text and "+0.50 [+0.30, +0.70]" in text and "0.60 [0.45, 0.75]" in text
    assert "failed: Could not load weights" in text and "16 validation examples" in text
    assert "first choice was org/a" in text and "saved 30" in text
    assert "too close to call" in text and "about 40 more test examples" in text
    assert data["verdict"] == report.verdict and report.verdict.startswith("too close to call: org/b vs org/a")


def test_the_pick_is_made_on_validation_not_on_test():
    report = _report()
    a, b = report.candidates[:2]
    assert a.validation_score < b.validation_score and report.pick == "org/b"
    a.validation_score = 0.9  # better on validation, worse on test: validation decides
    assert report.pick == "org/a"
    a.validation_score = b.validation_score = None  # one candidate, no validation part: the test score
    assert report.pick == "org/b"


def test_default_validation_part_leaves_most_examples_to_train():
    from slmselect.confirmation.runner import _default_validation

    assert _default_validation(96, 32, 0.33, n_candidates=1) == 0  # one candidate: nothing to choose
    assert _default_validation(96, 32, 0.33, n_candidates=2) == 14  # 15%
    assert _default_validation(48, 12, 0.33, n_candidates=2) == 8  # at least 8
    assert _default_validation(10, None, 0.33, n_candidates=2) == 2  # a third of what the test part leaves
    assert _default_validation(5000, None, 0.33, n_candidates=3) == 200  # at most 200


def test_paired_bootstrap_interval_and_the_examples_it_would_take():
    from slmselect.confirmation import stats

    a = [[1.0]] * 20 + [[0.0]] * 12  # 0.625
    b = [[1.0]] * 16 + [[0.0]] * 16  # 0.5; the same examples plus four more right in a
    one = stats.interval(a)
    assert one.value == pytest.approx(0.625) and one.low < 0.625 < one.high
    assert 0.06 < one.se < 0.11  # sqrt(.625 * .375 / 32) = 0.086
    diff = stats.paired_difference(a, b)
    assert diff.value == pytest.approx(0.125) and not diff.spans_zero  # paired: every change favours a
    unpaired_b = [[0.0]] * 16 + [[1.0]] * 16  # a different half right: the difference is noisy
    noisy = stats.paired_difference(a, unpaired_b)
    assert noisy.spans_zero and noisy.high - noisy.low > diff.high - diff.low
    more = stats.more_examples_needed(noisy)
    assert more is not None and more > 32
    assert stats.more_examples_needed(stats.paired_difference(b, b)) is None
    # entity F1: [tp, predicted, reference] rows; the metric is the F1 of the sums
    assert stats.point([[1, 2, 1], [1, 1, 3]]) == pytest.approx(2 * 2 / (3 + 4))


def test_confirm_parameter_checks_need_no_model():
    from slmselect.confirmation import confirm

    rows = [{"text": f"q{i}", "label": "a" if i % 2 else "b"} for i in range(10)]
    with pytest.raises(ParameterError, match="exactly one"):
        confirm(rows)
    with pytest.raises(ParameterError, match="steps"):
        confirm(rows, models=["x"], steps=0)
    with pytest.raises(ParameterError, match="twice"):
        confirm(rows, models=["x", "x"])
    with pytest.raises(ParameterError, match="learning_rate"):
        confirm(rows, models=["x"], learning_rate=5.0)
    assert issubclass(ConfirmError, Exception)
    assert isinstance(choose_device("cpu", cuda_available=False), DeviceChoice)


def test_importing_the_confirm_package_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, slmselect.confirmation; print([m for m in ('torch', 'transformers', 'peft', 'rich') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
