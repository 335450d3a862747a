"""Hugging Face Open LLM Leaderboard v2, final snapshot (2025-03-21): official providers' models only.

One file, one row per evaluated (model, precision, commit); a model evaluated twice keeps its latest submission.
Raw scores (0-1) are the primary metric; the leaderboard's normalised scores (0-100, random baseline at 0) are
kept as a second, non-primary metric.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .base import ModelHint, SourceData, skip

FOLDER = "open_llm_leaderboard"
FILE = "huggingface_v2_2025-03-21.csv"
SOURCE_ID = "open_llm_leaderboard_v2"
URL = "https://github.com/fboulnois/llm-leaderboard-csv/blob/0f4e5c69/csv/huggingface_v2.csv"
TASKS = ("ifeval", "bbh", "math", "gpqa", "musr", "mmlu_pro")
#: Few-shot counts of the leaderboard's harness configuration (Open LLM Leaderboard v2 documentation).
N_SHOT = {"ifeval": 0, "bbh": 3, "math": 4, "gpqa": 0, "musr": 0, "mmlu_pro": 5}
BASE_TYPES = {"pretrained", "continuouslypretrained"}


def _params(value: str) -> float | None:
    """Billions of parameters; the table writes 0 or -1 when it does not know."""
    return float(value) if value and float(value) > 0 else None


def read(folder: Path) -> SourceData:
    df = pd.read_csv(folder / FILE, dtype=str, keep_default_na=False)
    off = df[df["features_is_official_provider"].str.upper() == "TRUE"]
    out = SourceData(sources=[{
        "source_id": SOURCE_ID, "kind": "leaderboard", "url": URL,
        "name": "Hugging Face Open LLM Leaderboard v2 (final snapshot 2025-03-21), official providers",
        "setup": ("lm-evaluation-harness, no fine-tuning: IFEval 0-shot, BBH 3-shot, MATH level 5 4-shot, GPQA 0-shot, "
                  "MuSR 0-shot, MMLU-Pro 5-shot; chat template applied where the model has one"),
        "snapshot": "2025-03-21 (fboulnois/llm-leaderboard-csv@0f4e5c69)", "data_license": "MPL-2.0 (repository)",
        "raw_path": f"benchmarks_db/raw/{FOLDER}/{FILE}",
        "notes": ("Official-provider models only (features_is_official_provider); community fine-tunes and merges are "
                  "left out. A model evaluated more than once keeps its latest submission (notes give the evaluated id)."),
    }])
    n_other = len(df) - len(off)
    out.skipped.append(skip(SOURCE_ID, "(non-official models)", n_other * len(TASKS), "not an official provider's model"))
    off = off.sort_values(["model_name", "metadata_submission_date", "id"])
    dropped = off[off.duplicated("model_name", keep="last")]
    for _, r in dropped.iterrows():
        out.skipped.append(skip(SOURCE_ID, r["id"], len(TASKS), "earlier evaluation of a model evaluated again later"))
    for _, r in off.drop_duplicates("model_name", keep="last").iterrows():
        name = r["model_name"]
        base = r["metadata_base_model"]
        out.hints[(SOURCE_ID, name)] = ModelHint(
            hf_id=name, params_b=_params(r["metadata_params_billions"]),
            license=r["metadata_hub_license"] or None, base_model=base if base and base != name else None,
            variant="base" if r["model_type"] in BASE_TYPES else "instruct",
            release_date=r["metadata_upload_date"] or None, release_date_kind="Hub upload date (Open LLM Leaderboard)",
            url=f"https://huggingface.co/{name}",
        )
        for task in TASKS:
            raw, norm = r[f"evaluations_{task}_value"], r[f"evaluations_{task}_normalized_score"]
            common = {"source_id": SOURCE_ID, "raw_model": name, "raw_task": task, "raw_name": name,
                      "n_shot": N_SHOT[task], "base_setting": f"{N_SHOT[task]}-shot, no fine-tuning",
                      "snapshot_date": "2025-03-21", "provenance": "EXACT"}
            note = f"evaluated as {r['id']} ({r['model_precision']}), submitted {r['metadata_submission_date']}"
            if raw:
                out.results.append(common | {"primary": "true", "base_score": round(float(raw), 6), "notes": note})
            if norm and 0 <= float(norm) <= 100:
                out.results.append(common | {"primary": "false", "metric": "normalized_score",
                                             "base_score": round(float(norm) / 100, 6),
                                             "notes": note + f"; normalised score published as {float(norm):.4f} (0-100, random baseline 0)"})
    return out
