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
from slmselect.confirmation.data import IGNORE, Encoded, PromptFormat, collate

Progress = Callable[[int], None]


def _label_batch(
    model: Any, prompts: Sequence[list[int]], label_ids: Sequence[list[int]], pad: int, device: str
) -> Any:
    """(len(prompts), len(label_ids)) log-likelihoods, running each prompt once.

    The prompts (left-padded) go through the model once; their key/value cache is repeated for every
    label and the label tokens are scored as a continuation, so the cost is one prompt pass plus a few
    tokens per label instead of one full pass per (prompt, label) pair.
    """
    import torch

    b, k, width = len(prompts), len(label_ids), max(len(p) for p in prompts)
    ids = torch.full((b, width), pad, dtype=torch.long)
    mask = torch.zeros((b, width), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, width - len(p) :] = torch.tensor(p)
        mask[i, width - len(p) :] = 1
    ids, mask = ids.to(device), mask.to(device)
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1)
    first = out.logits[:, -1].float().log_softmax(-1)  # predicts each label's first token
    # transformers 5.x calls the key/value cache ``cache`` (``past_key_values`` still works, with a warning)
    cache_name = "cache" if getattr(out, "cache", None) is not None else "past_key_values"
    cache = getattr(out, cache_name)
    cache.batch_repeat_interleave(k)
    longest = max(len(lab) for lab in label_ids)
    lab = torch.full((k, longest), pad, dtype=torch.long)
    lab_mask = torch.zeros((k, longest), dtype=torch.long)
    for j, l_ids in enumerate(label_ids):
        lab[j, : len(l_ids)] = torch.tensor(l_ids)
        lab_mask[j, : len(l_ids)] = 1
    lab, lab_mask = lab.repeat(b, 1).to(device), lab_mask.repeat(b, 1).to(device)
    score = first.repeat_interleave(k, 0).gather(-1, lab[:, :1]).squeeze(-1)
    if longest > 1:
        full_mask = torch.cat([mask.repeat_interleave(k, 0), lab_mask], 1)
        lab_pos = mask.sum(-1).repeat_interleave(k)[:, None] + torch.arange(longest, device=device)[None]
        out2 = model(
            input_ids=lab,
            attention_mask=full_mask,
            position_ids=lab_pos,
            **{cache_name: cache},
            use_cache=True,
            logits_to_keep=longest,
        )
        logp = out2.logits[:, :-1].float().log_softmax(-1)
        rest = logp.gather(-1, lab[:, 1:].unsqueeze(-1)).squeeze(-1) * lab_mask[:, 1:]
        score = score + rest.sum(-1)
    return score.view(b, k)


def _label_batch_full(
    model: Any, prompts: Sequence[list[int]], label_ids: Sequence[list[int]], pad: int, device: str
) -> list[list[float]]:
    """The same log-likelihoods with one full pass per (prompt, label) pair, for models whose key/value
    cache cannot be repeated across labels."""
    import torch.nn.functional as F

    items = [Encoded(p, lab) for p in prompts for lab in label_ids]
    batch = collate(items, pad, device)
    keep = batch["keep"]
    logits = model(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], logits_to_keep=keep, use_cache=False
    ).logits.float()
    targets = batch["labels"][:, keep + 1]
    nll = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=IGNORE, reduction="none")
    sums = (-nll).sum(-1).tolist()
    k = len(label_ids)
    return [sums[i * k : (i + 1) * k] for i in range(len(prompts))]


def label_logprobs(
    model: Any,
    fmt: PromptFormat,
    examples: Sequence[Example],
    labels: Sequence[str],
    *,
    device: str,
    batch_size: int = 16,
    max_len: int | None = None,
    on_batch: Progress | None = None,
) -> list[list[float]]:
    """Sum of log-probabilities of each label's answer tokens after each example's prompt."""
    import torch

    label_ids = [fmt.answer_ids(lab) for lab in labels]
    max_len = max_len or scoring_len(fmt)
    prompts = [fmt.encode(ex, labels[0], max_len=max_len).prompt for ex in examples]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    vocab = int(getattr(model.config, "vocab_size", 0) or getattr(model.config.get_text_config(), "vocab_size", 50_000))
    # keep the label logits of one batch under ~256 MB
    per_prompt = len(labels) * max(len(x) for x in label_ids) * vocab * 4
    step = max(1, min(batch_size, (256 << 20) // max(1, per_prompt)))
    scores: list[list[float]] = [[] for _ in examples]
    pad = fmt.tokenizer.pad_token_id
    with torch.inference_mode():
        for start in range(0, len(order), step):
            idx = order[start : start + step]
            chunk = [prompts[i] for i in idx]
            try:
                rows = _label_batch(model, chunk, label_ids, pad, device).tolist()
            except (AttributeError, NotImplementedError, TypeError):  # a cache that cannot be repeated
                rows = _label_batch_full(model, chunk, label_ids, pad, device)
            for i, row in zip(idx, rows):
                scores[i] = row
            if on_batch:
                on_batch(len(idx))
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
    max_len: int | None = None,
    on_batch: Progress | None = None,
) -> list[str]:
    """Greedy answers, batched with left padding (prompts sorted by length)."""
    import torch
    from transformers import GenerationConfig

    tok = fmt.tokenizer
    max_len = max_len or scoring_len(fmt)
    prompts = [fmt.encode(ex, "", max_len=max_len).prompt for ex in examples]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out: list[str] = [""] * len(prompts)
    stops = fmt.stop_ids(model)
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        eos_token_id=stops,
        pad_token_id=tok.pad_token_id,
        use_cache=True,
    )
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            width = max(len(prompts[i]) for i in idx)
            ids = torch.full((len(idx), width), tok.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for row, i in enumerate(idx):
                ids[row, width - len(prompts[i]) :] = torch.tensor(prompts[i])
                mask[row, width - len(prompts[i]) :] = 1
            gen = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), generation_config=config)
            for row, i in enumerate(idx):
                out[i] = tok.decode(gen[row, width:], skip_special_tokens=True).strip()
            if on_batch:
                on_batch(len(idx))
    return out


#: Prompt length scoring cuts at when the format has no length of its own.
DEFAULT_SCORING_LEN = 1024


def scoring_len(fmt: PromptFormat) -> int:
    """The length training used (the format's ``max_len``), so that held-out prompts are cut as trained ones were."""
    return int(getattr(fmt, "max_len", None) or DEFAULT_SCORING_LEN)


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
        return _predict(model, fmt, examples, task_type, labels, device, max_new_tokens, batch_size, on_batch)
    finally:
        if was_training:
            model.train()


def _predict(
    model: Any,
    fmt: PromptFormat,
    examples: Sequence[Example],
    task_type: str,
    labels: Sequence[str] | None,
    device: str,
    max_new_tokens: int,
    batch_size: int,
    on_batch: Progress | None,
) -> list[str]:
    if task_type == "classification" and labels:
        return classify(model, fmt, examples, list(labels), device=device, batch_size=batch_size * 2, on_batch=on_batch)
    return generate(
        model, fmt, examples, device=device, max_new_tokens=max_new_tokens, batch_size=batch_size * 2, on_batch=on_batch
    )
