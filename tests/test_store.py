"""The local results store (SQLite): columns, JSON round trips, defaults, migrations, four processes at once."""

from __future__ import annotations

import json
import sqlite3

import pytest
from store_writers import run_writers

from slmselect.confirmation import ResultsStore, load_local_results
from slmselect.evidence.store import COLUMNS, LATEST, MIGRATIONS, default_store_path

REQUIRED = [
    "model_id",
    "task_fingerprint",
    "task_type",
    "description",
    "sample_inputs",
    "metric",
    "base_score",
    "finetuned_score",
    "status",
    "config",
    "created_at",
    "run_id",
]


def _row(i: int, **kw):
    row = {
        "run_id": f"r{i}",
        "model_id": "m",
        "task_fingerprint": "f" * 64,
        "task_type": "classification",
        "metric": "accuracy",
        "base_score": 0.1,
        "finetuned_score": 0.5,
        "status": "ok",
        "sample_inputs": ["a question?"],
        "config": {"steps": 4, "seed": 0},
        "created_at": "2026-01-01T00:00:00",
    }
    row.update(kw)
    return row


def test_missing_file_gives_an_empty_frame_with_the_columns(tmp_path):
    frame = load_local_results(tmp_path / "none.sqlite")
    assert len(frame) == 0
    assert set(REQUIRED) <= set(frame.columns)
    assert not (tmp_path / "none.sqlite").exists()


def test_append_round_trip_and_json_columns(tmp_path):
    store = ResultsStore(tmp_path / "deep" / "dir" / "results.sqlite")  # parent folders are created
    assert store.append([_row(1), _row(2, status="failed", finetuned_score=None, reason="boom")]) == 2
    frame = store.to_frame()
    assert list(frame.columns) == list(COLUMNS)
    assert frame["run_id"].tolist() == ["r1", "r2"]
    assert json.loads(frame.loc[0, "config"]) == {"seed": 0, "steps": 4}
    assert json.loads(frame.loc[0, "sample_inputs"]) == ["a question?"]
    assert frame.loc[1, "reason"] == "boom"
    import sqlite3

    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_rows_are_validated(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    with pytest.raises(ValueError, match="unknown"):
        store.append([_row(1, colour="red")])
    with pytest.raises(ValueError, match="lacks"):
        store.append([{"model_id": "m"}])
    assert store.append([]) == 0


def test_default_path_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SLMSELECT_RESULTS", str(tmp_path / "x.sqlite"))
    assert default_store_path() == tmp_path / "x.sqlite"
    assert ResultsStore().path == tmp_path / "x.sqlite"
    monkeypatch.delenv("SLMSELECT_RESULTS")
    assert default_store_path().name == "results.sqlite"
    assert "slmselect" in str(default_store_path())


def test_four_processes_appending_at_once_lose_nothing(tmp_path):
    path = tmp_path / "shared.sqlite"
    run_writers(str(path), ["a", "b", "c", "d"], 100, tmp_path)
    frame = load_local_results(path)
    assert len(frame) == 400
    assert frame.groupby("model_id").size().to_dict() == {"a": 100, "b": 100, "c": 100, "d": 100}
    assert frame["run_id"].is_unique and frame["row_key"].is_unique


#: the table exactly as slmselect 0.1 created it, before versioned migrations (no row_key, no profile)
OLD_DDL = """
CREATE TABLE confirm_results (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, model_id TEXT NOT NULL,
 task_fingerprint TEXT, task_type TEXT, description TEXT, sample_inputs TEXT, labels TEXT, metric TEXT,
 base_score REAL, finetuned_score REAL, metrics TEXT, status TEXT NOT NULL, reason TEXT, config TEXT,
 versions TEXT, hardware TEXT, n_train INTEGER, n_eval INTEGER, train_seconds REAL, tokens_per_second REAL,
 created_at TEXT NOT NULL);
CREATE INDEX confirm_results_task ON confirm_results (task_fingerprint, model_id);
INSERT INTO confirm_results (run_id, model_id, status, metric, finetuned_score, config, created_at)
 VALUES ('old', 'm', 'ok', 'accuracy', 0.7, '{"steps": 4}', '2025-12-01T00:00:00');
"""


def test_a_store_from_before_migrations_opens_and_is_migrated(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:  # even older: peak_memory_bytes and schema_version were added later
        conn.executescript(OLD_DDL)
    store = ResultsStore(path)
    assert store.schema_version() == 0
    assert load_local_results(path)["run_id"].tolist() == ["old"]  # reading never writes
    assert store.schema_version() == 0
    store.check()
    assert store.schema_version() == LATEST == MIGRATIONS[-1][0]
    store.append([_row(1, peak_memory_bytes=3 * 2**31)])
    frame = store.to_frame()
    assert frame["run_id"].tolist() == ["old", "r1"]
    assert frame.loc[0, "finetuned_score"] == 0.7 and frame.loc[1, "peak_memory_bytes"] == 3 * 2**31
    with sqlite3.connect(path) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")]
        indexes = {r[1] for r in conn.execute("PRAGMA index_list(confirm_results)")}
    assert versions == [v for v, _, _ in MIGRATIONS]
    assert {"confirm_results_task", "confirm_results_row_key"} <= indexes
    ResultsStore(path).check()  # a second opening finds nothing to do
    assert len(load_local_results(path)) == 2


def test_a_row_key_is_stored_once(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    row = store.prepare(_row(1))
    assert store.append([row]) == 1
    store.append([row, _row(2)])  # a retried write: the row already stored is skipped, the new one kept
    assert store.to_frame()["run_id"].tolist() == ["r1", "r2"]
