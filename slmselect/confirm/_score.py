"""Predictions of a (base or fine-tuned) model on the held-out examples.

Classification is scored by likelihood: each label's answer tokens are scored after the prompt and the
most likely label wins, so predictions always lie in the label set (free generation from a 135M model
rarely produces a label verbatim before fine-tuning). Every other task type uses greedy generation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from slmselect._types import Example
from slmselect.confirm._data import Encoded, PromptFormat, collate
from slmselect.confirm._train import answer_loss

Progress = Callable[[int], None]


def label_logprobs(
    model: Any,
    fmt: PromptFormat,
    examples: Sequence[Example],
    labels: Sequence[str],
    *,
    device: str,
    batch_size: int = 32,
    max_len: int = 1024,
    on_batch: Progress | None = None,
) -> list[list[float]]:
    """Sum of log-probabilities of each label's answer tokens after each example's prompt."""
    import torch

    label_ids = [fmt.answer_ids(lab) for lab in labels]
    pairs: list[tuple[int, int, Encoded]] = []
    for i, ex in enumerate(examples):
        prompt = fmt.encode(ex, labels[0], max_len=max_len).prompt
        for k, ans in enumerate(label_ids):
            pairs.append((i, k, Encoded(prompt, ans)))
    pairs.sort(key=lambda t: len(t[2]))
    scores = [[-math.inf] * len(labels) for _ in examples]
    pad = fmt.tokenizer.pad_token_id
    with torch.inference_mode():
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start:start + batch_size]
            batch = collate([p[2] for p in chunk], pad, device)
            sums = answer_loss(model, batch, reduction="sum_per_row").tolist()
            for (i, k, _), s in zip(chunk, sums):
                scores[i][k] = s
            if on_batch:
                on_batch(len({p[0] for p in chunk}))
    return scores


def classify(model: Any, fmt: PromptFormat, examples: Sequence[Example], labels: Sequence[str], **kw: Any) -> list[str]:
    scores = label_logprobs(model, fmt, examples, labels, **kw)
    return [labels[max(range(len(labels)), key=row.__getitem__)] for row in scores]


def generate(
    model: Any,
    fmt: PromptFormat,
    examples: Sequence[Example],
    *,
    device: str,
    max_new_tokens: int,
    batch_size: int = 16,
    max_len: int = 1024,
    on_batch: Progress | None = None,
) -> list[str]:
    """Greedy answers, batched with left padding (prompts sorted by length)."""
    import torch
    from transformers import GenerationConfig

    tok = fmt.tokenizer
    prompts = [fmt.encode(ex, "", max_len=max_len).prompt for ex in examples]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out: list[str] = [""] * len(prompts)
    stops = fmt.stop_ids(model)
    config = GenerationConfig(
        max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=stops, pad_token_id=tok.pad_token_id,
        use_cache=True,
    )
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            width = max(len(prompts[i]) for i in idx)
            ids = torch.full((len(idx), width), tok.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for row, i in enumerate(idx):
                ids[row, width - len(prompts[i]):] = torch.tensor(prompts[i])
                mask[row, width - len(prompts[i]):] = 1
            gen = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), generation_config=config)
            for row, i in enumerate(idx):
                out[i] = tok.decode(gen[row, width:], skip_special_tokens=True).strip()
            if on_batch:
                on_batch(len(idx))
    return out


def max_new_tokens_for(fmt: PromptFormat, outputs: Sequence[str], *, cap: int = 256) -> int:
    """Room for the longest training answer plus a quarter, at least 8 tokens, at most ``cap``."""
    longest = max((len(fmt.answer_ids(o)) for o in outputs), default=32)
    return int(min(cap, max(8, math.ceil(longest * 1.25) + 4)))


def predict(
    model: Any,
    fmt: PromptFormat,
    examples: Sequence[Example],
    *,
    task_type: str,
    labels: Sequence[str] | None,
    device: str,
    max_new_tokens: int,
    batch_size: int,
    on_batch: Progress | None = None,
) -> list[str]:
    """Predictions for ``examples``: label likelihood for classification, greedy generation otherwise."""
    was_training = model.training
    model.eval()
    try:
        if task_type == "classification" and labels:
            return classify(model, fmt, examples, list(labels), device=device, batch_size=batch_size * 4, on_batch=on_batch)
        return generate(
            model, fmt, examples, device=device, max_new_tokens=max_new_tokens, batch_size=batch_size * 2, on_batch=on_batch
        )
    finally:
        if was_training:
            model.train()
