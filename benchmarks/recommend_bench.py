"""Speed of slmselect's recommendation path. Prints figures; asserts nothing.

    python benchmarks/recommend_bench.py

Targets: import < 0.5 s; warm recommend() on the shipped database < 50 ms; warm recommend() on a generated
database of 1,000 models x 2,000 tasks < 200 ms, its predictor fitted at build time (stored factors), not per
call; a cold `slmselect recommend` command, embedding model load included, < 5 s; a database with one new
task re-embeds one text.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "examples"))


def timed(fn, repeat: int) -> float:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def subprocess_seconds(args: list[str], env: dict[str, str], repeat: int = 3) -> float:
    return timed(lambda: subprocess.run(args, check=True, capture_output=True, env=env), repeat)


def generated_db(n_models: int = 1000, n_tasks: int = 2000, density: float = 0.1, seed: int = 0):
    from slmselect.evidence.db import BenchmarkDB

    rng = np.random.default_rng(seed)
    cats = ["classification", "ner_extraction", "qa_open_book", "qa_closed_book", "tool_calling", "summarization", "generation"]
    words = ["customer", "support", "invoice", "legal", "medical", "news", "product", "review", "question", "contract", "email", "ticket"]
    models = pd.DataFrame({
        "model_id": [f"gen/model-{i}" for i in range(n_models)], "family": [f"fam{i % 40}" for i in range(n_models)],
        "params_b": rng.uniform(0.1, 14, n_models).round(2), "variant": "instruct", "context_len": 8192,
        "license": rng.choice(["Apache-2.0", "MIT", "Other"], n_models), "commercial_use": "yes", "release_date": "2025-01-01",
        "layers": 24, "hidden_size": 2048, "n_heads": 16, "n_kv_heads": 8, "head_dim": 128, "vocab": 32000,
        "attention": "GQA", "api_only": False, "aliases": None, "source_url": None, "notes": None,
    })
    tcat = rng.choice(cats, n_tasks)
    tasks = pd.DataFrame({
        "task_id": [f"task_{i}" for i in range(n_tasks)], "category": tcat, "metric": "accuracy", "higher_is_better": True,
        "dataset": None,
        "description": [f"{c.replace('_', ' ')} of {' '.join(rng.choice(words, 3))} texts" for c in tcat],
        "prompt_template": None, "example_inputs": [[] for _ in range(n_tasks)], "output_format": None, "source_url": None,
    })
    mask = rng.random((n_models, n_tasks)) < density
    mi, ti = np.nonzero(mask)
    skill = rng.normal(0, 1, n_models)
    ft = 1 / (1 + np.exp(-(skill[mi] + rng.normal(0, 0.5, len(mi)))))
    results = pd.DataFrame({
        "source_id": [f"src{t % 20}" for t in ti], "model_id": models["model_id"].to_numpy()[mi],
        "task_id": tasks["task_id"].to_numpy()[ti], "metric": "accuracy", "primary": True,
        "base_score": ft * 0.6, "finetuned_score": ft, "base_setting": None, "provenance": "EXACT", "notes": None,
    })
    sources = pd.DataFrame({"source_id": [f"src{i}" for i in range(20)], "name": "generated", "kind": "paper",
                            "url": None, "setup": None, "notes": None})
    rankings = pd.DataFrame(columns=["source_id", "objective", "model_id", "avg_rank", "ci95", "n_tasks", "notes"])
    return BenchmarkDB(models=models, tasks=tasks, results=results, sources=sources, rankings=rankings), len(results)


def main() -> None:
    py = sys.executable
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, SLMSELECT_CACHE_DIR=cache, PYTHONPATH=ROOT)
        base = subprocess_seconds([py, "-c", "pass"], env, 5)
        imp = subprocess_seconds([py, "-c", "import slmselect"], env, 5)
        print(f"import slmselect: {imp - base:.3f} s beyond a bare interpreter ({imp:.3f} s total, interpreter {base:.3f} s); target < 0.5 s")

        cmd = [py, "-m", "slmselect.cli", "recommend", "-d", "classify support tickets by topic", "--json", "--no-local"]
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        first = time.perf_counter() - t
        cold = subprocess_seconds(cmd, env, 3)
        print(f"cold `slmselect recommend` (new process, embedding model load included): {cold:.2f} s; "
              f"very first run, database embeddings computed and cached: {first:.2f} s; target < 5 s")

    import slmselect
    from public_datasets import trec

    examples = trec(n=40, seed=0)
    db = slmselect.load_db()
    slmselect.recommend(examples, db=db, include_local=False)
    warm = timed(lambda: slmselect.recommend(examples, db=db, include_local=False), 20)
    desc = timed(lambda: slmselect.recommend(description="classify support tickets", db=db, include_local=False), 20)
    prof = timed(lambda: slmselect.profile_task(examples), 20)
    print(f"warm recommend() on the shipped database ({len(db.models)} models, {len(db.tasks)} tasks): "
          f"{1000 * warm:.1f} ms with 40 examples (of which profiling {1000 * prof:.1f} ms), "
          f"{1000 * desc:.1f} ms from a description; target < 50 ms")

    from slmselect.predict.artifact import attach, fit_predictor
    from slmselect.predict.observed import KINDS
    from slmselect.predict.query import Settings
    from slmselect.profile.embed import embed_cached, get_embedder

    big, n_results = generated_db()
    t = time.perf_counter()
    art = fit_predictor(big, settings={k: Settings() for k in KINDS})  # the database build's step, not per call
    fit_s = time.perf_counter() - t
    attach(big, art)
    t = time.perf_counter()
    slmselect.recommend(description="classify support tickets", db=big, include_local=False)
    setup = time.perf_counter() - t
    warm_big = timed(lambda: slmselect.recommend(description="classify support tickets", db=big, include_local=False), 10)
    print(f"build-time fit of the generated database (1000 models x 2000 tasks, {n_results} results): {fit_s:.1f} s")
    print(f"warm recommend() on the generated database: {1000 * warm_big:.1f} ms (first call, task embeddings "
          f"and bound matrices built: {setup:.1f} s); target < 200 ms")
    print(f"ratio generated/shipped warm: {warm_big / desc:.1f}x for {n_results / len(db.results):.0f}x the results")
    # the static-advice fallback at full weight (average ranks among the candidates computed per call)
    from dataclasses import replace

    art.settings = {k: replace(v, static_weight=1.0, edge_static_weight=1.0) for k, v in art.settings.items()}
    warm_static = timed(lambda: slmselect.recommend(description="classify support tickets", db=big, include_local=False), 10)
    warm_edge = timed(lambda: slmselect.recommend(description="classify support tickets", db=big, include_local=False,
                                                  objective="edge"), 10)
    print(f"warm recommend() on the generated database with static_weight=1: {1000 * warm_static:.1f} ms "
          f"({warm_static / warm_big:.2f}x the default settings' call); edge: {1000 * warm_edge:.1f} ms; target < 200 ms")

    # the per-text embedding cache: a database with one new task re-embeds one text
    texts = [f"{d} (task {i})" for i, d in enumerate(db.tasks["description"])]
    emb = get_embedder(texts)
    embed_cached(emb, texts)
    t = time.perf_counter()
    embed_cached(emb, texts)
    again = time.perf_counter() - t
    t = time.perf_counter()
    embed_cached(emb, texts + ["route customer emails to the right team"])
    one_more = time.perf_counter() - t
    t = time.perf_counter()
    emb.embed(texts)
    everything = time.perf_counter() - t
    print(f"task embeddings: all {len(texts)} cached {1000 * again:.1f} ms; one new task {1000 * one_more:.1f} ms; "
          f"re-embedding every text (what a database change cost before) {everything:.2f} s")


if __name__ == "__main__":
    main()
