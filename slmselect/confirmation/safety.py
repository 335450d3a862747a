"""Checks made before any weights are read: model paths, pickled weights, file digests, crash leftovers.

- :func:`check_model_path`: a local path is used only if it is a model folder (``config.json``) or a
  ``.gguf`` file; anything else is refused with a message saying what is there.
- Pickled weights (``.bin``/``.pt``/``.pth``/``.ckpt``) are refused unless the caller opts in
  (:func:`pickle_allowed`): unpickling can run code.
- :func:`sha256_file` is the digest weights are checked against (pinned package files, converted copies).
- :func:`sweep_stale` removes the temporary cache entries a killed conversion left behind.
- :func:`base_model_name` is what a saved adapter calls its base model: a hub id, never a local path.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from slmselect.errors import ModelLoadError

__all__ = [
    "PICKLE_SUFFIXES", "TMP_PREFIX", "base_model_name", "check_model_path", "pickle_allowed", "pickle_refusal",
    "sha256_file", "sweep_stale",
]

#: Weight files that are Python pickles: loading one can run arbitrary code.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def sha256_file(path: Path) -> str:
    """The sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------- crash leftovers

#: Prefix of temporary cache entries: ``.tmp-<pid>-<name>``; the pid says whether their writer still runs.
TMP_PREFIX = ".tmp-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def sweep_stale(folder: Path) -> list[Path]:
    """Remove the temporary folders and files that a killed writer left in ``folder``; return them.

    An entry is removed when the process its name carries has ended; an entry without a pid in its name is not
    one of slmselect's and is left alone."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for entry in folder.glob(f"{TMP_PREFIX}*"):
        head = entry.name[len(TMP_PREFIX):].split("-", 1)[0]
        if not head.isdigit() or int(head) == os.getpid() or _alive(int(head)):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


# --------------------------------------------------------------------------------------------- model paths


def _looks_like_path(model_id: str) -> bool:
    return model_id.startswith((".", "/", "~", "\\")) or model_id.endswith(".gguf") or (
        len(model_id) > 2 and model_id[1] == ":" and model_id[2] in "/\\"
    )


def _describe(path: Path) -> str:
    """What is at ``path``, in words, for a message."""
    if path.is_dir():
        try:
            names = sorted(p.name for p in path.iterdir())
        except OSError as err:
            return f"a folder that cannot be listed ({err.strerror or err})"
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        return f"a folder of {len(names)} entries ({shown})" if names else "an empty folder"
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(1024)
    except OSError as err:
        return f"a file that cannot be read ({err.strerror or err})"
    kind = "text"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        kind = "binary data"
    if b"\x00" in head:
        kind = "binary data"
    return f"a file of {size:,} bytes of {kind}"


def check_model_path(model_id: str) -> str:
    """Say what a model reference is: 'hub' (an id), 'folder' (a model folder), 'gguf' (a GGUF file or a folder with one).

    A local path is used only if it is a model folder (holding ``config.json``) or a ``.gguf`` file; anything
    else raises :class:`ModelLoadError` saying what is there.
    """
    path = Path(model_id).expanduser()
    fix = ("Pass a model folder (what save_pretrained writes: config.json, *.safetensors and the tokenizer files), "
           "a .gguf file, or a Hugging Face id such as 'HuggingFaceTB/SmolLM2-135M-Instruct'.")
    try:
        exists = path.exists()
    except OSError:
        exists = False
    if not exists:
        if _looks_like_path(model_id):
            raise ModelLoadError(f"{model_id!r} looks like a local path but does not exist; check the path. {fix}")
        return "hub"
    if path.is_file():
        if path.suffix.lower() == ".gguf":
            with path.open("rb") as f:
                if f.read(4) == b"GGUF":
                    return "gguf"
            raise ModelLoadError(f"{model_id!r} is named .gguf but is not a GGUF file: it is {_describe(path)}. {fix}")
        what = _describe(path)
        if path.suffix.lower() in (".safetensors", *PICKLE_SUFFIXES):
            raise ModelLoadError(f"{model_id!r} is a single weights file ({what}); pass the folder that holds it with its config.json.")
        raise ModelLoadError(f"{model_id!r} is not a model: it is {what}, neither a model folder nor a .gguf file. {fix}")
    if (path / "config.json").is_file():
        return "folder"
    ggufs = sorted(path.glob("*.gguf"))
    if len(ggufs) == 1:
        return "gguf"
    if len(ggufs) > 1:
        raise ModelLoadError(
            f"{model_id!r} holds {len(ggufs)} .gguf files ({', '.join(g.name for g in ggufs[:5])}); pass the one to use."
        )
    raise ModelLoadError(f"{model_id!r} is not a model folder: it is {_describe(path)}, without a config.json or a .gguf file. {fix}")


def pickle_allowed(allow_pickle: bool | None) -> bool:
    if allow_pickle is not None:
        return bool(allow_pickle)
    return os.environ.get("SLMSELECT_ALLOW_PICKLE", "").strip().lower() in ("1", "true", "yes")


def pickle_refusal(where: str) -> ModelLoadError:
    return ModelLoadError(
        f"{where} has only pickled weights ({'/'.join(PICKLE_SUFFIXES)}), and loading a pickle can run any code it "
        "holds, so slmselect does not load them. Convert them to safetensors (e.g. load them once where you trust "
        "them and save_pretrained(..., safe_serialization=True)), or opt in with allow_pickle=True "
        "(SLMSELECT_ALLOW_PICKLE=1) if you trust their origin."
    )


def base_model_name(model_id: str) -> str:
    """The name a saved adapter gives its base model: the hub id, or a local model's folder/file name, never a path."""
    path = Path(model_id).expanduser()
    if path.exists() or _looks_like_path(model_id):
        return path.stem if path.suffix.lower() == ".gguf" else path.name
    return model_id
