"""What a task asks of a model before any average counts, and the order rules an expert applies on top of the
prediction.

- **Requirements** read from the task: its language, a context that holds its longest example (input and
  output), and tool calls for a tool-calling task. A model known to miss one is moved below every model that
  meets them (not excluded: the user sees it, and why); a model whose fact is unknown sits between the two
  when the requirement is a real risk (a language other than English, a context above
  ``UNKNOWN_CONTEXT_OK`` tokens, tool calls).
- **One row per model**: base and instruct twins of one model are one row, the variant ranked higher for the
  objective, naming the other.
- **No superseded generation above its successor**: a model the database records as superseded moves below
  its successor when that successor is ranked and meets the task's requirements at least as well, unless
  the evidence close to the task says the older model is better (by a one-sided 95% margin on the gap).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from slmselect._types import TaskProfile
from slmselect.recommender.results import text_cell

#: An unknown context is taken to hold this many tokens (every model in the database does).
UNKNOWN_CONTEXT_OK = 2048
#: The one-sided z a superseded model must lead its successor by, on the evidence close to the task, to stay above it.
SUPERSEDED_MARGIN_Z = 1.645


@dataclass(frozen=True)
class Requirements:
    """What the task asks of a model: ``languages`` (ISO codes; empty: none), the ``context`` in tokens (None:
    none) and ``tools``, with where each came from."""

    languages: tuple[str, ...] = ()
    languages_from: str = "none"
    context: int | None = None
    context_from: str = "none"
    tools: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"languages": list(self.languages), "languages_from": self.languages_from, "context": self.context,
                "context_from": self.context_from, "tools": self.tools}

    def describe(self) -> str:
        parts = []
        if self.languages:
            parts.append(f"language {', '.join(self.languages)} ({self.languages_from})")
        if self.context:
            parts.append(f"a context of at least {self.context} tokens ({self.context_from})")
        if self.tools:
            parts.append("a chat template that takes tools (tool-calling task)")
        return "; ".join(parts) or "none"


def requirements_for(profile: TaskProfile | None, task_type: str | None, languages: list[str] | None,
                     min_context: int | None) -> Requirements:
    """The task's requirements: the profile's language and longest example unless ``languages`` (``[]``: no
    requirement) or ``min_context`` override them."""
    if languages is not None:
        langs, lfrom = tuple(languages), ("set with languages=" if languages else "none: languages='any'")
    elif profile is not None and profile.language not in ("und", ""):
        langs, lfrom = (profile.language,), "detected in your examples"
    else:
        langs, lfrom = (), "none"
    if min_context is not None:
        ctx, cfrom = int(min_context), "set with min_context="
    elif profile is not None:
        ctx = int(profile.input_tokens.max + profile.output_tokens.max)
        cfrom = f"your longest example, input + output, counted with {profile.token_counter}"
    else:
        ctx, cfrom = None, "none"
    return Requirements(langs, lfrom, ctx, cfrom, task_type == "tool_calling")


def supports(codes: Any, lang: str) -> bool | None:
    """Whether a models.csv ``languages`` cell covers ``lang`` (None: unknown)."""
    codes = text_cell(codes)
    if codes is None:
        return None
    return codes == "many" or lang in str(codes).split(";")


@dataclass
class Fit:
    """How one model meets the requirements: what it is known to miss, and what is unknown."""

    missing: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[int, int]:
        return len(self.missing), len(self.unknown)


def check_model(row: Mapping[str, Any], req: Requirements) -> Fit:
    """``row`` (a models.csv row as a mapping) against ``req``, each finding with the fact's source."""
    out = Fit()
    langs = text_cell(row.get("languages"))
    for lang in req.languages:
        s = supports(langs, lang)
        if s is False:
            shown = "English only" if langs == "en" else str(langs).replace(";", ", ")
            out.missing.append(f"language: {lang} is not among its languages ({shown}; {row.get('languages_source')})")
        elif s is None and lang != "en":
            out.unknown.append(f"language: whether it supports {lang} is unknown")
    if req.context:
        c = text_cell(row.get("context_len"))
        if c is not None and int(float(c)) < req.context:
            out.missing.append(f"context: {int(float(c))} tokens ({row.get('context_source')}), less than the {req.context} "
                               "your task needs")
        elif c is None and req.context > UNKNOWN_CONTEXT_OK:
            out.unknown.append(f"context: unknown, and your task needs {req.context} tokens")
    if req.tools:
        t = text_cell(row.get("tool_calls"))
        if t == "no":
            out.missing.append(f"tools: its chat template takes no tools ({row.get('tool_calls_source')})")
        elif t is None:
            out.unknown.append("tools: whether its chat template takes tools is unknown")
    return out


def requirements_first(order: list[int], fits: list[Fit]) -> list[int]:
    """``order`` (positions into ``fits``) stably re-sorted: models that meet every requirement first, then those
    with unknowns, then those known to miss one."""
    return sorted(order, key=lambda i: fits[i].key)


def one_row_per_model(order: list[int], ids: list[str], twins: dict[str, str], keep_both: set[str]) -> tuple[list[int], dict[int, int]]:
    """Drop each model whose twin (its base or instruct variant) is ranked above it, unless both were named
    (``keep_both``). Returns the kept order and {kept position: dropped twin position}."""
    seen: dict[str, int] = {}
    out: list[int] = []
    merged: dict[int, int] = {}
    for i in order:
        t = twins.get(ids[i])
        if t is not None and t in seen and not {ids[i], t} <= keep_both:
            merged.setdefault(seen[t], i)
            continue
        seen[ids[i]] = i
        out.append(i)
    return out, merged


def successors(mid: str, superseded: dict[str, str], twins: dict[str, str], hops: int = 8) -> list[str]:
    """Every model that supersedes ``mid`` along the recorded chain, with each one's twin."""
    out: list[str] = []
    cur = mid
    for _ in range(hops):
        nxt = superseded.get(cur)
        if not nxt or nxt in out or nxt == mid:
            break
        out.append(nxt)
        if twins.get(nxt):
            out.append(twins[nxt])
        cur = nxt
    return out


def successors_first(order: list[int], ids: list[str], superseded: dict[str, str], twins: dict[str, str],
                     fits: list[Fit], beats: Callable[[int, int], bool]) -> tuple[list[int], list[tuple[int, int]]]:
    """Move each superseded model just below the lowest-ranked of its successors in ``order`` that meets the
    requirements at least as well, unless ``beats(old, new)`` (the evidence close to the task says the older
    one is better). Returns the new order and the (moved, successor) pairs."""
    out = list(order)
    moves: list[tuple[int, int]] = []
    for _ in range(len(out) ** 2 + 1):
        changed = False
        pos = {i: k for k, i in enumerate(out)}
        by_id = {ids[i]: i for i in out}
        for i in list(out):
            succ = [by_id[s] for s in successors(ids[i], superseded, twins) if s in by_id]
            below = [s for s in succ if pos[s] > pos[i] and fits[s].key <= fits[i].key and not beats(i, s)]
            if below:
                last = max(below, key=lambda s: pos[s])
                out.remove(i)
                out.insert(out.index(last) + 1, i)
                moves.append((i, last))
                changed = True
                break
        if not changed:
            break
    return out, moves


def lookup(M: pd.DataFrame, column: str) -> dict[str, str]:
    """{model id: value} of the models frame's non-empty ``column`` cells."""
    if column not in M:
        return {}
    col = M[column]
    col = col[col.notna()].astype(str)
    col = col[col != ""]
    return dict(zip(col.index.astype(str), col))
