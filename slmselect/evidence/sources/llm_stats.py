"""LLM-Stats (leonardogrig/llm-leaderboard @872b75f6): scores the model makers report, one source link per row.

``benchmarks.csv`` flattens ``data/organizations/*/models/*/benchmarks.json``. Models without a parameter count
are closed API models (references). Scores outside 0-1 (Elo ratings) are left out; a second score of the same
model on the same benchmark (another method) is kept as a non-primary metric.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from .base import ModelHint, SourceData, hf_id_from_url, n_shot_from, skip

FOLDER = "llm_stats"
SOURCE_ID = "llm_stats"
URL = "https://github.com/leonardogrig/llm-leaderboard/tree/872b75f6/data/organizations"


def read(folder: Path) -> SourceData:
    df = pd.read_csv(folder / "benchmarks.csv", dtype=str, keep_default_na=False)
    out = SourceData(sources=[{
        "source_id": SOURCE_ID, "kind": "leaderboard", "url": URL,
        "name": "LLM-Stats model benchmark data (leonardogrig/llm-leaderboard @872b75f6)",
        "setup": "Scores reported by the model makers (model cards, papers, blog posts), no fine-tuning; prompting varies by row (see n_shot and notes)",
        "snapshot": "leonardogrig/llm-leaderboard@872b75f6", "data_license": "CC-BY-4.0",
        "raw_path": f"benchmarks_db/raw/{FOLDER}/benchmarks.csv",
        "notes": ("Self-reported numbers: setups differ between makers, so rankings within a benchmark are rough. "
                  "Each row's notes give the maker's page and method. A few benchmarks were removed from this copy upstream."),
    }])
    seen: set[tuple[str, str]] = set()
    for _, r in df.iterrows():
        model, bench = r["model_id"], r["benchmark_id"]
        params = float(r["params"]) / 1e9 if r["params"] else None
        out.hints.setdefault((SOURCE_ID, model), ModelHint(
            hf_id=hf_id_from_url(r["source"]), params_b=params, api_only=params is None, org=r["org"] or None,
            url=r["source"] or None))
        score = float(r["score"])
        if not 0 <= score <= 1:
            out.skipped.append(skip(SOURCE_ID, f"{model} / {bench}", 1, f"score {r['score']} is not on a 0-1 scale"))
            continue
        first = (model, bench) not in seen
        seen.add((model, bench))
        row = {
            "source_id": SOURCE_ID, "raw_model": model, "raw_task": bench, "raw_name": model,
            "primary": "true" if first else "false", "base_score": score, "n_shot": n_shot_from(r["method"]),
            "base_setting": "reported by the model maker, no fine-tuning" + (f" ({r['method']})" if r["method"] else ""),
            "provenance": "EXACT" if r["self_reported"] == "True" else "SECONDARY",
            "notes": f"{r['benchmark_name']}; method: {r['method'] or 'not stated'}; reported at {r['source']}"
                     + ("" if r["self_reported"] == "True" else "; not self-reported (third-party measurement)"),
        }
        if not first:
            row["metric"] = "score_" + re.sub(r"[^a-z0-9]+", "_", r["method"].lower()).strip("_")
        out.results.append(row)
    return out
