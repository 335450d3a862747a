"""``export()``: ship a confirmed candidate as a merged Hugging Face folder, a GGUF file and an Ollama Modelfile.

The adapter is merged into its base model (peft's ``merge_and_unload``) and saved with the tokenizer; the GGUF
comes from llama.cpp's own converter, and its own quantizer for Q4_K_M (:mod:`slmselect.deploy.gguf`). Everything
is written in a temporary folder inside ``output_dir`` and moved under its final name only when whole, so an
interrupted export leaves no half-written file under a final name (the next export removes the leftover).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slmselect._validate import EXPORT_FORMATS as FORMATS, check_params
from slmselect._types import Example
from slmselect.confirmation.data import PromptFormat
from slmselect.confirmation.device import choose_device
from slmselect.confirmation.results import ConfirmReport
from slmselect.confirmation.safety import TMP_PREFIX, sweep_stale
from slmselect.confirmation.cache import safe_id
from slmselect.confirmation.weights import load_model
from slmselect.deploy.gguf import go_template, modelfile_text, write_gguf
from slmselect.errors import ParameterError

_MARK = "SLMSELECT_INPUT_7f3a"


@dataclass
class Confirmed:
    """What an export needs of a confirmed candidate."""

    run_id: str
    model_id: str
    adapter_path: Path
    instruction: str
    task_type: str
    finetuned_score: float | None


def _from_report(report: ConfirmReport, model: str | None) -> Confirmed:
    ok = [c for c in report.candidates if c.status == "ok"]
    name = model or report.pick
    if name is None or not ok:
        raise ParameterError(f"Run {report.run_id} has no finished candidate to export.")
    found = [c for c in ok if c.model_id == name or c.model_id.split("/")[-1].lower() == name.split("/")[-1].lower()]
    if not found:
        raise ParameterError(f"{name!r} is not a finished candidate of run {report.run_id}; choose one of "
                             f"{', '.join(c.model_id for c in ok)} with model=.")
    c = found[0]
    instruction = report.instruction or c.config.get("instruction")
    if not c.adapter_path or not instruction:
        raise ParameterError(f"Run {report.run_id} did not record the adapter and instruction of {c.model_id}; "
                             "confirm it again with this version of slmselect.")
    return Confirmed(report.run_id, c.model_id, Path(c.adapter_path), instruction, report.task_type, c.finetuned_score)


def _from_store(run_id: str, model: str | None, store: Any) -> Confirmed:
    from slmselect.evidence.store import load_local_results

    rows = load_local_results(store)
    rows = rows[(rows["run_id"] == run_id.strip()) & (rows["status"] == "ok")] if len(rows) else rows
    if not len(rows):
        raise ParameterError(f"No finished run {run_id!r} in the results store; `slmselect confirm` prints the run id "
                             "(and --json has it), or give the report's JSON file.")
    if model is not None:
        rows = rows[(rows["model_id"] == model) | (rows["model_id"].str.split("/").str[-1].str.lower()
                                                     == model.split("/")[-1].lower())]
        if not len(rows):
            raise ParameterError(f"{model!r} is not a finished candidate of run {run_id}.")
    row = rows.sort_values("finetuned_score", ascending=False).iloc[0]
    config = json.loads(row["config"] or "{}")
    if not config.get("adapter_path") or not config.get("instruction"):
        raise ParameterError(f"Run {run_id} did not record the adapter and instruction of {row['model_id']}; "
                             "confirm it again with this version of slmselect.")
    return Confirmed(run_id, str(row["model_id"]), Path(config["adapter_path"]), config["instruction"],
                     str(row["task_type"]), row["finetuned_score"])


def confirmed(report: ConfirmReport | str | os.PathLike[str], model: str | None = None, store: Any = None) -> Confirmed:
    """The candidate to export: from a ConfirmReport, its JSON file, or a run id in the results store."""
    if isinstance(report, ConfirmReport):
        c = _from_report(report, model)
    elif isinstance(report, (str, os.PathLike)) and str(report).endswith(".json"):
        path = Path(report).expanduser()
        if not path.is_file():
            raise ParameterError(f"No report file at {str(path)!r}; `slmselect confirm --json > report.json` writes one.")
        c = _from_report(ConfirmReport.model_validate_json(path.read_text(encoding="utf-8")), model)
    elif isinstance(report, str):
        c = _from_store(report, model, store)
    else:
        raise ParameterError(f"export takes a ConfirmReport, its JSON file or a run id; got {type(report).__name__}.")
    if not (c.adapter_path / "adapter_config.json").is_file():
        raise ParameterError(f"The adapter of {c.model_id} is gone from {str(c.adapter_path)!r}; "
                             "confirm again, or keep adapters with confirm(output_dir=...).")
    return c


def merge(c: Confirmed, out: Path) -> tuple[Any, Any]:
    """The base model with the adapter merged in, saved to ``out`` (safetensors and tokenizer); returns
    (model, tokenizer)."""
    from peft import PeftModel

    from slmselect.confirmation.hf_compat import quiet_hf

    loaded = load_model(c.model_id, choose_device("cpu", cuda_available=False))
    with quiet_hf():
        model = PeftModel.from_pretrained(loaded.model, str(c.adapter_path)).merge_and_unload()
        model.config.use_cache = True
        model.save_pretrained(str(out), safe_serialization=True)
        loaded.tokenizer.save_pretrained(str(out))
    return model, loaded.tokenizer


def prompt_format(tokenizer: Any, c: Confirmed) -> PromptFormat:
    return PromptFormat(tokenizer, c.instruction, c.task_type)


def ollama_files(tokenizer: Any, c: Confirmed) -> tuple[str, list[str]]:
    """The Go template (the fine-tuning prompt with the input as ``{{ .Prompt }}``) and the stop strings."""
    fmt = prompt_format(tokenizer, c)
    rendered = fmt.prompt_text(Example(input=_MARK, output=""))
    stops = [fmt._suffix.strip()] if fmt.chat and fmt._suffix.strip() else []  # noqa: SLF001
    if tokenizer.eos_token and tokenizer.eos_token not in stops:
        stops.append(tokenizer.eos_token)
    return go_template(rendered, _MARK), stops


def export(report: ConfirmReport | str | os.PathLike[str], model: str | None = None, *,
           output_dir: str | os.PathLike[str], formats: tuple[str, ...] | list[str] | str = FORMATS,
           quant: str = "q8_0", store: Any = None) -> dict[str, Path]:
    """Write a confirmed candidate for deployment; returns {"hf": folder, "gguf": file, "ollama": Modelfile}.

    ``report``: a :class:`ConfirmReport`, its JSON file, or a run id in the results store (``store``); ``model``:
    which candidate (default: the pick, or the run's best fine-tuned score in the store). ``formats``: any of
    ``hf`` (the merged model: safetensors and tokenizer, loads with ``from_pretrained``), ``gguf`` (llama.cpp's
    converter, and its quantizer for ``q4_k_m``; ``quant``: ``f16``, ``q8_0``, ``q4_k_m``), ``ollama`` (a
    ``Modelfile`` beside the GGUF, with the fine-tuning prompt as its template). Atomic: nothing appears under a
    final name until it is whole.
    """
    p = check_params("export", quant=quant, formats=formats)
    quant, wanted = p["quant"], p["formats"]
    if "ollama" in wanted and "gguf" not in wanted:
        wanted.append("gguf")  # the Modelfile points at the GGUF
    c = confirmed(report, model, store)
    out = Path(output_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    sweep_stale(out)
    tmp = out / f"{TMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    name = safe_id(c.model_id).split("--")[-1] + "-slmselect"
    final = {"hf": out / name, "gguf": out / f"{name}-{quant}.gguf", "ollama": out / "Modelfile"}
    try:
        hf = tmp / name
        _, tokenizer = merge(c, hf)
        if "gguf" in wanted:
            write_gguf(hf, tmp / final["gguf"].name, quant, tmp)
        if "ollama" in wanted:
            template, stops = ollama_files(tokenizer, c)
            (tmp / "Modelfile").write_text(modelfile_text(final["gguf"].name, template, stops, c.instruction), encoding="utf-8")
        written: dict[str, Path] = {}
        for kind in ("gguf", "ollama", "hf"):  # each one whole before it gets its final name
            if kind in wanted:
                src = tmp / final[kind].name
                if final[kind].is_dir():
                    shutil.rmtree(final[kind])
                os.replace(src, final[kind])
                written[kind] = final[kind]
        return written
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
