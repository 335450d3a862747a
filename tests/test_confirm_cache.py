"""`slmselect cache`'s Python side: what is cached where and how big, and clearing it (real files, no model)."""

from __future__ import annotations

import pytest

from slmselect.errors import ParameterError
from slmselect.confirmation.cache import cache_info, clear_cache, human_size


def _fill(root):
    model = root / "models" / "HuggingFaceTB--SmolLM2-135M-Instruct"
    model.mkdir(parents=True)
    (model / "model.safetensors").write_bytes(b"x" * 3000)
    (model / "config.json").write_text("{}")
    run = root / "adapters" / "abc123" / "gemma"
    run.mkdir(parents=True)
    (run / "adapter_model.safetensors").write_bytes(b"y" * 500)
    (root / "gguf").mkdir()
    (root / "gguf" / "google--gemma-3-270m.gguf").write_bytes(b"z" * 100)


def test_cache_info_lists_entries_with_sizes_and_the_store(tmp_path, monkeypatch):
    monkeypatch.setenv("SLMSELECT_CACHE_DIR", str(tmp_path / "cache"))
    store = tmp_path / "data" / "results.sqlite"
    store.parent.mkdir()
    store.write_bytes(b"s" * 10)
    monkeypatch.setenv("SLMSELECT_RESULTS", str(store))
    assert [e.kind for e in cache_info()] == ["results store"]  # nothing cached yet
    _fill(tmp_path / "cache")
    info = {(e.kind, e.name): e for e in cache_info()}
    assert info["models", "HuggingFaceTB--SmolLM2-135M-Instruct"].bytes == 3002
    assert info["adapters", "abc123"].bytes == 500 and info["gguf", "google--gemma-3-270m.gguf"].bytes == 100
    assert not info["results store", "results.sqlite"].clearable
    assert human_size(3002) == "2.9 KB" and human_size(5 * 1024**3) == "5.0 GB"


def test_clear_cache_by_model_id_kind_or_everything_and_never_the_store(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("SLMSELECT_CACHE_DIR", str(root))
    store = tmp_path / "results.sqlite"
    store.write_bytes(b"s")
    monkeypatch.setenv("SLMSELECT_RESULTS", str(store))
    _fill(root)
    assert clear_cache("HuggingFaceTB/SmolLM2-135M-Instruct") == 3002
    assert not (root / "models").exists() and (root / "adapters").exists()
    with pytest.raises(ParameterError, match="adapters"):
        clear_cache("adapterz")
    assert clear_cache("adapters") == 500
    assert clear_cache() == 100
    assert [e.kind for e in cache_info()] == ["results store"] and store.exists()
    assert clear_cache() == 0


def test_a_new_entry_appears_whole_or_not_at_all_and_is_checked_before_use(tmp_path, monkeypatch):
    from slmselect.confirmation.cache import MARKER, cache_problem, cached_copy, conversion_lock, converted_dir, new_entry
    from slmselect.errors import SlmselectWarning

    monkeypatch.setenv("SLMSELECT_CACHE_DIR", str(tmp_path))
    model_id = "acme/tiny"
    with pytest.raises(RuntimeError), conversion_lock(model_id), new_entry(model_id, "test") as folder:
        (folder / "model.safetensors").write_bytes(b"half")
        raise RuntimeError("killed while writing")
    assert not converted_dir(model_id).exists() and not list((tmp_path / "models").glob(".tmp-*"))
    with conversion_lock(model_id), new_entry(model_id, "test") as folder:
        (folder / "model.safetensors").write_bytes(b"w" * 64)
        (folder / "config.json").write_text("{}")
    target = converted_dir(model_id)
    assert (target / MARKER).is_file() and cache_problem(target) is None and cached_copy(model_id) == target
    (target / "model.safetensors").write_bytes(b"x" * 64)  # same size, other bytes: the new time makes it hashed
    assert cache_problem(target) == "model.safetensors does not match the sha256 recorded when it was written"
    with pytest.warns(SlmselectWarning, match=r"is not usable: model\.safetensors does not match .* Rebuilding it"):
        assert cached_copy(model_id) is None
    assert not target.exists()
    assert [e.name for e in cache_info() if e.kind == "models"] == []  # the lock file beside it is not an entry
