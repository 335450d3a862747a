"""Successive halving over the candidates: a short first rung for all, the full budget for the better half.

Every candidate trains ``rung_steps`` (a quarter of ``steps``) and is scored on the validation examples
(never on the test examples that the report's scores come from);
the better half (ties: the earlier candidate) keeps its adapter and optimizer state and trains on to
``steps``. The learning-rate schedule is the full run's, so a survivor's training is exactly what it
would have been without the rung. The summary compares the steps and seconds used with training every
candidate for the full budget (seconds: each candidate's measured seconds per step x ``steps``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from slmselect.confirmation.results import CandidateResult, HalvingSummary
from slmselect.confirmation.stages import run_stages
from slmselect.confirmation.trial import Setup, Trial


def rung_steps_for(steps: int) -> int:
    """Steps of the first rung: a quarter of the budget, at least 1 (and fewer than ``steps`` when possible)."""
    return max(1, min(steps - 1, round(steps / 4))) if steps > 1 else 1


def survivors_count(n: int) -> int:
    return max(1, math.ceil(n / 2))


def rung_stages(trial: Trial, rung: int, scores: dict[str, float]) -> list[Callable[[], Any]]:
    """The first rung of one candidate: train ``rung`` steps, score on validation (into ``scores``), park."""

    def rung_score() -> None:
        score = trial.validation_score(f"rung ({rung} steps)")
        scores[trial.model_id] = trial.result.validation_score = score if score is not None else 0.0
        trial.park()

    return [trial.check_memory, trial.load, trial.base_score, lambda: trial.train(rung), rung_score]


def finish_stages(trial: Trial, steps_left: int) -> list[Callable[[], Any]]:
    """A survivor: reload, train the remaining steps, score and save."""
    return [trial.resume, lambda: trial.train(steps_left), trial.finetuned_score, trial.save_adapter]


def split(model_ids: Sequence[str], scores: dict[str, float]) -> tuple[list[str], list[str]]:
    """The candidates that finished the rung, better half first (ties: the earlier candidate), and the rest."""
    ranked = sorted(scores, key=lambda m: (-scores[m], model_ids.index(m)))
    n = survivors_count(len(ranked))
    return ranked[:n], ranked[n:]


def cut_reason(metric: str, score: float, rung: int, keep: Sequence[str]) -> str:
    return f"validation {metric} {score:.3f} after the {rung}-step rung, below the kept half (kept: {', '.join(keep)})"


def summary(
    measured: Sequence[CandidateResult], rung: int, steps: int, keep: list[str], cut: list[str], scores: dict[str, float]
) -> HalvingSummary:
    """Steps and seconds used by the candidates that finished the rung, against training each for ``steps``."""
    return HalvingSummary(
        rung_steps=rung,
        full_steps=steps,
        kept=keep,
        eliminated=cut,
        rung_scores=scores,
        steps_used=sum(r.steps for r in measured),
        steps_full_budget=steps * len(measured),
        seconds_used=sum(r.train_seconds or 0.0 for r in measured),
        seconds_full_budget_estimate=sum((r.train_seconds or 0.0) / max(1, r.steps) * steps for r in measured),
    )


def run_halving(
    model_ids: Sequence[str], setup: Setup, steps: int, record: Callable[[CandidateResult], None]
) -> HalvingSummary:
    rung = rung_steps_for(steps)
    trials: dict[str, Trial] = {}
    scores: dict[str, float] = {}
    for model_id in model_ids:
        trial = Trial(model_id, setup)
        if run_stages(trial, rung_stages(trial, rung, scores), finish=False):
            trials[model_id] = trial
        else:
            record(trial.result)

    keep, cut = split(model_ids, scores)
    for model_id in cut:
        trial = trials[model_id]
        trial.complete("eliminated", cut_reason(setup.metric, scores[model_id], rung, keep))
        trial.release()
        record(trial.result)
    for model_id in keep:
        trial = trials[model_id]
        run_stages(trial, finish_stages(trial, steps - rung))
        record(trial.result)
    return summary([t.result for t in trials.values()], rung, steps, keep, cut, scores)
