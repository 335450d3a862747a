"""How big a model is before loading it, and how much memory a LoRA run of it needs.

:func:`inspect_weights` reads the size from what is on disk without loading tensors (safetensors headers,
GGUF metadata, ``config.json``) or, for weights not downloaded or converted yet, from the benchmark database;
:func:`estimate_memory` turns that into bytes for a given batch and sequence length.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slmselect.confirmation.cache import converted_dir


@dataclass
class WeightsInfo:
    """What is known about a model before loading it (for the memory estimate)."""

    n_params: int | None = None
    hidden: int | None = None
    layers: int | None = None
    intermediate: int | None = None
    vocab: int | None = None
    gguf: bool = False
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- size


def _safetensors_params(files: list[Path]) -> int:
    total = 0
    for f in files:
        with open(f, "rb") as fh:
            (size,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(size))
        for name, meta in header.items():
            if name != "__metadata__":
                n = 1
                for d in meta["shape"]:
                    n *= int(d)
                total += n
    return total


def _config_params(cfg: dict[str, Any]) -> WeightsInfo:
    cfg = cfg.get("text_config", cfg) if isinstance(cfg.get("text_config"), dict) else cfg
    hidden = cfg.get("hidden_size") or cfg.get("n_embd") or cfg.get("d_model")
    layers = cfg.get("num_hidden_layers") or cfg.get("n_layer") or cfg.get("num_layers")
    vocab = cfg.get("vocab_size")
    inter = cfg.get("intermediate_size") or cfg.get("n_inner") or (4 * hidden if hidden else None)
    info = WeightsInfo(hidden=hidden, layers=layers, intermediate=inter, vocab=vocab)
    if hidden and layers and vocab:
        heads = cfg.get("num_attention_heads") or cfg.get("n_head") or 1
        kv = cfg.get("num_key_value_heads") or heads
        head_dim = cfg.get("head_dim") or hidden // heads
        attn = hidden * heads * head_dim * 2 + hidden * kv * head_dim * 2
        mlp = 3 * hidden * inter
        emb = vocab * hidden * (1 if cfg.get("tie_word_embeddings", True) else 2)
        info.n_params = int(emb + layers * (attn + mlp))
    return info


def _gguf_info(path: Path) -> WeightsInfo:
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    info = WeightsInfo(n_params=sum(int(t.n_elements) for t in reader.tensors), gguf=True)
    arch_field = reader.fields.get("general.architecture")
    arch = bytes(arch_field.parts[arch_field.data[0]]).decode() if arch_field else ""

    def value(key: str) -> int | None:
        f = reader.fields.get(f"{arch}.{key}")
        return int(f.parts[f.data[0]][0]) if f is not None else None

    info.hidden, info.layers = value("embedding_length"), value("block_count")
    info.intermediate = value("feed_forward_length")
    for t in reader.tensors:
        if t.name == "token_embd.weight":
            info.vocab = int(max(t.shape))
    return info


def inspect_weights(model_id: str) -> WeightsInfo:
    """Parameter count and shape of a model from its files, without loading it (best effort).

    From a converted copy or a local model folder (``config.json`` and safetensors headers), a local GGUF
    file (its metadata), else the benchmark database's models table; a model that a registered source
    hands out as GGUF counts its one-time conversion."""
    try:
        for folder in (converted_dir(model_id), Path(model_id).expanduser()):
            if folder.is_dir() and (folder / "config.json").exists():
                info = _config_params(json.loads((folder / "config.json").read_text()))
                files = sorted(folder.glob("*.safetensors"))
                if files:
                    info.n_params = _safetensors_params(files)
                return info
        p = Path(model_id).expanduser()
        if p.suffix == ".gguf" and p.is_file():
            return _gguf_info(p)
        if p.is_dir() and len(list(p.glob("*.gguf"))) == 1:
            return _gguf_info(next(p.glob("*.gguf")))
        from slmselect.confirmation.sources import converts_from_gguf

        gguf = converts_from_gguf(model_id)
    except Exception as err:  # noqa: BLE001 - an estimate must never stop a run
        return WeightsInfo(notes=[f"size unknown ({type(err).__name__}: {err})"])
    info = _db_info(model_id) or WeightsInfo(notes=["size unknown before download"])
    info.gguf = gguf
    return info


def _db_info(model_id: str) -> WeightsInfo | None:
    """Size and shape from the benchmark database's models table (for weights not downloaded yet)."""
    try:
        from slmselect.evidence.db import load_db

        models = load_db().models
        if model_id not in models.index:
            return None
        row = models.loc[model_id]

        def num(key: str) -> int | None:
            value = row.get(key)
            return None if value is None or math.isnan(float(value)) else int(value)

        params = row.get("params_b")
        if params is None or math.isnan(float(params)):
            return None
        return WeightsInfo(
            n_params=int(float(params) * 1e9),
            hidden=num("hidden_size"),
            layers=num("layers"),
            vocab=num("vocab"),
            notes=["size from the benchmark database"],
        )
    except Exception:  # noqa: BLE001 - no database, no estimate
        return None


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a LoRA run is expected to need, by part."""

    weights: int
    conversion: int
    training: int
    activations: int
    margin: float = 1.2

    @property
    def total(self) -> int:
        return int((self.weights + self.conversion + self.training + self.activations) * self.margin)

    def describe(self) -> str:
        gb = 1024**3
        return (
            f"~{self.total / gb:.2f} GB (weights {self.weights / gb:.2f}, GGUF conversion {self.conversion / gb:.2f}, "
            f"LoRA grads+AdamW {self.training / gb:.2f}, activations {self.activations / gb:.2f}, x{self.margin} margin)"
        )


def estimate_memory(
    info: WeightsInfo,
    *,
    weight_bytes: int,
    batch_size: int,
    seq_len: int,
    answer_len: int | None = None,
    lora_r: int = 8,
    conversion_on_device: bool = True,
) -> MemoryEstimate | None:
    """Memory a LoRA fine-tune of this model needs (None when the size is unknown).

    Weights at ``weight_bytes`` per parameter (plus a second fp32 copy while a GGUF file is
    de-quantised); LoRA parameters with their gradients and two AdamW moments in fp32; per-token
    activations kept for the backward pass (about 10 x hidden + 3 x intermediate values per layer) and
    the logits with their log-softmax and gradient (3 x vocab floats per answer token: the loop computes
    logits only where the loss needs them; ``answer_len`` defaults to ``seq_len``). The GGUF copy is
    counted only when the conversion uses the same memory as training (``conversion_on_device``: the CPU);
    on a GPU it happens in host RAM first.
    """
    if not info.n_params:
        return None
    hidden = info.hidden or int((info.n_params / 12 / 24) ** 0.5)
    layers = info.layers or 24
    inter = info.intermediate or 4 * hidden
    vocab = info.vocab or 50_000
    tokens = batch_size * seq_len
    act_bytes = min(weight_bytes, 4)
    lora_params = layers * 4 * lora_r * 2 * hidden
    return MemoryEstimate(
        weights=info.n_params * weight_bytes,
        conversion=info.n_params * 4 if info.gguf and conversion_on_device else 0,
        training=lora_params * 4 * 4,
        activations=tokens * layers * (10 * hidden + 3 * inter) * act_bytes
        + batch_size * min(seq_len, answer_len or seq_len) * vocab * 4 * 3,
    )
