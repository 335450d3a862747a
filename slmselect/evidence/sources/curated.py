"""The hand-curated tables (LoRA Land, distil labs posts and READMEs, the BFCL v3 snapshot, the seed guide).

``raw/curated/`` holds sources, tasks, results and rankings as transcribed by hand, in the database's own ids;
``settings.csv`` adds per source the fine-tuning recipe and test-set size the setup texts state.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .base import SourceData

FOLDER = "curated"


def _records(path: Path) -> list[dict]:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    return df.to_dict("records")


def read(folder: Path) -> SourceData:
    settings = {r["source_id"]: r for r in _records(folder / "settings.csv")}
    sources = []
    for s in _records(folder / "sources.csv"):
        st = settings.get(s["source_id"], {})
        sources.append(s | {"snapshot": st.get("snapshot", ""), "data_license": st.get("data_license", ""),
                            "raw_path": f"benchmarks_db/raw/{FOLDER}"})
    results = []
    for r in _records(folder / "results.csv"):
        st = settings.get(r["source_id"], {})
        tuned = r["finetuned_score"] != ""
        results.append(r | {
            "raw_model": r["model_id"], "raw_name": r["model_id"], "n_examples": st.get("n_examples", ""),
            "finetune_method": st.get("finetune_method", "") if tuned else "",
            "ft_lora_rank": st.get("ft_lora_rank", "") if tuned else "",
            "ft_epochs": st.get("ft_epochs", "") if tuned else "",
            "ft_train_examples": st.get("ft_train_examples", "") if tuned else "",
            "ft_recipe": next((s["setup"] for s in sources if s["source_id"] == r["source_id"]), "") if tuned else "",
            "snapshot_date": "",
        })
    return SourceData(sources=sources, results=results, tasks=_records(folder / "tasks.csv"),
                      rankings=_records(folder / "rankings.csv"))
