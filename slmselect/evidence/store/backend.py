"""Where a results store lives and how to talk to it: an SQLite file (the default) or a PostgreSQL URL.

Locations are a file path, ``sqlite:///path``, or ``postgresql://user:password@host/db`` (also
``postgres://`` and ``postgresql+psycopg://``). The password of a URL is never shown: :func:`display`
hides it, and :func:`store_error` scrubs it from any message a driver produced.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from slmselect.errors import MissingDependencyError, StoreError

#: How long a write waits for another process's lock (SQLite) or a connection (PostgreSQL).
BUSY_TIMEOUT_S = 60.0
_SECRET_QUERY = re.compile(r"((?:ssl)?password=)[^&\s]*", re.I)


def is_url(location: str) -> bool:
    return "://" in location


def default_location() -> str:
    """``SLMSELECT_RESULTS`` (a path or a URL), else ``<user data dir>/slmselect/results.sqlite``."""
    env = os.environ.get("SLMSELECT_RESULTS")
    if env:
        return env if is_url(env) else str(Path(env).expanduser())
    try:
        import platformdirs

        return str(Path(platformdirs.user_data_dir("slmselect")) / "results.sqlite")
    except ImportError:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        return str(Path(base) / "slmselect" / "results.sqlite")


def parse(location: str) -> tuple[str, sa.URL | None, Path | None]:
    """``(kind, url, path)``: kind ``sqlite`` (with the file's path) or ``postgresql`` (with its URL)."""
    if not is_url(location):
        return "sqlite", None, Path(location).expanduser()
    scheme = location.split("://", 1)[0].lower()
    if scheme == "sqlite":
        path = location.split("://", 1)[1]
        path = path[1:] if path.startswith("/") else path  # sqlite:///rel and sqlite:////abs
        if not path:
            raise StoreError("sqlite:// needs a file: sqlite:///results.sqlite or a plain path.")
        return "sqlite", None, Path(path).expanduser()
    if scheme in ("postgres", "postgresql", "postgresql+psycopg"):
        try:
            url = sa.engine.make_url("postgresql+psycopg://" + location.split("://", 1)[1])
        except sa.exc.ArgumentError as err:
            raise StoreError(f"Cannot read the results store URL {_scrub(location, None)}: {err}") from None
        return "postgresql", url, None
    raise StoreError(
        f"Unknown results store {_scrub(location, None)!r}: give a file path (SQLite) or a "
        "postgresql://user@host/database URL."
    )


def display(kind: str, url: sa.URL | None, path: Path | None) -> str:
    """The store as it may be printed or stored: a path, or a URL with its password hidden."""
    if kind == "sqlite":
        return str(path)
    assert url is not None
    shown = url.render_as_string(hide_password=True).replace("postgresql+psycopg://", "postgresql://", 1)
    return _SECRET_QUERY.sub(r"\1***", shown)


def _scrub(text: str, password: str | None) -> str:
    if password:
        text = text.replace(password, "***")
    text = re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)
    return _SECRET_QUERY.sub(r"\1***", text)


def sqlite_engine(path: Path, timeout: float) -> sa.Engine:
    """One connection per use (no pool holding the file open); pysqlite's own transaction handling is
    switched off so that a write transaction starts with ``BEGIN IMMEDIATE`` (the write lock at once,
    never a deadlock between two upgrading readers) and a read with a plain ``BEGIN``."""
    engine = sa.create_engine(
        f"sqlite:///{path}", poolclass=sa.pool.NullPool, connect_args={"timeout": timeout}, hide_parameters=True
    )

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        dbapi_conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("read_only") else "BEGIN IMMEDIATE")

    return engine


def set_wal(engine: sa.Engine, timeout: float) -> None:
    """Switch the file to WAL mode (persistent), retrying while another process switches it: that
    switch does not wait on the busy timeout."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        try:
            raw = engine.raw_connection()  # outside any transaction: WAL cannot be switched on inside one
            try:
                mode = raw.driver_connection.execute("PRAGMA journal_mode").fetchone()[0]
                if str(mode).lower() != "wal":
                    raw.driver_connection.execute("PRAGMA journal_mode = WAL")
            finally:
                raw.close()
            return
        except (sa.exc.OperationalError, sqlite3.OperationalError) as err:
            if not _is_lock(err) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(0.5, delay * 2)


def postgres_engine(url: sa.URL, timeout: float) -> sa.Engine:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise MissingDependencyError(
            "A PostgreSQL results store needs psycopg: pip install 'slmselect[postgres]'."
        ) from None
    return sa.create_engine(
        url,
        pool_pre_ping=True,
        pool_size=2,
        hide_parameters=True,
        connect_args={"connect_timeout": max(1, int(timeout))},
    )


def _is_lock(err: BaseException) -> bool:
    text = str(getattr(err, "orig", err)).lower()
    return "locked" in text or "busy" in text


def _hint(kind: str, reason: str) -> str:
    low = reason.lower()
    if kind == "sqlite":
        if "not a database" in low or "malformed" in low or "corrupt" in low or "integrity" in low:
            return (
                "The file is damaged: move it aside (the sqlite3 tool may still read some of it) or give "
                "another --store."
            )
        if "locked" in low or "busy" in low:
            return "Another process holds its write lock: wait for it to finish, or give another --store."
        if "readonly" in low or "read-only" in low or "permission" in low or "unable to open" in low:
            return "Make the file and its folder writable, or give another --store."
        return "Give another --store."
    if "closed the connection" in low or "terminat" in low or "connection is lost" in low:
        return "The connection dropped before the write was committed, so none of it was stored; try again."
    if "password" in low or "authentication" in low or "role" in low:
        return "Check the user and password in the URL (or PGPASSWORD / ~/.pgpass)."
    if "permission denied" in low:
        return "The database user needs CREATE on the schema once (migrations) and INSERT/SELECT on its tables."
    return "Check the URL, that the server is running and that this machine can reach it; or give another --store."


def store_error(where: str, what: str, err: BaseException, kind: str, password: str | None) -> StoreError:
    """A :class:`StoreError` naming the store and the driver's reason, with what to do; never a password."""
    reason = str(getattr(err, "orig", None) or err).strip().splitlines()
    first = reason[0] if reason else type(err).__name__
    detail = "; ".join(line.strip() for line in reason[1:3] if line.strip())
    text = f"{first} ({detail})" if detail else first
    message = f"The results store {where} {what}: {text}. {_hint(kind, text)}"
    return StoreError(_scrub(message, password))
