"""Is a hand-written LoRA loop worth keeping? Throughput of confirm's Trainer path against a plain PyTorch loop.

    python benchmarks/confirm_bench.py [--steps 12] [--warmup 3] [--repeats 3] [--model smol|gemma|PATH] [--halving]

(a) what confirm runs: ``transformers.Trainer`` + peft LoRA (slmselect.confirmation.training.LoraRun's
    set-up: answer-only loss, logits only at the answer positions, AdamW, linear schedule, clipping);
(b) a hand-written PyTorch loop doing the same arithmetic: the same answer-only loss with the same
    ``logits_to_keep``, AdamW, the same linear schedule and clipping.

Fair by construction: both arms train the same model from the same LoRA initialisation on the **same
batches in the same order** (length-grouped once, then fed to the Trainer in sequence); the clock runs only
over steps after ``--warmup`` warm-up steps (no set-up, no first-step allocation), measured the same way in
both arms (the time between consecutive optimizer-step ends, so batch collation counts in both); the arms
alternate order every repeat so a noisy neighbour hurts both; the medians, the spread (min-max) and the
per-repeat ratios are printed. slmselect keeps its own loop only if (b)/(a) >= 1.3. Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "examples"))
os.environ.setdefault("SLMSELECT_CACHE_DIR", os.path.join(ROOT, ".slmselect_cache"))
# the offline models: a model source registered from examples/offline_models.py, for this process and its workers
os.environ.setdefault("SLMSELECT_MODEL_SOURCES", os.path.join(ROOT, "examples", "offline_models.py") + ":register")

MODELS = {"smol": "HuggingFaceTB/SmolLM2-135M-Instruct", "gemma": "google/gemma-3-270m"}
THRESHOLD = 1.3


def prepared(model_id: str, n_train: int, batch_size: int, seed: int):  # type: ignore[no-untyped-def]
    """The cached model, the encoded TREC training rows, and one fixed, length-grouped batch order."""
    import torch
    from transformers.trainer_pt_utils import get_length_grouped_indices

    from public_datasets import trec
    from slmselect.confirmation.data import PromptFormat, choose_max_len, instruction_for
    from slmselect.confirmation.device import choose_device, cpu_count
    from slmselect.confirmation.weights import load_model
    from slmselect.profile.profiler import profile_task
    from slmselect.profile.readers import read_examples

    torch.set_num_threads(cpu_count())
    examples, _ = read_examples(trec(n_train, seed=seed))
    profile = profile_task(examples)
    cpu = choose_device("cpu", cuda_available=False)
    loaded = load_model(model_id, cpu)
    fmt = PromptFormat(loaded.tokenizer, instruction_for(profile, [e.output for e in examples]), profile.task_type)
    fmt.max_len = choose_max_len([len(fmt.encode(e)) for e in examples], gpu=False)
    items = [fmt.encode(e) for e in examples]
    generator = torch.Generator().manual_seed(seed)
    order = get_length_grouped_indices([len(i) for i in items], batch_size, generator=generator)
    return loaded, cpu, items, order


def _rows(items, order, steps: int, batch_size: int):  # type: ignore[no-untyped-def]
    """The training rows laid out so that a sequential sampler yields exactly ``steps`` batches of the order."""
    need = steps * batch_size
    seq = (order * (need // len(order) + 1))[:need]
    return [{"input_ids": items[i].ids, "prompt_len": len(items[i].prompt)} for i in seq]


def run_trainer(loaded, cpu, items, order, args) -> tuple[list[float], list[int]]:  # type: ignore[no-untyped-def]
    """(a) confirm's Trainer path; returns the seconds and real tokens of every step."""
    from transformers import PrinterCallback, ProgressCallback, TrainerCallback

    from slmselect.confirmation.training import (
        AnswerCollator,
        TrainConfig,
        _trainer_class,
        _wrap,
        find_target_modules,
        training_arguments,
    )

    cfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, seed=0)
    cfg.target_modules = find_target_modules(loaded.model)
    model = _wrap(loaded.model, cfg)
    targs = training_arguments(cfg, cpu, os.path.join(ROOT, ".slmselect_cache", "bench-trainer"))
    if hasattr(targs, "train_sampling_strategy"):  # the same batches as (b): in the given order
        targs.train_sampling_strategy = "sequential"
    else:  # transformers 4.x
        targs.group_by_length = False
    ends: list[float] = []

    class Clock(TrainerCallback):
        def on_train_begin(self, *a, **k):  # noqa: ANN002, ANN003
            ends.append(time.perf_counter())

        def on_step_end(self, *a, **k):  # noqa: ANN002, ANN003
            ends.append(time.perf_counter())

    rows = _rows(items, order, args.steps, args.batch_size)
    collator = AnswerCollator(loaded.tokenizer.pad_token_id)
    trainer = _trainer_class()(model=model, args=targs, train_dataset=rows, data_collator=collator, callbacks=[Clock()])
    for noisy in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(noisy)
    trainer.train()
    tokens = [
        int(sum(len(r["input_ids"]) for r in rows[s * args.batch_size : (s + 1) * args.batch_size]))
        for s in range(args.steps)
    ]
    model.unload()
    return [b - a for a, b in zip(ends, ends[1:])], tokens


