"""One validation layer for every public parameter, shared by the Python API and the command line.

Each public function's parameters are declared once in :data:`PARAMS` (type, range, units, choices), in the
manner of scikit-learn's ``_param_validation``; :func:`check_params` checks and converts them and raises
:class:`~slmselect.errors.ParameterError` with messages such as::

    The 'top_k' parameter of recommend must be an int in the range [1, inf). Got 0 instead.

The command line passes its raw option values through the same :func:`check_params` (numeric strings are
accepted and converted), so ``--top-k 0`` and ``recommend(top_k=0)`` fail with the same words.

Model sizes (:func:`parse_size`) are read in billions: ``1.5``, ``'1.5B'``, ``'500M'``, ``'270m'``, and a plain
parameter count (``1_000_000_000``, ``'1e9'``) when it is at least 10^6. :func:`redact` masks secrets (tokens,
API keys, passwords in URLs) in any text bound for a log, a report or the store.
"""

from __future__ import annotations

import math
import numbers
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from slmselect.errors import ParameterError, did_you_mean
from slmselect._types import TASK_TYPES

__all__ = ["PARAMS", "Interval", "Options", "Size", "StrList", "check_params", "parse_size", "redact"]

#: A number at or above this is a parameter count, below it a number of billions.
COUNT_THRESHOLD = 1e6
#: Sizes above this many billions (10 trillion parameters) are refused as typos.
MAX_BILLIONS = 1e4


def _got(value: Any) -> str:
    return f"Got {value!r} instead."


