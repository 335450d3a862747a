"""A vectorised reader for the database's CSV files that applies the pydantic row models' rules column-wise.

``load_db`` sits on the warm path of ``recommend()``, and validating 10,000+ rows one pydantic call at a time
takes seconds. :func:`fast_frame` checks each column at once against its field's type and constraints (types,
``ge``/``gt``/``le``/``lt``, ``pattern``, ``Literal`` choices, required cells, JSON lists) and returns the frame;
at the first doubt it returns None and the caller validates row by row with pydantic, which names the file,
line and field of every problem. Both paths give the same frame for a valid file.
"""

from __future__ import annotations

import json
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal

import annotated_types as at
import numpy as np
import pandas as pd
from pydantic import BaseModel

_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}
#: The longest cell the row-by-row reader accepts (``db.MAX_CELL_CHARS``, csv's default limit).
MAX_CELL_CHARS = 131_072


def _base_type(annotation: Any) -> Any:
    """``float | None`` -> float; ``Literal[...] | None`` -> the Literal."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _numbers(col: pd.Series, blank: np.ndarray, field: Any, integer: bool) -> pd.Series | None:
    num = pd.to_numeric(col.where(~blank, None), errors="coerce").astype(float)
    v = num.to_numpy()
    if not np.isfinite(v[~blank]).all() or (integer and (np.mod(v[~blank], 1) != 0).any()):
        return None
    ok = np.ones(len(v), bool)
    for m in field.metadata:
        if isinstance(m, at.Ge):
            ok &= ~(v < m.ge)
        elif isinstance(m, at.Gt):
            ok &= ~(v <= m.gt)
        elif isinstance(m, at.Le):
            ok &= ~(v > m.le)
        elif isinstance(m, at.Lt):
            ok &= ~(v >= m.lt)
    if not ok.all():
        return None
    if blank.any() and field.default is not None and not field.is_required():
        num = num.where(~blank, float(field.default))
        blank = np.zeros(len(v), bool)
    if integer and not blank.any():
        return num.astype("int64")
    return num


def _column(col: pd.Series, field: Any) -> pd.Series | None:
    blank = (col == "").to_numpy()
    if field.is_required() and blank.any():
        return None
    t = _base_type(field.annotation)
    if t is float or t is int:
        return _numbers(col, blank, field, t is int)
    if t is bool:
        low = col.str.lower()
        if not low[~blank].isin(_TRUE | _FALSE).all():
            return None
        default = bool(field.default) if not field.is_required() else False
        return pd.Series(np.where(blank, default, low.isin(_TRUE)), index=col.index, dtype=bool)
    if typing.get_origin(t) is list:
        try:
            vals = [json.loads(x) if x else [] for x in col]
        except json.JSONDecodeError:
            return None
        if not all(isinstance(x, list) and all(isinstance(s, str) for s in x) for x in vals):
            return None
        return pd.Series(vals, index=col.index, dtype=object)
    if typing.get_origin(t) is Literal:
        if not col[~blank].isin([str(a) for a in typing.get_args(t)]).all():
            return None
    elif t is not str:
        return None  # a type this reader does not know: let pydantic decide
    for m in field.metadata:
        pattern = getattr(m, "pattern", None)
        if pattern and not all(re.search(pattern, x) for x in col[~blank]):
            return None
    default = None if field.is_required() else field.default
    # a list, so that pandas infers the column's dtype exactly as it does for the row-by-row path
    return pd.Series(np.where(blank, default, col.to_numpy(dtype=object)).tolist(), index=col.index)


def fast_frame(path: Path, model: type[BaseModel]) -> pd.DataFrame | None:
    """The validated frame of ``path`` (columns in the model's order), or None when any cell needs a closer look."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8")
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError):
        return None
    fields = model.model_fields
    # short rows (NaN), long cells, repeated or unknown columns, an empty file: the row-by-row path reports them
    if df.empty or df.isna().to_numpy().any() or max(df[c].str.len().max() for c in df.columns) > MAX_CELL_CHARS:
        return None
    if set(df.columns) - set(fields) or any(f.is_required() and c not in df.columns for c, f in fields.items()):
        return None
    out = {}
    for name, field in fields.items():
        if name not in df.columns:
            out[name] = pd.Series([field.get_default(call_default_factory=True)] * len(df), dtype=object)
            continue
        col = _column(df[name].str.strip(), field)
        if col is None:
            return None
        out[name] = col
    return pd.DataFrame(out, columns=list(fields))
