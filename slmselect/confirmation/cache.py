"""slmselect's cache: converted weights (written atomically under a lock, checked before use), what else is
kept, how big it is, and clearing it (``slmselect cache``).

The cache (:func:`cache_root`: ``SLMSELECT_CACHE_DIR``, else the user cache dir, ``~/.cache/slmselect`` on
Linux) holds:

* ``models/<id>/`` — fp32 safetensors copies of models converted from GGUF (about 0.5 GB for
  SmolLM2-135M, 1.1 GB for Gemma 3 270M); they turn a 15-50 s conversion into a 1-3 s load;
* ``gguf/`` — GGUF files joined from chunks (a model shipped in parts) until they are converted;
* ``adapters/<run id>/<model>/`` — the LoRA adapters of confirm runs that gave no ``output_dir``;
* ``checkpoints/<run key>/<model>/`` — the newest Trainer checkpoint of a candidate still training, kept so
  that ``confirm(resume=True)`` goes on from it after a kill; deleted when the candidate finishes.

A converted copy is written by :func:`new_entry` into a temporary folder that is renamed into place, under
:func:`conversion_lock`, so concurrent runs never see half a copy and make one copy between them. Its marker
(``slmselect-source.json``) records each file's size, modification time and sha256; :func:`cached_copy`
hands out only a copy that still matches (:func:`cache_problem`) and removes a damaged one so it is rebuilt.

The local results store (``~/.local/share/slmselect/results.sqlite``) is data, not cache: it is listed so
the user knows where it is, and never cleared here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slmselect.errors import ParameterError, did_you_mean
from slmselect.confirmation.safety import TMP_PREFIX, sha256_file, sweep_stale

#: The file that seals a converted copy: where it came from, and each file's size, time and sha256.
MARKER = "slmselect-source.json"


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
    """Where the converted copy of ``model_id`` lives (whether or not it exists yet)."""
    return cache_root() / "models" / _cache_key(model_id)


def _cache_key(model_id: str) -> str:
    p = Path(model_id).expanduser()
    if p.exists():  # a local file or folder: its name plus a hash of where it is and what it holds
        st = p.stat()
        digest = hashlib.sha256(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:12]
        return f"local--{safe_id(p.stem if p.is_file() else p.name)}--{digest}"
    return safe_id(model_id)


def is_cached(model_id: str) -> bool:
    """A converted copy is in the cache (see :func:`cache_problem` for whether it is intact)."""
    return (converted_dir(model_id) / MARKER).exists()


def _file_record(folder: Path) -> dict[str, dict[str, Any]]:
    """Size, modification time and sha256 of every file of a converted copy (written into its marker)."""
    out = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name != MARKER:
            st = path.stat()
            out[path.name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256_file(path)}
    return out


def cache_problem(folder: Path) -> str | None:
    """What is wrong with a converted copy, or None when it is intact.

    Every file must exist with the size its marker recorded; a file whose modification time changed since is
    hashed and must match the recorded sha256 (``SLMSELECT_VERIFY_CACHE=1`` hashes every file on every load).
    A copy whose marker records no files (written before these checks) counts as unverifiable."""
    try:
        marker = json.loads((folder / MARKER).read_text())
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
            if sha256_file(path) != meta["sha256"]:
                return f"{name} does not match the sha256 recorded when it was written"
            meta["mtime_ns"], touched = st.st_mtime_ns, True
    if touched:  # the contents are right: remember the new time, so the next load does not hash again
        tmp = folder / f"{TMP_PREFIX}{os.getpid()}-{MARKER}"
        tmp.write_text(json.dumps(marker, indent=1))
        os.replace(tmp, folder / MARKER)
    return None


def cached_copy(model_id: str) -> Path | None:
    """The intact converted copy of ``model_id``; a damaged one is removed (with a warning) so it is rebuilt.

    Call it under :func:`conversion_lock`, so that no other process is writing the copy meanwhile."""
    folder = converted_dir(model_id)
    if not (folder / MARKER).exists():
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


@contextlib.contextmanager
def new_entry(model_id: str, origin: str) -> Iterator[Path]:
    """A temporary folder to write the converted copy of ``model_id`` into (``origin``: what it was made from).

    When the block ends without an error, the folder's files are recorded in its marker and the folder is
    renamed into place; on an error it is removed. Callers hold :func:`conversion_lock`."""
    target = converted_dir(model_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(target.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-{target.name}-", dir=target.parent))
    try:
        yield tmp
        import transformers

        marker = {"model_id": model_id, "origin": origin, "transformers": transformers.__version__,
                  "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "files": _file_record(tmp)}
        (tmp / MARKER).write_text(json.dumps(marker, indent=1))
        try:
            os.rename(tmp, target)
        except OSError:  # a copy is in the way (the lock is held, so it is a damaged or stale one)
            if (target / MARKER).exists() and cache_problem(target) is None:
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                shutil.rmtree(target, ignore_errors=True)
                os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# --------------------------------------------------------------------------------------------- listing


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
