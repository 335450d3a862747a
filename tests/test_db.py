"""The shipped benchmark database and its validation."""

import csv
import shutil

import pandas as pd
import pytest

from slmselect import DatabaseError, load_db, validate_db
from slmselect.evidence.db import default_db_path, estimate_memory_gb


@pytest.fixture(scope="module")
def db():
    return load_db()


def test_shipped_database_validates(db):
    assert validate_db() == []
    assert db.meta["schema_version"] == 2
    assert len(db.models) >= 250 and len(db.tasks) >= 45 and len(db.results) >= 6000


def test_every_published_row_is_carried_with_its_source(db):
    shared = default_db_path().parent.parent / "shared" / "data" / "published" / "results.csv"
    if not shared.exists():
        pytest.skip("shared/ is not beside the checkout")
    pub = pd.read_csv(shared)
    keys = set(zip(db.results["model_id"], db.results["task_id"]))
    missing = [(m, t) for m, t in zip(pub["model_id"], pub["task"]) if (m, t) not in keys]
    assert missing == []
    assert db.results["source_id"].isin(db.sources.index).all()


def test_seed_category_table_is_present(db):
    guide = db.results[db.results["source_id"] == "distil_guide_2025"]
    assert guide["model_id"].nunique() == 10 and guide["task_id"].nunique() == 5
    row = guide[(guide["model_id"] == "Qwen/Qwen3-0.6B") & (guide["task_id"] == "guide_classification")]
    assert row["finetuned_score"].iloc[0] == pytest.approx(0.892)


def test_seed_per_benchmark_table_is_present(db):
    r = db.results[(db.results["source_id"] == "distil_12x8_2025") & (db.results["task_id"] == "distil_squad2_closed_book")]
    q = r[r["model_id"] == "Qwen/Qwen3-4B-Instruct-2507"].iloc[0]
    assert (q["base_score"], q["finetuned_score"]) == (pytest.approx(0.26), pytest.approx(0.71))
    ranks = db.rankings[(db.rankings["source_id"] == "distil_12x8_2025") & (db.rankings["objective"] == "finetuned")]
    assert ranks.sort_values("avg_rank").iloc[0]["model_id"] == "Qwen/Qwen3-4B-Instruct-2507"


def test_every_model_in_a_result_has_metadata(db):
    used = set(db.results["model_id"]) | set(db.rankings["model_id"])
    m = db.models.loc[sorted(used)]
    assert m["family"].notna().all()
    # models that can be recommended have a size, a memory estimate, a licence and a variant; the others
    # (closed APIs, >= 70B, or of unknown size) are references only, and their notes say what is unknown
    small = m[~m["reference"]]
    assert small["params_b"].notna().all() and small["memory_gb"].notna().all()
    assert (small["license"].notna() | small["notes"].str.contains("licence unknown")).all()
    unknown = m[m["params_b"].isna() & ~m["api_only"]]
    assert unknown["notes"].str.contains("params unknown").all()


def test_every_task_can_be_compared_by_meaning(db):
    t = db.tasks
    assert t["description"].str.len().gt(10).all()
    assert (t["prompt_template"].notna() | t["example_inputs"].map(len).gt(0)).all()


def test_memory_estimate_counts_weights_and_kv_cache():
    # 1B params in bf16 = 2 GB; 16 layers x 8 kv heads x 64 dims x 4096 tokens x 2 (K,V) x 2 bytes = 0.134 GB
    got = float(estimate_memory_gb(1.0, 16, 8, 64))
    assert got == pytest.approx((2.0 + 0.134217728) * 1.1, rel=1e-6)


def _append_row(path, **cells):
    """Append one row to a database CSV, cells by column name (the others empty)."""
    with open(path, encoding="utf-8") as f:
        header = next(csv.reader(f))
    with open(path, "a", encoding="utf-8", newline="") as f:
        csv.DictWriter(f, header, lineterminator="\n").writerow(cells)


def _copy_db(tmp_path):
    dst = tmp_path / "db"
    shutil.copytree(default_db_path(), dst)
    return dst


def test_malformed_row_is_reported_with_file_line_and_field(tmp_path):
    dst = _copy_db(tmp_path)
    lines = (dst / "results.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    cols = lines[0].rstrip("\n").split(",")
    assert cols[5] == "base_score"
    # line 3 of the file: put a score out of range into the base_score column
    bad = dict.fromkeys(cols, "") | dict(source_id="lora_land_2024", model_id="microsoft/phi-2", task_id="conllpp",
                                         metric="made_up_metric", primary="true", base_score="1.7", finetuned_score="0.5",
                                         provenance="EXACT", notes="bad row")
    lines.insert(2, ",".join(bad[c] for c in cols) + "\n")
    (dst / "results.csv").write_text("".join(lines), encoding="utf-8")
    issues = validate_db(dst)
    assert any(i.file == "results.csv" and i.line == 3 and i.field == "base_score" for i in issues), issues
    with pytest.raises(DatabaseError, match=r"results.csv:3: field 'base_score'"):
        load_db(dst)


def test_unknown_model_reference_suggests_the_closest(tmp_path):
    dst = _copy_db(tmp_path)
    _append_row(dst / "results.csv", source_id="lora_land_2024", model_id="microsoft/phi-3", task_id="conllpp",
                metric="other_metric", primary="false", base_score=0.1, finetuned_score=0.2, provenance="EXACT")
    issues = validate_db(dst)
    msg = [str(i) for i in issues if i.field == "model_id"]
    assert msg and "microsoft/phi-2" in msg[0]


def test_wrong_schema_version_is_refused(tmp_path):
    dst = _copy_db(tmp_path)
    (dst / "meta.json").write_text('{"schema_version": 99}', encoding="utf-8")
    with pytest.raises(DatabaseError, match="schema_version"):
        load_db(dst)


def test_two_primary_metrics_for_one_task_are_refused(tmp_path):
    dst = _copy_db(tmp_path)
    _append_row(dst / "results.csv", source_id="lora_land_2024", model_id="microsoft/phi-2", task_id="conllpp",
                metric="another_metric", primary="true", base_score=0.1, finetuned_score=0.2, provenance="EXACT")
    issues = validate_db(dst)
    assert any(i.field == "primary" and "conllpp" in i.message for i in issues), issues


def test_task_without_template_or_examples_is_refused(tmp_path):
    dst = _copy_db(tmp_path)
    _append_row(dst / "tasks.csv", task_id="bare_task", category="classification", metric="accuracy",
                higher_is_better="true", description="A task with a description only", output_format="label")
    issues = validate_db(dst)
    assert any(i.file == "tasks.csv" and i.field == "example_inputs" for i in issues), issues


def test_what_is_derived_from_a_database_is_kept_in_its_index(db):
    """The predictor's matrices and fingerprint live in ``db.index`` (built once per database object); a
    database with more results is a new object with a fresh index, so nothing derived goes stale."""
    from slmselect.evidence.db import DBIndex
    from slmselect.predict.observed import fingerprint, observe

    assert isinstance(db.index, DBIndex)
    obs = observe(db, "finetuned")
    assert db.index.observed["finetuned"] is obs and observe(db, "finetuned") is obs
    fp = fingerprint(db)
    assert db.index.fingerprint == fp
    more = db.with_results(db.results.iloc[:0], db.tasks.iloc[:0].reset_index(drop=True), db.sources.iloc[:0].reset_index(drop=True))
    assert more.index is not db.index and more.index.observed == {} and more.index.fingerprint is None
    assert not any(k.startswith("_") and k not in ("_alias_map",) for k in vars(db)), "no cache stashed in db.__dict__"
