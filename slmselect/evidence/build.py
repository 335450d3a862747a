"""Rebuild ``benchmarks_db/`` from the raw public tables in ``benchmarks_db/raw/``, deterministically.

``build_db()`` runs every source adapter (``sources/``), maps each raw model name through the model registry and
each raw task through the task registry, and writes the database files plus two reports:
``unmapped.csv`` (raw names no registry entry matched: their rows are not in the database) and ``skipped.csv``
(rows left out on purpose, with the reason). Running it twice gives byte-identical files.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .registry import ModelRegistry, TaskRegistry
from .schema import COLUMNS, REPORT_COLUMNS, SCHEMA_VERSION
from .sources import ADAPTERS

REPO_DB = Path(__file__).resolve().parents[2] / "benchmarks_db"


@dataclass
class BuildReport:
    """What a build wrote and what it could not map."""

    out_dir: Path
    counts: dict[str, int]
    n_sources_with_results: int
    unmapped: list[dict[str, Any]] = field(default_factory=list)  # source_id, kind, raw_name, rows, reason
    skipped: list[dict[str, Any]] = field(default_factory=list)
    issues: list[str] = field(default_factory=list)  # validate_db() on the output

    def __str__(self) -> str:
        c = self.counts
        return (f"built {self.out_dir}: {c['results.csv']} results, {c['models.csv']} models, {c['tasks.csv']} tasks, "
                f"{c['sources.csv']} sources ({self.n_sources_with_results} with results), {c['rankings.csv']} ranks; "
                f"{len(self.unmapped)} unmapped names ({sum(u['rows'] for u in self.unmapped)} rows), "
                f"{len(self.skipped)} skipped entries; {len(self.issues)} validation issues")


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return format(v, ".10g")
    return str(v)


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_cell(r.get(c)) for c in columns])
    path.write_text(buf.getvalue(), encoding="utf-8")


def build_db(raw_dir: str | Path | None = None, out_dir: str | Path | None = None) -> BuildReport:
    """Rebuild the benchmark database from ``raw_dir`` (default: the repository's ``benchmarks_db/raw``) into
    ``out_dir`` (default: the folder above ``raw_dir``). Returns a :class:`BuildReport`; the unmapped names are
    also written to ``out_dir/unmapped.csv``."""
    raw = Path(raw_dir) if raw_dir is not None else REPO_DB / "raw"
    if not (raw / "registry" / "models.csv").is_file():
        from slmselect.errors import ParameterError

        raise ParameterError(f"{str(raw)!r} is not a raw-tables folder: it has no registry/models.csv. Pass the folder "
                             "that holds registry/ and one folder per source (the repository's benchmarks_db/raw).")
    out = Path(out_dir) if out_dir is not None else raw.parent
    out.mkdir(parents=True, exist_ok=True)
    models = ModelRegistry(raw / "registry")
    task_reg = TaskRegistry(raw / "registry")
    data = [(a.FOLDER, a.read(raw / a.FOLDER)) for a in ADAPTERS]
    for _, d in data:
        models.add_hf_ids(d.hints)

    sources: list[dict[str, Any]] = []
    tasks: dict[str, dict[str, Any]] = {}
    results: list[dict[str, Any]] = []
    rankings: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    unmapped: Counter[tuple[str, str, str]] = Counter()
    seen: set[tuple[str, str, str, str]] = set()
    for folder, d in data:
        sources += d.sources
        rankings += d.rankings
        skipped += d.skipped
        for t in d.tasks:
            tasks[t["task_id"]] = t
        for row in d.results:
            sid, raw_model = row["source_id"], row["raw_model"]
            hint = d.hints.get((sid, raw_model))
            mid = models.resolve(sid, raw_model, hint)
            if mid is None:
                unmapped[(sid, "model", raw_model)] += 1
                continue
            if not row.get("task_id"):
                t = task_reg.get(folder, row["raw_task"])
                if t is None:
                    unmapped[(sid, "task", row["raw_task"])] += 1
                    continue
                tasks[t["task_id"]] = t
                row = row | {"task_id": t["task_id"], "metric": row.get("metric") or t["metric"]}
            key = (sid, mid, row["task_id"], row["metric"])
            if key in seen:
                skipped.append({"source_id": sid, "kind": "rows", "raw_name": raw_model, "rows": 1,
                                "reason": f"a second score for ({mid}, {row['task_id']}, {row['metric']}) in this source; the first is kept"})
                continue
            seen.add(key)
            models.note(mid, raw_model, hint)
            results.append(row | {"model_id": mid})
    used = {r["model_id"] for r in results} | {r["model_id"] for r in rankings}
    model_rows = models.rows(used)
    unmapped_rows = [{"source_id": s, "kind": k, "raw_name": n, "rows": c,
                      "reason": "no registry entry matches this name" if k == "model" else "task not in raw/registry/tasks.csv"}
                     for (s, k, n), c in sorted(unmapped.items())]
    skipped = _merge_skipped(skipped)

    files = {
        "sources.csv": sorted(sources, key=lambda r: r["source_id"]),
        "models.csv": model_rows,
        "tasks.csv": sorted(tasks.values(), key=lambda r: r["task_id"]),
        "results.csv": sorted(results, key=lambda r: (r["source_id"], r["task_id"], r["model_id"], r["metric"])),
        "rankings.csv": sorted(rankings, key=lambda r: (r["source_id"], r["objective"], float(r["avg_rank"]), r["model_id"])),
        "unmapped.csv": unmapped_rows,
        "skipped.csv": skipped,
    }
    for name, rows in files.items():
        _write_csv(out / name, COLUMNS.get(name) or REPORT_COLUMNS, rows)
    meta = json.loads((raw / "registry" / "meta.json").read_text(encoding="utf-8"))
    meta |= {"schema_version": SCHEMA_VERSION, "files": list(files), "built_from": "benchmarks_db/raw (slmselect.evidence.build)"}
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    from .db import validate_db

    return BuildReport(
        out_dir=out, counts={k: len(v) for k, v in files.items()},
        n_sources_with_results=len({r["source_id"] for r in results}),
        unmapped=unmapped_rows, skipped=skipped, issues=[str(i) for i in validate_db(out)],
    )


def _merge_skipped(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per (source, kind, name, reason), rows summed, sorted."""
    c: Counter[tuple[str, str, str, str]] = Counter()
    for r in rows:
        c[(r["source_id"], r["kind"], r["raw_name"], r["reason"])] += int(r["rows"])
    return [{"source_id": s, "kind": k, "raw_name": n, "rows": v, "reason": why} for (s, k, n, why), v in sorted(c.items())]
