"""How tasks are compared by meaning: the text of a database task, the text a user gives, task types, and
dataset identity (which database tasks are the same dataset, across sources and variants)."""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pandas as pd

#: Which categories count as related (half credit) when the types differ.
RELATED = {
    "classification": {"multiple_choice_knowledge", "multiple_choice_reasoning", "regression_similarity"},
    "ner_extraction": {"document_understanding"},
    "qa_open_book": {"qa_closed_book", "document_understanding"},
    "qa_closed_book": {"qa_open_book", "multiple_choice_knowledge"},
    "tool_calling": {"text_to_sql"},
    "summarization": {"generation", "data_to_text"},
    "generation": {"summarization", "data_to_text", "code_generation"},
}


def unit_text(tasks: pd.DataFrame) -> pd.Series:
    """The text each database task is compared by: description, category, prompt template, example inputs."""
    desc = tasks["description"].fillna("")
    tmpl = tasks["prompt_template"].fillna("").str.slice(0, 400)
    ex = tasks["example_inputs"].map(lambda xs: "\n".join(xs[:3]) if isinstance(xs, list) else "")
    cat = tasks["category"].fillna("").str.replace("_", " ")
    return (desc + "\n" + cat + "\n" + tmpl + "\n" + ex).str.strip()


#: Sentences or parentheses of a stored description that tell where a result came from, not what the task is.
_PROVENANCE = re.compile(
    r"published|readme|lora land|distil|\bseed\b|benchmark suite|leaderboard|tokens range|train/val/test|evaluated on|"
    r"output format|\bfigure\b|\btable\b|category average|averaged across|metric as|\bp95\b", re.I)


def user_description(text: str) -> str:
    """A stored description as a user would write it: provenance sentences and parentheses removed."""
    text = re.sub(r"\([^()]*\)", lambda m: "" if _PROVENANCE.search(m.group(0)) else m.group(0), text or "")
    sentences = re.split(r"(?<=[.!?])\s+", text.strip())
    kept = [x for x in sentences if x and not _PROVENANCE.search(x)]
    return " ".join(kept) if kept else " ".join(sentences[:1])


def user_text(tasks: pd.DataFrame, form: str = "description") -> pd.Series:
    """What a new user would give for each database task: its description (provenance removed, see
    :func:`user_description`), and with ``form='examples'`` a few example inputs too. The query for a
    held-out task in ``slmselect evaluate``; never the stored category.
    """
    desc = tasks["description"].fillna("").map(user_description)
    if form == "description":
        return desc.str.strip()
    ex = tasks["example_inputs"].map(lambda xs: "\n".join(xs[:3]) if isinstance(xs, list) else "")
    return (desc + "\n" + ex).str.strip()


def type_affinity(task_type: str | None, categories: np.ndarray) -> np.ndarray:
    """1 for the same category, 0.5 for a related one, 0 otherwise (0.5 everywhere when the type is unknown)."""
    if task_type is None:
        return np.full(len(categories), 0.5)
    related = RELATED.get(task_type, set())
    return np.array([1.0 if c == task_type else 0.5 if c in related else 0.0 for c in categories])


@lru_cache(maxsize=4096)
def task_type_of(text: str) -> str | None:
    """The task type a free-text description reads as, by meaning (:func:`slmselect.profile.task_types.type_by_meaning`)."""
    from slmselect.profile.task_types import type_by_meaning

    guess = type_by_meaning(text or "")
    return guess.task_type if guess else None


def task_types_for(vectors: np.ndarray, texts: list[str]) -> list[str | None]:
    """Task types of many descriptions at once, from their already computed embeddings: the type of the closest
    exemplar of the profile's task-type table, as :func:`slmselect.profile.task_types.type_by_meaning` decides
    it. Falls back to one call per text when the vectors come from another embedder than the exemplars'."""
    from slmselect.profile.task_types import exemplar_matrix

    ex, _, owners, _ = exemplar_matrix()
    if len(texts) == 0 or vectors.shape[1] != ex.shape[1]:
        return [task_type_of(t) for t in texts]
    names = sorted(set(owners))
    own = np.array([names.index(o) for o in owners])
    sims = vectors @ ex.T
    per_type = np.full((len(texts), len(names)), -np.inf)
    for j in range(len(names)):
        per_type[:, j] = sims[:, own == j].max(1)
    return [names[i] if t.strip() else None for i, t in zip(np.argmax(per_type, 1), texts)]


_GENERIC = {"all", "main", "default", "test", "validation", "train", "en", "data", "dataset"}


def _dataset_key(dataset: object, task_id: str) -> str:
    if not isinstance(dataset, str) or not dataset.strip():
        return "task:" + task_id
    s = dataset.strip().lower()
    s = re.sub(r"^[a-z]+://", "", s)
    s = re.sub(r"\(.*?\)", "", s).replace("/viewer/", "/")
    parts = [p for p in re.split(r"[/\s]+", s) if p]
    while len(parts) > 1 and parts[-1] in _GENERIC:
        parts.pop()
    return parts[-1] if parts else "task:" + task_id


def dataset_groups(tasks: pd.DataFrame) -> pd.Series:
    """Dataset identity of each task (index: task_id): the ``dataset_id`` column when the database has one,
    else a normalised ``dataset`` string (scheme, org, '/viewer/', config and split dropped), else the task id.
    Tasks with the same identity are hidden together when a task is held out."""
    ids = tasks["task_id"] if "task_id" in tasks.columns else pd.Series(tasks.index, index=tasks.index)
    if "dataset_id" in tasks.columns:
        did = tasks["dataset_id"]
        fallback = [_dataset_key(d, t) for d, t in zip(tasks["dataset"], ids)]
        out = [str(d).strip().lower() if isinstance(d, str) and d.strip() else f for d, f in zip(did, fallback)]
    else:
        out = [_dataset_key(d, t) for d, t in zip(tasks.get("dataset", pd.Series([None] * len(tasks))), ids)]
    return pd.Series(out, index=tasks.index, dtype=object)
