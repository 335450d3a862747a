"""Stanford HELM (lite v1.13, capabilities v1.12, MMLU v1.13) via evaleval/every_eval_ever @647f239e.

``scores.csv``: suite, HELM model id, display name, scenario - metric, score. Each suite is its own source.
Aggregates over the scenarios (mean win rate, mean score) are left out; so are scores outside 0-1.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from .base import SourceData, skip

FOLDER = "helm"
URL = "https://github.com/evaleval/every_eval_ever/tree/647f239e"
SUITES = {
    "helm_lite": ("HELM Lite v1.13", "in-context (few-shot) prompting as HELM Lite specifies per scenario, no fine-tuning"),
    "helm_capabilities": ("HELM Capabilities v1.12", "zero-shot, chain-of-thought where the scenario asks for it, no fine-tuning"),
    "helm_mmlu": ("HELM MMLU v1.13", "MMLU subjects, in-context examples as HELM specifies, exact match, no fine-tuning"),
}
AGGREGATES = {"Mean win rate", "Mean score"}


def task_key(evaluation: str) -> str:
    """'GSM8K - EM' -> 'gsm8k'; 'High School World History - EM' -> 'high_school_world_history'."""
    return re.sub(r"[^a-z0-9]+", "_", evaluation.rsplit(" - ", 1)[0].lower()).strip("_")


def read(folder: Path) -> SourceData:
    df = pd.read_csv(folder / "scores.csv", dtype=str, keep_default_na=False)
    out = SourceData()
    for suite, (name, setup) in SUITES.items():
        sub = df[df["suite"] == suite]
        out.sources.append({
            "source_id": suite, "kind": "leaderboard", "url": URL, "name": f"Stanford HELM: {name}", "setup": setup,
            "snapshot": f"{name.split()[-1]} release (every_eval_ever@647f239e)", "data_license": "MIT (repository)",
            "raw_path": f"benchmarks_db/raw/{FOLDER}/scores.csv",
            "notes": f"Scores as HELM publishes them ({sorted(set(sub['source']))[0] if len(sub) else ''}); one scenario was removed from this copy upstream. Small models only at 7-9B; most rows are references.",
        })
        for _, r in sub.iterrows():
            if r["evaluation"] in AGGREGATES:
                continue
            score = float(r["score"])
            if not 0 <= score <= 1:
                out.skipped.append(skip(suite, f"{r['model_id']} / {r['evaluation']}", 1, f"score {r['score']} is not on a 0-1 scale (missing value)"))
                continue
            out.results.append({
                "source_id": suite, "raw_model": r["model_id"], "raw_task": f"{suite}:{task_key(r['evaluation'])}", "raw_name": r["model_id"],
                "primary": "true", "base_score": score, "base_setting": "no fine-tuning (HELM standard prompting)",
                "provenance": "EXACT", "notes": f"{r['model_name']}: {r['evaluation']}",
            })
        n_agg = int(sub["evaluation"].isin(AGGREGATES).sum())
        out.skipped.append(skip(suite, "Mean win rate / Mean score", n_agg, "aggregate over the suite's scenarios, not a task"))
    return out
