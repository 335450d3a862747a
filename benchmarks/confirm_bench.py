"""Speed of confirm's LoRA loop against a plain transformers Trainer, and what successive halving saves.

    python benchmarks/confirm_bench.py [--steps 20] [--no-halving]

(a) ``transformers.Trainer`` + peft LoRA, padding each batch to its longest member (``DataCollatorForSeq2Seq``,
    random batches, full-vocabulary logits);
(b) slmselect's loop: length-bucketed batches, logits only at answer positions.
Same model (SmolLM2-135M-Instruct), same TREC examples and token sequences, LoRA rank, learning rate,
batch size and steps. Throughput counts real (non-padding) tokens over the wall time of the training call.
Target: (b) / (a) >= 1.0, aim 1.3. Then successive halving over three candidates (SmolLM2, Gemma 3 270M,
and a local-folder copy of SmolLM2) and the training compute it saved. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "examples"))
os.environ.setdefault("SLMSELECT_CACHE_DIR", os.path.join(ROOT, ".slmselect_cache"))

SMOL = "HuggingFaceTB/SmolLM2-135M-Instruct"
GEMMA = "google/gemma-3-270m"


def prepared(n_train: int = 64):
    """SmolLM2 from the cache, its prompt format, and the encoded TREC training examples."""
    import torch

    from slmselect.profile.readers import read_examples
    from public_datasets import trec
    from slmselect.profile.profiler import profile_task
    from slmselect.confirmation.data import PromptFormat, choose_max_len, instruction_for
    from slmselect.confirmation.device import choose_device, cpu_count
    from slmselect.confirmation.weights import load_model

    torch.set_num_threads(cpu_count())
    examples, _ = read_examples(trec(n_train, seed=0))
    profile = profile_task(examples)
    cpu = choose_device("cpu", cuda_available=False)
    loaded = load_model(SMOL, cpu)
    fmt = PromptFormat(loaded.tokenizer, instruction_for(profile, [e.output for e in examples]), profile.task_type)
    items = [fmt.encode(e) for e in examples]
    fmt.max_len = choose_max_len([len(i) for i in items], gpu=False)
    return loaded, cpu, [fmt.encode(e) for e in examples]


def run_trainer(steps: int, batch_size: int, lr: float, seed: int) -> tuple[float, int]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    loaded, _cpu, items = prepared()
    model = get_peft_model(
        loaded.model,
        LoraConfig(
            r=8,
            lora_alpha=16,
            lora_dropout=0.05,
            bias="none",
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
            task_type="CAUSAL_LM",
        ),
    )
    rows = [
        {"input_ids": it.ids, "attention_mask": [1] * len(it), "labels": [-100] * len(it.prompt) + it.answer}
        for it in items
    ]
    collator = DataCollatorForSeq2Seq(loaded.tokenizer, padding="longest", label_pad_token_id=-100)
    seen = {"tokens": 0}

    def counting(features):
        batch = collator(features)
        seen["tokens"] += int(batch["attention_mask"].sum())
        return batch

    args = TrainingArguments(
        output_dir=os.path.join(ROOT, ".slmselect_cache", "bench-trainer"),
        per_device_train_batch_size=batch_size,
        max_steps=steps,
        learning_rate=lr,
        lr_scheduler_type="linear",
        warmup_steps=max(1, round(0.1 * steps)),
        max_grad_norm=1.0,
        weight_decay=0.0,
        logging_steps=max(1, steps // 4),
        save_strategy="no",
        report_to=[],
        dataloader_num_workers=0,
        use_cpu=True,
        seed=seed,
        remove_unused_columns=False,
        disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=counting)
    torch.manual_seed(seed)
    start = time.perf_counter()
    trainer.train()
    return time.perf_counter() - start, seen["tokens"]


def run_slmselect(steps: int, batch_size: int, lr: float, seed: int) -> tuple[float, int]:
    from slmselect.confirmation.training import LoraRun, TrainConfig

    loaded, cpu, items = prepared()
    run = LoraRun(
        loaded.model,
        items,
        loaded.tokenizer.pad_token_id,
        TrainConfig(steps=steps, learning_rate=lr, batch_size=batch_size, seed=seed),
        cpu,
    )
    start = time.perf_counter()
    run.train(steps)
    return time.perf_counter() - start, run.stats.tokens


def halving(steps: int) -> None:
    from public_datasets import trec
    from slmselect.confirmation import confirm
    from slmselect.confirmation.weights import converted_dir

    local_copy = str(converted_dir(SMOL))  # the same weights as a local-folder candidate
    start = time.perf_counter()
    report = confirm(
        trec(96, seed=0),
        models=[SMOL, GEMMA, local_copy],
        steps=steps,
        eval_examples=32,
        successive_halving=True,
        store=False,
        progress=False,
        output_dir=os.path.join(ROOT, ".slmselect_cache", "bench-adapters"),
    )
    wall = time.perf_counter() - start
    h = report.halving
    print(f"\nsuccessive halving, 3 candidates, {steps} steps ({h.rung_steps}-step rung), wall {wall:.0f}s:")
    for c in report.candidates:
        print(
            f"  {c.model_id:<72} {c.status:<10} base {c.base_score:.3f} -> {c.finetuned_score:.3f} "
            f"after {c.steps} steps ({c.train_seconds:.1f}s)"
        )
    print(
        f"  kept {h.kept}; training steps {h.steps_used} of {h.steps_full_budget} (saved {h.steps_saved}, "
        f"{h.steps_saved / h.steps_full_budget:.0%}); train seconds {h.seconds_used:.0f} of "
        f"~{h.seconds_full_budget_estimate:.0f} (saved ~{h.seconds_saved_estimate:.0f}s)"
    )
    print(
        f"  pick {report.pick}; agrees with the first choice ({report.first_choice}): {report.agrees_with_first_choice}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=1, help="alternate (a) and (b) this many times; medians")
    parser.add_argument("--no-halving", action="store_true")
    args = parser.parse_args()
    from slmselect.confirmation.weights import ensure_converted

    for model_id in (SMOL, GEMMA):
        ensure_converted(model_id)
    lr, seed = 2e-4, 0
    runs_a, runs_b = [], []
    for _ in range(args.repeats):  # alternate, so a noisy neighbour hurts both
        runs_a.append(run_trainer(args.steps, args.batch_size, lr, seed))
        runs_b.append(run_slmselect(args.steps, args.batch_size, lr, seed))
    t_a, tok_a = sorted(runs_a, key=lambda r: r[1] / r[0])[len(runs_a) // 2]
    t_b, tok_b = sorted(runs_b, key=lambda r: r[1] / r[0])[len(runs_b) // 2]
    a, b = tok_a / t_a, tok_b / t_b
    print(
        f"\nSmolLM2-135M-Instruct, TREC, LoRA r=8, batch {args.batch_size}, {args.steps} steps, {os.cpu_count()} CPUs"
    )
    print(
        f"  (a) transformers.Trainer + peft : {tok_a:6d} real tokens in {t_a:6.1f}s = {a:6.1f} tokens/s "
        f"({t_a / args.steps:.2f} s/step)"
    )
    print(
        f"  (b) slmselect LoRA loop         : {tok_b:6d} real tokens in {t_b:6.1f}s = {b:6.1f} tokens/s "
        f"({t_b / args.steps:.2f} s/step)"
    )
    print(f"  ratio (b)/(a) tokens/s: {b / a:.2f}  (target >= 1.0, aim 1.3; median of {args.repeats})")
    if not args.no_halving:
        halving(args.steps)


if __name__ == "__main__":
    main()
