"""One candidate's trial: memory check, load, base score, LoRA training, fine-tuned score, adapter.

:class:`Trial` holds the working state of one model through those stages so that ``confirm`` can run
them straight through, or (successive halving) stop after a first rung, park the adapter, and resume.
Failures become the result's status and reason; the caller decides what to do next.
"""

from __future__ import annotations

import dataclasses
import gc
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slmselect.errors import ConfirmError
from slmselect._types import Example, TaskProfile
from slmselect.confirmation.data import MAX_SEQ_CAP, PromptFormat, choose_max_len
from slmselect.confirmation.device import DeviceChoice, PeakMemory, available_memory
from slmselect.confirmation.memory import estimate_memory, inspect_weights
from slmselect.confirmation.stats import Interval, interval, paired_difference
from slmselect.confirmation.metrics import PRIMARY_METRIC, compute_metrics, item_scores
from slmselect.confirmation.results import CandidateResult
from slmselect.confirmation.scoring import max_new_tokens_for, predict
from slmselect.confirmation.training import LoraRun, TrainConfig, TrainStats
from slmselect.confirmation.cache import safe_id
from slmselect.confirmation.weights import load_model
from slmselect.events import Reporter

GB = 1024**3
N_SAMPLES = 3


class Refused(ConfirmError):
    """A candidate that would not fit in memory."""


@dataclass
class Setup:
    """What every candidate of one confirm run shares."""

    profile: TaskProfile
    train: list[Example]
    evals: list[Example]  # the test part: reported scores only
    labels: list[str] | None
    instruction: str
    choice: DeviceChoice
    config: TrainConfig  # template; each trial gets a copy
    max_seq_len: int | None
    output_dir: Path
    memory_limit_bytes: int | None
    trust_remote_code: bool
    progress: Reporter  # where the run's progress events go
    extra_config: dict[str, Any] = field(default_factory=dict)
    validation: list[Example] = field(default_factory=list)  # halving and the pick
    seed: int = 0
    chosen_metric: str | None = None  # what scores, intervals and the pick use (default: the task's primary one)
    #: model id -> folder for its mid-training checkpoints (a killed run goes on from them); none: not kept
    checkpoints: dict[str, Path] = field(default_factory=dict)
    checkpoint_every: int = 0
    resume: bool = False

    @property
    def metric(self) -> str:
        return self.chosen_metric or PRIMARY_METRIC[self.profile.task_type]


