"""Turn examples into what the LoRA loop and the scorer consume.

* :func:`split_examples` — one train / validation / test split shared by every candidate (stratified by label
  for classification; identical inputs always land on the same side).
* :class:`PromptFormat` — the prompt and answer of an example as token ids, through the model's chat
  template when it has one, else a plain ``instruction / input / Answer:`` layout.
* :func:`collate` — a batch padded to its longest member, labels ``-100`` on prompt and padding so the loss
  counts answer tokens only.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slmselect.errors import InputError, ParameterError
from slmselect.profile.readers import text_key
from slmselect._types import Example, TaskProfile

IGNORE = -100
#: Longest training sequence on the CPU and on a GPU (tokens); the profile's p95 decides below this.
MAX_SEQ_CAP = {"cpu": 512, "gpu": 2048}


# --------------------------------------------------------------------------------------------- split


def _held_out_count(n: int, count: int | None, fraction: float, name: str) -> int:
    if count is None:
        if not 0 < fraction < 1:
            raise ParameterError(f"The '{name}_fraction' parameter of confirm must be in (0, 1); got {fraction}.")
        return max(1, round(n * fraction))
    if count < 0 or (count == 0 and name == "eval"):
        raise ParameterError(f"The '{name}_examples' parameter of confirm must be >= {int(name == 'eval')}; got {count}.")
    return count


def _take_stratified(
    groups: list[list[int]], n_take: int, keys: list[str], rng: random.Random
) -> tuple[list[list[int]], list[list[int]]]:
    """Split groups into (taken, rest) so that about ``n_take`` groups are taken, each key keeping its share
    (largest-remainder allocation)."""
    strata: dict[str, list[list[int]]] = {}
    for g, key in zip(groups, keys):
        strata.setdefault(key, []).append(g)
    for key in sorted(strata):
        rng.shuffle(strata[key])
    total = len(groups)
    quotas = {k: n_take * len(v) / total for k, v in strata.items()}
    alloc = {k: int(q) for k, q in quotas.items()}
    for k in sorted(quotas, key=lambda k: (-(quotas[k] - alloc[k]), k))[: n_take - sum(alloc.values())]:
        alloc[k] += 1
    taken: list[list[int]] = []
    rest: list[list[int]] = []
    for key in sorted(strata):
        taken.extend(strata[key][: alloc[key]])
        rest.extend(strata[key][alloc[key] :])
    return taken, rest


def split_examples(
    examples: Sequence[Example],
    *,
    task_type: str,
    eval_fraction: float = 0.33,
    eval_examples: int | None = None,
    validation_examples: int | None = 0,
    validation_fraction: float = 0.15,
    seed: int = 0,
) -> tuple[list[int], list[int], list[int]]:
    """Indices of three disjoint parts: training, validation and test examples.

    The **test** part (``eval_examples``, else ``eval_fraction`` of the examples) is scored for the reported
    figures and nothing else; the **validation** part (``validation_examples``, ``None`` for
    ``validation_fraction`` of the examples, 0 for none) serves successive halving and the choice of the
    winner, so the reported scores come from examples no choice was made on. For classification each label
    keeps its share in every part (largest-remainder allocation). Examples with the same input and context
    (exactly, or but for case, whitespace and punctuation) form one group that is never split, so no held-out
    input is seen in training.
    """
    n = len(examples)
    n_test = _held_out_count(n, eval_examples, eval_fraction, "eval")
    n_val = _held_out_count(n, validation_examples, validation_fraction, "validation")
    groups: dict[tuple[str, str], list[int]] = {}
    for i, ex in enumerate(examples):  # exact and near copies (case, whitespace, punctuation) form one group
        groups.setdefault((text_key(ex.input), text_key(ex.context)), []).append(i)
    group_list = list(groups.values())
    if n_test + n_val >= len(group_list):
        raise InputError(
            f"Asked for {n_test} test and {n_val} validation examples but there are only {len(group_list)} "
            f"distinct inputs ({n} examples); give more examples or smaller eval_examples / validation_examples "
            "so some are left to train on."
        )
    rng = random.Random(seed)

    def keys(gs: list[list[int]]) -> list[str]:
        return [examples[g[0]].output.strip() if task_type == "classification" else "" for g in gs]

    test_groups, rest = _take_stratified(group_list, n_test, keys(group_list), rng)
    val_groups, train_groups = _take_stratified(rest, n_val, keys(rest), rng) if n_val else ([], rest)
    parts = [[i for g in gs for i in g] for gs in (train_groups, val_groups, test_groups)]
    for part in parts:
        rng.shuffle(part)
    return parts[0], parts[1], parts[2]


# --------------------------------------------------------------------------------------------- prompts


def _json_keys(outputs: Sequence[str]) -> list[str]:
    keys: list[str] = []
    for text in outputs:
        try:
            value = json.loads(text)
        except (json.JSONDecodeError, TypeError):
            continue
        if isinstance(value, dict):
            keys.extend(k for k in value if k not in keys)
    return keys


def instruction_for(profile: TaskProfile, train_outputs: Sequence[str], description: str | None = None) -> str:
    """The task instruction shown before each input (the same for base and fine-tuned scoring)."""
    task = profile.task_type
    head = f"Task: {description.strip()}\n" if description else ""
    if task == "classification":
        labels = ", ".join(profile.labels or sorted({o.strip() for o in train_outputs}))
        return head + f"Classify the text into one of these labels: {labels}.\nAnswer with the label only."
    if task == "ner_extraction":
        keys = _json_keys(train_outputs)
        shape = "{" + ", ".join(f'"{k}": [...]' for k in keys) + "}" if keys else "a JSON object"
        return head + f"Extract the named entities from the text. Answer with JSON only: {shape}."
    if task == "tool_calling":
        return head + (
            "Choose the function to call and its arguments. Answer with JSON only: "
            '{"name": "<function name>", "arguments": {...}}.'
        )
    if task in ("qa_open_book", "qa_closed_book"):
        src = " using the passage" if task == "qa_open_book" else ""
        return head + f"Answer the question{src}. Give the short answer only."
    if task == "summarization":
        return head + "Summarize the text."
    return head + "Respond to the input."


def _body(ex: Example, task: str) -> str:
    parts = []
    if ex.tools:
        parts.append(f"Functions:\n{ex.tools}")
    if ex.context:
        parts.append(f"Passage:\n{ex.context}")
    label = {"qa_open_book": "Question", "qa_closed_book": "Question", "tool_calling": "Request"}.get(task, "Text")
    parts.append(f"{label}: {ex.input}")
    return "\n\n".join(parts)


@dataclass
class Encoded:
    prompt: list[int]
    answer: list[int]

    @property
    def ids(self) -> list[int]:
        return self.prompt + self.answer

    def __len__(self) -> int:
        return len(self.prompt) + len(self.answer)


class PromptFormat:
    """Renders examples for one tokenizer; ``chat`` says whether the model's chat template is used."""

    def __init__(self, tokenizer: Any, instruction: str, task_type: str, *, max_len: int = 512) -> None:
        self.tokenizer = tokenizer
        self.instruction = instruction
        self.task_type = task_type
        self.max_len = max_len
        self.chat = bool(getattr(tokenizer, "chat_template", None))
        self._suffix = self._answer_suffix()

    def _answer_suffix(self) -> str:
        """Text the chat template puts after an assistant answer (e.g. ``<|im_end|>\\n``)."""
        if not self.chat:
            return ""
        probe = "ANSWER_PROBE_7q"
        messages = [{"role": "user", "content": "x"}]
        try:
            prompt = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            full = self.tokenizer.apply_chat_template(
                messages + [{"role": "assistant", "content": probe}], tokenize=False
            )
        except Exception:  # noqa: BLE001 - templates that need a system turn etc.: plain format
            self.chat = False
            return ""
        if not full.startswith(prompt) or probe not in full:
            self.chat = False
            return ""
        return full[full.index(probe) + len(probe) :]

    def prompt_text(self, ex: Example) -> str:
        user = f"{self.instruction}\n\n{_body(ex, self.task_type)}"
        if self.chat:
            return self.tokenizer.apply_chat_template(
                [{"role": "user", "content": user}], tokenize=False, add_generation_prompt=True
            )
        return f"{user}\nAnswer:"

    def answer_ids(self, output: str) -> list[int]:
        tok = self.tokenizer
        if self.chat:
            return tok(output.strip() + self._suffix, add_special_tokens=False)["input_ids"]
        end = [tok.eos_token_id] if tok.eos_token_id is not None else []
        return tok(" " + output.strip(), add_special_tokens=False)["input_ids"] + end

    def prompt_ids(self, ex: Example) -> list[int]:
        return self.tokenizer(self.prompt_text(ex), add_special_tokens=not self.chat)["input_ids"]

    def encode(self, ex: Example, output: str | None = None, *, max_len: int | None = None) -> Encoded:
        """Prompt and answer ids, trimmed to ``max_len`` by cutting the middle of the prompt."""
        limit = max_len or self.max_len
        prompt = self.prompt_ids(ex)
        answer = self.answer_ids(ex.output if output is None else output)
        answer = (
            answer[: max(1, limit // 2)] if len(prompt) + len(answer) > limit and len(answer) > limit // 2 else answer
        )
        excess = len(prompt) + len(answer) - limit
        if excess > 0:
            head = min(16, len(prompt) // 4)
            prompt = prompt[:head] + prompt[head + excess :]
        return Encoded(prompt, answer)

    def stop_ids(self, model: Any) -> list[int]:
        """Token ids that end a generated answer."""
        ids = {self.tokenizer.eos_token_id}
        gen = getattr(model, "generation_config", None)
        eos = getattr(gen, "eos_token_id", None)
        ids.update(eos if isinstance(eos, list) else [eos])
        if self.chat and self._suffix.strip():
            first = self.tokenizer(self._suffix, add_special_tokens=False)["input_ids"]
            if first:
                ids.add(first[0])
        return sorted(i for i in ids if i is not None)


def choose_max_len(lengths: Sequence[int], *, gpu: bool, profile: TaskProfile | None = None) -> int:
    """Training sequence length: 1.25 x the p95 of the real tokenised lengths (at least the p50 x 2 and the
    profile's input+output p95), rounded up to 8 and capped (512 tokens on the CPU, 2,048 on a GPU)."""
    cap = MAX_SEQ_CAP["gpu" if gpu else "cpu"]
    if not lengths:
        return cap
    ordered = sorted(lengths)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    p50 = ordered[len(ordered) // 2]
    want = max(p95 * 1.25, p50 * 2)
    if profile is not None:
        want = max(want, profile.input_tokens.p95 + profile.output_tokens.p95)
    return int(min(cap, max(32, math.ceil(want / 8) * 8)))


# --------------------------------------------------------------------------------------------- batches


def collate(items: Sequence[Encoded], pad_id: int, device: Any = "cpu") -> dict[str, Any]:
    """Right-pad to the longest item; labels are -100 on prompt and padding.

    Also returns ``keep``, the sorted sequence positions whose next-token prediction carries a label, so
    the model only computes logits where the loss needs them (``logits_to_keep``).
    """
    import torch

    width = max(len(it) for it in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    labels = torch.full((len(items), width), IGNORE, dtype=torch.long)
    for row, it in enumerate(items):
        seq = it.ids
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
        labels[row, len(it.prompt) : len(seq)] = torch.tensor(it.answer)
    # logits at position t predict token t+1
    used = (labels[:, 1:] != IGNORE).any(dim=0).nonzero().flatten()
    return {
        "input_ids": ids.to(device),
        "attention_mask": mask.to(device),
        "labels": labels.to(device),
        "keep": used.to(device),
        "n_tokens": int(mask.sum()),
    }