def _number(value: Any, *, integer: bool) -> float | int | None:
    """``value`` as a number (numeric strings included), or None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        try:
            return int(text) if integer and re.fullmatch(r"[+-]?\d+", text) else float(text)
        except ValueError:
            return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return None


@dataclass(frozen=True)
class Interval:
    """A number (``int`` or ``float``) in a range; ``None`` bounds are infinite."""

    kind: type
    left: float | None = None
    right: float | None = None
    closed: str = "both"  # "both" | "left" | "right" | "neither"
    none_ok: bool = False
    unit: str = ""

    def describe(self) -> str:
        lo = "-inf" if self.left is None else f"{self.left:g}"
        hi = "inf" if self.right is None else f"{self.right:g}"
        lb = "[" if self.closed in ("both", "left") and self.left is not None else "("
        rb = "]" if self.closed in ("both", "right") and self.right is not None else ")"
        what = "an int" if self.kind is int else "a float"
        unit = f" ({self.unit})" if self.unit else ""
        return f"{what} in the range {lb}{lo}, {hi}{rb}{unit}"

    def convert(self, value: Any) -> float | int:
        num = _number(value, integer=self.kind is int)
        if num is None or (isinstance(num, float) and not math.isfinite(num)):
            raise ValueError
        if self.kind is int:
            if isinstance(num, float):
                if not num.is_integer():
                    raise ValueError
                num = int(num)
        else:
            num = float(num)
        lo_ok = self.left is None or (num >= self.left if self.closed in ("both", "left") else num > self.left)
        hi_ok = self.right is None or (num <= self.right if self.closed in ("both", "right") else num < self.right)
        if not (lo_ok and hi_ok):
            raise ValueError
        return num


@dataclass(frozen=True)
class Options:
    """One of a fixed set of strings (case-insensitive); ``aliases`` map other spellings to a choice."""

    choices: tuple[str, ...]
    aliases: Mapping[str, str] | None = None
    none_ok: bool = False

    def describe(self) -> str:
        return "one of " + ", ".join(map(repr, self.choices))

    def convert(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError
        key = value.strip().lower().replace(" ", "_")
        key = (self.aliases or {}).get(key, key)
        for c in self.choices:
            if key == c.lower():
                return c
        raise ValueError

    def hint(self, value: Any) -> str:
        return did_you_mean(str(value), [*self.choices, *(self.aliases or {})])


@dataclass(frozen=True)
class Size:
    """A model size, returned in billions of parameters (see :func:`parse_size`)."""

    none_ok: bool = True

    def describe(self) -> str:
        return ("a model size: billions as a number (1.5), a string with a unit ('1.5B', '500M', '270m'), "
                "or a parameter count of at least 1000000 (1000000000 = 1B)")

    def convert(self, value: Any) -> float:
        return _size(value)


@dataclass(frozen=True)
class StrList:
    """A string of comma-separated names, or a list of strings; returned as a list of stripped names."""

    none_ok: bool = True

    def describe(self) -> str:
        return "a comma-separated string or a list of strings"

    def convert(self, value: Any) -> list[str]:
        if isinstance(value, str):
            items = value.split(",")
        elif isinstance(value, Iterable) and not isinstance(value, (bytes, bytearray, Mapping)):
            items = list(value)
            if not all(isinstance(v, str) for v in items):
                raise ValueError
        else:
            raise ValueError
        out = [v.strip() for v in items if v.strip()]
        if not out:
            raise ValueError
        return out


@dataclass(frozen=True)
class Text:
    """A string of at most ``max_len`` characters; a blank one counts as not given (None)."""

    max_len: int = 10_000
    none_ok: bool = True

    def describe(self) -> str:
        return f"a string of at most {self.max_len} characters"

    def convert(self, value: Any) -> str | None:
        if not isinstance(value, str) or len(value) > self.max_len:
            raise ValueError
        return value if value.strip() else None


@dataclass(frozen=True)
class Flag:
    """A bool (the strings 'true'/'false'/'1'/'0' from the command line too)."""

    none_ok: bool = False

    def describe(self) -> str:
        return "a bool"

    def convert(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.strip().lower() in ("true", "1", "yes")
        raise ValueError


@dataclass(frozen=True)
class Languages:
    """ISO 639-1 codes (a comma-separated string or a list: ``'de'``, ``'de,fr'``); ``'any'`` is no requirement
    (returned as an empty list)."""

    none_ok: bool = True

    def describe(self) -> str:
        return "two-letter ISO 639-1 language codes ('de', 'de,fr' or a list), or 'any' for no language requirement"

    def convert(self, value: Any) -> list[str]:
        items = StrList().convert(value)
        low = [v.lower() for v in items]
        if low == ["any"]:
            return []
        if not all(re.fullmatch(r"[a-z]{2}", v) for v in low):
            raise ValueError
        return list(dict.fromkeys(low))


@dataclass(frozen=True)
class Scores:
    """Measured scores by model: a mapping ``{model_id: score}`` or the text ``'model=0.82,other=0.7'``; scores
    on the task's 0-1 scale (-1..1 for a gain or a correlation)."""

    none_ok: bool = True

    def describe(self) -> str:
        return ("a mapping of model id to measured score on a 0-1 scale ({'Qwen/Qwen3-1.7B': 0.82}), or the text "
                "'MODEL=SCORE,MODEL=SCORE'")

    def convert(self, value: Any) -> dict[str, float]:
        if isinstance(value, str):
            pairs = [p.rpartition("=") for p in value.split(",") if p.strip()]
            if not pairs or any(not sep or not k.strip() for k, sep, _ in pairs):
                raise ValueError
            value = {k.strip(): v for k, _, v in pairs}
        if not isinstance(value, Mapping) or not value:
            raise ValueError
        out = {}
        for k, v in value.items():
            num = _number(v, integer=False)
            if not isinstance(k, str) or not k.strip() or num is None or not math.isfinite(num) or not -1 <= num <= 1:
                raise ValueError
            out[k.strip()] = float(num)
        return out


Spec = Interval | Options | Size | StrList | Text | Flag | Languages | Scores

