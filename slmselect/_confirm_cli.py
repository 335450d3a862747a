"""``slmselect confirm PATH``: the command-line face of :func:`slmselect.confirmation`.

``add_arguments`` fills the sub-parser; ``run`` returns the exit code (0 measured, 2 bad input or
nothing measured, 130 interrupted). Without ``--models`` the candidates come from ``recommend()``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from slmselect.errors import SlmselectError

EXIT_OK, EXIT_USAGE, EXIT_INTERRUPTED = 0, 2, 130


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="examples file (.jsonl, .json, .csv or .tsv)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--models", help="comma-separated model ids, local folders or .gguf files to confirm")
    which.add_argument("--top-k", type=int, default=2, help="confirm the first K recommended models (default: 2)")
    parser.add_argument("--description", "-d", help="what the task is, in a sentence")
    parser.add_argument("--steps", type=int, default=40, help="LoRA training steps per candidate (default: 40)")
    parser.add_argument("--batch-size", type=int, default=8, help="examples per step (default: 8)")
    parser.add_argument("--eval-examples", type=int, help="held-out examples to score (default: a third, at most 200)")
    parser.add_argument("--learning-rate", type=float, help="LoRA learning rate (default: 2e-4)")
    parser.add_argument("--lora-r", type=int, help="LoRA rank (default: 8)")
    parser.add_argument("--max-seq-len", type=int, help="longest training sequence in tokens (default: from the data)")
    parser.add_argument("--seed", type=int, default=0, help="split, initialisation and batch order (default: 0)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps (default: auto)")
    parser.add_argument("--output-dir", help="where adapters are saved (default: the slmselect cache)")
    parser.add_argument(
        "--successive-halving",
        action="store_true",
        help="train all candidates for a quarter of the steps, finish only the better half",
    )
    parser.add_argument("--store", help="results store (SQLite; default: $SLMSELECT_RESULTS or the user data dir)")
    parser.add_argument("--no-store", action="store_true", help="do not record the results")
    parser.add_argument("--trust-remote-code", action="store_true", help="allow models that run their own code")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    try:
        report = _confirm(args)
    except SlmselectError as err:
        print(f"slmselect: {err}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(report.to_json())
    else:
        from rich.console import Console

        Console(soft_wrap=False).print(report)
    return EXIT_INTERRUPTED if report.interrupted else EXIT_OK


def _confirm(args: argparse.Namespace) -> Any:
    from slmselect.confirmation.runner import confirm

    kwargs: dict[str, Any] = {}
    if args.models:
        kwargs["models"] = [m.strip() for m in args.models.split(",") if m.strip()]
    else:
        from slmselect.recommender import recommend

        kwargs["recommendation"] = recommend(
            args.path, description=args.description, top_k=args.top_k, store=args.store, db=_db(args)
        )
        kwargs["top_k"] = args.top_k
    return confirm(
        args.path,
        steps=args.steps,
        batch_size=args.batch_size,
        eval_examples=args.eval_examples,
        learning_rate=args.learning_rate,
        lora_r=args.lora_r,
        max_seq_len=args.max_seq_len,
        seed=args.seed,
        device=args.device,
        output_dir=args.output_dir,
        successive_halving=args.successive_halving,
        store=False if args.no_store else args.store,
        description=args.description,
        trust_remote_code=args.trust_remote_code,
        progress=True,
        **kwargs,
    )


def _db(args: argparse.Namespace) -> Any:
    path = getattr(args, "db", None)
    if not path:
        return None
    from slmselect.evidence.db import load_db

    return load_db(path)
