"""The one task-type table, and typing a task by meaning.

Each task type lists what identifies it: field names that only that kind of task uses (``entities``,
``tool_calls``, ``summary``, ...), the output format its outputs take, and a few short exemplar task
descriptions. A free-text description is typed by meaning: it is embedded with the same sentence model
that matches database tasks and compared with every exemplar; the type of the closest exemplars wins,
and the margin over the runner-up gives the confidence. No keyword lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class TaskTypeInfo:
    """One row of the task-type table."""

    name: str
    title: str
    output_format: str
    #: output field names that mark this type on their own (lower case)
    output_fields: tuple[str, ...] = ()
    #: input field names that point to this type (weaker: they are shared more often)
    input_fields: tuple[str, ...] = ()
    #: short task descriptions of this type, as users write them
    exemplars: tuple[str, ...] = field(default_factory=tuple)


TASK_TABLE: tuple[TaskTypeInfo, ...] = (
    TaskTypeInfo(
        "classification", "classification", "label",
        output_fields=("label", "labels", "category", "class", "intent", "sentiment", "topic", "stance"),
        exemplars=(
            "Classify each support ticket into one of a fixed set of categories.",
            "Decide whether a message is spam or not spam.",
            "Predict the sentiment of a product review: positive, negative or neutral.",
            "Detect the user's intent in a banking chatbot request.",
            "Label each question by the type of answer it expects.",
            "Flag toxic or abusive comments.",
            "Route each incoming email, chat or call to the team that should handle it.",
        ),
    ),
    TaskTypeInfo(
        "ner_extraction", "named entities / information extraction", "spans",
        output_fields=("entities", "spans", "ner_tags", "tags", "slots", "pii"),
        exemplars=(
            "Find the names of people, organisations and locations mentioned in the text.",
            "Tag the organisations and product names in news headlines.",
            "Pull the invoice number, date and total amount out of a document as JSON.",
            "Tag personal information (names, emails, phone numbers) in customer messages.",
            "Extract the drugs and diseases mentioned in a clinical note.",
            "Extract the key fields from a receipt or form.",
        ),
    ),
    TaskTypeInfo(
        "qa_open_book", "question answering over a given passage", "free_text",
        input_fields=("context", "passage", "paragraph", "document"),
        exemplars=(
            "Answer a question using only the passage provided with it.",
            "Given a document and a user question, find the answer in the document.",
            "Reading comprehension: read the paragraph and answer the question about it.",
            "Answer customer questions from the retrieved help-centre article.",
        ),
    ),
    TaskTypeInfo(
        "qa_closed_book", "question answering from knowledge", "free_text",
        output_fields=("answer", "answers"),
        input_fields=("question", "query"),
        exemplars=(
            "Answer general-knowledge trivia questions with a short answer.",
            "Answer factual questions about history, science and geography without any document.",
            "Give the short factual answer to an open-domain question.",
            "Answer quiz questions such as who invented the telephone or when a war ended.",
        ),
    ),
    TaskTypeInfo(
        "tool_calling", "tool / function calling", "tool_call",
        output_fields=("tool_calls", "tool_call", "function_call", "function_calls", "call", "calls"),
        input_fields=("tools", "functions"),
        exemplars=(
            "Pick the API that fits what the user asked for from the schemas provided, and fill in its arguments.",
            "Turn a user's request into an API call in JSON with the function name and its parameters.",
            "Choose which tool to use and fill in its arguments for a voice assistant command.",
            "Translate natural-language commands into structured function calls.",
        ),
    ),
    TaskTypeInfo(
        "summarization", "summarisation", "free_text",
        output_fields=("summary", "highlights", "abstract", "tldr", "headline"),
        exemplars=(
            "Summarise a news article in one or two sentences.",
            "Write a short summary of a long meeting transcript.",
            "Condense a support conversation into a brief note for the next agent.",
            "Write a headline for an article.",
        ),
    ),
    TaskTypeInfo(
        "generation", "free-text generation", "free_text",
        output_fields=("response", "completion", "rewrite", "translation", "sql", "code"),
        exemplars=(
            "Write a friendly reply to a customer email.",
            "Rewrite a sentence in a more formal tone.",
            "Translate English sentences into German.",
            "Generate a product description from a list of attributes.",
            "Convert a question about a database into an SQL query.",
        ),
    ),
)

TYPES: dict[str, TaskTypeInfo] = {t.name: t for t in TASK_TABLE}


def type_of_field(name: str | None, *, role: str) -> str | None:
    """The task type a field name marks on its own (``role`` 'output' or 'input'), or None."""
    if not name:
        return None
    low = name.lower()
    for t in TASK_TABLE:
        if low in (t.output_fields if role == "output" else t.input_fields):
            return t.name
    return None


@dataclass(frozen=True)
class MeaningGuess:
    """The task type a text means, with the similarity of each type's closest exemplar."""

    task_type: str
    confidence: float
    similarity: dict[str, float]
    closest: str  #: the exemplar that decided it

    def reason(self, what: str = "the description") -> str:
        runner = sorted(self.similarity, key=self.similarity.__getitem__, reverse=True)[1]
        return (f"{what} reads most like {TYPES[self.task_type].title} (cosine {self.similarity[self.task_type]:.2f} "
                f"to {self.closest!r}; next: {runner} {self.similarity[runner]:.2f})")


@lru_cache(maxsize=1)
def exemplar_matrix() -> tuple[np.ndarray, tuple[str, ...], tuple[str, ...], str]:
    from slmselect.profile.embed import embed_cached, get_embedder

    texts = tuple(e for t in TASK_TABLE for e in t.exemplars)
    owners = tuple(t.name for t in TASK_TABLE for _ in t.exemplars)
    emb = get_embedder(list(texts))
    vectors = _unit(np.asarray(embed_cached(emb, list(texts)), dtype=np.float32))  # shipped with the database
    return vectors, texts, owners, type(emb).__name__


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


@lru_cache(maxsize=256)
def type_by_meaning(text: str) -> MeaningGuess | None:
    """Type a free-text task description by meaning; None for an empty text."""
    if not text or not text.strip():
        return None
    from slmselect.profile.embed import embed_text, get_embedder

    vectors, texts, owners, _ = exemplar_matrix()
    q = _unit(np.asarray(embed_text(get_embedder(list(texts)), text)[None, :], dtype=np.float32))[0]
    sims = vectors @ q
    best: dict[str, tuple[float, str]] = {}
    for s, owner, ex in zip(sims.tolist(), owners, texts):
        if owner not in best or s > best[owner][0]:
            best[owner] = (s, ex)
    ranked = sorted(best, key=lambda k: best[k][0], reverse=True)
    top, second = ranked[0], ranked[1]
    margin = best[top][0] - best[second][0]
    # a clear margin (0.15 cosine or more) on a close match (0.5 or more) is near-certain
    confidence = float(np.clip(0.4 + 2.0 * margin + 0.4 * max(0.0, best[top][0] - 0.3), 0.3, 0.95))
    return MeaningGuess(top, round(confidence, 3), {k: round(v[0], 4) for k, v in best.items()}, best[top][1])
