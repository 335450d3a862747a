"""A model's memory when deployed: weights at a deployment format, the KV cache the task needs, the runtime.

What ``recommend(deploy=...)`` puts in ``memory_gb`` (GB = 10^9 bytes). The formats are the files users run
in llama.cpp, Ollama and the like:

* ``bf16``: 16 bits a weight;
* ``q8_0``: 8.5 bits a weight (32 int8 values and one f16 scale a block);
* ``q4_k_m``: llama.cpp's mix: the body at about 4.9 bits a weight (Q4_K, with Q6_K for half of the
  ``attn_v``/``ffn_down`` tensors), the token embedding at Q6_K (6.56 bits). k-quants need rows that are a
  multiple of 256 wide: when ``hidden_size`` is not (SmolLM2: 576, Gemma 3 270M: 640) llama.cpp falls back to
  Q5_0 / Q8_0, about 5.8 bits for the body and 8.5 for the embedding (measured on both; docs/edge.md).

The KV cache is llama.cpp's default f16: ``2 x layers x kv_heads x head_dim x 2 bytes`` a token, for the
context the task needs (its longest input plus its longest answer plus the prompt's template, rounded up to
llama.cpp's 256-token step), or ``context`` tokens when given. The runtime adds about 60 MB (the process,
llama.cpp's buffers) plus 256 bytes a vocabulary entry (output and compute buffers). A model whose shape
the database lacks borrows it from a model of the same family and size, else its KV cache a token follows
the power law fitted to the models whose shape is known (``kv_per_token``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Bits a weight: (body, token embedding) with k-quant rows that fit, and when they do not (fallback).
BITS = {
    "bf16": ((16.0, 16.0), (16.0, 16.0)),
    "f16": ((16.0, 16.0), (16.0, 16.0)),
    "q8_0": ((8.5, 8.5), (8.5, 8.5)),
    "q4_k_m": ((4.9, 6.5625), (5.8, 8.5)),
}
#: k-quants work on blocks of this many values along a row.
K_BLOCK = 256
KV_BYTES = 2  # f16 K and V
RUNTIME_BYTES = 60e6
RUNTIME_BYTES_PER_VOCAB = 256
#: Tokens the prompt's instruction and chat template add to an example (for the context the task needs).
TEMPLATE_TOKENS = 64
CTX_STEP = 256


def task_context(input_max: float | None, output_max: float | None, context: int | None = None) -> int:
    """Tokens of context to hold: ``context`` when given, else the task's longest input and answer plus the
    template, rounded up to llama.cpp's allocation step."""
    tokens = int(context) if context is not None else int((input_max or 0) + (output_max or 0) + TEMPLATE_TOKENS)
    return max(CTX_STEP, -(-tokens // CTX_STEP) * CTX_STEP)


def fill_shapes(models: pd.DataFrame) -> pd.DataFrame:
    """``layers``, ``n_kv_heads``, ``head_dim``, ``hidden_size``, ``vocab``: a missing shape borrowed from a model
    of the same family and parameter count that has one (a base model and its instruct variant share it)."""
    cols = ["layers", "n_kv_heads", "head_dim", "hidden_size", "vocab"]
    out = models[cols].astype(float).copy()
    key = models["family"].astype(str) + "|" + models["params_b"].astype(float).round(3).astype(str)
    known = out.assign(key=key.to_numpy()).dropna(subset=["layers"]).groupby("key")[cols].first()
    missing = out["layers"].isna().to_numpy() & key.isin(known.index).to_numpy()
    if missing.any():
        out.loc[missing, cols] = known.loc[key[missing]].to_numpy()
    return out


def kv_per_token(params_b: np.ndarray, shapes: pd.DataFrame) -> np.ndarray:
    """KV-cache bytes a token: from the shape when known, else a power law in the parameter count fitted to
    the models whose shape is known."""
    kv = 2.0 * shapes["layers"].to_numpy() * shapes["n_kv_heads"].to_numpy() * shapes["head_dim"].to_numpy() * KV_BYTES
    ok = np.isfinite(kv) & np.isfinite(params_b) & (params_b > 0)
    if ok.sum() >= 3:
        slope, icept = np.polyfit(np.log(params_b[ok]), np.log(kv[ok]), 1)
        guess = np.exp(icept + slope * np.log(np.where(params_b > 0, params_b, np.nan)))
    else:
        guess = np.full(len(kv), np.nan)
    return np.where(np.isfinite(kv), kv, guess)


def weight_bytes(params_b: np.ndarray, hidden: np.ndarray, vocab: np.ndarray, fmt: str) -> np.ndarray:
    """Bytes of the weights at ``fmt`` (see the module docstring for the bits a weight)."""
    n = np.asarray(params_b, float) * 1e9
    emb = np.asarray(vocab, float) * np.asarray(hidden, float)
    emb = np.where(np.isfinite(emb) & (emb < n), emb, 0.0)
    fits = np.asarray(hidden, float) % K_BLOCK == 0
    unknown = ~np.isfinite(np.asarray(hidden, float))
    (b_fit, e_fit), (b_fb, e_fb) = BITS[fmt]
    body_bits = np.where(fits | unknown, b_fit, b_fb)
    emb_bits = np.where(fits | unknown, e_fit, e_fb)
    return ((n - emb) * body_bits + emb * emb_bits) / 8


def deploy_memory_gb(models: pd.DataFrame, fmt: str, context: int) -> np.ndarray:
    """Memory (GB) each of ``models`` needs served by llama.cpp at ``fmt`` with ``context`` tokens of KV cache."""
    params = models["params_b"].astype(float).to_numpy()
    shapes = fill_shapes(models)
    vocab = shapes["vocab"].to_numpy()
    weights = weight_bytes(params, shapes["hidden_size"].to_numpy(), vocab, fmt)
    kv = kv_per_token(params, shapes) * int(context)
    runtime = RUNTIME_BYTES + RUNTIME_BYTES_PER_VOCAB * np.where(np.isfinite(vocab), vocab, 50_000)
    return (weights + np.nan_to_num(kv) + runtime) / 1e9


def describe(fmt: str | None, context: int | None) -> str:
    """How ``memory_gb`` was estimated, for tables and notes."""
    if fmt is None:
        return "bf16 weights with a 4k-token KV cache (+10%)"
    return f"{fmt} weights in llama.cpp with a {context}-token f16 KV cache and the runtime"

