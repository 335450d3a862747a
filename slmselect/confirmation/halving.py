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

from slmselect.confirmation.results import CandidateResult, HalvingSummary
from slmselect.confirmation.stages import run_stages
from slmselect.confirmation.trial import Setup, Trial


def rung_steps_for(steps: int) -> int:
    """Steps of the first rung: a quarter of the budget, at least 1 (and fewer than ``steps`` when possible)."""
    return max(1, min(steps - 1, round(steps / 4))) if steps > 1 else 1


def survivors_count(n: int) -> int:
    return max(1, math.ceil(n / 2))


def run_halving(
    model_ids: Sequence[str], setup: Setup, steps: int, record: Callable[[CandidateResult], None]
) -> HalvingSummary:

    rung = rung_steps_for(steps)
    metric = setup.metric
    trials: list[Trial] = []
    scores: dict[str, float] = {}
    for model_id in model_ids:
        trial = Trial(model_id, setup)

        def rung_score(trial: Trial = trial) -> None:
            score = trial.validation_score(f"rung ({rung} steps)")
            scores[trial.model_id] = trial.result.validation_score = score if score is not None else 0.0
            trial.park()

        stages = [trial.check_memory, trial.load, trial.base_score, lambda t=trial: t.train(rung), rung_score]
        if run_stages(trial, stages, finish=False):
            trials.append(trial)
        else:
            record(trial.result)

    ranked = sorted(trials, key=lambda t: (-scores[t.model_id], model_ids.index(t.model_id)))
    keep = ranked[: survivors_count(len(ranked))]
    cut = ranked[len(keep) :]
    for trial in cut:
        trial.complete(
            "eliminated",
            f"validation {metric} {scores[trial.model_id]:.3f} after the {rung}-step rung, below the kept half "
            f"(kept: {', '.join(t.model_id for t in keep)})",
        )
        trial.release()
        record(trial.result)
    for trial in keep:
        run_stages(trial, [trial.resume, lambda t=trial: t.train(steps - rung), trial.finetuned_score, trial.save_adapter])
        record(trial.result)

    used = sum(t.result.steps for t in trials)
    seconds = sum(t.result.train_seconds or 0.0 for t in trials)
    full_seconds = sum((t.result.train_seconds or 0.0) / max(1, t.result.steps) * steps for t in trials)
    return HalvingSummary(
        rung_steps=rung,
        full_steps=steps,
        kept=[t.model_id for t in keep],
        eliminated=[t.model_id for t in cut],
        rung_scores=scores,
        steps_used=used,
        steps_full_budget=steps * len(trials),
        seconds_used=seconds,
        seconds_full_budget_estimate=full_seconds,
    )
