"""Run the stages of one candidate (load, score, train, score, save), recording a failure and passing Ctrl-C on."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from slmselect.confirmation.results import CandidateResult
from slmselect.confirmation.trial import Trial


def run_stages(trial: Trial, stages: Sequence[Callable[[], Any]], *, finish: bool = True) -> bool:
    """Run some stages of one candidate; True when they all succeeded.

    A failure is recorded in the candidate's result and its weights released, so the others go on; Ctrl-C is
    re-raised as :class:`Interrupted` carrying the partial result. With ``finish`` the candidate is completed
    and released after the last stage (without, the caller keeps the loaded model, e.g. to park it).
    """
    failed: BaseException | None = None
    try:
        for stage in stages:
            stage()
        if finish:
            trial.complete()
    except KeyboardInterrupt as err:
        trial.fail(err)
        failed = err
    except Exception as err:  # noqa: BLE001 - one candidate's failure must not stop the others
        trial.fail(err)
        failed = err
    if failed is not None:
        # released here, after the handler: inside it the traceback still holds the stage's frames (the
        # Trainer, the model, the optimizer), so nothing would be freed before the next candidate's memory check
        interrupted = isinstance(failed, KeyboardInterrupt)
        failed.__traceback__ = None
        failed = None
        trial.release(keep_checkpoints=interrupted)
        if interrupted:
            trial.setup.progress.message("interrupted", subject=trial.model_id)
            raise Interrupted(trial.result) from None
        trial.setup.progress.message(f"{trial.result.status}: {trial.result.reason}", subject=trial.model_id)
        return False
    if finish:
        trial.release()
    return True


def run_trial(trial: Trial, steps: int) -> CandidateResult:
    """All stages of one candidate; a failure is recorded in the result (Ctrl-C is re-raised)."""
    run_stages(trial, [trial.check_memory, trial.load, trial.base_score, lambda: trial.train(steps),
                       trial.finetuned_score, trial.save_adapter])
    return trial.result


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a candidate, carrying that candidate's partial result."""

    def __init__(self, result: CandidateResult) -> None:
        super().__init__()
        self.result = result
