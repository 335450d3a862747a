"""Uncertainty of confirm's scores: bootstrap intervals and paired differences on the same test examples.

A score measured on a few dozen held-out examples is noisy (an accuracy of 0.5 on 32 examples has a
standard error of about 0.09), so every reported score carries a 95% percentile-bootstrap interval, and two
candidates are compared by a *paired* bootstrap: the same resampled test examples for both, which removes
the spread that comes from which examples happened to be drawn.

The per-example inputs come from :func:`slmselect.confirmation.metrics.item_scores`: one score per example
(the metric is their mean) or, for entity F1, one ``[true positives, predicted, reference]`` row per
example (the metric is the F1 of the column sums), or for macro-F1 those three counts per class (``3k`` columns
for ``k`` classes: the metric is the mean F1 of the classes that occur in the resample).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Bootstrap resamples; the percentile interval's own Monte-Carlo error is then about 0.005 on a 0-1 score.
N_BOOT = 2000
Z95 = 1.959963984540054


def _array(items: Sequence[Sequence[float]]):  # type: ignore[no-untyped-def]
    import numpy as np

    arr = np.asarray(items, dtype=float)
    if arr.ndim != 2 or arr.shape[0] == 0 or (arr.shape[1] != 1 and arr.shape[1] % 3):
        raise ValueError(
            "item scores must be a non-empty list of [score] rows or [tp, predicted, reference] rows (per class)")
    return arr


def _metric(arr, idx):  # type: ignore[no-untyped-def]
    """The metric of each resample: ``idx`` is (resamples, n) example positions."""
    import numpy as np

    if arr.shape[1] == 1:
        return arr[idx, 0].mean(axis=-1)
    k = arr.shape[1] // 3
    sums = arr[idx].sum(axis=-2)  # (resamples, 3k)
    tp, pred, ref = sums[..., :k], sums[..., k:2 * k], sums[..., 2 * k:]
    seen = pred + ref > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(seen, 2 * tp / (pred + ref), 0.0)
        n_seen = seen.sum(axis=-1)
        return np.where(n_seen > 0, f1.sum(axis=-1) / np.maximum(n_seen, 1), 1.0)


def point(items: Sequence[Sequence[float]]) -> float:
    """The metric on all examples."""
    import numpy as np

    arr = _array(items)
    return float(_metric(arr, np.arange(arr.shape[0])[None])[0])


def _resamples(n: int, seed: int, n_boot: int):  # type: ignore[no-untyped-def]
    import numpy as np

    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


@dataclass(frozen=True)
class Interval:
    """A score (or a difference of scores) with its 95% bootstrap interval and standard error."""

    value: float
    low: float
    high: float
    se: float
    n: int

    @property
    def spans_zero(self) -> bool:
        return self.low <= 0.0 <= self.high

    def text(self, signed: bool = False) -> str:
        spec = "+.3f" if signed else ".3f"
        return f"{self.value:{spec}} [{self.low:{spec}}, {self.high:{spec}}]"


def _interval(value: float, boots, n: int) -> Interval:  # type: ignore[no-untyped-def]
    import numpy as np

    low, high = np.percentile(boots, [2.5, 97.5])
    return Interval(value, float(low), float(high), float(np.std(boots, ddof=1)), n)


def interval(items: Sequence[Sequence[float]], *, seed: int = 0, n_boot: int = N_BOOT) -> Interval:
    """The metric with its 95% percentile-bootstrap interval over examples."""
    arr = _array(items)
    boots = _metric(arr, _resamples(arr.shape[0], seed, n_boot))
    return _interval(point(items), boots, arr.shape[0])


def paired_difference(
    a: Sequence[Sequence[float]], b: Sequence[Sequence[float]], *, seed: int = 0, n_boot: int = N_BOOT
) -> Interval:
    """``metric(a) - metric(b)`` with a paired bootstrap interval: both resampled on the same examples."""
    arr_a, arr_b = _array(a), _array(b)
    if arr_a.shape != arr_b.shape:
        raise ValueError(f"paired scores need the same examples: {arr_a.shape} vs {arr_b.shape}")
    idx = _resamples(arr_a.shape[0], seed, n_boot)
    boots = _metric(arr_a, idx) - _metric(arr_b, idx)
    return _interval(point(a) - point(b), boots, arr_a.shape[0])


def more_examples_needed(diff: Interval) -> int | None:
    """About how many more test examples would make a 95% interval exclude zero, if the observed difference
    and its per-example spread held (the standard error shrinks as 1/sqrt(n)); ``None`` when the difference
    is zero (no number of examples would settle it) and 0 when it is already settled."""
    if not diff.spans_zero:
        return 0
    if diff.value == 0 or diff.se == 0:
        return None
    needed = diff.n * (Z95 * diff.se / abs(diff.value)) ** 2
    return max(1, math.ceil(needed) - diff.n)


def compare_to_pick(candidates: Sequence[Any], pick: str | None, *, seed: int = 0) -> list[Any]:
    """The pick's fine-tuned test score against every other finished candidate's, paired on the same examples."""
    from slmselect.confirmation.results import Comparison

    done = {c.model_id: c for c in candidates if c.status == "ok" and "finetuned" in c.test_items}
    if pick not in done:
        return []
    out = []
    for other in done.values():
        if other.model_id == pick:
            continue
        diff = paired_difference(done[pick].test_items["finetuned"], other.test_items["finetuned"], seed=seed)
        out.append(
            Comparison(
                model_id=pick,
                other=other.model_id,
                difference=diff.value,
                ci=(diff.low, diff.high),
                n_test=diff.n,
                too_close=diff.spans_zero,
                more_examples_needed=more_examples_needed(diff),
            )
        )
    return out


__all__ = ["Interval", "compare_to_pick", "interval", "more_examples_needed", "paired_difference", "point"]