class Trial:
    def __init__(self, model_id: str, setup: Setup) -> None:
        self.model_id = model_id
        self.setup = setup
        self.result = CandidateResult(model_id=model_id, status="failed", metric=setup.metric)
        self.stage = "starting"
        self.loaded: Any = None
        self.fmt: PromptFormat | None = None
        self.run: LoraRun | None = None
        self.config = TrainConfig(**{k: v for k, v in vars(setup.config).items() if k != "target_modules"})
        self.peak = PeakMemory(setup.choice.device)
        self.eval_seconds = 0.0
        self._peak_before: int | None = None
        self._max_new_tokens = 32
        self._unpacked: tuple[Path, str | None, TrainStats] | None = None
        self._lock: Any = None

    # ------------------------------------------------------------------------------------------ stages

    def check_memory(self) -> None:
        self.stage = "memory check"
        s = self.setup
        collect(s.choice.device)  # what an earlier candidate left is freed before free memory is read
        info = inspect_weights(self.model_id)
        cap = MAX_SEQ_CAP["cpu" if s.choice.device == "cpu" else "gpu"]
        seq = s.max_seq_len or int(min(cap, s.profile.input_tokens.p95 + s.profile.output_tokens.p95 + 96))
        answer = int(s.profile.output_tokens.p95 * 1.5) + 8
        est = estimate_memory(
            info,
            weight_bytes=s.choice.weight_bytes,
            batch_size=self.config.batch_size,
            seq_len=seq,
            answer_len=answer,
            lora_r=self.config.lora_r,
            conversion_on_device=s.choice.device == "cpu",  # GGUF is de-quantised in host RAM, not on a GPU
        )
        if est is None:
            return
        self.result.memory_estimate_bytes = est.total
        budget = s.memory_limit_bytes if s.memory_limit_bytes is not None else available_memory(s.choice.device)
        if budget is not None and est.total > budget:
            where = (
                "the memory limit given"
                if s.memory_limit_bytes is not None
                else ("free GPU memory" if s.choice.device.startswith("cuda") else "available RAM (MemAvailable)")
            )
            raise Refused(
                f"does not fit: needs {est.describe()} but {where} is {budget / GB:.2f} GB; lower batch_size or "
                "max_seq_len, use a GPU, or leave this candidate out"
            )

    def load(self) -> None:
        self.stage = "loading"
        self.peak.reset()
        with self.setup.progress.stage("load", subject=self.model_id) as bar:  # a first load converts a GGUF
            self.loaded = load_model(self.model_id, self.setup.choice, trust_remote_code=self.setup.trust_remote_code)
            bar.done(f"{self.loaded.source}, {self.loaded.load_seconds:.1f}s")
        r = self.result
        r.load_seconds, r.weights_source, r.n_params = (
            self.loaded.load_seconds,
            self.loaded.source,
            self.loaded.n_params,
        )
        s = self.setup
        self.fmt = PromptFormat(self.loaded.tokenizer, s.instruction, s.profile.task_type)
        gpu = s.choice.device != "cpu"
        cap = MAX_SEQ_CAP["gpu" if gpu else "cpu"]
        lengths = [len(self.fmt.encode(ex, max_len=cap)) for ex in s.train]
        self.config.max_seq_len = s.max_seq_len or choose_max_len(lengths, gpu=gpu, profile=s.profile)
        self.fmt.max_len = self.config.max_seq_len
        self._max_new_tokens = max_new_tokens_for(self.fmt, [e.output for e in s.train], cap=256 if not gpu else 512)

    def evaluate(self, name: str, examples: list[Example] | None = None) -> tuple[dict[str, float], list[list[float]]]:
        """All metrics on ``examples`` (default: the test part) and the primary metric per example."""
        self.stage = f"{name} evaluation"
        s = self.setup
        assert self.fmt is not None
        examples = s.evals if examples is None else examples
        model = self.run.model if self.run is not None else self.loaded.model
        start = time.perf_counter()
        with s.progress.stage(f"{name} eval", len(examples), subject=self.model_id) as bar:
            preds = predict(
                model,
                self.fmt,
                examples,
                task_type=s.profile.task_type,
                labels=s.labels,
                device=s.choice.device,
                max_new_tokens=self._max_new_tokens,
                batch_size=self.config.batch_size,
                on_batch=bar.advance,
            )
            self.eval_seconds += time.perf_counter() - start
            refs = [e.output for e in examples]
            metrics = compute_metrics(s.profile.task_type, preds, refs, labels=s.labels)
            bar.done(f"{s.metric} {metrics[s.metric]:.3f}")
        if examples is s.evals:
            self._record_samples(name, preds)
        return metrics, item_scores(s.profile.task_type, preds, refs, metric=s.metric, labels=s.labels)

    def _record_samples(self, name: str, preds: list[str]) -> None:
        """Keep the first few test predictions, so a user can see what the scores mean."""
        samples = self.result.samples
        for i, (ex, pred) in enumerate(zip(self.setup.evals[:N_SAMPLES], preds)):
            if i == len(samples):
                samples.append({"input": ex.input[:300], "reference": ex.output[:300]})
            samples[i][name.split(" ")[0]] = pred[:300]

    def base_score(self) -> None:
        metrics, items = self.evaluate("base")
        r = self.result
        r.base_metrics, r.base_score, r.test_items["base"] = metrics, metrics[self.setup.metric], items
        r.base_ci = _ci(interval(items, seed=self.setup.seed))

    def validation_score(self, name: str = "validation") -> float | None:
        """Fine-tuned score on the validation part (None when there is none)."""
        if not self.setup.validation:
            return None
        metrics, _items = self.evaluate(name, self.setup.validation)
        return metrics[self.setup.metric]

    def train(self, n_steps: int) -> None:
        self.stage = "training"
        s = self.setup
        if self.run is None:
            tok = self.loaded.tokenizer
            assert self.fmt is not None
            items = [self.fmt.encode(ex) for ex in s.train]
            self.run = LoraRun(self.loaded.model, items, tok.pad_token_id, self.config, s.choice)
            self.result.trainable_params = self.run.trainable_parameters
            self._keep_checkpoints()
        with s.progress.stage("LoRA train", n_steps, subject=self.model_id) as bar:
            while True:
                try:
                    self.run.train(n_steps, on_step=lambda step, loss: bar.advance(1, note=f"loss {loss:.3f}"))
                    break
                except Exception as err:  # noqa: BLE001 - only an out-of-memory error is retried
                    if not _is_oom(err) or self.config.batch_size <= 1:
                        if _is_oom(err):
                            raise self._does_not_fit(err) from None
                        raise
                # after the handler, so that the failed attempt's frames are gone before memory is freed
                self._retry_smaller_batch(bar)
            st = self.run.stats
            bar.done(f"loss {st.losses[-1]:.3f}" if st.losses else "")
        r = self.result
        r.steps, r.train_seconds, r.tokens_per_second = st.steps, st.seconds, st.tokens_per_second
        r.final_loss = st.losses[-1] if st.losses else None

    def _keep_checkpoints(self) -> None:
        """Checkpoint into this candidate's folder (and go on from a killed run's checkpoint when resuming),
        unless another process holds the folder: then this run keeps none."""
        s = self.setup
        folder = s.checkpoints.get(self.model_id)
        if folder is None or s.checkpoint_every <= 0 or self.run is None:
            return
        from filelock import FileLock, Timeout

        folder.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(folder) + ".lock")
        try:
            lock.acquire(timeout=0)
        except Timeout:
            s.progress.message("another run is training the same candidate; no checkpoints kept", subject=self.model_id)
            return
        self._lock = lock
        step = self.run.keep_checkpoints(folder, s.checkpoint_every, resume=s.resume)
        if step:
            self.result.resumed_from_step = step
            s.progress.message(f"going on from the checkpoint at step {step} that a killed run left", subject=self.model_id)

    def _retry_smaller_batch(self, bar: Any) -> None:
        """Start this candidate's training over at half the batch and twice the gradient accumulation (the same
        examples per optimizer step)."""
        assert self.run is not None and self.loaded is not None
        old = self.config.batch_size
        base = self.run.model.unload()  # the base model without the LoRA layers of the failed attempt
        self.run.cleanup()
        self.run = None
        collect(self.setup.choice.device)
        self.config.batch_size = max(1, old // 2)
        self.config.grad_accum *= 2
        self.result.oom_retries += 1
        note = (f"out of memory at batch {old}: retrying at batch {self.config.batch_size} x {self.config.grad_accum} "
                "accumulated (the same examples per step)")
        self.setup.progress.message(note, subject=self.model_id)
        bar.advance(0, note=note)
        self.loaded.model = base
        items = [self.fmt.encode(ex) for ex in self.setup.train]
        self.run = LoraRun(base, items, self.loaded.tokenizer.pad_token_id, self.config, self.setup.choice)

    def _does_not_fit(self, err: BaseException) -> Refused:
        """An out-of-memory error at batch 1: what it needed against what the device has free."""
        need = self.result.memory_estimate_bytes
        free = available_memory(self.setup.choice.device)
        return Refused(
            f"does not fit: out of memory during training even at batch 1 ({type(err).__name__}); estimated need "
            + (f"{need / GB:.2f} GB" if need else "unknown")
            + (f", free on {self.setup.choice.device} now {free / GB:.2f} GB" if free is not None else "")
            + "; lower max_seq_len, use a larger device, or leave this candidate out"
        )

    def finetuned_score(self) -> None:
        r = self.result
        r.validation_score = self.validation_score()
        metrics, items = self.evaluate("fine-tuned")
        r.finetuned_metrics, r.finetuned_score, r.test_items["finetuned"] = metrics, metrics[self.setup.metric], items
        seed = self.setup.seed
        r.finetuned_ci = _ci(interval(items, seed=seed))
        if "base" in r.test_items:
            r.gain_ci = _ci(paired_difference(items, r.test_items["base"], seed=seed))

    def save_adapter(self) -> None:
        self.stage = "saving the adapter"
        assert self.run is not None
        path = self.setup.output_dir / safe_id(self.model_id)
        path.mkdir(parents=True, exist_ok=True)
        self.run.save_adapter(str(path))
        self.result.adapter_path = str(path)

    def _peak_bytes(self) -> int | None:
        now = self.peak.peak_bytes()
        known = [p for p in (now, self._peak_before) if p is not None]
        return max(known) if known else None

    def complete(self, status: str = "ok", reason: str | None = None) -> None:
        r = self.result
        r.status, r.reason = status, reason  # type: ignore[assignment]
        r.eval_seconds = self.eval_seconds
        r.peak_memory_bytes = self._peak_bytes()
        r.config = self.config_dict()

    def config_dict(self) -> dict[str, Any]:
        s = self.setup
        out = self.config.as_dict()
        out.update(
            n_train=len(s.train),
            n_eval=len(s.evals),
            n_validation=len(s.validation),
            dtype=s.choice.label.split("/")[-1],
            device=s.choice.device,
            prompt_format=None if self.fmt is None else "chat" if self.fmt.chat else "plain",
            **s.extra_config,
        )
        return out

    # ------------------------------------------------------------------------------------------ halving

    def park(self) -> None:
        """Keep the adapter and optimizer state; free the base model."""
        assert self.run is not None
        self._peak_before = self._peak_bytes()
        self.run.park()
        self.release_model()

    def pack(self) -> dict[str, Any]:
        """This parked candidate (after :meth:`park`) as plain data another process can :meth:`unpack`: the
        result so far, the training counters and settings, and the Trainer checkpoint's files (or the finished
        adapter) as a tar archive."""
        import io
        import tarfile

        assert self.run is not None
        self.complete("eliminated", "parked after the first rung")  # eval seconds, peak memory, configuration
        folder = Path(self.run._checkpoint) if self.run._checkpoint else self.run.workdir / "final"
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            tar.add(str(folder), arcname=folder.name)
        return {"result": self.result.model_dump(mode="json"), "config": self.config.as_dict(),
                "stats": dataclasses.asdict(self.run.stats), "eval_seconds": self.eval_seconds,
                "peak": self._peak_bytes(), "folder": folder.name, "checkpoint": self.run._checkpoint is not None,
                "files": buf.getvalue()}

    def unpack(self, state: dict[str, Any]) -> None:
        """Take over a candidate :meth:`pack` packed in another process; :meth:`resume` then reloads it."""
        import io
        import tarfile
        import tempfile

        self.result = CandidateResult.model_validate(state["result"])
        for key, value in state["config"].items():
            if hasattr(self.config, key) and key != "trainer":
                setattr(self.config, key, value)
        self.eval_seconds, self._peak_before = state["eval_seconds"], state["peak"]
        workdir = Path(tempfile.mkdtemp(prefix="slmselect-train-"))
        with tarfile.open(fileobj=io.BytesIO(state["files"]), mode="r:gz") as tar:
            tar.extractall(workdir, filter="data")
        self._unpacked = (workdir, str(workdir / state["folder"]) if state["checkpoint"] else None,
                          TrainStats(**state["stats"]))

    def resume(self) -> None:
        self.stage = "reloading"
        if self.run is None and self._unpacked is not None:
            workdir, checkpoint, stats = self._unpacked
            self.load()
            assert self.fmt is not None
            items = [self.fmt.encode(ex) for ex in self.setup.train]
            self.run = LoraRun.restore(items, self.loaded.tokenizer.pad_token_id, self.config, self.setup.choice,
                                       workdir, checkpoint, stats)
            self.run.resume(self.loaded.model)
            return
        assert self.run is not None
        self.peak.reset()
        with self.setup.progress.stage("reload", subject=self.model_id):
            self.loaded = load_model(self.model_id, self.setup.choice, trust_remote_code=self.setup.trust_remote_code)
        self.run.resume(self.loaded.model)

    # ------------------------------------------------------------------------------------------ failures

    def fail(self, err: BaseException) -> None:
        r = self.result
        r.peak_memory_bytes = self._peak_bytes() if r.n_params else None
        r.eval_seconds = self.eval_seconds or None
        r.config = self.config_dict()
        if isinstance(err, Refused):
            r.status, r.reason = "refused", str(err)
        elif isinstance(err, KeyboardInterrupt):
            r.status, r.reason = "interrupted", f"interrupted during {self.stage}"
        elif _is_oom(err):
            r.status = "failed"
            r.reason = (
                f"out of memory during {self.stage} ({type(err).__name__}); lower batch_size or "
                "max_seq_len, or use a larger GPU"
            )
        elif isinstance(err, ConfirmError):
            r.status, r.reason = "failed", f"{self.stage}: {err}"
        else:
            r.status, r.reason = "failed", f"{self.stage}: {type(err).__name__}: {err}"

    def release_model(self) -> None:
        self.loaded = None
        if self.run is not None:
            self.run.model = None
        collect(self.setup.choice.device)

    def release(self, keep_checkpoints: bool = False) -> None:
        """Free the model and delete the run's checkpoints (``keep_checkpoints``: unless they are kept for a
        later ``resume``, as after Ctrl-C)."""
        self.release_model()
        if self.run is not None and not (keep_checkpoints and self.run.save_every):
            self.run.cleanup()
        self.run = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        gc.collect()


def collect(device: str) -> None:
    """Free what nothing references any more: Python's garbage, then the GPU allocator's cached blocks."""
    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()
    elif device == "mps":
        import torch

        torch.mps.empty_cache()


def _ci(span: Interval) -> tuple[float, float]:
    return (span.low, span.high)


def _is_oom(err: BaseException) -> bool:
    if isinstance(err, MemoryError):
        return True
    try:
        import torch

        return isinstance(err, torch.OutOfMemoryError)
    except (ImportError, AttributeError):
        return "out of memory" in str(err).lower()
