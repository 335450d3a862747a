"""``confirm()``: short LoRA fine-tunes of the top candidates on the user's data, measured before and after.

Every candidate is trained and scored on the same train / held-out split with the same seed, one after
the other (one model in memory at a time). A failure on one candidate is recorded and the others go on;
Ctrl-C stops the run and keeps what finished. Each finished (or failed) candidate is appended to the
local results store at once, so ``recommend()`` learns from it even if a later candidate crashes.
"""

from __future__ import annotations

import importlib
import os
import platform
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from slmselect.errors import ConfirmError, ParameterError, did_you_mean
from slmselect.confirmation.data import instruction_for, split_examples
from slmselect._validate import check_params, validate_params
from slmselect.confirmation.device import cpu_count, detect_device, gpu_name
from slmselect.report.progress import reporter
from slmselect.confirmation.metrics import METRICS, PRIMARY_METRIC
from slmselect.confirmation.results import CandidateResult, ConfirmReport, HalvingSummary
from slmselect.evidence.store import ResultsStore, ResultWriter, open_store
from slmselect.errors import StoreError
from slmselect.events import ProgressCallback
from slmselect.confirmation.training import TrainConfig
from slmselect.confirmation.stages import Interrupted, run_trial
from slmselect.confirmation.stats import compare_to_pick
from slmselect.confirmation.resume import candidate_key, checkpoint_dir, reused_results, run_key, stored_result
from slmselect.confirmation.trial import GB, Setup, Trial
from slmselect.confirmation.cache import cache_root
from slmselect.confirmation.safety import check_model_path
from slmselect.confirmation.sources import model_sources

#: Held-out examples when neither eval_examples nor a small data set limits them (scoring is slow on a CPU).
MAX_DEFAULT_EVAL = 200
#: Validation part (halving, the pick) when there is more than one candidate and no validation_examples.
VALIDATION_FRACTION = 0.15
MIN_VALIDATION = 8
DEFAULT_LR = 2e-4
DEFAULT_RANK = 8


