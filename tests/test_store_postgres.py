"""A results store a team shares: a real PostgreSQL 16 server (the pgserver wheel) on a local socket.

Four processes append at once and lose nothing; a connection killed mid-write leaves no partial row
(and the write is retried, or fails with a clear error); recommend() learns from what is stored there;
the URL's password is never shown.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest
from store_writers import run_writers

from slmselect import profile_task, recommend
from slmselect.errors import StoreError
from slmselect.evidence.store import (
    LATEST,
    ResultsStore,
    ResultWriter,
    import_recovery,
    load_local_results,
    open_store,
)

pytestmark = pytest.mark.slow  # starts a PostgreSQL server

pgserver = pytest.importorskip("pgserver", reason="pip install pgserver (scripts/setup.sh installs it)")
sa = pytest.importorskip("sqlalchemy")

SMOL = "HuggingFaceTB/SmolLM2-135M-Instruct"
GEMMA = "google/gemma-3-270m"


@pytest.fixture(scope="session")
def pg_server():
    # Not under pytest's tmp folder: as root, pgserver runs the server as its own user, which must be able to
    # reach the data folder for the whole session (pytest may close its folder's permissions meanwhile).
    folder = Path(tempfile.mkdtemp(prefix="slmselect-pg-"))
    server = pgserver.get_server(folder / "data", cleanup_mode="stop")
    try:
        yield server
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server) -> str:
    """A fresh, empty database on the shared server for one test."""
    name = "t_" + uuid.uuid4().hex[:12]
    pg_server.psql(f"CREATE DATABASE {name};")
    return pg_server.get_uri(name)


def _admin(url: str):
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")


def test_a_new_database_is_migrated_and_round_trips(pg_url):
    store = open_store(pg_url)
    assert store.kind == "postgresql" and store.path is None
    assert store.schema_version() == LATEST
    store.append([{"run_id": "r1", "model_id": "m", "status": "ok", "created_at": "t", "config": {"steps": 4},
                   "peak_memory_bytes": 5 * 2**31}])
    frame = load_local_results(pg_url)
    assert frame["run_id"].tolist() == ["r1"] and frame.loc[0, "config"] == '{"steps": 4}'
    assert frame.loc[0, "peak_memory_bytes"] == 5 * 2**31
    with _admin(pg_url).connect() as conn:
        versions = conn.exec_driver_sql("SELECT version FROM schema_version ORDER BY version").scalars().all()
    assert versions == list(range(1, LATEST + 1))


def test_four_processes_appending_at_once_lose_nothing(pg_url, tmp_path):
    run_writers(pg_url, ["a", "b", "c", "d"], 50, tmp_path)  # they also race to migrate the empty database
    frame = load_local_results(pg_url)
    assert len(frame) == 200
    assert frame.groupby("model_id").size().to_dict() == {"a": 50, "b": 50, "c": 50, "d": 50}
    assert frame["run_id"].is_unique and frame["row_key"].is_unique


HOLD = """
CREATE FUNCTION hold_blocked_rows() RETURNS trigger AS $$
BEGIN
  IF NEW.model_id = 'block' THEN PERFORM pg_advisory_lock(7); PERFORM pg_advisory_unlock(7); END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER hold BEFORE INSERT ON confirm_results FOR EACH ROW EXECUTE FUNCTION hold_blocked_rows();
