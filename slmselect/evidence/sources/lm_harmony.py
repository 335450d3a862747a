"""LM-Harmony "train-before-test" (Zhang & Hardt, arXiv 2507.05195): base and LoRA-fine-tuned scores per task.

``results_dev.json`` maps ``direct_eval`` / ``train_before_test`` (and their ``*_stderr``) -> task -> HF model id
-> score. One result row per (model, task) holds both scores, so base and fine-tuned are paired.
"""

from __future__ import annotations

import json
from pathlib import Path

from .base import ModelHint, SourceData, skip

FOLDER = "lm_harmony"
SOURCE_ID = "lm_harmony_2025"
URL = "https://github.com/socialfoundations/lm-harmony/blob/88bc5c35/notebooks/all_results.json"
#: Language-modelling corpora in the file: perplexities, not tasks.
PERPLEXITY = {"arxiv_2025", "stackexchange_2025", "wiki_2025"}
RECIPE = ("LoRA (alpha 32), lr 2e-5, up to 5 epochs on the task's train split (at most 50k examples), "
          "best epoch kept; base = the same model evaluated directly with lm-eval (no fine-tuning)")


def read(folder: Path) -> SourceData:
    d = json.loads((folder / "results_dev.json").read_text(encoding="utf-8"))
    base, base_se = d["direct_eval"], d["direct_eval_stderr"]
    tuned, tuned_se = d["train_before_test"], d["train_before_test_stderr"]
    out = SourceData(sources=[{
        "source_id": SOURCE_ID, "kind": "paper", "url": URL,
        "name": "LM-Harmony: train-before-test (Zhang & Hardt 2025, arXiv 2507.05195), all_results.json",
        "setup": RECIPE, "snapshot": "socialfoundations/lm-harmony@88bc5c35", "data_license": "MIT",
        "raw_path": f"benchmarks_db/raw/{FOLDER}",
        "notes": ("Standard errors as published (*_stderr). In some pairs the fine-tuned score equals the base score "
                  "(notes say so). Some tasks of the paper are not in this file."),
    }])
    for task in sorted(base):
        if task in PERPLEXITY:
            out.skipped.append(skip(SOURCE_ID, task, len(base[task]), "perplexity corpus, not a task", "task"))
            continue
        for model in sorted(base[task]):
            out.hints[(SOURCE_ID, model)] = ModelHint(hf_id=model, url=f"https://huggingface.co/{model}")
            b, f = base[task][model], tuned.get(task, {}).get(model)
            out.results.append({
                "source_id": SOURCE_ID, "raw_model": model, "raw_task": task, "raw_name": model, "primary": "true",
                "base_score": b, "finetuned_score": f,
                "base_stderr": base_se.get(task, {}).get(model), "finetuned_stderr": tuned_se.get(task, {}).get(model),
                "base_setting": "no fine-tuning (lm-eval, direct evaluation)",
                "finetune_method": "lora" if f is not None else None, "ft_epochs": 5 if f is not None else None,
                "ft_train_examples": 50000 if f is not None else None, "ft_recipe": RECIPE if f is not None else None,
                "provenance": "EXACT",
                "notes": "fine-tuned score equals the base score in the source" if f is not None and f == b else None,
            })
    return out
