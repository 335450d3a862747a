"""Installed Python packages and the files inside them, found without importing (running) the packages.

``importlib.util.find_spec`` locates a top-level package from ``sys.path`` alone; nothing of the package
runs. Data-only packages (model weights, a tokenizer) are found this way, and so are optional
dependencies whose absence gets an installation hint.
"""

from __future__ import annotations

import importlib.util
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = ["distribution_version", "installed", "package_dir", "package_file"]


def installed(module: str) -> bool:
    """Whether ``module`` can be imported here (a top-level name is looked up without importing anything)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a dotted name whose parent is missing or broken
        return False


def package_dir(package: str) -> Path | None:
    """The folder of the installed package ``package`` (its import name), or None when it is not installed."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def package_file(package: str, relpath: str) -> Path | None:
    """``relpath`` inside the installed package ``package``, or None when the package or the file is not there."""
    folder = package_dir(package)
    if folder is None:
        return None
    path = folder / relpath
    return path if path.exists() else None


def distribution_version(dist: str) -> str | None:
    """The installed version of the distribution ``dist`` (its name on PyPI), or None when it is not installed."""
    try:
        return version(dist)
    except PackageNotFoundError:
        return None