"""


def _kill_writer_mid_write(url: str, store: ResultsStore, rows: list[dict]) -> dict:
    """Append ``rows`` in a thread; when the write has inserted the rows before the 'block' one and waits
    inside its transaction, terminate its backend from another connection (pg_terminate_backend)."""
    admin = _admin(url)
    with admin.connect() as conn:
        conn.exec_driver_sql(HOLD)  # a real trigger only pauses the writer at a known point
    holder = admin.connect()
    holder.exec_driver_sql("SELECT pg_advisory_lock(7)")
    outcome: dict = {}

    def write() -> None:
        try:
            outcome["n"] = store.append(rows)
        except StoreError as err:
            outcome["error"] = err

    thread = threading.Thread(target=write)
    thread.start()
    with admin.connect() as conn:
        pids: list[int] = []
        while not pids and thread.is_alive():
            pids = conn.exec_driver_sql(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
                " AND query LIKE 'INSERT INTO confirm_results%%'").scalars().all()
            time.sleep(0.05)
        assert pids, "the writer never reached the held row"
        outcome["killed"] = conn.exec_driver_sql(f"SELECT pg_terminate_backend({pids[0]})").scalar()
    holder.exec_driver_sql("SELECT pg_advisory_unlock(7)")  # from now on the trigger lets rows through
    holder.close()
    thread.join(60)
    admin.dispose()
    return outcome


def _rows(tag: str) -> list[dict]:
    return [{"run_id": f"{tag}{i}", "model_id": "block" if i == 2 else "m", "status": "ok", "created_at": "t"}
            for i in range(4)]


def test_a_connection_dropped_mid_write_leaves_no_partial_row_and_fails_clearly(pg_url):
    store = open_store(ResultsStore(pg_url, retries=0))
    outcome = _kill_writer_mid_write(pg_url, store, _rows("x"))
    assert outcome["killed"] is True
    err = outcome["error"]
    assert "could not store 4 result(s)" in str(err) and "none of it was stored" in str(err)
    assert len(load_local_results(pg_url)) == 0  # rows 0 and 1 were inserted in the killed transaction
    store.append(_rows("y"))  # the store works again on a fresh connection
    assert load_local_results(pg_url)["run_id"].tolist() == ["y0", "y1", "y2", "y3"]


def test_a_connection_dropped_mid_write_is_retried_once_without_duplicates(pg_url):
    store = open_store(ResultsStore(pg_url, retries=1))
    outcome = _kill_writer_mid_write(pg_url, store, _rows("x"))
    assert outcome["killed"] is True and outcome.get("n") == 4, outcome
    frame = load_local_results(pg_url)
    assert frame["run_id"].tolist() == ["x0", "x1", "x2", "x3"]


def test_recommend_learns_from_the_shared_store(pg_url, trec_rows, monkeypatch):
    rows = trec_rows[:40]
    fingerprint = profile_task(rows).fingerprint
    before = recommend(rows, models=[SMOL, GEMMA], top_k=2, store=pg_url)
    assert not any(e.source_id == "local" for c in before.candidates for e in c.evidence)
    # what a teammate's confirm stored on this task, from another machine
    ResultsStore(pg_url).append([
        {"run_id": "team", "model_id": model, "task_fingerprint": fingerprint, "task_type": "classification",
         "metric": "accuracy", "base_score": 0.1, "finetuned_score": score, "status": "ok", "created_at": "t"}
        for model, score in ((SMOL, 0.81), (GEMMA, 0.42))])
    monkeypatch.setenv("SLMSELECT_RESULTS", pg_url)  # the environment variable names the shared store too
    after = recommend(rows, models=[SMOL, GEMMA], top_k=2)
    assert after.best.model_id == SMOL
    for cand, score in zip(after.candidates, (0.81, 0.42)):
        top = cand.evidence[0]
        assert top.source_id == "local" and top.task_id == "local_" + fingerprint[:12]
        assert top.score == pytest.approx(score)


def test_the_password_is_never_shown(pg_server, pg_url, tmp_path, monkeypatch):
    name = sa.engine.make_url(pg_url).database
    pg_server.psql(f"CREATE ROLE teammate LOGIN PASSWORD 's3cret-Pw';GRANT ALL ON DATABASE {name} TO teammate;"
                   f"ALTER DATABASE {name} OWNER TO teammate;")
    host = pg_url.split("host=")[1]
    good = f"postgresql://teammate:s3cret-Pw@/{name}?host={host}"
    store = open_store(good)
    assert "s3cret" not in repr(store) and "s3cret" not in store.location and "teammate:***@" in store.location
    wrong = f"postgresql://teammate:wrong-Pw@localhost:1/{name}"
    with pytest.raises(StoreError) as info:
        open_store(ResultsStore(wrong, timeout=2))
    assert "wrong-Pw" not in str(info.value) and "teammate:***@" in str(info.value)
    # the store refuses writes after the check: the recovery file and the import hint name it without the password
    monkeypatch.chdir(tmp_path)
    writer = ResultWriter(store)
    with _admin(pg_url).connect() as conn:
        conn.exec_driver_sql("REVOKE INSERT ON confirm_results FROM teammate")
    writer.add({"run_id": "r", "model_id": "m", "status": "ok", "created_at": "t"})
    with pytest.raises(StoreError, match="permission denied") as info:
        writer.finish()
    text = str(info.value) + open(info.value.recovery_path).read()
    assert "s3cret" not in text and "--store postgresql://teammate:***@" in text
    with _admin(pg_url).connect() as conn:
        conn.exec_driver_sql("GRANT INSERT ON confirm_results TO teammate")
    assert import_recovery(info.value.recovery_path, good) == 1
    assert load_local_results(good)["run_id"].tolist() == ["r"]
