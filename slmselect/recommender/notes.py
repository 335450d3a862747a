"""Why the pick is what it is: the notes a Recommendation carries."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from slmselect.predict.query import Prediction, Settings
from slmselect.predict.rank import rank
from slmselect.recommender.results import Candidate
from slmselect._types import TaskProfile


def task_type(profile: TaskProfile | None, description: str | None) -> tuple[str | None, str | None]:
    """The task type to rank for, and why: the profile's inference, or the description's meaning."""
    if profile is not None:
        return profile.task_type, "; ".join(profile.reasons[:2]) or None
    from slmselect.profile.task_types import type_by_meaning

    guess = type_by_meaning(description or "")
    return (guess.task_type, guess.reason()) if guess else (None, None)


def pick_notes(pred: Prediction, idx: np.ndarray, order: np.ndarray, names: pd.Index, st: Settings, objective: str) -> list[str]:
    """How the pick relates to the static advice (best average rank among the candidates ``idx``), the static
    weight, and the candidates measured on the user's own data. ``names`` are the candidates' model ids."""
    notes: list[str] = []
    avg = pred.bound.ranks.avg_rank(idx)
    static = int(rank(np.zeros(len(idx)), idx, 1.0, pred.bound.ranks, avg=avg).pick) if np.isfinite(avg).any() \
        else int(np.argmax(pred.bound.theta[idx]))
    prior = int(np.argmax(np.where(pred.cold[idx], -np.inf, pred.bound.theta[idx])))
    moved = float(np.max(pred.evidence_share[idx])) if len(idx) else 0.0
    moved_txt = f"the evidence close to this task moved predictions by up to {100 * moved:.0f}% of the way from the prior"
    if order[0] == static:
        notes.append(f"The pick is also the static advice (the feasible model with the best average rank over the benchmark "
                     f"tasks); {moved_txt}.")
    elif order[0] == prior and moved < 0.5:
        notes.append(f"The static advice (best average rank over the benchmark tasks) would be {names[static]}; the "
                     f"overall standings fitted across sources (linked through the models they share) rank "
                     f"{names[order[0]]} higher; {moved_txt}.")
    else:
        notes.append(f"The static advice (best average rank over the benchmark tasks) would be {names[static]}; the "
                     f"evidence close to this task ranks {names[order[0]]} higher.")
    if st.static_weight > 0:
        notes.append(f"The standings blend in the static advice with weight {st.static_weight:g} (chosen by cross-validation over "
                     "datasets: the most static weight whose picks on held-out datasets were as good as the best setting's, within "
                     "a standard error).")
    if pred.own_share is not None and (st.static_weight > 0 or (objective == "edge" and st.edge_static_weight > 0)):
        own = [str(pred.models[i]) for i in idx if pred.own_share[i] > 0]
        if own:
            notes.append(f"{len(own)} candidate(s) were measured on your own data ({', '.join(own[:3])}"
                         f"{', …' if len(own) > 3 else ''}): for them the static advice's weight drops by the share of "
                         "their evidence that measurement carries.")
    return notes


def context_notes(profile: TaskProfile | None, cands: list[Candidate], notes: list[str], feasible_max: Any = None) -> None:
    """Say so (a note and a warning) when the longest example does not fit the candidates' context.

    Candidates whose context the database does not know are judged by the longest context of any feasible model.
    """
    if profile is None or not cands:
        return
    longest = profile.input_tokens.max + profile.output_tokens.max
    short = [c for c in cands if c.context_len and c.context_len < longest]
    for c in short:
        c.notes.append(f"context: {c.context_len} tokens, shorter than your longest example (~{longest} tokens)")
    known = [c.context_len for c in cands if c.context_len]
    unknown = len(known) < len(cands)
    largest = max([*known, *([int(feasible_max)] if unknown and pd.notna(feasible_max) else [])], default=0)
    if largest and longest > largest:
        import warnings

        from slmselect.errors import SlmselectWarning

        msg = (f"Your longest example is about {longest} tokens (input + output, counted with {profile.token_counter}); "
               f"it exceeds the context of every candidate (the largest is {largest} tokens"
               + (", taking the longest context of any model that meets the constraints for those the database lacks" if unknown else "")
               + "). Shorten or split the long examples, or pass min_context= (--min-context) to require a longer context.")
        notes.append(msg)
        warnings.warn(msg, SlmselectWarning, stacklevel=3)


