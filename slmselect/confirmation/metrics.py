"""Task metrics, each on a 0-1 scale, computed by well-kept libraries where one exists.

=================  =========================================================  ================
task type          metrics                                                    primary
=================  =========================================================  ================
classification     accuracy, macro_f1 (scikit-learn)                          accuracy
ner_extraction     entity_f1 (seqeval, micro over (type, text) mentions),     entity_f1
                   parse_rate
qa_open_book       exact_match (scikit-learn on SQuAD-normalised answers),    token_f1
                   token_f1 (SQuAD v1.1)
qa_closed_book     exact_match, token_f1                                      token_f1
tool_calling       call_accuracy, name_accuracy, parse_rate                   call_accuracy
summarization      rougeL_f1 (rouge-score, Porter stemming)                   rougeL_f1
generation         rougeL_f1                                                  rougeL_f1
=================  =========================================================  ================

:func:`item_scores` gives the primary metric per held-out example (a score, or for entity F1 the
example's true-positive, predicted and reference counts) so that :mod:`slmselect.confirmation.stats` can
resample examples for intervals and paired differences.
"""

from __future__ import annotations

import functools
import math
import re
import string
from collections import Counter
from collections.abc import Sequence
from typing import Any

from slmselect.profile.readers import parse_json

PRIMARY_METRIC: dict[str, str] = {
    "classification": "accuracy",
    "ner_extraction": "entity_f1",
    "qa_open_book": "token_f1",
    "qa_closed_book": "token_f1",
    "tool_calling": "call_accuracy",
    "summarization": "rougeL_f1",
    "generation": "rougeL_f1",
}

#: Every metric confirm measures per task type; ``confirm(metric=...)`` picks on one of them.
METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("accuracy", "macro_f1"),
    "ner_extraction": ("entity_f1",),
    "qa_open_book": ("token_f1", "exact_match"),
    "qa_closed_book": ("token_f1", "exact_match"),
    "tool_calling": ("call_accuracy",),
    "summarization": ("rougeL_f1",),
    "generation": ("rougeL_f1",),
}

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _f1(tp: float, n_pred: float, n_ref: float) -> float:
    if n_pred == 0 and n_ref == 0:
        return 1.0
    if tp == 0:
        return 0.0
    p, r = tp / n_pred, tp / n_ref
    return 2 * p * r / (p + r)


# --------------------------------------------------------------------------------------------- labels


def accuracy(predictions: Sequence[str], references: Sequence[str]) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score([r.strip() for r in references], [p.strip() for p in predictions]))


def macro_f1(predictions: Sequence[str], references: Sequence[str], labels: Sequence[str] | None = None) -> float:
    """Unweighted mean of per-label F1 over the labels that occur in the references or predictions.

    With ``labels`` (the task's classes), only those count as classes: an answer outside them is a miss for
    its reference's class and adds no class of its own, which keeps the metric comparable across models."""
    from sklearn.metrics import f1_score

    preds = [p.strip() for p in predictions]
    refs = [r.strip() for r in references]
    seen = set(preds) | set(refs)
    classes = sorted(seen) if labels is None else [c for c in dict.fromkeys(x.strip() for x in labels) if c in seen]
    if not classes:
        return 0.0
    return float(f1_score(refs, preds, labels=classes, average="macro", zero_division=0))


def as_label(answer: str, labels: Sequence[str]) -> str:
    """A freely generated answer read as a label: the label it equals or starts with (case-insensitive; the
    longest such label), else the label it mentions first; the answer itself (a miss) when it names none.
    Served models generate their answers; confirm scores labels by likelihood, and this puts the two on one
    footing."""
    text = answer.strip().lower()
    if not text:
        return answer
    by_len = sorted(labels, key=len, reverse=True)
    for lab in by_len:
        low = lab.strip().lower()
        if low and (text == low or text.startswith(low)):
            return lab
    found = [(text.find(lab.strip().lower()), -len(lab), lab) for lab in by_len if lab.strip() and lab.strip().lower() in text]
    return min(found)[2] if found else answer


def class_counts(prediction: str, reference: str, labels: Sequence[str]) -> list[float]:
    """One example's ``[tp per class..., predicted per class..., reference per class...]`` over ``labels``;
    summed over examples, the per-class F1s of these give :func:`macro_f1` (and its bootstrap)."""
    pred, ref = prediction.strip(), reference.strip()
    hit = [float(pred == c and ref == c) for c in labels]
    return hit + [float(pred == c) for c in labels] + [float(ref == c) for c in labels]