def _default_validation(n: int, eval_examples: int | None, eval_fraction: float, n_candidates: int) -> int:
    """Validation examples when none are asked for: none for one candidate, else 15% (at least 8, at most
    200), but never more than a third of what the test part leaves, so most examples still train."""
    if n_candidates < 2:
        return 0
    n_test = eval_examples if eval_examples is not None else round(n * eval_fraction)
    want = min(MAX_DEFAULT_EVAL, max(MIN_VALIDATION, round(n * VALIDATION_FRACTION)))
    return max(1, min(want, (n - n_test) // 3))


def _candidate_ids(models: Any, recommendation: Any, top_k: int) -> tuple[list[str], str | None]:
    if (models is None) == (recommendation is None):
        raise ParameterError(
            "confirm needs exactly one of models=[...] (model ids, local folders or .gguf files) or "
            "recommendation=recommend(...) (its first top_k candidates)."
        )
    if recommendation is not None:
        ids = [c.model_id for c in recommendation.candidates[:top_k]]
        if not ids:
            raise ParameterError("The recommendation has no candidates to confirm.")
        return ids, ids[0]
    ids = list(models)  # a list of names, from the parameter layer
    if len(set(ids)) != len(ids):
        raise ParameterError(f"models lists a model twice: {ids}; each candidate is trained once.")
    for model_id in ids:
        check_model_path(model_id)  # a wrong local path fails here, before anything is read, trained or stored
    return ids, ids[0]


def _known_profile(recommendation: Any, examples: list[Any], description: str | None) -> Any:
    """The recommendation's task profile when it was made from these very examples and this description (the
    fingerprint and the description match), so that confirm does not profile them again; else None."""
    known = getattr(recommendation, "profile", None)
    if known is None or getattr(known, "description", None) != description:
        return None
    from slmselect.profile.columns import Columns, fingerprint

    return known if known.fingerprint == fingerprint(Columns.of(examples)) else None


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("torch", "transformers", "peft"):
        try:
            out[name] = __import__(name).__version__
        except ImportError:
            out[name] = "not installed"
    from slmselect import __version__

    out["slmselect"] = __version__
    return out


def workers_label(results: Sequence[CandidateResult]) -> str:
    """Where the candidates ran and at which precision, as the workers reported it (``device/dtype``)."""
    seen = sorted({f"{r.config['device']}/{r.config['dtype']}" for r in results if r.config.get("device")})
    return ", ".join(seen) + " (Ray workers)" if seen else "unknown (Ray workers)"


def _hardware(device: str) -> dict[str, Any]:
    from slmselect.confirmation.device import available_memory

    mem = available_memory("cpu")
    return {
        "cpu_count": cpu_count(),
        "gpu": gpu_name(device),
        "machine": platform.machine(),
        "system": platform.system(),
        "ram_available_gb": round(mem / GB, 1) if mem else None,
    }


def _row(result: CandidateResult, report_fields: dict[str, Any]) -> dict[str, Any]:
    return {
        **report_fields,
        "model_id": result.model_id,
        "metric": result.metric,
        "base_score": result.base_score,
        "finetuned_score": result.finetuned_score,
        "metrics": {"base": result.base_metrics, "finetuned": result.finetuned_metrics},
        "status": result.status,
        "reason": result.reason,
        "config": {**result.config, "adapter_path": result.adapter_path},
        "serving": result.serving,
        "train_seconds": result.train_seconds,
        "tokens_per_second": result.tokens_per_second,
        "peak_memory_bytes": result.peak_memory_bytes,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


@validate_params("confirm")
def confirm(
    examples: Any,
    *,
    models: Sequence[str] | str | None = None,
    recommendation: Any = None,
    top_k: int = 2,
    steps: int = 40,
    eval_fraction: float = 0.33,
    eval_examples: int | None = None,
    validation_examples: int | None = None,
    train_examples: Any = None,
    split: str | None = None,
    normalize_labels: bool = False,
    seed: int = 0,
    device: str = "auto",
    output_dir: str | os.PathLike[str] | None = None,
    successive_halving: bool = False,
    lora_r: int | None = None,
    learning_rate: float | None = None,
    max_seq_len: int | None = None,
    batch_size: int = 8,
    store: str | os.PathLike[str] | ResultsStore | bool | None = None,
    description: str | None = None,
    trust_remote_code: bool = False,
    keep_samples: bool = False,
    progress: bool | ProgressCallback = True,
    memory_limit_gb: float | None = None,
    on_candidate_done: Callable[[CandidateResult], None] | None = None,
    backend: str = "local",
    address: str | None = None,
    metric: str | None = None,
    resume: bool = False,
    checkpoint_every: int | None = None,
    serve: bool | str = False,
) -> ConfirmReport:
    """Fine-tune the candidates briefly with LoRA on ``examples`` and measure each before and after.

    Give exactly one of ``models`` (ids, local folders or .gguf files) or ``recommendation`` (its first
    ``top_k`` candidates). The examples are split once into three disjoint parts (stratified by label
    for classification): **test** (``eval_examples``, else ``eval_fraction``, at most 200), scored
    before and after ``steps`` LoRA steps of ``batch_size`` examples for the reported scores and their
    95% intervals; **validation** (``validation_examples``; by default 15% of the examples, at least 8,
    when there is more than one candidate, else none; see :func:`_default_validation`), on which successive halving cuts candidates and
    the pick is made; and **train**. The report compares the pick with every other candidate by a
    paired bootstrap on the test examples and says "too close to call" when the difference's interval
    spans zero. ``successive_halving`` trains every candidate for a quarter of the steps, keeps the
    better half on validation and finishes only those. ``train_examples`` (a path or list, e.g. the file
    :func:`slmselect.expand` wrote) is added to the training part; any of its examples whose input is in
    the validation or test part is dropped, so scores are still measured on held-out seeds only.

    Results go to the local results store (``store``: a path, a ``postgresql://`` URL or
    :class:`ResultsStore`; ``False`` for none; default ``SLMSELECT_RESULTS`` or the user data dir), which
    is checked before any training; it keeps profile statistics of the data, and a few sample inputs
    only with ``keep_samples=True``. Rows the store refuses at the end are saved to a recovery file and
    :class:`StoreError` (with ``.recovery_path`` and ``.report``) is raised. Adapters go to
    ``output_dir/<model>/`` (default: the slmselect cache). ``memory_limit_gb`` caps the memory a
    candidate may need (default: what is free); ``on_candidate_done`` is called with each result.
    ``backend="ray"`` runs each candidate as a Ray task on the cluster at ``address`` ('auto',
    'ray://host:10001'; default: a local Ray) and keeps the store writes on this process (docs/scale-out.md).
    ``serve=True`` (or a format: ``"q4_k_m"``, the default, ``"q8_0"``, ``"f16"``) also measures each finished
    candidate in llama.cpp on this machine: merged, converted to GGUF, and run on the test examples
    (``CandidateResult.serving``: tokens per second, latency p50/p95, peak resident memory, hardware, score;
    docs/edge.md). A serving failure is noted on the candidate and does not fail the run.
    ``metric`` chooses what the scores, intervals and the pick use, among those the task type measures
    (classification: ``accuracy``, the default, or ``macro_f1``, better for imbalanced classes; QA:
    ``token_f1`` or ``exact_match``); every metric is reported either way.

    ``resume=True`` (after a run was killed) reuses each candidate the store already holds for the same
    examples, split, model and settings, trains only the others, and goes on from the last checkpoint of a
    candidate killed mid-training; the report lists what it reused (:attr:`ConfirmReport.reused`).
    ``checkpoint_every`` sets how often a candidate's training is checkpointed for that (default: every
    quarter of ``steps``, at least 5; 0 for never). See :mod:`slmselect.confirmation.resume`.
    ``progress``: ``True`` draws the run's progress on stderr (bars on a terminal, plain lines in a pipe or a
    log), ``False`` draws nothing, and a callable receives every event instead (:mod:`slmselect.events`: the
    set-up stages, each candidate's stages with their steps and losses, and messages).
    With ``recommendation``, its task profile is used when it was made from the same examples and description.
    Raises :class:`ConfirmError` (with ``.report``) when no candidate could be measured.
    """
    from slmselect.profile.readers import read_examples
    from slmselect.profile.profiler import profile_task

    model_ids, first_choice = _candidate_ids(models, recommendation, top_k)
    model_sources()  # a SLMSELECT_MODEL_SOURCES hook that cannot be imported fails here, before any work
    if address is not None and backend != "ray":
        raise ParameterError(f"address={address!r} is the address of a Ray cluster: add backend='ray'.")
    if backend == "ray":
        from slmselect.confirmation.ray_backend import import_ray

        import_ray()  # says how to install Ray before any work is done
    if resume and successive_halving:
        raise ParameterError(
            "resume=True does not combine with successive_halving=True yet: halving decides on every candidate's "
            "first rung together. Rerun with halving off to reuse what a killed run measured.")
    rep = reporter(progress, "confirm")
    with rep.stage("opening the results store"):
        results_store = open_store(store)  # integrity, schema, lock, write access: before any training
    if resume and results_store is None:
        raise ParameterError("resume=True reuses results from the results store; it cannot work with store=False.")
    writer = ResultWriter(results_store)
    if description is None and recommendation is not None:
        description = getattr(recommendation, "description", None)

    what = f"reading {Path(examples).name}" if isinstance(examples, (str, os.PathLike)) else "preparing the examples"
    with rep.stage(what) as stage:
        normalised, _fields = read_examples(examples, split=split, normalize_labels=normalize_labels)
        stage.done(f"{len(normalised)} examples")
    profile = _known_profile(recommendation, normalised, description)
    if profile is not None:
        rep.message("the examples' profile: the recommendation's (the same examples and description)")
    else:
        with rep.stage("profiling the examples"):
            profile = profile_task(normalised, description=description)
    task = profile.task_type
    if eval_examples is None and round(len(normalised) * eval_fraction) > MAX_DEFAULT_EVAL:
        eval_examples = MAX_DEFAULT_EVAL
    if validation_examples is None:
        validation_examples = _default_validation(len(normalised), eval_examples, eval_fraction, len(model_ids))
    train_idx, val_idx, eval_idx = split_examples(
        normalised,
        task_type=task,
        eval_fraction=eval_fraction,
        eval_examples=eval_examples,
        validation_examples=validation_examples,
        seed=seed,
    )
    train = [normalised[i] for i in train_idx]
    evals = [normalised[i] for i in eval_idx]
    validation = [normalised[i] for i in val_idx]
    if train_examples is not None:
        held_out = {(e.input.strip().lower(), (e.context or "").strip().lower()) for e in evals + validation}
        extra, _ = read_examples(train_examples)
        train += [e for e in extra if (e.input.strip().lower(), (e.context or "").strip().lower()) not in held_out]
    labels = None
    if task == "classification":
        labels = list(profile.labels or sorted({e.output.strip() for e in normalised}))
    if metric is not None:
        if metric not in METRICS[task]:
            raise ParameterError(
                f"The 'metric' parameter of confirm must be one of {', '.join(map(repr, METRICS[task]))} for a "
                f"{task} task; got {metric!r}." + did_you_mean(metric, METRICS[task]))
    chosen_metric = metric or PRIMARY_METRIC[task]

    with rep.stage("importing torch" + (", transformers and peft" if backend == "local" else "")):
        import torch  # a few seconds, and half a minute with transformers and peft on a busy CPU

        if backend == "local":  # imported here, where the wait is reported, rather than at the first load
            for name in ("transformers", "peft"):
                importlib.import_module(name)
    choice = detect_device(device)
    threads_before = torch.get_num_threads()
    if choice.device == "cpu":
        torch.set_num_threads(cpu_count())
    run_id = uuid.uuid4().hex[:12]
    out_dir = Path(output_dir).expanduser() if output_dir is not None else cache_root() / "adapters" / run_id
    config = TrainConfig(
        steps=steps,
        learning_rate=learning_rate or DEFAULT_LR,
        lora_r=lora_r or DEFAULT_RANK,
        lora_alpha=2 * (lora_r or DEFAULT_RANK),
        batch_size=batch_size,
        seed=seed,
    )
    instruction = instruction_for(profile, [e.output for e in train], description)
    serve_quant = check_params("serve_bench", quant=serve)["quant"] if serve not in (False, None, True) else "q4_k_m"
    setup = Setup(
        profile=profile,
        train=train,
        evals=evals,
        labels=labels,
        instruction=instruction,
        choice=choice,
        config=config,
        max_seq_len=max_seq_len,
        output_dir=out_dir,
        memory_limit_bytes=int(memory_limit_gb * GB) if memory_limit_gb is not None else None,
        trust_remote_code=trust_remote_code,
        progress=rep,
        extra_config={"successive_halving": bool(successive_halving), "run_steps": steps, "instruction": instruction},
        validation=validation,
        seed=seed,
        chosen_metric=chosen_metric,
        resume=resume,
    )
    settings = {**config.as_dict(), "max_seq_len": max_seq_len, "metric": chosen_metric, "device": choice.label,
                "successive_halving": bool(successive_halving), "task_type": task, "labels": labels}
    key = run_key(profile.fingerprint, {"train": train_idx, "validation": val_idx, "test": eval_idx}, train,
                  setup.instruction, settings)
    keys = {m: candidate_key(key, m) for m in model_ids}
    if backend == "local" and not successive_halving:
        setup.checkpoint_every = max(5, steps // 4) if checkpoint_every is None else checkpoint_every
        setup.checkpoints = {m: checkpoint_dir(key, m) for m in model_ids}
    reused = reused_results(results_store, keys) if resume else {}
    shared = {
        "run_id": run_id,
        "task_fingerprint": profile.fingerprint,
        "task_type": task,
        "description": description,
        "sample_inputs": profile.sample_inputs if keep_samples else None,
        "profile": profile.model_dump(
            mode="json", include={"n_examples", "output_format", "input_tokens", "output_tokens", "token_counter",
                                  "language", "confidence"}),
        "labels": labels,
        "n_train": len(train),
        "n_eval": len(evals),
        "versions": _versions(),
        "hardware": _hardware(choice.device),
    }
    results: list[CandidateResult] = []

    def record(result: CandidateResult) -> None:
        results.append(result)
        if serve and result.status == "ok" and result.adapter_path:
            from slmselect.confirmation.serving import serve_candidate

            with rep.stage(f"serving ({serve_quant}) in llama.cpp", subject=result.model_id):
                serve_candidate(result, setup, serve_quant)
        if result.status != "interrupted":
            writer.add({**_row(result, shared), "resume_key": keys[result.model_id],
                        "result": stored_result(result, keep_samples)})
        if on_candidate_done is not None and result.status != "interrupted":
            on_candidate_done(result)

    interrupted = False
    halving: HalvingSummary | None = None
    to_train = [m for m in model_ids if m not in reused]
    try:
        for model_id, result in reused.items():
            rep.message(f"reused the result run {result.reused_from} stored for the same data and settings "
                        "(resume=True)", subject=model_id)
            if serve and not result.serving and result.adapter_path and Path(result.adapter_path).is_dir():
                from slmselect.confirmation.serving import serve_candidate

                with rep.stage(f"serving ({serve_quant}) in llama.cpp", subject=model_id):
                    serve_candidate(result, setup, serve_quant)
            results.append(result)
            if on_candidate_done is not None:
                on_candidate_done(result)
        if not to_train:
            pass
        elif backend == "ray":
            from slmselect.confirmation.ray_backend import run_on_ray

            halving = run_on_ray(to_train, setup, steps, record, address=address, device=device,
                                 successive_halving=successive_halving)
        elif successive_halving and len(to_train) > 1:
            from slmselect.confirmation.halving import run_halving

            halving = run_halving(to_train, setup, steps, record)
        else:
            for model_id in to_train:
                record(run_trial(Trial(model_id, setup), steps))
    except Interrupted as stop:
        interrupted = True
        results.append(stop.result)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        torch.set_num_threads(threads_before)
    results.sort(key=lambda r: model_ids.index(r.model_id))
    done = {r.model_id for r in results}
    for model_id in model_ids:  # not finished because of the interrupt
        if model_id not in done:
            results.append(
                CandidateResult(
                    model_id=model_id,
                    status="interrupted",
                    metric=setup.metric,
                    reason="the run was interrupted before this candidate finished",
                )
            )
    report = ConfirmReport(
        run_id=run_id,
        task_type=task,
        metric=setup.metric,
        task_fingerprint=profile.fingerprint,
        n_train=len(train),
        n_eval=len(evals),
        train_indices=train_idx,
        eval_indices=eval_idx,
        n_validation=len(validation),
        validation_indices=val_idx,
        device=workers_label(results) if backend == "ray" else choice.label,
        candidates=results,
        first_choice=first_choice,
        interrupted=interrupted,
        halving=halving,
        output_dir=str(out_dir),
        store_path=results_store.location if results_store is not None else None,
        instruction=instruction,
    )
    report.comparisons = compare_to_pick(report.candidates, report.pick, seed=seed)
    try:
        writer.finish()
    except StoreError as err:
        err.report = report  # type: ignore[attr-defined]
        raise
    if not interrupted and not any(r.status == "ok" for r in results):
        reasons = "\n".join(f"  - {r.model_id}: {r.status}: {(r.reason or '').splitlines()[0]}" for r in results)
        first = next((r.reason for r in results if r.reason and "\n" in r.reason), "")
        detail = "\n" + first.split("\n", 1)[1] if first else ""
        err = ConfirmError(f"No candidate could be measured:\n{reasons}{detail}")
        err.report = report  # type: ignore[attr-defined]
        raise err
    return report
