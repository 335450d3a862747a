"""A planted benchmark database: built here, with right answers known by construction (for the predictor and
evaluate tests).

Scores follow ``0.45 + 0.08 * (standing + topic bonus) + noise`` with the standings in :data:`MODELS`:

* ``acme/steady-7b`` is the best on average (the static advice);
* ``lexis/legal-3b`` is average, except that it wins every legal task;
* ``old/old-7b`` (2023) wins the old study, where only weak bridge models were measured with it;
  ``new/new-4b`` (2025) is measured only in the new study, with the same bridges, and is better than it;
* ``cold/cold-1b`` has metadata only; ``base/base-only-8b`` has base scores only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from slmselect.evidence.db import BenchmarkDB

TOPICS = {
    "legal": ("Classify clauses of legal contracts", ["The lessee shall indemnify the lessor against all claims.",
                                                      "This agreement is governed by the laws of the State of New York."]),
    "sentiment": ("Sentiment of product reviews: positive or negative", ["Great phone, the battery lasts all day.",
                                                                          "Broke after a week, avoid."]),
    "math": ("Solve arithmetic word problems and give the number", ["Tom has 3 apples and buys 5 more. How many?",
                                                                     "A train travels 60 km in 1.5 hours. Speed?"]),
    "ner": ("Extract person and organisation names from news sentences", ["Satya Nadella spoke at Microsoft Build.",
                                                                           "Angela Merkel met officials from Siemens."]),
}
FLAVOURS = ["standard", "hard", "short", "long", "formal", "informal"]
MODELS = [
    # id, family, params, date, standing, legal bonus
    ("acme/steady-7b", "Acme", 7.0, "2025-01-10", 1.0, 0.0),
    ("lexis/legal-3b", "Lexis", 3.0, "2024-11-01", 0.0, 2.6),
    ("mid/mid-4b", "Mid", 4.0, "2024-08-01", 0.4, 0.0),
    ("mid/mid-1b", "Mid", 1.0, "2024-08-01", -0.2, 0.0),
    ("tiny/tiny-0.5b", "Tiny", 0.5, "2024-05-01", -0.8, 0.0),
    ("bridge/b1-2b", "Bridge", 2.0, "2024-03-01", 0.0, 0.0),
    ("bridge/b2-1b", "Bridge", 1.0, "2024-03-01", -0.5, 0.0),
    ("old/old-7b", "Old", 7.0, "2023-06-01", 0.2, 0.0),
    ("new/new-4b", "New", 4.0, "2025-06-01", 0.9, 0.0),
    ("cold/cold-1b", "Cold", 1.0, "2025-02-01", None, 0.0),
    ("base/base-only-8b", "Acme", 8.0, "2025-01-10", 0.7, 0.0),
]
STUDY_A = ["acme/steady-7b", "lexis/legal-3b", "mid/mid-4b", "mid/mid-1b", "tiny/tiny-0.5b", "bridge/b1-2b", "bridge/b2-1b"]


def planted_db(seed: int = 0) -> BenchmarkDB:
    rng = np.random.default_rng(seed)
    info = {m[0]: m for m in MODELS}
    tasks, results = [], []

    def add(source: str, task: str, topic: str, models: list[str], base_only: bool = False) -> None:
        for mid in models:
            st, bonus = info[mid][4], info[mid][5] if topic == "legal" else 0.0
            ft = float(np.clip(0.45 + 0.08 * (st + bonus) + rng.normal(0, 0.01), 0.01, 0.99))
            base = float(np.clip(ft - 0.25 + 0.04 * st + rng.normal(0, 0.01), 0.01, 0.99))
            results.append(dict(source_id=source, model_id=mid, task_id=task, metric="accuracy", primary=True,
                                base_score=round(base, 4), finetuned_score=None if base_only else round(ft, 4),
                                base_setting="few-shot", provenance="EXACT", notes=None))

    for topic, (desc, ex) in TOPICS.items():
        for k, flav in enumerate(FLAVOURS):
            tid = f"{topic}_{flav}"
            tasks.append(dict(task_id=tid, category="ner_extraction" if topic == "ner" else "classification", metric="accuracy",
                              higher_is_better=True, dataset=f"planted/{tid}", description=f"{desc} ({flav} variant). {desc}.",
                              prompt_template=None, example_inputs=ex, output_format="label", source_url=None))
            add("study_a", tid, topic, STUDY_A)
            if k < 2:
                add("old_study", tid, topic, ["old/old-7b", "bridge/b1-2b", "bridge/b2-1b"])
                add("new_study", tid, topic, ["new/new-4b", "bridge/b1-2b", "bridge/b2-1b"])
            add("base_board", tid, topic, ["base/base-only-8b", "acme/steady-7b", "mid/mid-4b", "tiny/tiny-0.5b"], base_only=True)
    models = pd.DataFrame([dict(model_id=m, family=f, params_b=p, variant="instruct", context_len=8192, license="Apache-2.0",
                                commercial_use="yes", release_date=d, layers=None, hidden_size=None, n_heads=None,
                                n_kv_heads=None, head_dim=None, vocab=None, attention=None, api_only=False, aliases=None,
                                source_url=None, notes=None) for m, f, p, d, _, _ in MODELS])
    sources = pd.DataFrame([dict(source_id=s, name=s, kind="paper", url=None, setup=None, notes=None)
                            for s in ["study_a", "old_study", "new_study", "base_board"]])
    rankings = pd.DataFrame(columns=["source_id", "objective", "model_id", "avg_rank", "ci95", "n_tasks", "notes"])
    return BenchmarkDB(models=models, tasks=pd.DataFrame(tasks), results=pd.DataFrame(results), sources=sources, rankings=rankings)
