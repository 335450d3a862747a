"""The local results store: one SQLite row per confirmed candidate, read back by ``recommend()``.

The file is ``store=`` when given, else ``SLMSELECT_RESULTS``, else ``results.sqlite`` in the user data dir
(``~/.local/share/slmselect`` on Linux). It runs in WAL mode with a busy timeout and every append is one
``BEGIN IMMEDIATE`` transaction, so several processes confirming at once lose no rows.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

TABLE = "confirm_results"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 60.0

#: column -> SQLite type. JSON columns hold text.
COLUMNS: dict[str, str] = {
    "run_id": "TEXT NOT NULL",
    "model_id": "TEXT NOT NULL",
    "task_fingerprint": "TEXT",
    "task_type": "TEXT",
    "description": "TEXT",
    "sample_inputs": "TEXT",  # JSON list of strings
    "labels": "TEXT",  # JSON list or null
    "metric": "TEXT",
    "base_score": "REAL",
    "finetuned_score": "REAL",
    "metrics": "TEXT",  # JSON {"base": {...}, "finetuned": {...}}
    "status": "TEXT NOT NULL",
    "reason": "TEXT",
    "config": "TEXT",  # JSON: steps, learning_rate, lora_r, max_seq_len, batch_size, n_eval, seed, dtype, device
    "versions": "TEXT",  # JSON: torch, transformers, peft, slmselect, python
    "hardware": "TEXT",  # JSON: cpu_count, gpu, platform
    "n_train": "INTEGER",
    "n_eval": "INTEGER",
    "train_seconds": "REAL",
    "tokens_per_second": "REAL",
    "peak_memory_bytes": "INTEGER",
    "created_at": "TEXT NOT NULL",
    "schema_version": "INTEGER",
}
_JSON_COLUMNS = ("sample_inputs", "labels", "metrics", "config", "versions", "hardware")


def default_store_path() -> Path:
    """``SLMSELECT_RESULTS``, else ``<user data dir>/slmselect/results.sqlite``."""
    env = os.environ.get("SLMSELECT_RESULTS")
    if env:
        return Path(env).expanduser()
    try:
        import platformdirs

        return Path(platformdirs.user_data_dir("slmselect")) / "results.sqlite"
    except ImportError:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        return Path(base) / "slmselect" / "results.sqlite"


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    return conn


def _set_wal(conn: sqlite3.Connection) -> None:
    if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
        conn.execute("PRAGMA journal_mode = WAL")


def _retry(action: Any, timeout: float = BUSY_TIMEOUT_S) -> None:
    """Run ``action``, retrying while another process holds the lock (switching a new file to WAL
    mode does not wait on the busy timeout)."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        try:
            action()
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) and "busy" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(0.5, delay * 2)


class ResultsStore:
    """Append-only store of confirm results in one SQLite file."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        self._ready = False

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = _connect(self.path)
        if self._ready:
            return conn
        try:
            _retry(lambda: _set_wal(conn))
            conn.execute("BEGIN IMMEDIATE")
            cols = ", ".join(f"{name} {kind}" for name, kind in COLUMNS.items())
            conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY AUTOINCREMENT, {cols})")
            have = {r[1] for r in conn.execute(f"PRAGMA table_info({TABLE})")}
            for name, kind in COLUMNS.items():  # files written by an older slmselect gain new columns
                if name not in have:
                    conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN {name} {kind.replace(' NOT NULL', '')}")
            conn.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_task ON {TABLE} (task_fingerprint, model_id)")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            conn.close()
            raise
        self._ready = True
        return conn

    def append(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert rows in one transaction; returns how many. Missing columns are stored as NULL,
        dict/list values as JSON."""
        prepared = [_prepare(r) for r in rows]
        if not prepared:
            return 0
        names = list(COLUMNS)
        sql = f"INSERT INTO {TABLE} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        with closing(self._open()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(sql, [[r.get(n) for n in names] for r in prepared])
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return len(prepared)

    def to_frame(self) -> Any:
        """All rows as a pandas DataFrame (JSON columns left as text), oldest first."""
        return load_local_results(self.path)

    def __repr__(self) -> str:
        return f"ResultsStore({str(self.path)!r})"


def _prepare(row: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(row) - set(COLUMNS)
    if unknown:
        raise ValueError(f"unknown results-store columns: {', '.join(sorted(unknown))}")
    out = dict(row)
    for name in _JSON_COLUMNS:
        if name in out and out[name] is not None and not isinstance(out[name], str):
            out[name] = json.dumps(out[name], ensure_ascii=False, sort_keys=True, default=str)
    out.setdefault("schema_version", SCHEMA_VERSION)
    missing = [n for n in ("run_id", "model_id", "status", "created_at") if out.get(n) is None]
    if missing:
        raise ValueError(f"results-store row lacks {', '.join(missing)}")
    return out


def load_local_results(path: str | os.PathLike[str] | None = None) -> Any:
    """Every stored confirm result as a DataFrame with :data:`COLUMNS` (empty, same columns, if no file)."""
    import pandas as pd

    p = Path(path).expanduser() if path is not None else default_store_path()
    if not p.exists():
        return pd.DataFrame(
            {name: pd.Series(dtype="float64" if "REAL" in kind else "object") for name, kind in COLUMNS.items()}
        )
    with closing(_connect(p)) as conn:
        exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (TABLE,)).fetchone()
        if not exists:
            return pd.DataFrame(columns=list(COLUMNS))
        have = [r[1] for r in conn.execute(f"PRAGMA table_info({TABLE})") if r[1] in COLUMNS]
        frame = pd.read_sql_query(f"SELECT {', '.join(have)} FROM {TABLE} ORDER BY id", conn)
    for name in COLUMNS:
        if name not in frame:
            frame[name] = None
    return frame[list(COLUMNS)]
