"""One validation layer for every public parameter, shared by the Python API and the command line.

The parameters of every public entry point (``recommend``, ``confirm``, ``expand``, ``evaluate``, ``compare``,
``profile_task``, the HTML ``report``; ``export``, ``serve_bench``) are declared once in :data:`PARAMS` (type,
range, units, choices and their other spellings), in the manner of scikit-learn's ``validate_params``;
:func:`check_params` checks and converts them, and :func:`validate_params` does so before a decorated function's
body runs. Either raises :class:`~slmselect.errors.ParameterError` in one format::

    The 'top_k' parameter of recommend must be an int in the range [1, inf). Got 0 instead.

The command line passes its option values through the same layer as the text given (numbers and
comma-separated lists are read here, by :func:`parse_list` for lists), so ``--top-k 0`` and
``recommend(top_k=0)`` fail with the same words. What depends on data (a licence, a family, a source in the
database; a metric of the task's type) is checked where the data is.

Model sizes (:func:`parse_size`) are read in billions: ``1.5``, ``'1.5B'``, ``'500M'``, ``'270m'``, and a plain
parameter count (``1_000_000_000``, ``'1e9'``) when it is at least 10^6. :func:`redact` masks secrets (tokens,
API keys, passwords in URLs) in any text bound for a log, a report or the store.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from slmselect.errors import ParameterError, did_you_mean
from slmselect._types import EDGE_TOLERANCE, OBJECTIVE_ALIASES, OBJECTIVES, TASK_TYPES

__all__ = ["PARAMS", "Interval", "Options", "Size", "StrList", "check_params", "parse_list", "parse_size", "redact",
           "validate_params"]

F = TypeVar("F", bound=Callable[..., Any])

#: A number at or above this is a parameter count, below it a number of billions.
COUNT_THRESHOLD = 1e6
#: Sizes above this many billions (10 trillion parameters) are refused as typos.
MAX_BILLIONS = 1e4


def _got(value: Any) -> str:
    return f"Got {value!r} instead."


def parse_list(value: Any) -> list[str]:
    """The one reader of name lists: ``'a, b,,c'`` or ``['a', 'b']`` -> ``['a', 'b', 'c']`` (stripped, blanks
    dropped; the items of a list are kept whole, paths as text). Raises ValueError for anything else or an empty
    list."""
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, Iterable) and not isinstance(value, (bytes, bytearray, Mapping)):
        items = [os.fspath(v) if isinstance(v, os.PathLike) else v for v in value]
        if not all(isinstance(v, str) for v in items):
            raise ValueError
    else:
        raise ValueError
    out = [v.strip() for v in items if v.strip()]
    if not out:
        raise ValueError
    return out


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

    def shown(self, value: Any) -> str:
        """A number given as text (as the command line gives every value) is shown as it was written."""
        if isinstance(value, str) and _number(value, integer=False) is not None:
            return f"Got {value.strip()} instead."
        return _got(value)

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
    """One of a fixed set of strings (case-insensitive, spaces and hyphens read as underscores); ``aliases`` map
    other spellings to a choice."""

    choices: tuple[str, ...]
    aliases: Mapping[str, str] | None = None
    none_ok: bool = False

    def describe(self) -> str:
        return "one of " + ", ".join(map(repr, self.choices))

    def convert(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError
        key = value.strip().lower().replace(" ", "_").replace("-", "_")
        key = (self.aliases or {}).get(key, key)
        for c in self.choices:
            if key == c.lower():
                return c
        raise ValueError

    def hint(self, value: Any) -> str:
        return did_you_mean(str(value), [*self.choices, *(self.aliases or {})])


@dataclass(frozen=True)
class OptionList:
    """One or more of ``options``' choices, as a comma-separated string or a list; returned without repeats."""

    options: Options
    none_ok: bool = False

    def describe(self) -> str:
        return f"one or more of {', '.join(map(repr, self.options.choices))} (comma-separated or a list)"

    def convert(self, value: Any) -> list[str]:
        return list(dict.fromkeys(self.options.convert(v) for v in parse_list(value)))

    def shown(self, value: Any) -> str:
        """The first item that is not a choice, as the user wrote it (the whole value when it is no list)."""
        bad = self._bad(value)
        return _got(value if bad is None else bad)

    def hint(self, value: Any) -> str:
        bad = self._bad(value)
        return "" if bad is None else self.options.hint(bad)

    def _bad(self, value: Any) -> str | None:
        try:
            items = parse_list(value)
        except ValueError:
            return None
        for item in items:
            try:
                self.options.convert(item)
            except ValueError:
                return item
        return None


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
        return parse_list(value)


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
class Name:
    """A non-empty string, such as a model name or a URL; ``what`` says what it names, with an example."""

    what: str
    none_ok: bool = False

    def describe(self) -> str:
        return self.what

    def convert(self, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError
        return value.strip()


@dataclass(frozen=True)
class FilePath:
    """A file path: a non-empty string or an ``os.PathLike``; returned as given."""

    none_ok: bool = False

    def describe(self) -> str:
        return "a file path (a str or an os.PathLike)"

    def convert(self, value: Any) -> str | os.PathLike[str]:
        if isinstance(value, os.PathLike) or (isinstance(value, str) and value.strip()):
            return value
        raise ValueError


@dataclass(frozen=True)
class Progress:
    """What a long call reports as it goes: True (drawn on stderr), False or None (nothing), or a callable
    that receives every event (:mod:`slmselect.events`)."""

    none_ok: bool = True

    def describe(self) -> str:
        return "True (draw on stderr), False (nothing) or a callable that takes each event (slmselect.events)"

    def convert(self, value: Any) -> Any:
        if isinstance(value, bool) or callable(value):
            return value
        raise ValueError


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
            pairs = [p.rpartition("=") for p in parse_list(value)]
            if any(not sep or not k.strip() for k, sep, _ in pairs):
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


Spec = Interval | Options | OptionList | Size | StrList | Text | Name | FilePath | Flag | Progress | Languages | Scores

_COUNT = Interval(int, 1, None, closed="left")
_SEED = Interval(int, 0, 2**32 - 1, closed="both")
_SPLIT = Text(max_len=200)
_FIELD = Text(max_len=200)
DEPLOY_FORMATS = ("bf16", "q8_0", "q4_k_m")
QUANTS = ("f16", "q8_0", "q4_k_m")
QUANT_ALIASES = {"q4km": "q4_k_m", "q4": "q4_k_m", "q4_k": "q4_k_m", "q8": "q8_0", "fp16": "f16", "bfloat16": "bf16"}
TASK_TYPE_ALIASES = {"open_book_qa": "qa_open_book", "closed_book_qa": "qa_closed_book", "ner": "ner_extraction",
                     "extraction": "ner_extraction", "tools": "tool_calling", "function_calling": "tool_calling",
                     "summarisation": "summarization", "classify": "classification"}
#: Choices the modules that use them import from here; confirm's metrics (by task type in confirmation/metrics.py)
#: and compare's values (with their columns in evidence/compare.py) are checked to agree by tests/test_bad_input_params.py.
CONFIRM_METRICS = ("accuracy", "macro_f1", "entity_f1", "token_f1", "exact_match", "call_accuracy", "rougeL_f1")
RESPONSE_FORMATS = ("json_object", "json_schema", "json_object_schema", "none")
QUERY_FORMS = ("description", "examples")
EXPORT_FORMATS = ("hf", "gguf", "ollama")
COMPARE_VALUES = ("finetuned", "base", "tunability")
EMBEDDERS = ("auto", "minilm", "tfidf")
_OBJECTIVE = Options(OBJECTIVES, aliases=OBJECTIVE_ALIASES)
_EDGE_TOLERANCE = Interval(float, 0, 1, closed="both", unit=f"score points on a 0-1 scale, e.g. {EDGE_TOLERANCE}")

#: Every public entry point's parameters, declared once: ``check_params(func, **kw)`` checks and converts them.
PARAMS: dict[str, dict[str, Spec]] = {
    "recommend": {
        "objective": _OBJECTIVE,
        "top_k": _COUNT,
        "max_params": Size(),
        "max_memory_gb": Interval(float, 0, None, closed="neither", none_ok=True, unit="GB"),
        "min_context": Interval(int, 1, None, closed="left", none_ok=True, unit="tokens"),
        "edge_tolerance": _EDGE_TOLERANCE,
        "licenses": StrList(),
        "families": StrList(),
        "models": StrList(),
        "description": Text(),
        "include_local": Flag(),
        "embedder": Options(EMBEDDERS),
        "languages": Languages(),
        "split": _SPLIT,
        "normalize_labels": Flag(),
        "task_type": Options(TASK_TYPES, aliases=TASK_TYPE_ALIASES, none_ok=True),
        "measured": Scores(),
        "deploy": Options(DEPLOY_FORMATS, aliases=QUANT_ALIASES, none_ok=True),
        "context": Interval(int, 1, None, closed="left", none_ok=True, unit="tokens"),
        "max_latency_ms": Interval(float, 0, None, closed="neither", none_ok=True, unit="ms"),
    },
    "export": {
        "quant": Options(QUANTS, aliases=QUANT_ALIASES),
        "formats": OptionList(Options(EXPORT_FORMATS)),
    },
    "serve_bench": {
        "quant": Options(QUANTS, aliases=QUANT_ALIASES),
        "max_examples": Interval(int, 1, None, closed="left"),
    },
    "confirm": {
        "progress": Progress(),
        "models": StrList(),
        "top_k": _COUNT,
        "steps": _COUNT,
        "eval_fraction": Interval(float, 0, 1, closed="neither"),
        "eval_examples": Interval(int, 1, None, closed="left", none_ok=True),
        "validation_examples": Interval(int, 0, None, closed="left", none_ok=True),
        "split": _SPLIT,
        "normalize_labels": Flag(),
        "seed": _SEED,
        "successive_halving": Flag(),
        "lora_r": Interval(int, 1, 1024, closed="both", none_ok=True),
        "learning_rate": Interval(float, 0, 1, closed="neither", none_ok=True),
        "max_seq_len": Interval(int, 16, 1_048_576, closed="both", none_ok=True, unit="tokens"),
        "batch_size": Interval(int, 1, 4096, closed="both"),
        "description": Text(),
        "trust_remote_code": Flag(),
        "keep_samples": Flag(),
        "memory_limit_gb": Interval(float, 0, None, closed="neither", none_ok=True, unit="GB"),
        "backend": Options(("local", "ray")),
        "address": Text(max_len=2000),
        "metric": Options(CONFIRM_METRICS, none_ok=True),
        "resume": Flag(),
        "checkpoint_every": Interval(int, 0, None, closed="left", none_ok=True, unit="steps"),
    },
    "expand": {
        "progress": Progress(),
        "base_url": Name("the teacher server's URL, e.g. 'http://127.0.0.1:8000/v1'"),
        "model": Name("the name of the teacher model the server serves, e.g. 'gpt-4o-mini'"),
        "n": _COUNT,
        "concurrency": Interval(int, 1, 256, closed="both", unit="requests in flight"),
        "timeout": Interval(float, 0, None, closed="neither", unit="seconds"),
        "max_retries": Interval(int, 0, 20, closed="both"),
        "seed": _SEED,
        "description": Text(),
        "response_format": Options(RESPONSE_FORMATS),
        "temperature": Interval(float, 0, 2, closed="both"),
        "max_tokens": Interval(int, 1, None, closed="left", none_ok=True, unit="tokens"),
        "shots": _COUNT,
        "max_requests": Interval(int, 1, None, closed="left", none_ok=True),
        "near_copy": Interval(float, 0, 1, closed="right", unit="4-gram Jaccard similarity"),
        "length_factor": Interval(float, 1, None, closed="left"),
        "backoff": Interval(float, 0, None, closed="left", unit="seconds"),
        "input_field": _FIELD,
        "output_field": _FIELD,
        "context_field": _FIELD,
    },
    "evaluate": {
        "progress": Progress(),
        "sources": StrList(),
        "objectives": OptionList(_OBJECTIVE),
        "min_models": Interval(int, 2, None, closed="left", unit="rank figures need at least two models"),
        "seed": Interval(int, 0, None, closed="left"),
        "embedder": Options(EMBEDDERS),
        "edge_tolerance": _EDGE_TOLERANCE,
        "folds": Interval(int, 2, None, closed="left"),
        "inner_folds": Interval(int, 2, None, closed="left"),
        "max_params": Size(),
        "variant": Options(("instruct", "base"), none_ok=True),
        "query": Options(QUERY_FORMS),
    },
    "compare": {
        "source": Name("a source id, e.g. 'lora_land_2024' (`slmselect compare --list-sources` lists them)", none_ok=True),
        "value": Options(COMPARE_VALUES, none_ok=True),
        "objective": Options(COMPARE_VALUES),
        "families": StrList(),
        "max_params": Size(),
        "sort_by": Text(max_len=200),
    },
    "profile_task": {
        "description": Text(),
        "input_field": _FIELD,
        "output_field": _FIELD,
        "context_field": _FIELD,
        "split": _SPLIT,
        "normalize_labels": Flag(),
    },
    "report": {
        "path": FilePath(),
    },
}


def check_params(func_name: str, /, **kwargs: Any) -> dict[str, Any]:
    """Check and convert the parameters ``kwargs`` of ``func_name`` against :data:`PARAMS`.

    Returns a dict of the converted values, in the order given (sizes in billions, numeric strings as numbers,
    name lists as lists, choices in their canonical spelling). Every name must be declared for ``func_name``.
    Raises :class:`ParameterError`, in one format: "The 'top_k' parameter of recommend must be an int in the
    range [1, inf). Got 0 instead."
    """
    specs = PARAMS[func_name]
    out: dict[str, Any] = {}
    for name, value in kwargs.items():
        spec = specs.get(name)
        if spec is None:
            raise TypeError(f"PARAMS[{func_name!r}] declares no parameter {name!r}; declare it there")
        if value is None and spec.none_ok:
            out[name] = None
            continue
        try:
            out[name] = spec.convert(value)
        except ValueError as err:
            detail = str(err)
            if detail:  # a size explains itself
                raise ParameterError(f"The {name!r} parameter of {func_name} {detail}") from None
            hint = spec.hint(value) if hasattr(spec, "hint") else ""
            none = " or None" if spec.none_ok else ""
            got = spec.shown(value) if hasattr(spec, "shown") else _got(value)
            raise ParameterError(
                f"The {name!r} parameter of {func_name} must be {spec.describe()}{none}. {got}{hint}"
            ) from None
    return out


def validate_params(func_name: str) -> Callable[[F], F]:
    """Decorate a public function so that its parameters declared in ``PARAMS[func_name]`` are checked and
    converted by :func:`check_params` before its body runs (defaults included); the body sees the converted
    values. Declaring a name the function does not take fails at import. The check adds one frame between the
    caller and the function, which a ``warnings.warn(stacklevel=...)`` in the function must count."""

    def decorate(fn: F) -> F:
        sig = inspect.signature(fn)
        declared = PARAMS[func_name]
        unknown = set(declared) - set(sig.parameters)
        if unknown:
            raise TypeError(f"PARAMS[{func_name!r}] declares {sorted(unknown)}, which {fn.__qualname__} does not take")

        @functools.wraps(fn)
        def checked(*args: Any, **kwargs: Any) -> Any:
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            bound.arguments.update(check_params(func_name, **{k: v for k, v in bound.arguments.items() if k in declared}))
            return fn(*bound.args, **bound.kwargs)

        return checked  # type: ignore[return-value]

    return decorate


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
