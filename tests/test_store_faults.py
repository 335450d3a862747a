"""Nothing finished is lost: a bad store is found before training, refused rows go to a recovery file,
and recommend() answers from the published evidence when the local store cannot be read."""

from __future__ import annotations

import sqlite3
import sys

import pytest

from slmselect import recommend
from slmselect.confirmation import ResultsStore, confirm, load_local_results
from slmselect.errors import InputError, MissingDependencyError, StoreError
from slmselect.evidence.store import ResultWriter, import_recovery, open_store, read_recovery


def _row(i: int, **kw):
    return {"run_id": f"r{i}", "model_id": "m", "status": "ok", "metric": "accuracy", "finetuned_score": i / 10,
            "created_at": "2026-01-01T00:00:00", **kw}


@pytest.fixture
def corrupt(tmp_path):
    path = tmp_path / "results.sqlite"
    path.write_bytes(b"this is not an SQLite database, it was overwritten by something else" * 100)
    return path


def test_check_names_a_corrupt_file_and_what_to_do(corrupt):
    with pytest.raises(StoreError) as info:
        open_store(corrupt)
    message = str(info.value)
    assert str(corrupt) in message and "not a database" in message
    assert "move it aside" in message and "--store" in message
    assert corrupt.read_bytes().startswith(b"this is not")  # the user's file is left as it was


def test_check_finds_a_store_another_process_has_locked(tmp_path):
    path = tmp_path / "r.sqlite"
    ResultsStore(path).append([_row(1)])
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="write lock"):
            ResultsStore(path, timeout=0.2).check()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    ResultsStore(path, timeout=0.2).check()


def test_confirm_with_a_corrupt_store_fails_before_any_training(corrupt, tmp_path):
    # Had confirm trained first, this unknown model would have ended in a ConfirmError instead.
    out = tmp_path / "adapters"
    with pytest.raises(StoreError, match="not a database") as info:
        confirm([{"text": f"question {i}?", "label": "a" if i % 2 else "b"} for i in range(12)],
                models=["slmselect-tests/no-such-model"], steps=1, store=corrupt, output_dir=out, progress=False)
    assert str(corrupt) in str(info.value)
    assert not out.exists()


def test_recommend_with_a_corrupt_store_warns_and_answers_from_published_evidence(corrupt):
    with pytest.warns(UserWarning) as caught:
        rec = recommend(description="classify support tickets by topic", store=corrupt)
    message = " ".join(str(w.message) for w in caught)
    assert str(corrupt) in message and "--no-local" in message
    assert rec.candidates and not any(e.source_id == "local" for c in rec.candidates for e in c.evidence)
    plain = recommend(description="classify support tickets by topic", include_local=False)
    assert rec.model_ids() == plain.model_ids()


def test_refused_rows_go_to_a_recovery_file_that_imports_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "r.sqlite"
    store = ResultsStore(path, timeout=0.2)
    writer = ResultWriter(open_store(store))
    writer.add(_row(1))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # the store fails after the check: another process keeps its lock
    writer.add(_row(2))
    writer.add(_row(3))
    with pytest.raises(StoreError) as info:
        writer.finish()
    holder.execute("ROLLBACK")
    holder.close()
    recovery = info.value.recovery_path
    assert recovery and f"slmselect store import {recovery}" in str(info.value)
    assert "2 result(s) could not be stored" in str(info.value)
    assert [r["run_id"] for r in read_recovery(recovery)] == ["r2", "r3"]
    assert load_local_results(path)["run_id"].tolist() == ["r1"]
    assert import_recovery(recovery, path) == 2
    assert import_recovery(recovery, path) == 0  # importing twice stores each row once
    assert load_local_results(path)["run_id"].tolist() == ["r1", "r2", "r3"]


def test_a_broken_recovery_file_is_named_with_its_line(tmp_path):
    bad = tmp_path / "rec.jsonl"
    bad.write_text('{"slmselect_recovery": 1}\n{"run_id": "x", "model_id": "m"}\n')
    with pytest.raises(InputError, match=r"rec.jsonl, line 2: results-store row lacks status"):
        import_recovery(bad, tmp_path / "r.sqlite")
    assert not (tmp_path / "r.sqlite").exists()


@pytest.mark.slow
def test_a_store_that_fails_at_the_end_keeps_the_results_in_a_recovery_file(models_ready, trec_rows, tmp_path,
                                                                             monkeypatch):
    from conftest import SMOL

    monkeypatch.chdir(tmp_path)
    path = tmp_path / "r.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)

    def lock_the_store(result):  # after the first candidate, another process takes the store's lock
        if not holder.in_transaction:
            holder.execute("BEGIN EXCLUSIVE")

    with pytest.raises(StoreError) as info:
        confirm(trec_rows[:40], models=["slmselect-tests/no-such-model", SMOL], steps=2, eval_examples=8,
                store=ResultsStore(path, timeout=0.5), output_dir=tmp_path / "out", progress=False,
                on_candidate_done=lock_the_store)
    holder.execute("ROLLBACK")
    holder.close()
    err = info.value
    report = err.report
    assert report.result(SMOL).status == "ok" and report.result(SMOL).finetuned_score is not None
    assert err.recovery_path and "slmselect store import" in str(err)
    saved = read_recovery(err.recovery_path)
    assert [r["model_id"] for r in saved] == [SMOL]
    assert saved[0]["finetuned_score"] == pytest.approx(report.result(SMOL).finetuned_score)
    assert saved[0]["sample_inputs"] is None and '"n_examples": 40' in saved[0]["profile"]
    assert load_local_results(path)["status"].tolist() == ["failed"]
    assert import_recovery(err.recovery_path, path) == 1
    assert sorted(load_local_results(path)["status"]) == ["failed", "ok"]


def test_a_postgres_url_without_the_extra_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as on a base install: psycopg is not there
    with pytest.raises(MissingDependencyError, match=r"pip install 'slmselect\[postgres\]'"):
        open_store("postgresql://ana:pw@db.invalid/slmselect")


def test_an_unknown_store_scheme_is_refused_clearly():
    with pytest.raises(StoreError, match="file path .SQLite. or a postgresql://"):
        ResultsStore("mysql://ana:hunter2@db/x")
    with pytest.raises(StoreError) as info:
        ResultsStore("mysql://ana:hunter2@db/x")
    assert "hunter2" not in str(info.value)