_COUNT = Interval(int, 1, None, closed="left")
DEPLOY_FORMATS = ("bf16", "q8_0", "q4_k_m")
QUANTS = ("f16", "q8_0", "q4_k_m")
QUANT_ALIASES = {"q4km": "q4_k_m", "q4": "q4_k_m", "q4_k": "q4_k_m", "q8": "q8_0", "fp16": "f16", "bfloat16": "bf16"}
TASK_TYPE_ALIASES = {"open_book_qa": "qa_open_book", "closed_book_qa": "qa_closed_book", "ner": "ner_extraction",
                     "extraction": "ner_extraction", "tools": "tool_calling", "function_calling": "tool_calling",
                     "summarisation": "summarization", "classify": "classification"}
PARAMS: dict[str, dict[str, Spec]] = {
    "recommend": {
        "top_k": _COUNT,
        "max_params": Size(),
        "max_memory_gb": Interval(float, 0, None, closed="neither", none_ok=True, unit="GB"),
        "min_context": Interval(int, 1, None, closed="left", none_ok=True, unit="tokens"),
        "edge_tolerance": Interval(float, 0, 1, closed="both", unit="score points on a 0-1 scale, e.g. 0.05"),
        "licenses": StrList(),
        "families": StrList(),
        "models": StrList(),
        "description": Text(),
        "include_local": Flag(),
        "embedder": Options(("auto", "minilm", "tfidf")),
        "languages": Languages(),
        "split": Text(max_len=200),
        "normalize_labels": Flag(),
        "task_type": Options(TASK_TYPES, aliases=TASK_TYPE_ALIASES, none_ok=True),
        "measured": Scores(),
        "deploy": Options(DEPLOY_FORMATS, aliases=QUANT_ALIASES, none_ok=True),
        "context": Interval(int, 1, None, closed="left", none_ok=True, unit="tokens"),
        "max_latency_ms": Interval(float, 0, None, closed="neither", none_ok=True, unit="ms"),
    },
    "export": {
        "quant": Options(QUANTS, aliases=QUANT_ALIASES),
        "formats": StrList(),
    },
    "serve_bench": {
        "quant": Options(QUANTS, aliases=QUANT_ALIASES),
        "max_examples": Interval(int, 1, None, closed="left"),
    },
    "confirm": {
        "top_k": _COUNT,
        "steps": _COUNT,
        "batch_size": Interval(int, 1, 4096, closed="both"),
        "eval_examples": Interval(int, 1, None, closed="left", none_ok=True),
        "eval_fraction": Interval(float, 0, 1, closed="neither"),
        "learning_rate": Interval(float, 0, 1, closed="neither", none_ok=True),
        "lora_r": Interval(int, 1, 1024, closed="both", none_ok=True),
        "max_seq_len": Interval(int, 16, 1_048_576, closed="both", none_ok=True, unit="tokens"),
        "seed": Interval(int, 0, 2**32 - 1, closed="both"),
        "memory_limit_gb": Interval(float, 0, None, closed="neither", none_ok=True, unit="GB"),
        "models": StrList(),
        "description": Text(),
        "split": Text(max_len=200),
        "normalize_labels": Flag(),
        "metric": Options(("accuracy", "macro_f1", "entity_f1", "token_f1", "exact_match", "call_accuracy",
                           "rougeL_f1"), none_ok=True),
        "resume": Flag(),
        "checkpoint_every": Interval(int, 0, None, closed="left", none_ok=True, unit="steps"),
    },
    "profile_task": {
        "split": Text(max_len=200),
        "normalize_labels": Flag(),
    },
    "compare": {
        "max_params": Size(),
        "families": StrList(),
        "value": Options(("finetuned", "base", "tunability"), none_ok=True),
    },
}


