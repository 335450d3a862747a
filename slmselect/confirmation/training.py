"""The LoRA fine-tuning loop.

One :class:`LoraRun` per candidate: peft LoRA adapters on the attention projections, AdamW with linear
warm-up and decay, gradient clipping, length-bucketed batches padded to their longest member, and a
loss over answer tokens only. Logits are computed only at the positions the loss needs
(``logits_to_keep``), which matters for models with large vocabularies (Gemma 3: 262k tokens).

A run can be trained in several calls (``train(n)``) and parked between them (``park()`` keeps the
adapter, optimizer and scheduler state and frees the base model; ``resume(model)`` puts it back), which
is what successive halving needs.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from slmselect.errors import ConfirmError
from slmselect.confirmation.data import IGNORE, Encoded, bucketed_batches, collate
from slmselect.confirmation.device import DeviceChoice

#: Attention projection names across common architectures (Llama/Gemma/Qwen/Mistral, GPT-2, GPT-NeoX, Phi, MPT).
ATTENTION_PROJECTIONS = (
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "qkv_proj",
    "c_attn",
    "query_key_value",
    "Wqkv",
    "query",
    "key",
    "value",
    "out_proj",
    "dense",
)


def find_target_modules(model: Any) -> list[str]:
    """Names (last parts) of the linear layers inside the attention blocks."""
    import torch

    names: list[str] = []
    for name, module in model.named_modules():
        kind = type(module).__name__
        if not (isinstance(module, torch.nn.Linear) or kind == "Conv1D"):
            continue
        parent, _, leaf = name.rpartition(".")
        in_attention = any(w in parent.rsplit(".", 1)[-1].lower() for w in ("attn", "attention"))
        if in_attention and (leaf in ATTENTION_PROJECTIONS or not names) and leaf not in names:
            names.append(leaf)
    if not names:
        raise ConfirmError(
            f"Found no attention projection layers in {type(model).__name__} to put LoRA adapters on; "
            "this architecture is not supported by confirm yet."
        )
    return names


@dataclass
class TrainConfig:
    """Hyper-parameters of one LoRA run (the defaults suit a few hundred examples)."""

    steps: int = 40
    learning_rate: float = 2e-4
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    batch_size: int = 8
    max_seq_len: int = 512
    warmup_fraction: float = 0.1
    grad_clip: float = 1.0
    weight_decay: float = 0.0
    seed: int = 0
    target_modules: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "learning_rate": self.learning_rate,
            "lora_r": self.lora_r,
            "lora_alpha": self.lora_alpha,
            "lora_dropout": self.lora_dropout,
            "batch_size": self.batch_size,
            "max_seq_len": self.max_seq_len,
            "warmup_fraction": self.warmup_fraction,
            "grad_clip": self.grad_clip,
            "seed": self.seed,
            "target_modules": list(self.target_modules),
        }


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps, then linear decay to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def answer_loss(model: Any, batch: dict[str, Any]) -> Any:
    """Cross-entropy over answer tokens only; logits are computed only at the labelled positions."""
    import torch.nn.functional as F

    keep = batch["keep"]
    out = model(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], logits_to_keep=keep, use_cache=False
    )
    logits = out.logits.float()
    targets = batch["labels"][:, keep + 1]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE)


def _lora_config(config: TrainConfig) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.target_modules,
        bias="none",
        task_type="CAUSAL_LM",
    )


def _wrap(model: Any, lora: Any) -> Any:
    import warnings

    from peft import get_peft_model

    with warnings.catch_warnings():  # peft calls a transformers API deprecated in 5.x
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return get_peft_model(model, lora)


@dataclass
class TrainStats:
    steps: int = 0
    seconds: float = 0.0
    tokens: int = 0
    losses: list[float] = field(default_factory=list)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


class LoraRun:
    """LoRA fine-tuning of one model, resumable across calls to :meth:`train`."""

    def __init__(
        self,
        model: Any,
        items: Sequence[Encoded],
        pad_id: int,
        config: TrainConfig,
        choice: DeviceChoice,
    ) -> None:
        import torch

        self.config = config
        self.choice = choice
        self.items = list(items)
        self.pad_id = pad_id
        if not config.target_modules:
            config.target_modules = find_target_modules(model)
        torch.manual_seed(config.seed)
        self.model = _wrap(model, _lora_config(config))
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=config.learning_rate, weight_decay=config.weight_decay)
        self.warmup = max(1, round(config.warmup_fraction * config.steps))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, config.steps, self.warmup)
        )
        self.scaler = torch.amp.GradScaler("cuda") if choice.grad_scaler else None
        self.batches = bucketed_batches([len(it) for it in self.items], config.batch_size, seed=config.seed)
        self.stats = TrainStats()
        self._parked: dict[str, Any] | None = None

    @property
    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.params)

    def _autocast(self) -> Any:
        import torch

        if self.choice.autocast_dtype:
            return torch.autocast(self.choice.device.split(":")[0], dtype=getattr(torch, self.choice.autocast_dtype))
        return contextlib.nullcontext()

    def train(self, n_steps: int, on_step: Callable[[int, float], None] | None = None) -> TrainStats:
        """Train ``n_steps`` more steps (never past ``config.steps``)."""
        import torch

        n_steps = min(n_steps, self.config.steps - self.stats.steps)
        self.model.train()
        device = self.choice.device
        for _ in range(n_steps):
            start = time.perf_counter()
            batch = collate([self.items[i] for i in next(self.batches)], self.pad_id, device)
            with self._autocast():
                loss = answer_loss(self.model, batch)
            if not math.isfinite(loss.item()):
                raise ConfirmError(
                    f"The training loss became {loss.item()} at step {self.stats.steps + 1}; "
                    "lower the learning rate (learning_rate=...) or use fp32 (device='cpu')."
                )
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.params, self.config.grad_clip)
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.params, self.config.grad_clip)
                self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.scheduler.step()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            self.stats.seconds += time.perf_counter() - start
            self.stats.steps += 1
            self.stats.tokens += batch["n_tokens"]
            self.stats.losses.append(loss.item())
            if on_step is not None:
                on_step(self.stats.steps, self.stats.losses[-1])
        self.model.eval()
        return self.stats

    # ----------------------------------------------------------------------------- successive halving

    def park(self) -> Any:
        """Keep adapter + optimizer state on the CPU and return the base model with adapters removed."""
        from peft import get_peft_model_state_dict

        self._parked = {
            "adapter": {k: v.detach().cpu().clone() for k, v in get_peft_model_state_dict(self.model).items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler else None,
        }
        base = self.model.unload()
        self.model = self.params = self.optimizer = self.scheduler = None  # type: ignore[assignment]
        return base

    def resume(self, model: Any) -> None:
        """Re-attach the parked adapter (and optimizer state) to a freshly loaded base model."""
        import torch
        from peft import set_peft_model_state_dict

        if self._parked is None:
            raise RuntimeError("resume() without park()")
        cfg = self.config
        self.model = _wrap(model, _lora_config(cfg))
        set_peft_model_state_dict(self.model, {k: v.to(self.choice.device) for k, v in self._parked["adapter"].items()})
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        self.optimizer.load_state_dict(self._parked["optimizer"])
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, cfg.steps, self.warmup)
        )
        self.scheduler.load_state_dict(self._parked["scheduler"])
        for group, lr in zip(self.optimizer.param_groups, self.scheduler.get_last_lr()):
            group["lr"] = lr  # creating the scheduler reset it to the first step's value
        if self.scaler is not None and self._parked["scaler"]:
            self.scaler.load_state_dict(self._parked["scaler"])
        self._parked = None

    def save_adapter(self, path: str) -> None:
        from slmselect.confirmation.weights import quiet_hf

        with quiet_hf():
            self.model.save_pretrained(path, safe_serialization=True)
