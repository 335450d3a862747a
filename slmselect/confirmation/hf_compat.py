"""Where slmselect reaches into third-party internals, each behind a check of the version it was written for.

* :func:`quiet_hf` silences transformers' progress bars and the library notices seen in a run. The GGUF
  de-quantiser of transformers draws a bare ``tqdm`` bar that no setting reaches; for the transformers
  versions in :data:`CHECKED`, its module's ``tqdm`` is swapped for a silent one meanwhile.
* :func:`gguf_read_once` makes a GGUF conversion parse the file's header once instead of three times
  (configuration, tokenizer, weights), and read values through a plain array view of the file instead of a
  ``numpy.memmap``: memoised ``gguf.GGUFReader`` and ``load_gguf_checkpoint(return_tensors=False)``, a
  memoised ``gguf.get_tensor_name_map``, and a ``GGUFReader._get`` over the plain view. It roughly halves
  the conversion of SmolLM2-135M and Gemma 3 270M (docs/confirm.md). Only for the gguf and transformers
  versions in :data:`CHECKED`.

Outside the checked versions nothing is patched: loading goes on unchanged, only slower or with a bar.
``tests/test_gguf_reader.py`` fails when an installed version is outside :data:`CHECKED` or a patched
internal changed shape, so that each patch is looked at again when a library moves.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import os
import sys
import warnings
from collections.abc import Iterator
from typing import Any

#: distribution -> (lowest version checked, first version not checked)
CHECKED: dict[str, tuple[str, str]] = {
    "transformers": ("5.24", "5.25"),
    "gguf": ("0.19", "0.20"),
}


def checked(dist: str) -> bool:
    """Whether the installed ``dist`` has a version whose internals slmselect's patches were written for."""
    from packaging.version import Version

    from slmselect._packages import distribution_version

    installed = distribution_version(dist)
    if installed is None:
        return False
    low, high = CHECKED[dist]
    return Version(low) <= Version(installed) < Version(high)


@contextlib.contextmanager
def quiet_hf() -> Iterator[None]:
    """Silence transformers' own progress bars, peft's adapter-save notice and its deprecation notice while
    slmselect shows its own."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    gguf_utils = None
    if checked("transformers"):
        from transformers import modeling_gguf_pytorch_utils as gguf_utils
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


def fast_reader_class(reader_cls: Any) -> Any:
    """``GGUFReader`` with its per-value read done on a plain array view of the file instead of the memmap.

    The reader slices its ``numpy.memmap`` once per value (hundreds of thousands of times for a large
    vocabulary), and every memmap slice runs Python-level bookkeeping; a plain ``ndarray`` view of the same
    mapped bytes gives identical values (a test compares every field and tensor).
    """
    import numpy as np

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
def gguf_read_once() -> Iterator[None]:
    """While a GGUF file is loaded: its header parsed once, and read through a plain array view."""
    if not (checked("gguf") and checked("transformers")):
        yield
        return
    import gguf
    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    reader_cls, load_ckpt, name_map = gguf.GGUFReader, gguf_utils.load_gguf_checkpoint, gguf.get_tensor_name_map
    readers: dict[tuple[str, str], Any] = {}
    headers: dict[str, Any] = {}
    name_maps: dict[tuple[Any, int], Any] = {}
    fast_cls = fast_reader_class(reader_cls)

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
    def cached_name_map(arch: Any, n_blocks: int) -> Any:
        if (arch, n_blocks) not in name_maps:
            name_maps[(arch, n_blocks)] = name_map(arch, n_blocks)
        return name_maps[(arch, n_blocks)]

    gguf.GGUFReader, gguf_utils.load_gguf_checkpoint, gguf.get_tensor_name_map = reader, checkpoint, cached_name_map
    try:
        yield
    finally:
        gguf.GGUFReader, gguf_utils.load_gguf_checkpoint, gguf.get_tensor_name_map = reader_cls, load_ckpt, name_map
