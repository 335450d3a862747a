"""The local results store: columns, JSON round trips, defaults, and two processes appending at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from slmselect.confirmation import ResultsStore, load_local_results
from slmselect.evidence.store import COLUMNS, default_store_path

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


WRITER = textwrap.dedent(
    """
    import sys
    from slmselect.confirmation import ResultsStore
    store = ResultsStore(sys.argv[1])
    tag = sys.argv[2]
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    sys.stdin.readline()  # start together
    for i in range(200):
        store.append([{"run_id": f"{tag}-{i}", "model_id": tag, "status": "ok", "metric": "accuracy",
                       "base_score": 0.0, "finetuned_score": i / 200, "config": {"i": i},
                       "created_at": "2026-01-01T00:00:00"}])
    """
)


def test_two_processes_appending_at_once_lose_nothing(tmp_path):
    path = tmp_path / "shared.sqlite"
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), tag],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for tag in ("a", "b")
    ]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    frame = load_local_results(path)
    assert len(frame) == 400
    assert frame.groupby("model_id").size().to_dict() == {"a": 200, "b": 200}
    assert frame["run_id"].is_unique
