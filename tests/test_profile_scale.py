"""profile_task on many examples: statistics on a stated, seeded sample; counts, labels and duplicates exact."""

from __future__ import annotations

import random
import warnings
from collections import Counter

import pytest

from public_datasets import trec
from slmselect.profile.columns import Columns, fingerprint, text_keys
from slmselect.profile.profiler import STATS_SAMPLE, profile_task
from slmselect.profile.readers import text_key


@pytest.fixture(scope="module")
def many() -> list[dict[str, str]]:
    base = trec(n=None, seed=0)
    rng = random.Random(0)
    out = []
    for i in range(20_000):
        r = base[rng.randrange(len(base))]
        out.append({"text": r["text"] if i % 7 else r["text"].upper() + " !", "label": r["label"]})
    return out


def test_a_large_input_is_profiled_on_a_stated_sample_with_exact_counts(many):
    p = profile_task(many)
    assert p.n_examples == len(many)
    assert p.stats_sample is not None and p.stats_sample < p.n_examples
    assert abs(p.stats_sample - STATS_SAMPLE) <= 10
    counts = Counter(r["label"] for r in many)
    assert p.labels == sorted(counts)
    top, n_top = counts.most_common(1)[0]
    assert (p.majority_label, p.majority_rate) == (top, round(n_top / len(many), 4))
    assert p.duplicate_inputs == len(many) - len({text_key(r["text"]) for r in many})
    assert p.input_tokens.max >= p.input_tokens.p95
    assert profile_task(many) == p


def test_a_small_input_is_profiled_whole(many):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a class of TREC's under 3 examples
        p = profile_task(many[:300])
    assert p.stats_sample == p.n_examples == 300


def test_column_keys_and_fingerprint_match_the_per_example_ones():
    texts = ["Hello, World!", "  héllo world ", "STRASSE straße", "ΣΟΦΟΣ σοφος", "a\u2028b\u00a0c", "", "x\x00y", "tab\there"]
    assert text_keys(texts + [None]) == [text_key(t) for t in texts + [None]]
    import hashlib
    import json

    cols = Columns(["a \"q\"", "b\\"], ["1", "2"], [None, "ctx"], [None, None])
    payload = json.dumps([e.model_dump() for e in cols.examples()], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert fingerprint(cols) == hashlib.sha256(payload.encode("utf-8")).hexdigest()


def test_ascii_column_keys_match_the_per_example_ones():
    rng = random.Random(7)
    alphabet = "aZ09_ \t\n\r\x0b\x0c\x1c\x1f!?.,;:'\"-()[]{}/\\@#$%^&*~`|<>+=" + "Qx"
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 25))) for _ in range(3000)]
    texts += ["", " ", "  a  ", "!!", "_", "\t_\t", "A_b  C", "?a", "a?"]
    for chunk in (texts, texts[:1], ["", ""], [" !", ""], ["x"], ["a\x00b", "a b"]):
        assert text_keys(chunk) == [text_key(t) for t in chunk]
    mixed = texts[:50] + ["Straße, NAÏVE!", "ΣΟΦΟΣ  σοφος"] + texts[50:100]
    assert text_keys(mixed) == [text_key(t) for t in mixed]


def test_fingerprint_matches_json_dumps_for_text_that_needs_escaping():
    import hashlib
    import json

    rng = random.Random(3)
    alphabet = "ab \"\\\x00\x01\x1f\n\t\u2028\u00a0é€😀"
    inputs = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 12))) for _ in range(200)]
    for ins in (inputs, [t for t in inputs if t.isprintable()], ["plain", "text é"]):
        cols = Columns(ins, [str(i % 3) for i in range(len(ins))], [None] * len(ins), [None] * len(ins))
        payload = json.dumps([e.model_dump() for e in cols.examples()], sort_keys=True, ensure_ascii=False,
                             separators=(",", ":"))
        assert fingerprint(cols) == hashlib.sha256(payload.encode("utf-8")).hexdigest()
