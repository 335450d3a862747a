"""Three candidates confirmed on a local Ray cluster against the same run one after the other.

    python benchmarks/ray_bench.py [--steps 8] [--eval-examples 24] [--batch-size 4] [--save-report FILE]

Same TREC examples, split, seed, steps and candidates (SmolLM2-135M-Instruct, Gemma 3 270M and a
local-folder copy of SmolLM2) in both runs. (a) ``confirm(..., backend="local")``: one candidate after the
other, torch using every core; (b) ``confirm(..., backend="ray")`` on ``ray.init()`` over this machine's
cores: each candidate a Ray actor with an equal share of the CPUs (one where there are fewer CPUs than
candidates), so on two cores two candidates train at once, one thread each. Wall times include loading,
scoring and (for Ray) starting the cluster; the ratio is (a) / (b). ``--save-report`` writes (b)'s report as
JSON (the HTML test renders it). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "examples"))
os.environ.setdefault("SLMSELECT_CACHE_DIR", os.path.join(ROOT, ".slmselect_cache"))
# the offline models: a model source registered from examples/offline_models.py, for this process and its workers
os.environ.setdefault("SLMSELECT_MODEL_SOURCES", os.path.join(ROOT, "examples", "offline_models.py") + ":register")

SMOL = "HuggingFaceTB/SmolLM2-135M-Instruct"
GEMMA = "google/gemma-3-270m"


def run(backend: str, models: list[str], args: argparse.Namespace):
    from public_datasets import trec
    from slmselect.confirmation import confirm

    start = time.perf_counter()
    report = confirm(
        trec(96, seed=0), models=models, steps=args.steps, batch_size=args.batch_size,
        eval_examples=args.eval_examples, seed=0, store=False, progress=False, backend=backend,
        output_dir=os.path.join(os.environ["SLMSELECT_CACHE_DIR"], f"bench-adapters-{backend}"),
    )
    wall = time.perf_counter() - start
    print(f"\n{backend}: wall {wall:.0f}s")
    for c in report.candidates:
        print(f"  {c.model_id[-40:]:<40} {c.status:<7} {report.metric} {c.base_score or 0:.3f} -> "
              f"{c.finetuned_score or 0:.3f}  train {c.train_seconds or 0:.1f}s  load {c.load_seconds or 0:.1f}s")
    return wall, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--eval-examples", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--save-report", help="write the Ray run's report here as JSON")
    args = parser.parse_args()
    import ray

    from slmselect.confirmation.device import cpu_count
    from slmselect.confirmation.cache import converted_dir
    from slmselect.confirmation.weights import ensure_converted

    for model_id in (SMOL, GEMMA):
        ensure_converted(model_id)
    models = [SMOL, GEMMA, str(converted_dir(SMOL))]  # the third: the same weights as a local-folder candidate
    print(f"3 candidates, {args.steps} steps x {args.batch_size} examples, {args.eval_examples} held out, "
          f"{cpu_count()} CPU cores")
    t_seq, seq = run("local", models, args)
    start = time.perf_counter()
    ray.init(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    started = time.perf_counter() - start
    try:
        t_ray, rep = run("ray", models, args)
    finally:
        ray.shutdown()
    t_ray += started
    print(f"\nray.init {started:.1f}s (counted in the Ray time)")
    print(f"sequential {t_seq:.0f}s, Ray {t_ray:.0f}s: speed-up (a)/(b) = {t_seq / t_ray:.2f}x")
    same = all(a.finetuned_score == b.finetuned_score for a, b in zip(seq.candidates, rep.candidates))
    print(f"same fine-tuned scores in both runs: {same}")
    if args.save_report:
        with open(args.save_report, "w") as fh:
            fh.write(rep.to_json())


if __name__ == "__main__":
    main()
