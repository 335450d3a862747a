"""Candidates measured where they will run: llama.cpp on this machine at a deployment format.

:func:`serve_candidate` (``confirm(serve=True)``) merges a finished candidate's adapter, converts it to GGUF with
llama.cpp's tools and answers the test examples through llama.cpp; :func:`serve_bench` (``slmselect serve-bench``)
does the same for any model or GGUF file on a tasks file. Both greedy-decode the same prompts confirm scored.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from slmselect._validate import check_params
from slmselect.confirmation.data import PromptFormat, instruction_for
from slmselect.confirmation.export import Confirmed, merge
from slmselect.confirmation.metrics import PRIMARY_METRIC, as_label, compute_metrics
from slmselect.confirmation.results import CandidateResult
from slmselect.confirmation.scoring import max_new_tokens_for
from slmselect.deploy.bench import bench_gguf
from slmselect.deploy.gguf import write_gguf
from slmselect.errors import ParameterError, SlmselectError


def _measure(gguf: Path, fmt: PromptFormat, examples: list[Any], quant: str, metric: str,
             max_tokens: int, labels: list[str] | None = None) -> dict[str, Any]:
    prompts = [fmt.prompt_text(ex) for ex in examples]
    stops = [fmt._suffix.strip()] if fmt.chat and fmt._suffix.strip() else []  # noqa: SLF001
    serving, answers = bench_gguf(gguf, prompts, fmt=quant, max_tokens=max_tokens, stop=stops)
    if labels:  # a served classifier generates its answer: read it as the label it gives
        answers = [as_label(a, labels) for a in answers]
    metrics = compute_metrics(fmt.task_type, answers, [e.output for e in examples], labels=labels)
    serving["score"] = round(float(metrics[metric]), 4)
    serving["metric"] = metric
    serving["gguf_bytes"] = gguf.stat().st_size
    serving["samples"] = [{"input": e.input[:200], "reference": e.output[:200], "served": a[:200]}
                          for e, a in zip(examples[:3], answers)]
    return serving


def serve_candidate(result: CandidateResult, setup: Any, quant: str) -> None:
    """Fill ``result.serving`` (a note in ``result.reason`` when llama.cpp cannot run it)."""
    c = Confirmed("", result.model_id, Path(str(result.adapter_path)), setup.instruction,
                  setup.profile.task_type, result.finetuned_score)
    tmp = Path(tempfile.mkdtemp(prefix="slmselect-serve-"))
    try:
        _, tokenizer = merge(c, tmp / "hf")
        gguf = write_gguf(tmp / "hf", tmp / f"model-{quant}.gguf", quant, tmp)
        fmt = PromptFormat(tokenizer, setup.instruction, setup.profile.task_type)
        tokens = max_new_tokens_for(fmt, [e.output for e in setup.train], cap=256)
        result.serving = _measure(gguf, fmt, list(setup.evals), quant, setup.metric, tokens, setup.labels)
    except (SlmselectError, OSError, RuntimeError, ValueError) as err:
        note = f"serving not measured: {type(err).__name__}: {str(err)[:300]}"
        result.reason = f"{result.reason}; {note}" if result.reason else note
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _hf_folder(model: str, tmp: Path) -> Path:
    """A Hugging Face folder of ``model``: a local folder as it is, else slmselect's converted copy."""
    from slmselect.confirmation.device import choose_device
    from slmselect.confirmation.safety import check_model_path
    from slmselect.confirmation.weights import ensure_converted, load_model

    kind = check_model_path(model)
    if kind == "folder":
        return Path(model).expanduser()
    folder = ensure_converted(model)
    if folder is not None:
        return folder
    loaded = load_model(model, choose_device("cpu", cuda_available=False))
    loaded.model.save_pretrained(str(tmp / "hf"), safe_serialization=True)
    loaded.tokenizer.save_pretrained(str(tmp / "hf"))
    return tmp / "hf"


def serve_bench(model: str | os.PathLike[str], examples: Any, *, quant: str = "q4_k_m", max_examples: int = 32,
                description: str | None = None, store: Any = None) -> dict[str, Any]:
    """Measure ``model`` (an id, a folder or a ``.gguf`` file) in llama.cpp on this machine over ``examples``.

    A model is converted with llama.cpp's converter (and quantizer) to ``quant``; a GGUF file is run as it is.
    Returns the serving dict (``CandidateResult.serving``'s keys, with ``score`` on the task's metric) and
    records it in the results store (``store``; ``False`` for none) for ``recommend``.
    """
    from slmselect.evidence.store import ResultWriter, open_store
    from slmselect.profile.profiler import profile_task
    from slmselect.profile.readers import read_examples

    p = check_params("serve_bench", quant=quant, max_examples=max_examples)
    quant, max_examples = p["quant"], p["max_examples"]
    results_store = open_store(store)
    rows, _ = read_examples(examples)
    profile = profile_task(rows, description=description)
    rows = rows[:max_examples]
    instruction = instruction_for(profile, [e.output for e in rows], description)
    path = Path(str(model)).expanduser()
    tmp = Path(tempfile.mkdtemp(prefix="slmselect-serve-"))
    try:
        if path.suffix == ".gguf":
            if not path.is_file():
                raise ParameterError(f"No GGUF file at {str(path)!r}.")
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
            gguf, quant, model_id = path, _gguf_type(path), path.stem
        else:
            folder = _hf_folder(str(model), tmp)
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(folder))
            gguf = write_gguf(folder, tmp / f"model-{quant}.gguf", quant, tmp)
            model_id = str(model)
        fmt = PromptFormat(tokenizer, instruction, profile.task_type)
        tokens = max_new_tokens_for(fmt, [e.output for e in rows], cap=256)
        labels = list(profile.labels) if profile.task_type == "classification" and profile.labels else None
        serving = _measure(gguf, fmt, rows, quant, PRIMARY_METRIC[profile.task_type], tokens, labels)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if results_store is not None:
        writer = ResultWriter(results_store)
        writer.add({"run_id": "serve-" + uuid.uuid4().hex[:8], "model_id": model_id, "status": "serve-bench",
                    "task_fingerprint": profile.fingerprint, "task_type": profile.task_type,
                    "metric": serving["metric"], "serving": serving, "hardware": serving["hardware"],
                    "config": {"instruction": instruction, "quant": quant, "n_eval": len(rows)},
                    "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        writer.finish()
    serving["model_id"] = model_id
    return serving


def _gguf_type(path: Path) -> str:
    """The GGUF's file type as a format name (``q4_k_m``, ``q8_0``, ``f16``...), from its metadata."""
    try:
        from gguf import GGUFReader, LlamaFileType

        field = GGUFReader(str(path)).fields.get("general.file_type")
        name = LlamaFileType(int(field.parts[field.data[0]][0])).name if field is not None else "gguf"
        return name.replace("MOSTLY_", "").lower()
    except Exception:  # noqa: BLE001 - only a label
        return "gguf"