# --------------------------------------------------------------------------------------------- QA


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower-case, drop punctuation and the articles a/an/the, squash whitespace."""
    text = "".join(c for c in text.lower() if c not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(reference))


def exact_match_rate(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Share of answers equal to their reference after SQuAD normalisation (scikit-learn's accuracy)."""
    from sklearn.metrics import accuracy_score

    return float(accuracy_score([normalize_answer(r) for r in references], [normalize_answer(p) for p in predictions]))


def token_f1(prediction: str, reference: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(reference).split()
    common = sum((Counter(pred) & Counter(ref)).values())
    return _f1(common, len(pred), len(ref))


# --------------------------------------------------------------------------------------------- JSON outputs
# A reply's JSON value is read by slmselect.profile.readers.parse_json (code fences, words around it).


def _norm_text(value: Any) -> str:
    return " ".join(str(value).lower().split())


def entity_set(value: Any) -> set[tuple[str, str]]:
    """(type, text) pairs from ``{"type": ["text", ...]}``, ``[{"type": .., "text": ..}]`` or ``[[type, text]]``.

    Types and texts are lower-cased with whitespace squashed.
    """
    if isinstance(value, str):
        value = parse_json(value)
    pairs: set[tuple[str, str]] = set()
    if isinstance(value, dict):
        for kind, texts in value.items():
            for t in texts if isinstance(texts, list) else [texts]:
                if t is not None and str(t).strip():
                    pairs.add((_norm_text(kind), _norm_text(t)))
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                kind = next(
                    (item[k] for k in ("type", "label", "entity_group", "entity_type", "category") if k in item), None
                )
                text = next((item[k] for k in ("text", "entity", "word", "value", "span", "name") if k in item), None)
                if kind is not None and text is not None:
                    pairs.add((_norm_text(kind), _norm_text(text)))
            elif isinstance(item, (list, tuple)) and len(item) == 2:
                pairs.add((_norm_text(item[0]), _norm_text(item[1])))
    return pairs


def _entity_tags(ref: set[tuple[str, str]], pred: set[tuple[str, str]], types: dict[str, str]) -> tuple[list[str], list[str]]:
    """One tag per distinct (type, text) mention of the example, ``B-<type>`` where a side has it, else ``O``."""
    mentions = sorted(ref | pred) or [("", "")]
    tag = lambda m, side: f"B-{types.setdefault(m[0], f'T{len(types)}')}" if m in side else "O"  # noqa: E731
    return [tag(m, ref) for m in mentions], [tag(m, pred) for m in mentions]


def entity_counts(prediction: str, reference: str) -> tuple[int, int, int]:
    """(true positives, predicted, reference) (type, text) mentions of one example."""
    ps, rs = entity_set(prediction), entity_set(reference)
    return len(ps & rs), len(ps), len(rs)


def entity_f1(predictions: Sequence[str], references: Sequence[str]) -> float:
    """seqeval's entity-level micro F1 over (type, entity text) mentions, pooled over all examples.

    Each example's mentions (reference and predicted, as sets) are laid out as one tag sequence, a ``B-<type>``
    tag where a side has the mention; seqeval then counts a mention as found when type and text both match.
    No entity on either side anywhere scores 1.
    """
    import warnings

    from seqeval.metrics import f1_score

    types: dict[str, str] = {}
    y_true, y_pred = [], []
    for p, r in zip(predictions, references):
        t, q = _entity_tags(entity_set(r), entity_set(p), types)
        y_true.append(t)
        y_pred.append(q)
    if all(tag == "O" for seq in y_true + y_pred for tag in seq):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns when one side has no entity at all
        return float(f1_score(y_true, y_pred, average="micro", zero_division=0))


def values_equal(a: Any, b: Any) -> bool:
    """Equality of parsed JSON values: numbers by value (10 == 10.0), dicts regardless of key order,
    booleans never equal to numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(values_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, str) and isinstance(b, str):
        return a.strip() == b.strip()
    return bool(a == b)


def parse_call(value: Any) -> tuple[str, dict[str, Any]] | None:
    """(name, arguments) from ``{"name", "arguments"}`` (also ``parameters``, OpenAI's
    ``{"function": {...}}`` and arguments given as JSON text); a list takes its first call."""
    if isinstance(value, str):
        value = parse_json(value)
    if isinstance(value, list):
        value = value[0] if value else None
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("function"), dict):
        value = value["function"]
    name = value.get("name")
    if not isinstance(name, str):
        return None
    args = value.get("arguments", value.get("parameters", {}))
    if isinstance(args, str):
        args = parse_json(args) if args.strip() else {}
    return (name.strip(), args) if isinstance(args, dict) else None


def tool_call_scores(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    calls = names = parsed = 0
    for p, r in zip(predictions, references):
        pc, rc = parse_call(p), parse_call(r)
        if pc is None:
            continue
        parsed += 1
        if rc is not None and pc[0] == rc[0]:
            names += 1
            calls += values_equal(pc[1], rc[1])
    n = max(1, len(references))
    return {"call_accuracy": calls / n, "name_accuracy": names / n, "parse_rate": parsed / n}


# --------------------------------------------------------------------------------------------- text


@functools.lru_cache(maxsize=1)
def _rouge_scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 (rouge-score: longest common subsequence of lower-cased, Porter-stemmed word tokens)."""
    return float(_rouge_scorer().score(reference, prediction)["rougeL"].fmeasure)


# --------------------------------------------------------------------------------------------- by task


def compute_metrics(
    task_type: str, predictions: Sequence[str], references: Sequence[str], labels: Sequence[str] | None = None
) -> dict[str, float]:
    """All metrics of ``task_type`` (:data:`METRICS`); the default one is ``PRIMARY_METRIC[task_type]``.
    ``labels``: a classification task's classes (see :func:`macro_f1`)."""
    _check(task_type, predictions, references)
    if task_type == "classification":
        return {"accuracy": accuracy(predictions, references), "macro_f1": macro_f1(predictions, references, labels)}
    if task_type == "ner_extraction":
        parse = _mean([float(parse_json(p) is not None) for p in predictions])
        return {"entity_f1": entity_f1(predictions, references), "parse_rate": parse}
    if task_type in ("qa_open_book", "qa_closed_book"):
        return {
            "token_f1": _mean([token_f1(p, r) for p, r in zip(predictions, references)]),
            "exact_match": exact_match_rate(predictions, references),
        }
    if task_type == "tool_calling":
        return tool_call_scores(predictions, references)
    return {"rougeL_f1": _mean([rouge_l(p, r) for p, r in zip(predictions, references)])}


def item_scores(
    task_type: str,
    predictions: Sequence[str],
    references: Sequence[str],
    metric: str | None = None,
    labels: Sequence[str] | None = None,
) -> list[list[float]]:
    """``metric`` (default: the task's primary one) per example: ``[score]`` each (its mean is the metric),
    for ``entity_f1`` ``[true positives, predicted, reference]`` each (the metric is the F1 of their sums), and
    for ``macro_f1`` those three counts per class (:func:`class_counts`; the metric is the mean of the
    per-class F1s of their sums)."""
    _check(task_type, predictions, references)
    pairs = list(zip(predictions, references))
    if metric == "macro_f1":
        classes = list(dict.fromkeys(x.strip() for x in labels)) if labels else sorted(
            {p.strip() for p in predictions} | {r.strip() for r in references})
        return [class_counts(p, r, classes) for p, r in pairs]
    if metric == "exact_match":
        return [[exact_match(p, r)] for p, r in pairs]
    if task_type == "classification":
        return [[float(p.strip() == r.strip())] for p, r in pairs]
    if task_type == "ner_extraction":
        return [list(map(float, entity_counts(p, r))) for p, r in pairs]
    if task_type in ("qa_open_book", "qa_closed_book"):
        return [[token_f1(p, r)] for p, r in pairs]
    if task_type == "tool_calling":
        return [[tool_call_scores([p], [r])["call_accuracy"]] for p, r in pairs]
    return [[rouge_l(p, r)] for p, r in pairs]


def _check(task_type: str, predictions: Sequence[str], references: Sequence[str]) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    if task_type not in PRIMARY_METRIC:
        raise ValueError(f"unknown task type {task_type!r}")
