"""`slmselect evaluate`: leave-one-task-out evaluation of the recommender against baselines."""

from __future__ import annotations

import argparse
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", action="append", metavar="SOURCE",
                   help="evaluate the held-out tasks of this source only (repeatable or comma-separated; default: all)")
    p.add_argument("--objective", action="append", metavar="OBJECTIVE",
                   help="accuracy | tunability | edge | no_finetune (repeatable or comma-separated; default: all four)")
    p.add_argument("--min-models", type=int, default=3, help="evaluate tasks with at least this many models (default: 3)")
    p.add_argument("--embedder", default="auto", help="auto | minilm | tfidf (default: auto)")
    p.add_argument("--tasks", action="store_true", help="also print the per-task rows")
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")


def run(args: argparse.Namespace) -> int:
    from slmselect.evidence.db import load_db
    from slmselect.evaluation import evaluate

    db = load_db(args.db) if getattr(args, "db", None) else None
    kw: dict[str, Any] = dict(min_models=args.min_models, db=db, embedder=args.embedder)
    if args.source:
        kw["sources"] = args.source
    if args.objective:
        kw["objectives"] = args.objective
    rep = evaluate(**kw)
    if args.json:
        print(rep.to_json())
        return 0
    from rich.console import Console

    con = Console(soft_wrap=False)
    con.print(rep)
    if args.tasks:
        from rich.table import Table

        df = rep.to_pandas("tasks")
        t = Table(title="Per-task rows", title_justify="left")
        cols = ["objective", "method", "source_id", "task_id", "n_models", "best_model", "pick", "hit", "top3", "regret", "spearman"]
        for c in cols:
            t.add_column(c, justify="right" if c in {"n_models", "hit", "top3", "regret", "spearman"} else "left")
        for r in df[cols].itertuples(index=False):
            t.add_row(*["—" if v is None or v != v else (f"{v:.3f}" if isinstance(v, float) else str(v)) for v in r])
        con.print(t)
    return 0