def run_loop(loaded, cpu, items, order, args) -> tuple[list[float], list[int]]:  # type: ignore[no-untyped-def]
    """(b) a hand-written loop with the same batches, loss, optimizer, schedule and clipping."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    from slmselect.confirmation.training import (
        AnswerCollator,
        TrainConfig,
        _wrap,
        answer_loss,
        answer_window,
        find_target_modules,
    )

    cfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, seed=0)
    cfg.target_modules = find_target_modules(loaded.model)
    model = _wrap(loaded.model, cfg)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    sched = get_linear_schedule_with_warmup(opt, max(1, round(cfg.warmup_fraction * cfg.steps)), cfg.steps)
    rows = _rows(items, order, args.steps, args.batch_size)
    collator = AnswerCollator(loaded.tokenizer.pad_token_id)
    model.train()
    ends = [time.perf_counter()]
    tokens = []
    for s in range(args.steps):
        batch = collator(rows[s * args.batch_size : (s + 1) * args.batch_size])
        labels = batch["labels"]
        out = model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            logits_to_keep=answer_window(labels),
            use_cache=False,
        )
        loss = answer_loss(out.logits, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        loss.detach().item()  # the Trainer logs every step: one sync here too
        ends.append(time.perf_counter())
        tokens.append(int(batch["attention_mask"].sum()))
    model.unload()
    return [b - a for a, b in zip(ends, ends[1:])], tokens


def steady(times: list[float], tokens: list[int], warmup: int) -> float:
    """Real tokens per second over the steps after the warm-up."""
    return sum(tokens[warmup:]) / sum(times[warmup:])


def halving(model_ids: list[str], steps: int) -> None:
    """Successive halving over the two offline models and a local copy of SmolLM2: the compute it saves."""
    from public_datasets import trec
    from slmselect.confirmation import confirm
    from slmselect.confirmation.cache import converted_dir

    local_copy = str(converted_dir(model_ids[0]))
    start = time.perf_counter()
    report = confirm(
        trec(112, seed=0),
        models=[*model_ids, local_copy],
        steps=steps,
        eval_examples=32,
        validation_examples=16,
        successive_halving=True,
        store=False,
        progress=False,
        output_dir=os.path.join(ROOT, ".slmselect_cache", "bench-adapters"),
    )
    h = report.halving
    print(f"\nsuccessive halving, 3 candidates, {steps} steps ({h.rung_steps}-step rung on 16 validation examples), "
          f"wall {time.perf_counter() - start:.0f}s:")
    for c in report.candidates:
        print(f"  {c.model_id[-60:]:<60} {c.status:<10} validation {c.validation_score} test {c.finetuned_score}")
    print(f"  kept {h.kept}; steps {h.steps_used} of {h.steps_full_budget}; train s {h.seconds_used:.0f} "
          f"of ~{h.seconds_full_budget_estimate:.0f}; verdict: {report.verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smol", help="smol, gemma, or a local model folder")
    parser.add_argument("--steps", type=int, default=12, help="steps per arm and repeat")
    parser.add_argument("--warmup", type=int, default=3, help="first steps left out of the timing")
    parser.add_argument("--repeats", type=int, default=3, help="repeats, alternating which arm runs first")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--train", type=int, default=64, help="training examples (TREC)")
    parser.add_argument("--halving", action="store_true", help="also run successive halving over three candidates")
    args = parser.parse_args()
    if args.steps <= args.warmup:
        parser.error("--steps must exceed --warmup")
    from slmselect.confirmation.weights import ensure_converted

    model_id = MODELS.get(args.model, args.model)
    if model_id in MODELS.values():
        ensure_converted(model_id)
    arms = {"(a) Trainer": run_trainer, "(b) own loop": run_loop}
    rates: dict[str, list[float]] = {k: [] for k in arms}
    for r in range(args.repeats):
        names = list(arms) if r % 2 == 0 else list(arms)[::-1]
        for name in names:
            loaded, cpu, items, order = prepared(model_id, args.train, args.batch_size, seed=0)
            times, tokens = arms[name](loaded, cpu, items, order, args)
            rates[name].append(steady(times, tokens, args.warmup))
            print(f"  repeat {r + 1} {name}: {rates[name][-1]:7.1f} tokens/s "
                  f"({statistics.median(times[args.warmup:]):.2f} s/step median)", flush=True)
            del loaded
    a, b = rates["(a) Trainer"], rates["(b) own loop"]
    ratios = [y / x for x, y in zip(a, b)]
    print(f"\n{model_id}, TREC, LoRA r=8, batch {args.batch_size}, {args.steps} steps ({args.warmup} warm-up left out), "
          f"{args.repeats} alternating repeats, {os.cpu_count()} CPUs")
    for name, vals in rates.items():
        print(f"  {name:<13}: median {statistics.median(vals):7.1f} tokens/s (min {min(vals):.1f}, max {max(vals):.1f})")
    med = statistics.median(ratios)
    print(f"  ratio (b)/(a): median {med:.2f} (per repeat {', '.join(f'{x:.2f}' for x in ratios)})")
    print(f"  decision: {'keep a loop of our own' if med >= THRESHOLD else 'train with the Trainer'} "
          f"(a loop of our own only at >= {THRESHOLD}x)")
    if args.halving:
        halving(list(MODELS.values()), args.steps)


if __name__ == "__main__":
    main()
