"""LoRA fine-tuning of one candidate with ``transformers.Trainer`` and peft.

The Trainer owns the loop: the learning-rate schedule (linear warm-up over 10% of the steps, then linear
decay), AdamW, gradient clipping, mixed precision (bf16 where the GPU supports it, else fp16 with loss
scaling), device placement (CUDA, several GPUs through accelerate, Apple MPS, CPU) and checkpoints. slmselect
configures it rather than replacing it:

* batches are length-grouped (``train_sampling_strategy="group_by_length"``, ``group_by_length=True`` on
  transformers 4.x) and padded to their longest member by :class:`AnswerCollator`;
* the loss counts answer tokens only (labels ``-100`` on the prompt and the padding), and the model computes
  logits only for the last positions that hold answer tokens (``logits_to_keep``, :func:`answer_window`),
  which matters for large vocabularies (Gemma 3: 262k tokens).

A run can be trained in several calls (``train(n)``): a call that stops before the end of the schedule leaves
a Trainer checkpoint (adapter, optimizer, scheduler, RNG and data position), and the next call resumes from it,
so a run that is parked between calls (``park()`` frees the base model; ``resume(model)`` takes a fresh one)
trains exactly as it would have in one go. Successive halving needs this.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slmselect.errors import ConfirmError
from slmselect.confirmation.data import IGNORE, Encoded, collate
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
    #: optimizer steps accumulate this many batches (an out-of-memory retry halves the batch and doubles this,
    #: so each step still sees ``batch_size * grad_accum`` examples)
    grad_accum: int = 1
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
            "grad_accum": self.grad_accum,
            "max_seq_len": self.max_seq_len,
            "warmup_fraction": self.warmup_fraction,
            "grad_clip": self.grad_clip,
            "seed": self.seed,
            "trainer": "transformers.Trainer",
            "target_modules": list(self.target_modules),
        }


def answer_window(labels: Any) -> int:
    """How many last positions need logits: from the one before the earliest answer token to the end.

    With right padding, answers sit at the end of each row's real tokens, so one integer ``logits_to_keep``
    covers every answer token of the batch (an integer, unlike a tensor of positions, also survives
    ``DataParallel``'s scatter across GPUs).
    """
    labelled = (labels != IGNORE).any(dim=0).nonzero()
    if labelled.numel() == 0:
        return 1
    first = int(labelled[0])  # the logits at position first - 1 predict it
    return int(labels.shape[1] - max(0, first - 1))


def answer_loss(logits: Any, labels: Any) -> Any:
    """Mean cross-entropy over the answer tokens, from logits of the last ``logits.shape[1]`` positions."""
    import torch.nn.functional as F

    keep = logits.shape[1]
    targets = labels[:, labels.shape[1] - keep + 1 :]  # position t predicts token t + 1
    logits = logits[:, : targets.shape[1]].float()
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE)


class AnswerCollator:
    """Right-pads a list of ``{"input_ids", "prompt_len"}`` rows; labels -100 on prompt and padding."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        items = [Encoded(f["input_ids"][: f["prompt_len"]], f["input_ids"][f["prompt_len"] :]) for f in features]
        batch = collate(items, self.pad_id)
        return {k: batch[k] for k in ("input_ids", "attention_mask", "labels")}


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


def _wrap(model: Any, config: TrainConfig) -> Any:
    import torch
    from peft import get_peft_model

    from slmselect.confirmation.hf_compat import quiet_hf

    torch.manual_seed(config.seed)  # the LoRA initialisation
    with quiet_hf():
        return get_peft_model(model, _lora_config(config))


def precision_flags(choice: DeviceChoice) -> dict[str, bool]:
    """TrainingArguments' mixed-precision switches for a device choice (bf16 where supported, else fp16)."""
    compute = choice.autocast_dtype or choice.weights_dtype
    return {"bf16": compute == "bfloat16", "fp16": compute == "float16"}


def per_device_batch(batch_size: int, n_devices: int) -> int:
    """Examples per device so that one step still trains on about ``batch_size`` examples in all."""
    return max(1, math.ceil(batch_size / max(1, n_devices)))


def _n_devices(choice: DeviceChoice) -> int:
    """Devices one optimizer step spreads over: the processes of an accelerate / torchrun launch, else one (a
    local run is pinned to one GPU: :func:`pin_one_gpu`)."""
    import os

    if "WORLD_SIZE" in os.environ:  # launched by accelerate / torchrun: one process per device
        return int(os.environ["WORLD_SIZE"])
    return 1


def pin_one_gpu(args: Any) -> Any:
    """Keep a local run on one GPU (the first visible one: choose it with CUDA_VISIBLE_DEVICES).

    With several visible GPUs and no distributed launch, Trainer wraps the model in ``DataParallel`` and
    skips accelerate's mixed-precision preparation (no autocast), while memory checks and peaks cover one
    device. ``TrainingArguments`` has no public switch for this; it counts the GPUs in ``_n_gpu`` when it sets
    up its device, which this sets to 1 (``tests/test_gpu_path.py`` fails if transformers stops doing so). To
    use several GPUs, launch with ``accelerate launch`` / ``torchrun`` (one process per GPU), or run the
    candidates on Ray, one GPU each."""
    if args.use_cpu or getattr(args, "world_size", 1) > 1:
        return args
    _ = args.device  # sets _n_gpu
    if getattr(args, "_n_gpu", 1) > 1:
        args._n_gpu = 1
    return args


def training_arguments(config: TrainConfig, choice: DeviceChoice, output_dir: str, save_every: int = 0) -> Any:
    """The ``TrainingArguments`` of one run; the same on CPU, Apple MPS and one or several CUDA GPUs.
    ``save_every``: keep a checkpoint every that many steps (only the newest), so a killed run can go on."""
    from transformers import TrainingArguments

    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    grouping = (
        {"train_sampling_strategy": "group_by_length"} if "train_sampling_strategy" in names else {"group_by_length": True}
    )
    return pin_one_gpu(TrainingArguments(
        output_dir=output_dir,
        per_device_train_batch_size=per_device_batch(config.batch_size, _n_devices(choice)),
        gradient_accumulation_steps=max(1, config.grad_accum),
        max_steps=config.steps,
        learning_rate=config.learning_rate,
        lr_scheduler_type="linear",
        warmup_steps=max(1, round(config.warmup_fraction * config.steps)),
        max_grad_norm=config.grad_clip,
        weight_decay=config.weight_decay,
        optim="adamw_torch",
        seed=config.seed,
        use_cpu=choice.device == "cpu",
        **precision_flags(choice),
        **grouping,
        logging_strategy="steps",
        logging_steps=1,
        logging_nan_inf_filter=False,
        include_num_input_tokens_seen="non_padding",
        # :class:`_Monitor` asks for a checkpoint when a call stops early, whatever the strategy
        **({"save_strategy": "steps", "save_steps": save_every, "save_total_limit": 1} if save_every > 0
           else {"save_strategy": "no"}),
        report_to="none",
        disable_tqdm=True,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=choice.device.startswith("cuda"),
    ))


@dataclass
class TrainStats:
    steps: int = 0
    seconds: float = 0.0
    tokens: int = 0
    losses: list[float] = field(default_factory=list)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


def _trainer_class() -> type:
    from transformers import Trainer

    class AnswerOnlyTrainer(Trainer):
        """Trainer whose loss counts answer tokens only, with logits only where answers are."""

        loss_is_scaled_for_ga = False  # a per-batch mean: the Trainer divides it for gradient accumulation

        def compute_loss(
            self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
        ) -> Any:
            labels = inputs["labels"]
            out = model(
                input_ids=inputs["input_ids"],
                attention_mask=inputs["attention_mask"],
                logits_to_keep=answer_window(labels),
                use_cache=False,
            )
            loss = answer_loss(out.logits, labels)
            return (loss, out) if return_outputs else loss

    return AnswerOnlyTrainer


def _monitor(run: LoraRun, stop_at: int, on_step: Callable[[int, float], None] | None) -> Any:
    from transformers import TrainerCallback

    class Monitor(TrainerCallback):
        """Stops (with a checkpoint) after ``stop_at`` steps, and reports each step's loss."""

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> Any:
            if stop_at <= state.global_step < state.max_steps:
                control.should_training_stop = True
                control.should_save = True
            return control

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kw: Any) -> None:
            if not logs or "loss" not in logs:
                return
            loss = float(logs["loss"])
            if not math.isfinite(loss):
                raise ConfirmError(
                    f"The training loss became {loss} at step {state.global_step}; "
                    "lower the learning rate (learning_rate=...) or use fp32 (device='cpu')."
                )
            run.stats.losses.append(loss)
            if on_step is not None:
                on_step(state.global_step, loss)

    return Monitor()


