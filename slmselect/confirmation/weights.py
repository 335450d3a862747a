"""Load a candidate's weights for training: from the cache, a model folder, a GGUF file, or the hub.

Where the weights of a model id are, in order:

1. slmselect's cache (:mod:`slmselect.confirmation.cache`): the converted safetensors copy written by an
   earlier run; it loads in seconds;
2. a local path given as the model: a model folder (``save_pretrained`` layout), or a ``.gguf`` file (or a
   folder holding one);
3. the registered model sources (:mod:`slmselect.confirmation.sources`), in the order they were registered:
   each says where the weights are (a hub repository, a model folder or a GGUF file), or that it does not
   have them;
4. the Hugging Face id through ``from_pretrained``: the local Hugging Face cache, else the hub when reachable.

GGUF weights are de-quantised to fp32 and written to the cache once; later runs load that copy. Safety
defaults (:mod:`slmselect.confirmation.safety`):

- a local path is used only if it is a model folder (``config.json``) or a ``.gguf`` file; anything else is
  refused with a message saying what is there;
- pickled weights (``.bin``/``.pt``/``.pth``/``.ckpt``) are never loaded, not even as a fallback, unless the
  caller opts in (``allow_pickle=True`` or ``SLMSELECT_ALLOW_PICKLE=1``): unpickling can run code;
- the loaded model is named by its hub id (or a local folder's name, never its full path), so a saved
  adapter's ``base_model_name_or_path`` does not leak where files live;
- error messages pass through :func:`slmselect._validate.redact`, so tokens never reach a log or report.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from slmselect._packages import installed
from slmselect._validate import redact
from slmselect.errors import MissingDependencyError, ModelLoadError, did_you_mean
from slmselect.confirmation.cache import (
    cache_root, cached_copy, conversion_lock, converted_dir, is_cached, new_entry,
)
from slmselect.confirmation.device import DeviceChoice
from slmselect.confirmation.hf_compat import gguf_read_once, quiet_hf
from slmselect.confirmation.safety import (
    PICKLE_SUFFIXES, base_model_name, check_model_path, pickle_allowed, pickle_refusal, sweep_stale,
)
from slmselect.confirmation.sources import GGUFFile, HubModel, LocalFolder, converts_from_gguf, offered_models, resolve


@dataclass
class LoadedModel:
    """A model and tokenizer ready for training, and where they came from."""

    model_id: str
    model: Any
    tokenizer: Any
    source: str  # "cache" | "local" | "gguf" | "hub" | the name of the registered source
    path: str
    load_seconds: float
    n_params: int


def _torch_dtype(name: str) -> Any:
    import torch

    return getattr(torch, name)


def _finish(tokenizer: Any) -> Any:
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _load_dir(
    path: str | Path, choice: DeviceChoice, *, trust_remote_code: bool = False, **kwargs: Any
) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with quiet_hf():
        tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(
            str(path), dtype=_torch_dtype(choice.weights_dtype), trust_remote_code=trust_remote_code, **kwargs
        )
    return model, _finish(tokenizer)


def _load_folder(path: Path, choice: DeviceChoice, trust_remote_code: bool, pickle_ok: bool, what: str) -> tuple[Any, Any]:
    has_st = any(path.glob("*.safetensors"))
    if not has_st and not pickle_ok and any(p.suffix in PICKLE_SUFFIXES for p in path.iterdir()):
        raise pickle_refusal(what)
    return _load_dir(path, choice, trust_remote_code=trust_remote_code, use_safetensors=has_st)


def _load_gguf(path: Path) -> tuple[Any, Any]:
    if not installed("gguf"):
        raise MissingDependencyError(
            f"{path.name} is a GGUF file and reading it needs the 'gguf' package: pip install 'slmselect[gguf]'."
        )
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with quiet_hf(), gguf_read_once():
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=_torch_dtype("float32"))
    return model, _finish(tokenizer)


def _save_converted(model: Any, tokenizer: Any, model_id: str, origin: str) -> Path:
    """Write the fp32 safetensors copy of a model read from GGUF into the cache; return its folder."""
    model.hf_quantizer = None  # save_pretrained refuses a GGUF-"quantised" model otherwise
    for cfg in (model.config, getattr(model.config, "text_config", None)):
        if cfg is not None and hasattr(cfg, "quantization_config"):
            del cfg.quantization_config
    if hasattr(model, "is_quantized"):
        with contextlib.suppress(AttributeError):
            model.is_quantized = False
    with new_entry(model_id, origin) as folder, quiet_hf():
        model.save_pretrained(str(folder), safe_serialization=True)
        tokenizer.save_pretrained(str(folder))
    return converted_dir(model_id)


def _from_gguf(model_id: str, path: Path, choice: DeviceChoice, use_cache: bool) -> tuple[Any, Any]:
    """Convert a GGUF file (once: the cache keeps the result; the caller holds the cache's lock) and load it as
    every later run loads it. A GGUF file inside slmselect's cache (joined from chunks) is removed once its
    converted copy exists."""
    model, tokenizer = _load_gguf(path)
    if not use_cache:
        return model.to(_torch_dtype(choice.weights_dtype)), tokenizer
    folder = _save_converted(model, tokenizer, model_id, str(path))
    del model
    if path.is_relative_to(cache_root() / "gguf"):
        path.unlink(missing_ok=True)
    # from the copy at the chosen dtype (the conversion reads fp32): a first run measures what later runs do
    return _load_dir(folder, choice, use_safetensors=True)


def _hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        with socket.create_connection((url.hostname or "huggingface.co", url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def _load_hub(
    model_id: str, hub: HubModel, choice: DeviceChoice, trust_remote_code: bool, tried: list[str], allow_pickle: bool
) -> tuple[Any, Any]:
    last: Exception | None = None
    pickled_only = False
    extra = {"revision": hub.revision} if hub.revision else {}
    for online in (False, True):
        if online and not _hub_reachable():
            tried.append("the Hugging Face hub: not reachable from this machine (offline, or HF_HUB_OFFLINE=1)")
            break
        for safetensors in (True, False):
            try:
                return _load_dir(hub.repo_id, choice, trust_remote_code=trust_remote_code, use_safetensors=safetensors,
                                 local_files_only=not online, **extra)
            except (OSError, ValueError) as err:
                last = err
                # pickled weights only when the repository has no safetensors at all, and only if allowed
                if not safetensors or "safetensors" not in str(err).lower():
                    break
                if not allow_pickle:
                    pickled_only = True
                    break
        where = "the Hugging Face hub" if online else "the local Hugging Face cache"
        tried.append(f"{where}: {redact(str(last).splitlines()[0][:200]) if last else 'failed'}")
    if pickled_only:
        raise pickle_refusal(f"{hub.repo_id!r} (Hugging Face)") from None
    raise ModelLoadError(_not_found_message(model_id, hub.repo_id, tried)) from None


def _not_found_message(model_id: str, repo_id: str, tried: list[str]) -> str:
    lines = [f"Could not load weights for {model_id!r}. Tried:"] + [f"  - {t}" for t in tried]
    lines.append(
        "To fix: download it where the hub is reachable (`hf auth login` for gated models, then "
        f"`hf download {repo_id}`) and copy the Hugging Face cache here, pass a local folder or .gguf path, "
        "or register a model source that has it (SLMSELECT_MODEL_SOURCES; docs/confirm.md)."
    )
    offered = offered_models()
    if offered:
        lines.append(
            "Models the registered sources offer: "
            + "; ".join(f"{k} ({how})" for k, (_name, how) in offered.items())
            + "."
            + did_you_mean(model_id, offered)
        )
    return redact("\n".join(lines))


def load_model(
    model_id: str,
    choice: DeviceChoice,
    *,
    trust_remote_code: bool = False,
    use_cache: bool = True,
    allow_pickle: bool | None = None,
) -> LoadedModel:
    """Load ``model_id`` for training on ``choice.device`` (see the module docstring for the search order).

    ``allow_pickle`` (default: ``SLMSELECT_ALLOW_PICKLE``, else False) lets a model with only pickled weights load.
    Raises :class:`ModelLoadError` saying what was tried and how to fix it.
    """
    start = time.perf_counter()
    kind = check_model_path(model_id)  # before anything is read: a wrong path gets a message, not a load attempt
    sweep_stale(cache_root() / "models")
    pickle_ok = pickle_allowed(allow_pickle)
    tried: list[str] = []
    source, where = "", ""
    # a model that is or will be converted is looked up, joined and converted under the cache's lock: a second
    # process waits, then loads the first one's copy
    cached_kind = use_cache and kind != "folder" and (kind == "gguf" or is_cached(model_id) or converts_from_gguf(model_id))
    try:
        with conversion_lock(model_id) if cached_kind else contextlib.nullcontext():
            if cached_kind and (cached := cached_copy(model_id)) is not None:
                source, where = "cache", str(cached)
                model, tokenizer = _load_dir(cached, choice, use_safetensors=True)
            else:
                source, weights = resolve(model_id, tried)
                if isinstance(weights, LocalFolder):
                    where = str(weights.path)
                    model, tokenizer = _load_folder(weights.path, choice, trust_remote_code, pickle_ok, repr(model_id))
                elif isinstance(weights, GGUFFile):
                    where = str(weights.path)
                    model, tokenizer = _from_gguf(model_id, weights.path, choice, use_cache)
                else:
                    where = weights.repo_id
                    model, tokenizer = _load_hub(model_id, weights, choice, trust_remote_code, tried, pickle_ok)
    except ModelLoadError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise ModelLoadError(redact(
            f"Loading {model_id!r} from {where or model_id} failed: {type(err).__name__}: {str(err)[:400]}. "
            "If it is a cached copy, delete that folder to rebuild it; if the architecture is new, upgrade transformers."
        )) from None
    name = base_model_name(model_id)  # what a saved adapter records as its base model: never a local path
    model.config._name_or_path = name
    with contextlib.suppress(AttributeError):
        model.name_or_path = name
    model.config.use_cache = False
    model.to(choice.device)
    n_params = sum(p.numel() for p in model.parameters())
    return LoadedModel(model_id, model, tokenizer, source, where, time.perf_counter() - start, n_params)


def ensure_converted(model_id: str) -> Path | None:
    """Make sure a GGUF-sourced model has its fp32 cache copy (for warm-ups and test fixtures); its folder,
    or None when the model does not come from GGUF."""
    from slmselect.confirmation.device import choose_device

    with conversion_lock(model_id):
        intact = cached_copy(model_id) is not None
    if not intact:
        load_model(model_id, choose_device("cpu", cuda_available=False))
    return converted_dir(model_id) if is_cached(model_id) else None
