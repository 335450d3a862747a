"""Berkeley Function Calling Leaderboard: per-category accuracy, latest snapshot of each leaderboard version.

``data_overall_<date>_<commit>.csv`` (gh-pages of ShishirPatil/gorilla). A snapshot is v4 when it has the web
search columns, v3 otherwise; only the newest file of each version is read. Each (version, mode) is its own
source: FC (native function calling) and Prompt mode are kept apart, and v3 and v4 scores are not comparable.
Group means (Non-Live AST Acc, Live Acc, ...) are left out because their leaves are in; the overall score is in.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from .base import ModelHint, SourceData, hf_id_from_url, pct, skip

FOLDER = "bfcl"
REPO = "https://github.com/ShishirPatil/gorilla/blob/{commit}/data_overall.csv"
#: Leaderboard columns that are means of other columns (left out), or not accuracies.
GROUP_MEANS = {"Non-Live AST Acc", "Non-Live Exec Acc", "Live Acc", "Multi Turn Acc", "Web Search Acc", "Memory Acc"}
NOT_SCORES = {"Rank", "Model", "Model Link", "Organization", "License", "Cost ($ Per 1k Function Calls)", "Total Cost ($)",
              "Latency Mean (s)", "Latency Standard Deviation (s)", "Latency 95th Percentile (s)",
              "Format Sensitivity Max Delta", "Format Sensitivity Standard Deviation"}
MODE = re.compile(r"\s*\((FC|Prompt)([^)]*)\)\s*$")


def task_key(column: str) -> str:
    """'Non-Live Simple AST' -> 'non_live_simple_ast'; 'Overall Acc' -> 'overall'."""
    return "overall" if column == "Overall Acc" else re.sub(r"[^a-z0-9]+", "_", column.lower()).strip("_")


def _latest_per_version(folder: Path) -> dict[str, Path]:
    latest: dict[str, Path] = {}
    for path in sorted(folder.glob("data_overall_*.csv")):  # names sort by date, then commit
        header = path.read_text(encoding="utf-8").splitlines()[0]
        latest["v4" if "Web Search" in header else "v3"] = path
    return latest


def read(folder: Path) -> SourceData:
    out = SourceData()
    for version, path in sorted(_latest_per_version(folder).items()):
        date, commit = path.stem.split("_")[2:4]
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        cols = [c for c in df.columns if c not in NOT_SCORES and c not in GROUP_MEANS]
        for mode in ("FC", "Prompt"):
            sid = f"bfcl_{version}_{mode.lower()}"
            out.sources.append({
                "source_id": sid, "kind": "leaderboard", "url": REPO.format(commit=commit),
                "name": f"Berkeley Function Calling Leaderboard {version}, {mode} mode (snapshot {date}, commit {commit})",
                "setup": (f"Released models evaluated as published, no fine-tuning; {mode} mode "
                          + ("(the model's native function-calling interface)" if mode == "FC" else "(tools described in the prompt)")
                          + "; accuracy per test category (AST or execution match, multi-turn state, relevance)"),
                "snapshot": f"{date} (gorilla@{commit})", "data_license": "Apache-2.0",
                "raw_path": f"benchmarks_db/raw/{FOLDER}/{path.name}",
                "notes": (f"Per-category leaves and the overall score; v3 and v4 overall scores are not comparable. "
                          f"Group means ({', '.join(sorted(GROUP_MEANS & set(df.columns)))}) left out. Published as percentages; divided by 100."),
            })
        for _, row in df.iterrows():
            name = row["Model"]
            m = MODE.search(name)
            if not m:
                out.skipped.append(skip(f"bfcl_{version}", name, 1, "display name states no mode ((FC) or (Prompt)): not assigned to a source", "model"))
                continue
            mode, extra = m.group(1), m.group(2).strip(" +")
            sid = f"bfcl_{version}_{mode.lower()}"
            hf = hf_id_from_url(row["Model Link"])
            out.hints[(sid, name)] = ModelHint(hf_id=hf, license=row["License"] or None, org=row["Organization"] or None,
                                               url=row["Model Link"] or None)
            for col in cols:
                score = pct(row[col])
                if score is None:
                    continue
                out.results.append({
                    "source_id": sid, "raw_model": name, "raw_task": f"{version}:{task_key(col)}", "raw_name": name,
                    "primary": "true", "base_score": score, "mode": mode.lower(),
                    "base_setting": f"BFCL {mode} mode (no fine-tuning)" + (f", {extra.lower()}" if extra else ""),
                    "snapshot_date": date, "provenance": "EXACT",
                    "notes": f"published as {row[col]}; leaderboard rank {row['Rank']}",
                })
    return out
