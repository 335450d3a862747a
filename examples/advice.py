"""Advice that reads the task: a non-English task, inputs longer than some models' context, and the edge
=====================================================================================================

Three recommendations as a user would ask for them, each showing the rule an engineer who knows small models
applies before any average:

1. German customer reviews with a 1B cap: models that support German come first; English-only ones move down.
2. Long reports (about 10,000 tokens each): a model whose context cannot hold them moves below those that can.
3. SMS spam on a phone: the smallest good-enough model under 2 GB with a commercial licence, with the floor of
   always answering "ham".

Run: ``python examples/advice.py`` (seconds; no model is loaded, no network).
"""

# %%
import os
import sys

from rich.console import Console

from slmselect import recommend
from public_datasets import sms_spam  # beside this script, whose folder Python puts on sys.path

HERE = os.path.dirname(os.path.abspath(__file__))
console = Console(width=None if sys.stdout.isatty() else 220)

# %% 1. A German task with a tight size cap
console.rule("1. German reviews, at most 1B parameters")
german = os.path.join(HERE, "data", "reviews_de.jsonl")
console.print(recommend(german, max_params="1B", top_k=5, include_local=False))

# %% 2. Inputs longer than some models' context
console.rule("2. Long reports (~10k tokens per example)")
report = " ".join(["The quarterly report lists revenue, costs and the outlook for each region."] * 700)
long_examples = [{"text": f"{report} Case {i}.", "label": "finance" if i % 2 else "operations"} for i in range(12)]
console.print(recommend(long_examples, top_k=5, include_local=False))

# %% 3. The edge: small, commercial, under 2 GB
console.rule("3. SMS spam on a phone: edge, < 2 GB, commercial licence")
console.print(recommend(sms_spam(n=60, seed=0), objective="edge", max_memory_gb=2, licenses="commercial",
                        top_k=3, include_local=False))
