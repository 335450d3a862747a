""":class:`ResultsStore`: append-only confirm results in an SQLite file or a shared PostgreSQL database."""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from slmselect.errors import StoreError
import slmselect.evidence.store.backend as backend
from slmselect.evidence.store.schema import (
    COLUMNS,
    JSON_COLUMNS,
    LATEST,
    REQUIRED,
    TABLE,
    current_version,
    migrate,
    results_table,
)

Location = str | os.PathLike[str]


class ResultsStore:
    """Append-only store of confirm results: an SQLite file (default) or a PostgreSQL database.

    ``location``: a path, ``sqlite:///path`` or ``postgresql://user:password@host/db``; default
    ``SLMSELECT_RESULTS``, else ``results.sqlite`` in the user data dir. ``timeout``: seconds a write
    waits for a lock or a connection. ``retries``: how often a write whose connection dropped is tried
    again (safe: every row has a unique ``row_key``, so a retried write never stores a row twice).
    """

    def __init__(self, location: Location | None = None, *, timeout: float = backend.BUSY_TIMEOUT_S,
                 retries: int = 1) -> None:
        text = os.fspath(location) if location is not None else backend.default_location()
        self.kind, self._url, path = backend.parse(text)
        #: the SQLite file (None for a PostgreSQL store)
        self.path: Path | None = path
        #: the store as it may be shown: a path, or a URL with its password hidden
        self.location = backend.display(self.kind, self._url, path)
        self.timeout = timeout
        self.retries = retries
        self._engine: sa.Engine | None = None
        self._ready = False

    # -- connection ------------------------------------------------------------------------------
    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            if self.kind == "sqlite":
                assert self.path is not None
                self._engine = backend.sqlite_engine(self.path, self.timeout)
            else:
                assert self._url is not None
                self._engine = backend.postgres_engine(self._url, self.timeout)
        return self._engine

    def _error(self, what: str, err: BaseException) -> StoreError:
        password = self._url.password if self._url is not None else None
        return backend.store_error(self.location, what, err, self.kind, password)

    def close(self) -> None:
        """Release pooled connections (a PostgreSQL store keeps up to two open)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # -- checking and migrating -------------------------------------------------------------------
    def check(self) -> None:
        """Open the store and make sure a confirm run can write to it, before any training: the file is
        an intact SQLite database (quick_check), the schema is migrated to the current version, and a
        probe row can be written (permissions, locks), then rolled back. Raises :class:`StoreError`."""
        try:
            if self.kind == "sqlite":
                self._ready = False  # check the file again even if this object wrote to it before
                self._migrate()
                with self.engine.connect() as conn:
                    verdict = conn.exec_driver_sql("PRAGMA quick_check").scalar()
                if str(verdict).lower() != "ok":
                    raise StoreError(
                        f"The results store {self.location} failed its integrity check: {verdict}. "
                        + backend._hint("sqlite", "integrity")
                    )
            self._migrate()
            probe = self.prepare({"run_id": "probe", "model_id": "probe", "status": "probe",
                                  "created_at": "probe"})
            with self.engine.connect() as conn:
                with conn.begin() as tx:
                    conn.execute(results_table.insert(), [probe])
                    tx.rollback()
        except StoreError:
            raise
        except (sa.exc.SQLAlchemyError, sqlite3.Error, OSError) as err:
            raise self._error("cannot be opened for writing", err) from None

    def _migrate(self) -> None:
        if self._ready:
            return
        if self.kind == "sqlite":
            assert self.path is not None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            backend.set_wal(self.engine, self.timeout)
        with self.engine.connect() as conn:
            with conn.begin():  # SQLite: BEGIN IMMEDIATE, so concurrent openers migrate one at a time
                if self.kind == "postgresql":
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(0x534C4D53)))
                if current_version(conn) < LATEST:
                    migrate(conn)
        self._ready = True

    def schema_version(self) -> int:
        """The newest migration applied to the store (0 for a missing or pre-versioning store)."""
        if self.kind == "sqlite" and self.path is not None and not self.path.exists():
            return 0
        try:
            with self.engine.connect() as conn:
                return current_version(conn)
        except sa.exc.SQLAlchemyError as err:
            raise self._error("cannot be read", err) from None

    # -- writing ----------------------------------------------------------------------------------
    @staticmethod
    def prepare(row: Mapping[str, Any]) -> dict[str, Any]:
        """Validate a row and fill what the store adds: JSON text for dict/list values, the schema
        version, and a unique ``row_key`` (kept when the row already has one)."""
        unknown = set(row) - set(COLUMNS)
        if unknown:
            raise ValueError(f"unknown results-store columns: {', '.join(sorted(unknown))}")
        out = {name: None for name in COLUMNS}
        out.update(row)
        for name in JSON_COLUMNS:
            if out[name] is not None and not isinstance(out[name], str):
                out[name] = json.dumps(out[name], ensure_ascii=False, sort_keys=True, default=str)
        if out["schema_version"] is None:
            out["schema_version"] = LATEST
        if out["row_key"] is None:
            out["row_key"] = uuid.uuid4().hex
        missing = [n for n in REQUIRED if out.get(n) is None]
        if missing:
            raise ValueError(f"results-store row lacks {', '.join(missing)}")
        return out

    def _insert(self) -> Any:
        dialect = sqlite if self.kind == "sqlite" else postgresql
        return dialect.insert(results_table).on_conflict_do_nothing(index_elements=["row_key"])

    def append(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert rows in one transaction (all or none); returns how many were given. Missing columns are
        stored as NULL, dict/list values as JSON. A row whose ``row_key`` is already stored is skipped.
        Raises :class:`StoreError` when the store cannot be written."""
        prepared = [self.prepare(r) for r in rows]
        if not prepared:
            return 0
        try:
            self._migrate()
        except (sa.exc.SQLAlchemyError, sqlite3.Error, OSError) as err:
            raise self._error("cannot be opened for writing", err) from None
        attempt = 0
        while True:
            try:
                with self.engine.begin() as conn:
                    conn.execute(self._insert(), prepared)
                return len(prepared)
            except sa.exc.DBAPIError as err:
                if err.connection_invalidated and attempt < self.retries:
                    attempt += 1  # the transaction died with its connection: nothing was stored
                    continue
                raise self._error(f"could not store {len(prepared)} result(s)", err) from None
            except sa.exc.SQLAlchemyError as err:
                raise self._error(f"could not store {len(prepared)} result(s)", err) from None

    # -- reading ----------------------------------------------------------------------------------
    def to_frame(self) -> Any:
        """All rows as a pandas DataFrame with :data:`COLUMNS` (JSON columns left as text), oldest first;
        empty, with the columns, when the store does not exist yet. Never writes to the store."""
        import pandas as pd

        if self.kind == "sqlite" and self.path is not None and not self.path.exists():
            return _empty_frame()
        try:
            with self.engine.connect().execution_options(read_only=True) as conn:
                inspector = sa.inspect(conn)
                if not inspector.has_table(TABLE):
                    return _empty_frame()
                have = [c["name"] for c in inspector.get_columns(TABLE) if c["name"] in COLUMNS]
                query = sa.select(*(sa.column(n) for n in have)).select_from(sa.table(TABLE)).order_by(sa.column("id"))
                frame = pd.read_sql_query(query, conn)
        except sa.exc.SQLAlchemyError as err:
            raise self._error("cannot be read", err) from None
        for name in COLUMNS:
            if name not in frame:
                frame[name] = None
        return frame[list(COLUMNS)]

    def row_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` the store already holds."""
        wanted = list(keys)
        if not wanted or (self.kind == "sqlite" and self.path is not None and not self.path.exists()):
            return set()
        try:
            self._migrate()
            with self.engine.connect().execution_options(read_only=True) as conn:
                found: set[str] = set()
                for start in range(0, len(wanted), 500):
                    chunk = wanted[start:start + 500]
                    query = sa.select(results_table.c.row_key).where(results_table.c.row_key.in_(chunk))
                    found.update(conn.execute(query).scalars())
                return found
        except sa.exc.SQLAlchemyError as err:
            raise self._error("cannot be read", err) from None

    def finished(self, resume_keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The newest finished (``status='ok'``) row stored under each of ``resume_keys`` that has one, as
        ``{resume_key: {"run_id", "result"}}`` (``result`` decoded from JSON)."""
        wanted = list(dict.fromkeys(resume_keys))
        if not wanted or (self.kind == "sqlite" and self.path is not None and not self.path.exists()):
            return {}
        try:
            self._migrate()
            with self.engine.connect().execution_options(read_only=True) as conn:
                t = results_table.c
                query = (sa.select(t.resume_key, t.run_id, t.result)
                         .where(t.resume_key.in_(wanted), t.status == "ok", t.result.is_not(None)).order_by(t.id))
                found = {key: {"run_id": run_id, "result": json.loads(result)}
                         for key, run_id, result in conn.execute(query)}
        except (sa.exc.SQLAlchemyError, ValueError) as err:
            raise self._error("cannot be read", err) from None
        return found

    def __repr__(self) -> str:
        return f"ResultsStore({self.location!r})"


def _empty_frame() -> Any:
    import pandas as pd

    floats = {"FLOAT"}
    return pd.DataFrame({n: pd.Series(dtype="float64" if k in floats else "object") for n, k in COLUMNS.items()})


def as_store(store: Location | ResultsStore | None) -> ResultsStore:
    return store if isinstance(store, ResultsStore) else ResultsStore(store)


def load_local_results(store: Location | ResultsStore | None = None) -> Any:
    """Every stored confirm result as a DataFrame with :data:`COLUMNS` (empty, same columns, if there is
    no store yet). ``store``: a path, a URL or a :class:`ResultsStore`; default as for ResultsStore."""
    return as_store(store).to_frame()
