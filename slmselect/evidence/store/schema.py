"""The results store's one schema (SQLAlchemy Core) and its versioned migrations, for SQLite and PostgreSQL.

Each column records the schema version that introduced it. A migration is a numbered step in
:data:`MIGRATIONS`; the steps applied to a store are rows of its ``schema_version`` table. A store
written before versioning (no ``schema_version`` table, possibly missing a column or two) is brought
up to date by the same steps, so every file an earlier slmselect wrote still opens.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

TABLE = "confirm_results"
VERSION_TABLE = "schema_version"

#: (name, type, nullable, version that added it). JSON columns hold text in both backends.
_SPEC: list[tuple[str, Any, bool, int]] = [
    ("run_id", sa.Text, False, 1),
    ("model_id", sa.Text, False, 1),
    ("task_fingerprint", sa.Text, True, 1),
    ("task_type", sa.Text, True, 1),
    ("description", sa.Text, True, 1),
    ("sample_inputs", sa.Text, True, 1),  # JSON list of strings; stored only when asked (keep_samples)
    ("labels", sa.Text, True, 1),  # JSON list or null
    ("metric", sa.Text, True, 1),
    ("base_score", sa.Float, True, 1),
    ("finetuned_score", sa.Float, True, 1),
    ("metrics", sa.Text, True, 1),  # JSON {"base": {...}, "finetuned": {...}}
    ("status", sa.Text, False, 1),
    ("reason", sa.Text, True, 1),
    ("config", sa.Text, True, 1),  # JSON: steps, learning_rate, lora_r, max_seq_len, batch_size, seed, ...
    ("versions", sa.Text, True, 1),  # JSON: torch, transformers, peft, slmselect, python
    ("hardware", sa.Text, True, 1),  # JSON: cpu_count, gpu, platform
    ("n_train", sa.Integer, True, 1),
    ("n_eval", sa.Integer, True, 1),
    ("train_seconds", sa.Float, True, 1),
    ("tokens_per_second", sa.Float, True, 1),
    ("peak_memory_bytes", sa.BigInteger, True, 1),
    ("created_at", sa.Text, False, 1),
    ("schema_version", sa.Integer, True, 1),
    ("row_key", sa.Text, True, 2),  # unique per row: a retried or re-imported write stores it once
    ("profile", sa.Text, True, 2),  # JSON profile statistics (counts, lengths, language, format), no user text
    ("resume_key", sa.Text, True, 3),  # same data, split, model and settings: what confirm(resume=True) reuses
    ("result", sa.Text, True, 3),  # JSON: the whole candidate result (per-example test scores included)
    ("serving", sa.Text, True, 3),  # JSON: llama.cpp measured on this machine (format, tokens/s, latency, peak RSS, hardware)
]

#: column -> SQL type name, in table order (what :func:`load_local_results` returns).
COLUMNS: dict[str, str] = {name: kind.__visit_name__.upper() for name, kind, _, _ in _SPEC}
JSON_COLUMNS = ("sample_inputs", "labels", "metrics", "config", "versions", "hardware", "profile", "result",
                "serving")
REQUIRED = ("run_id", "model_id", "status", "created_at")


def _columns(upto: int) -> list[sa.Column]:
    return [sa.Column(n, t(), nullable=null) for n, t, null, v in _SPEC if v <= upto]


def _table(metadata: sa.MetaData, upto: int) -> sa.Table:
    return sa.Table(
        TABLE,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        *_columns(upto),
        sa.Index(f"{TABLE}_task", "task_fingerprint", "model_id"),
        *([sa.Index(f"{TABLE}_row_key", "row_key", unique=True)] if upto >= 2 else []),
        *([sa.Index(f"{TABLE}_resume_key", "resume_key")] if upto >= 3 else []),
        sqlite_autoincrement=True,
    )


def _add_missing_columns(conn: sa.Connection, upto: int) -> None:
    have = {c["name"] for c in sa.inspect(conn).get_columns(TABLE)}
    for col in _columns(upto):
        if col.name not in have:
            kind = col.type.compile(dialect=conn.dialect)
            conn.exec_driver_sql(f"ALTER TABLE {TABLE} ADD COLUMN {col.name} {kind}")


def _v1(conn: sa.Connection) -> None:
    """The confirm_results table; a file from before versioning gains the columns it lacks."""
    table = _table(sa.MetaData(), 1)
    if sa.inspect(conn).has_table(TABLE):
        _add_missing_columns(conn, 1)
    else:
        table.create(conn)
    for index in table.indexes:
        index.create(conn, checkfirst=True)


def _v2(conn: sa.Connection) -> None:
    """row_key (unique: idempotent retries and recovery imports) and profile statistics."""
    _add_missing_columns(conn, 2)
    for index in _table(sa.MetaData(), 2).indexes:
        index.create(conn, checkfirst=True)


def _v3(conn: sa.Connection) -> None:
    """resume_key (indexed) and the whole candidate result, for confirm(resume=True); serving: llama.cpp's
    speed, latency and peak memory measured on this machine (confirm(serve=True))."""
    _add_missing_columns(conn, 3)
    for index in _table(sa.MetaData(), 3).indexes:
        index.create(conn, checkfirst=True)


#: The ordered, versioned migrations: (version, description, step).
MIGRATIONS: list[tuple[int, str, Callable[[sa.Connection], None]]] = [
    (1, "confirm_results table", _v1),
    (2, "row_key (unique) and profile statistics", _v2),
    (3, "resume_key (indexed), whole candidate results, serving measurements (llama.cpp)", _v3),
]
LATEST = MIGRATIONS[-1][0]

metadata = sa.MetaData()
results_table = _table(metadata, LATEST)
version_table = sa.Table(
    VERSION_TABLE,
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("applied_at", sa.Text, nullable=False),
)


def current_version(conn: sa.Connection) -> int:
    """The newest migration applied to the store (0: none, or a store that predates versioning)."""
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return 0
    return int(conn.execute(sa.select(sa.func.max(version_table.c.version))).scalar() or 0)


def migrate(conn: sa.Connection) -> list[int]:
    """Apply the missing migrations inside the caller's (write-locked) transaction; returns those applied."""
    version_table.create(conn, checkfirst=True)
    have = current_version(conn)
    applied = []
    for version, description, step in MIGRATIONS:
        if version <= have:
            continue
        step(conn)
        conn.execute(
            version_table.insert().values(
                version=version, description=description, applied_at=time.strftime("%Y-%m-%dT%H:%M:%S%z")
            )
        )
        applied.append(version)
    return applied
