"""Consoles and generic tables for the command line (rich, imported lazily)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any


def make_console(stderr: bool = False) -> Any:
    """A rich console; a log or a pipe is not cut to a terminal's width: tables keep every column."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, soft_wrap=False, width=None if stream.isatty() else PIPE_WIDTH)


#: Width of a console that writes to a file or a pipe: wide enough that no table is cut.
PIPE_WIDTH = 400


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return ""
    return str(v)


def frame_table(df: Any, title: str) -> Any:
    """A pandas DataFrame as a rich table (index dropped)."""
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for c in df.columns:
        t.add_column(str(c))
    for row in df.itertuples(index=False):
        t.add_row(*[_cell(v) for v in row])
    return t


def mapping_table(items: Mapping[str, Any], title: str, *, max_items: int = 20) -> Any:
    """Key/value rows, lists and dicts shortened to one line each."""
    from rich.table import Table

    t = Table(title=title, show_header=False, title_justify="left")
    for k, v in items.items():
        if isinstance(v, Mapping):
            v = ", ".join(f"{a}={b}" for a, b in v.items())
        elif isinstance(v, (list, tuple)):
            v = ", ".join(map(str, list(v)[:max_items])) + (" …" if len(v) > max_items else "")
        t.add_row(str(k), _cell(v))
    return t


def lines(texts: Iterable[str], style: str | None = None) -> Any:
    from rich.text import Text

    return Text("\n".join(texts), style=style or "")