def check_params(func_name: str, /, **kwargs: Any) -> dict[str, Any]:
    """Check and convert the parameters ``kwargs`` of ``func_name`` against :data:`PARAMS`.

    Returns a dict of the converted values (sizes in billions, numeric strings as numbers, name lists as
    lists). Parameters without a spec pass through unchanged. Raises :class:`ParameterError`.
    """
    specs = PARAMS.get(func_name, {})
    out: dict[str, Any] = {}
    for name, value in kwargs.items():
        spec = specs.get(name)
        if spec is None:
            out[name] = value
            continue
        if value is None and spec.none_ok:
            out[name] = None
            continue
        try:
            out[name] = spec.convert(value)
        except ValueError as err:
            detail = str(err)
            if detail:  # a size explains itself
                raise ParameterError(f"The {name!r} parameter of {func_name} {detail}") from None
            hint = spec.hint(value) if isinstance(spec, Options) else ""
            none = " or None" if spec.none_ok else ""
            raise ParameterError(
                f"The {name!r} parameter of {func_name} must be {spec.describe()}{none}. {_got(value)}{hint}"
            ) from None
    return out


# --------------------------------------------------------------------------------------------- sizes

_UNITS = {"": None, "k": 1e-6, "thousand": 1e-6, "m": 1e-3, "mn": 1e-3, "million": 1e-3,
          "b": 1.0, "bn": 1.0, "billion": 1.0, "t": 1e3, "trillion": 1e3}
_SIZE = re.compile(r"\s*(\d+(?:,\d{3})+|\d*\.?\d+(?:[eE][+-]?\d+)?)\s*([A-Za-z]*)\s*")


def _size(value: Any) -> float:
    """Billions from a size; raises ValueError with the end of a message."""
    bad = ValueError(f"must be {Size().describe()}. {_got(value)}")
    if isinstance(value, bool):
        raise bad
    if isinstance(value, numbers.Real):
        number, unit = float(value), None
    elif isinstance(value, str):
        m = _SIZE.fullmatch(value.replace("_", ""))
        if not m or m.group(2).lower() not in _UNITS:
            raise bad
        number, unit = float(m.group(1).replace(",", "")), _UNITS[m.group(2).lower()]
    else:
        raise bad
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"must be a positive, finite model size. {_got(value)}")
    if unit is None:  # a bare number: billions below 10^6, a parameter count from 10^6 on
        if number >= COUNT_THRESHOLD:
            billions = number / 1e9
        elif number >= MAX_BILLIONS:
            raise ValueError(
                f"is ambiguous: {value!r} read as billions would be {number / 1e3:g} trillion parameters, read as a "
                f"count only {number:g}. Write it with a unit ('{number:g}B' or '{number / 1e6:g}M') or as a full count."
            )
        else:
            billions = number
    else:
        billions = number * unit
    if billions > MAX_BILLIONS:
        raise ValueError(f"is {billions:g} billion parameters, more than any model has; did you mean {number:g}M? {_got(value)}")
    return billions


def parse_size(value: Any, *, name: str = "max_params", func: str = "recommend") -> float:
    """A model size in billions: ``1.5``, ``'1.5B'``, ``'500M'``, ``'270m'``, or a count such as ``1e9``."""
    try:
        return _size(value)
    except ValueError as err:
        raise ParameterError(f"The {name!r} parameter of {func} {err}") from None


# --------------------------------------------------------------------------------------------- secrets

_SECRET_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACEHUB_API_TOKEN", "OPENAI_API_KEY", "WANDB_API_KEY",
               "ANTHROPIC_API_KEY", "AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN")
_SECRET_PATTERNS = (
    re.compile(r"\bhf_[A-Za-z0-9]{20,}"),  # Hugging Face tokens
    re.compile(r"\bsk-[A-Za-z0-9_-]{20,}"),  # OpenAI-style keys
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),  # GitHub tokens
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)((?:token|api[_-]?key|password|secret|authorization)\s*[=:]\s*)[^\s&'\",;]{4,}"),
    re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"),  # user:password@ in URLs
)
MASK = "***"


def redact(text: str) -> str:
    """``text`` with tokens, API keys and URL passwords replaced by ``***``."""
    out = str(text)
    for var in _SECRET_ENV:
        secret = os.environ.get(var, "")
        if len(secret) >= 8:
            out = out.replace(secret, MASK)
    for pattern in _SECRET_PATTERNS:
        out = pattern.sub(lambda m: (m.group(1) if m.re.groups else "") + MASK, out)
    return out
