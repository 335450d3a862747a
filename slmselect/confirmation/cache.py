"""What slmselect keeps in its cache, how big it is, and clearing it (``slmselect cache``).

The cache (:func:`slmselect.confirmation.weights.cache_root`: ``SLMSELECT_CACHE_DIR``, else the user cache
dir, ``~/.cache/slmselect`` on Linux) holds:

* ``models/<id>/`` — fp32 safetensors copies of models converted from GGUF (about 0.5 GB for
  SmolLM2-135M, 1.1 GB for Gemma 3 270M); they turn a 15-50 s conversion into a 1-3 s load;
* ``gguf/`` — GGUF files assembled from multi-part packages while they are converted;
* ``adapters/<run id>/<model>/`` — the LoRA adapters of confirm runs that gave no ``output_dir``;
* ``checkpoints/<run key>/<model>/`` — the newest Trainer checkpoint of a candidate still training, kept so
  that ``confirm(resume=True)`` goes on from it after a kill; deleted when the candidate finishes.

The local results store (``~/.local/share/slmselect/results.sqlite``) is data, not cache: it is listed so
the user knows where it is, and never cleared here.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from slmselect.errors import ParameterError, did_you_mean
from slmselect.confirmation.weights import cache_root

KINDS = ("models", "gguf", "adapters", "checkpoints")


@dataclass(frozen=True)
class CacheEntry:
    """One thing in the cache (a converted model, an adapter run, ...) or the results store."""

    kind: str  # "models" | "gguf" | "adapters" | "checkpoints" | "other" | "results store"
    name: str
    path: str
    bytes: int
    clearable: bool = True

    @property
    def size_text(self) -> str:
        return human_size(self.bytes)


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"  # pragma: no cover


def _size(path: Path) -> int:
    if path.is_file() or path.is_symlink():
        return path.lstat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += (Path(root) / name).lstat().st_size
            except OSError:
                pass
    return total


def _results_store() -> Path:
    from slmselect.evidence.store import default_store_path

    return Path(default_store_path())


def cache_info() -> list[CacheEntry]:
    """Every entry of the cache with its size, then the results store (not clearable here)."""
    root = cache_root()
    entries: list[CacheEntry] = []
    if root.is_dir():
        for child in sorted(root.iterdir()):
            if child.name in KINDS and child.is_dir():
                for item in sorted(child.iterdir()):
                    if item.suffix == ".lock":  # a conversion's or a checkpoint's file lock: not an entry
                        continue
                    entries.append(CacheEntry(child.name, item.name, str(item), _size(item)))
            else:
                entries.append(CacheEntry("other", child.name, str(child), _size(child)))
    try:
        store = _results_store()
    except Exception:  # noqa: BLE001 - listing the store is a courtesy
        store = None
    if store is not None and store.exists():
        entries.append(CacheEntry("results store", store.name, str(store), _size(store), clearable=False))
    return entries


def clear_cache(what: str | None = None) -> int:
    """Delete cached files and return the bytes freed.

    ``what``: ``None`` for the whole cache, a kind (``models``, ``gguf``, ``adapters``), or one entry's name
    (a converted model's folder name such as ``HuggingFaceTB--SmolLM2-135M-Instruct``, or its model id).
    The results store is never touched.
    """
    from slmselect.confirmation.weights import safe_id

    targets = [e for e in cache_info() if e.clearable]
    if what is not None:
        wanted = what.strip()
        chosen = [e for e in targets if e.kind == wanted or e.name in (wanted, safe_id(wanted))]
        if not chosen:
            names = sorted({e.kind for e in targets} | {e.name for e in targets})
            raise ParameterError(
                f"Nothing called {what!r} in the slmselect cache ({cache_root()}); clear one of "
                f"{', '.join(names) or 'nothing (the cache is empty)'}, or everything with no name."
                + did_you_mean(wanted, names)
            )
        targets = chosen
    freed = 0
    for entry in targets:
        path = Path(entry.path)
        freed += entry.bytes
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    root = cache_root()
    for kind in KINDS:  # drop folders left empty
        folder = root / kind
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return freed
