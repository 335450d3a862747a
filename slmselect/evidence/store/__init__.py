"""The local results store: one row per confirmed candidate, read back by ``recommend()``.

The store is ``store=`` when given, else ``SLMSELECT_RESULTS``, else ``results.sqlite`` in the user data
dir (``~/.local/share/slmselect`` on Linux). An SQLite file (WAL mode, every write one ``BEGIN
IMMEDIATE`` transaction with a busy timeout) is the embedded default; a ``postgresql://`` URL gives a
store a team shares (``pip install 'slmselect[postgres]'``). Both go through SQLAlchemy Core with one
schema and the same versioned migrations (:mod:`.schema`). ``confirm()`` checks the store before it
trains (:meth:`ResultsStore.check`) and saves what the store refuses to a recovery file (:mod:`.recovery`).
The store turns its runs into evidence units for ``recommend()`` (:mod:`.units`, :func:`local_units`).
"""

from __future__ import annotations

from slmselect.evidence.store.backend import default_location
from slmselect.evidence.store.recovery import ResultWriter, import_recovery, read_recovery, write_recovery
from slmselect.evidence.store.results import ResultsStore, load_local_results
from slmselect.evidence.store.schema import COLUMNS, LATEST, MIGRATIONS, TABLE
from slmselect.evidence.store.units import LOCAL_SOURCE, local_task_id, local_units


def default_store_path():  # type: ignore[no-untyped-def]
    """The default SQLite file (``SLMSELECT_RESULTS`` when it is a path), as a :class:`~pathlib.Path`."""
    from pathlib import Path

    return Path(default_location())


def open_store(store: object = None) -> ResultsStore | None:
    """The store ``confirm(store=...)`` writes to, checked before any training: ``False`` for none;
    ``None``/``True`` for the default; a path, URL or :class:`ResultsStore`. Raises ``StoreError``."""
    if store is False:
        return None
    result = store if isinstance(store, ResultsStore) else ResultsStore(None if store in (None, True) else store)  # type: ignore[arg-type]
    result.check()
    return result


__all__ = [
    "COLUMNS",
    "LATEST",
    "LOCAL_SOURCE",
    "MIGRATIONS",
    "TABLE",
    "ResultWriter",
    "ResultsStore",
    "default_location",
    "default_store_path",
    "import_recovery",
    "load_local_results",
    "local_task_id",
    "local_units",
    "open_store",
    "read_recovery",
    "write_recovery",
]
