"""Nothing finished is lost: rows the store refused go to a recovery file that ``import_recovery`` loads.

:class:`ResultWriter` is how ``confirm()`` records: it appends each row as its candidate ends, keeps
the rows the store refused, and at the end writes them to a JSON-lines recovery file (next to an
SQLite store when that folder is writable, else in the current folder, else the temporary folder) and
raises :class:`StoreError` naming the file and the command that imports it. Every row carries its
``row_key``, so importing a file twice, or a file whose rows partly reached the store, stores each row once.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from slmselect.errors import InputError, StoreError
from slmselect.evidence.store.results import Location, ResultsStore, as_store

HEADER_KEY = "slmselect_recovery"


def _folders(store: ResultsStore) -> list[Path]:
    folders = [store.path.parent] if store.path is not None else []
    return [*folders, Path.cwd(), Path(tempfile.gettempdir())]


def write_recovery(rows: list[Mapping[str, Any]], store: ResultsStore, reason: str) -> Path:
    """Write prepared rows to a new recovery file, atomically; returns its path."""
    name = f"slmselect-recovery-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}.jsonl"
    header = {HEADER_KEY: 1, "store": store.location, "reason": reason, "rows": len(rows),
              "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    text = "".join(json.dumps(x, ensure_ascii=False, default=str) + "\n" for x in [header, *rows])
    last: OSError | None = None
    for folder in _folders(store):
        target = folder / name
        tmp = folder / f".{name}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
            return target
        except OSError as err:
            last = err
            tmp.unlink(missing_ok=True)
    raise StoreError(f"Could not write a recovery file anywhere ({last}); the results are in the report only.")


def read_recovery(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rows of a recovery file (its header line skipped); :class:`InputError` names a bad line."""
    p = Path(path).expanduser()
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise InputError(f"Cannot read the recovery file {p}: {err.strerror or err}.") from None
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(f"{p}, line {number}: not JSON ({err.msg}); is this a slmselect recovery file?") from None
        if not isinstance(row, dict):
            raise InputError(f"{p}, line {number}: expected a JSON object (a result row).")
        if HEADER_KEY in row:
            continue
        try:
            rows.append(ResultsStore.prepare(row))
        except ValueError as err:
            raise InputError(f"{p}, line {number}: {err}.") from None
    return rows


def import_recovery(path: str | os.PathLike[str], store: Location | ResultsStore | None = None) -> int:
    """Store the rows of a recovery file in ``store`` (default as for :class:`ResultsStore`); returns how
    many were new (rows already stored, by ``row_key``, are skipped). The file is left in place."""
    rows = read_recovery(path)
    target = as_store(store)
    target.check()
    present = target.row_keys(r["row_key"] for r in rows)
    new = [r for r in rows if r["row_key"] not in present]
    target.append(new)
    return len(new)


class ResultWriter:
    """Appends confirm rows to a store as they come; keeps what the store refused for a recovery file."""

    def __init__(self, store: ResultsStore | None) -> None:
        self.store = store
        self.pending: list[dict[str, Any]] = []
        self.errors: list[str] = []

    def add(self, row: Mapping[str, Any]) -> None:
        if self.store is None:
            return
        prepared = self.store.prepare(row)
        try:
            self.store.append([prepared])
        except StoreError as err:
            self.pending.append(prepared)
            self.errors.append(str(err))

    def finish(self) -> None:
        """Raise :class:`StoreError` (with ``recovery_path``) if any row could not be stored."""
        if self.store is None or not self.pending:
            return
        path = write_recovery(self.pending, self.store, self.errors[-1])
        raise StoreError(
            f"{self.errors[-1]}\n{len(self.pending)} result(s) could not be stored and are saved in {path}. "
            f"Once the store works again, import them with: slmselect store import {path}"
            + ("" if _is_default(self.store) else f" --store {self.store.location}"),
            recovery_path=str(path),
        )


def _is_default(store: ResultsStore) -> bool:
    from slmselect.evidence.store.backend import default_location

    return store.location == ResultsStore(default_location()).location