def unwrap_autocast(model: Any) -> Any:
    """``model`` without the autocast (and fp32-output) wrapper accelerate puts on its forward for mixed precision."""
    from accelerate.utils import extract_model_from_parallel

    return extract_model_from_parallel(model, keep_fp32_wrapper=False)


def latest_checkpoint(folder: Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest complete Trainer checkpoint in ``folder`` and its state (one whose ``trainer_state.json``
    was written last, so a checkpoint a kill cut short is skipped)."""
    import json

    found = []
    for path in folder.glob("checkpoint-*"):
        try:
            state = json.loads((path / "trainer_state.json").read_text())
            found.append((int(state["global_step"]), path, state))
        except (OSError, ValueError, KeyError):
            continue
    if not found:
        return None
    _, path, state = max(found, key=lambda f: f[0])
    return path, state


class LoraRun:
    """LoRA fine-tuning of one model through ``transformers.Trainer``, resumable across calls to :meth:`train`."""

    def __init__(
        self,
        model: Any,
        items: Sequence[Encoded],
        pad_id: int,
        config: TrainConfig,
        choice: DeviceChoice,
    ) -> None:
        self.config = config
        self.choice = choice
        self.rows = [{"input_ids": it.ids, "prompt_len": len(it.prompt)} for it in items]
        if not self.rows:
            from slmselect.errors import InputError

            raise InputError("No training examples left after the held-out split; give more examples.")
        self.collator = AnswerCollator(pad_id)
        if not config.target_modules:
            config.target_modules = find_target_modules(model)
        self.model = _wrap(model, config)
        self.stats = TrainStats()
        self.save_every = 0
        self.workdir = Path(tempfile.mkdtemp(prefix="slmselect-train-"))
        self._checkpoint: str | None = None

    def keep_checkpoints(self, folder: Path, every: int, resume: bool) -> int | None:
        """Write a checkpoint to ``folder`` every ``every`` steps; with ``resume``, go on from the newest one a
        killed run left there (returns its step), else start afresh. Call before :meth:`train`."""
        folder.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir, self.save_every = folder, max(0, every)
        found = latest_checkpoint(folder) if resume else None
        if found is None:
            for old in folder.glob("checkpoint-*"):
                shutil.rmtree(old, ignore_errors=True)
            return None
        path, state = found
        self._checkpoint = str(path)
        self.stats.steps = int(state["global_step"])
        self.stats.tokens = int(state.get("num_input_tokens_seen") or 0)
        self.stats.losses = [float(h["loss"]) for h in state.get("log_history", []) if "loss" in h]
        return self.stats.steps

    @classmethod
    def restore(cls, items: Sequence[Encoded], pad_id: int, config: TrainConfig, choice: DeviceChoice, workdir: Path,
                checkpoint: str | None, stats: TrainStats) -> "LoraRun":
        """A parked run rebuilt in another process from its work folder (a Trainer checkpoint, or the finished
        adapter in ``final``); :meth:`resume` then puts it on a freshly loaded base model."""
        run = cls.__new__(cls)
        run.config, run.choice = config, choice
        run.rows = [{"input_ids": it.ids, "prompt_len": len(it.prompt)} for it in items]
        run.collator = AnswerCollator(pad_id)
        run.model = None
        run.stats, run.workdir, run._checkpoint, run.save_every = stats, Path(workdir), checkpoint, 0
        return run

    @property
    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)

    def train(self, n_steps: int, on_step: Callable[[int, float], None] | None = None) -> TrainStats:
        """Train ``n_steps`` more steps (never past ``config.steps``)."""
        from transformers import PrinterCallback, ProgressCallback

        from slmselect.confirmation.hf_compat import quiet_hf

        n_steps = min(n_steps, self.config.steps - self.stats.steps)
        if n_steps <= 0:
            return self.stats
        trainer = _trainer_class()(
            model=self.model,
            args=training_arguments(self.config, self.choice, str(self.workdir), self.save_every),
            train_dataset=self.rows,
            data_collator=self.collator,
            callbacks=[_monitor(self, self.stats.steps + n_steps, on_step)],
        )
        for noisy in (PrinterCallback, ProgressCallback):
            trainer.remove_callback(noisy)
        start = time.perf_counter()
        with quiet_hf():
            trainer.train(resume_from_checkpoint=self._checkpoint)
        self.stats.seconds += time.perf_counter() - start
        # accelerate's mixed-precision preparation replaced the model's forward with an autocast wrapper; take
        # it off, so that the fine-tuned model is scored at the precision the base model was scored at
        self.model = unwrap_autocast(self.model)
        state = trainer.state
        self.stats.tokens = int(state.num_input_tokens_seen)
        self.stats.steps = int(state.global_step)
        if self.stats.steps < self.config.steps:
            self._checkpoint = str(self.workdir / f"checkpoint-{state.global_step}")
        else:
            self.cleanup()
        self.model.eval()
        return self.stats

    # ----------------------------------------------------------------------------- successive halving

    def park(self) -> Any:
        """Free the base model; the adapter, optimizer and data position stay in the checkpoint (a finished
        run keeps its adapter)."""
        if self._checkpoint is None:
            self.save_adapter(str(self.workdir / "final"))
        base = self.model.unload()
        self.model = None
        return base

    def resume(self, model: Any) -> None:
        """Put the adapter back on a freshly loaded base model (:meth:`train` restores the rest of the checkpoint)."""
        if self._checkpoint is not None:
            self.model = _wrap(model, self.config)
            return
        from peft import PeftModel

        final = self.workdir / "final"
        if not final.exists():
            raise RuntimeError("resume() without park()")
        self.model = PeftModel.from_pretrained(model, str(final), is_trainable=True)

    def save_adapter(self, path: str) -> None:
        from slmselect.confirmation.hf_compat import quiet_hf

        with quiet_hf():
            self.model.save_pretrained(path, safe_serialization=True)

    def cleanup(self) -> None:
        """Delete the checkpoints of this run."""
        shutil.rmtree(self.workdir, ignore_errors=True)
        self._checkpoint = None
