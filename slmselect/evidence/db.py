"""The benchmark database: plain CSV files validated by pydantic on load.

The files live in ``benchmarks_db/`` (see ``docs/database.md``). ``load_db()`` reads them into pandas
frames held by a :class:`BenchmarkDB`; a malformed row raises :class:`DatabaseError` naming the file, the
line and the field. ``validate_db()`` returns every problem instead of raising on the first ones.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from slmselect.evidence.fastread import MAX_CELL_CHARS, fast_frame
from slmselect.errors import DatabaseError, UnknownModelError, did_you_mean

SCHEMA_VERSION = 2
#: Models at or above this size (or served only by an API) are kept as references, never recommended.
REFERENCE_PARAMS_B = 70.0
#: Model facts that carry a ``<fact>_source`` column (models.csv).
FACTS = {"context_len": "context_source", "languages": "languages_source", "tool_calls": "tool_calls_source",
         "twin": "twin_source", "superseded_by": "superseded_source"}
#: Share of its weight a result keeps as evidence when its source is flagged as contradicting its origin.
FLAGGED_SOURCE_WEIGHT = 0.2
#: Context length assumed when estimating the KV cache for the memory constraint.
MEMORY_CONTEXT_TOKENS = 4096


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _blank(cls, data: Any) -> Any:
        """An empty CSV cell means 'not given': the field takes its default (a required field is reported missing)."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data


class SourceRow(_Row):
    source_id: str = Field(pattern=r"^[a-z0-9_]+$")
    name: str
    kind: Literal["paper", "blog", "readme", "leaderboard", "seed", "local"]
    url: str | None = None
    setup: str | None = None
    notes: str | None = None
    snapshot: str | None = None
    data_license: str | None = None
    raw_path: str | None = None
    #: set when the database itself finds the source at odds with its origin (e.g. numbers its stated origin
    #: does not have): its results carry ``FLAGGED_SOURCE_WEIGHT`` of their weight as evidence
    flag: Literal["contradicts_origin"] | None = None


class ModelRow(_Row):
    model_id: str
    family: str
    params_b: float | None = Field(default=None, gt=0)
    variant: Literal["base", "instruct"] | None = None
    base_model: str | None = None
    context_len: int | None = Field(default=None, gt=0)
    license: str | None = None
    commercial_use: Literal["yes", "with_conditions", "no"] | None = None
    license_conditions: str | None = None
    release_date: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}(-\d{2})?$")
    layers: int | None = Field(default=None, gt=0)
    hidden_size: int | None = Field(default=None, gt=0)
    n_heads: int | None = Field(default=None, gt=0)
    n_kv_heads: int | None = Field(default=None, gt=0)
    head_dim: int | None = Field(default=None, gt=0)
    vocab: int | None = Field(default=None, gt=0)
    attention: str | None = None
    api_only: bool = False
    aliases: str | None = None
    source_url: str | None = None
    notes: str | None = None
    #: model facts, each with the URL it comes from (``*_source``); empty is unknown, never a guess
    context_source: str | None = None
    languages: str | None = Field(default=None, pattern=r"^(many|[a-z]{2}(;[a-z]{2})*)$",
                                  description="ISO 639-1 codes the model supports, ';'-separated ('en': English only; 'many': the card claims 100+ languages without listing them)")
    languages_source: str | None = None
    tool_calls: Literal["yes", "no"] | None = Field(default=None, description="whether its chat template takes tools")
    tool_calls_source: str | None = None
    twin: str | None = Field(default=None, description="the other variant (base <-> instruct) of the same model")
    twin_source: str | None = None
    superseded_by: str | None = None
    superseded_source: str | None = None

    @model_validator(mode="after")
    def _facts_have_sources(self) -> "ModelRow":
        for fact, source in FACTS.items():
            if getattr(self, fact) is not None:
                src = getattr(self, source)
                if not src or not str(src).startswith(("https://", "http://")):
                    raise ValueError(f"{fact} is given ({getattr(self, fact)!r}) without a URL in {source}; "
                                     "every model fact names where it comes from (leave both empty when unknown)")
        return self



class TaskRow(_Row):
    task_id: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$")
    category: str
    metric: str
    higher_is_better: bool = True
    score_min: float = 0.0
    score_max: float = 1.0
    dataset_id: str | None = Field(default=None, pattern=r"^[a-z0-9_.:-]+$")
    dataset: str | None = None
    description: str
    prompt_template: str | None = None
    example_inputs: list[str] = Field(default_factory=list)
    output_format: Literal["label", "spans", "json", "tool_call", "free_text"] | None = None
    source_url: str | None = None


    @field_validator("example_inputs", mode="before")
    @classmethod
    def _json_list(cls, v: Any) -> Any:
        if v is None:
            return []
        if isinstance(v, str):
            try:
                v = json.loads(v)
            except json.JSONDecodeError as e:
                raise ValueError(f"must be a JSON array of strings ({e.msg})") from None
        return v


class ResultRow(_Row):
    source_id: str
    model_id: str
    task_id: str
    metric: str
    primary: bool = True
    base_score: float | None = Field(default=None, ge=-1, le=1)  # within the task's score_min..score_max
    finetuned_score: float | None = Field(default=None, ge=-1, le=1)
    base_stderr: float | None = Field(default=None, ge=0)
    finetuned_stderr: float | None = Field(default=None, ge=0)
    n_examples: int | None = Field(default=None, gt=0)
    n_shot: int | None = Field(default=None, ge=0)
    mode: Literal["fc", "prompt"] | None = None
    base_setting: str | None = None
    finetune_method: Literal["lora", "qlora", "full"] | None = None
    ft_lora_rank: int | None = Field(default=None, gt=0)
    ft_epochs: float | None = Field(default=None, gt=0)
    ft_train_examples: int | None = Field(default=None, gt=0)
    ft_recipe: str | None = None
    snapshot_date: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}(-\d{2})?$")
    raw_name: str | None = None
    provenance: Literal["EXACT", "DERIVED", "APPROXIMATE", "SECONDARY", "ASSUMED", "LOCAL"] = "EXACT"
    notes: str | None = None



class RankingRow(_Row):
    source_id: str
    objective: Literal["finetuned", "tunability", "base"]
    model_id: str
    avg_rank: float = Field(gt=0)
    ci95: float | None = Field(default=None, ge=0)
    n_tasks: int | None = Field(default=None, gt=0)
    notes: str | None = None


class ReportRow(_Row):
    """A line of a build report: ``unmapped.csv`` (names no registry entry matched) or ``skipped.csv``."""

    source_id: str
    kind: Literal["model", "task", "rows"]
    raw_name: str
    rows: int = Field(ge=0)
    reason: str


FILES: dict[str, type[_Row]] = {
    "sources.csv": SourceRow,
    "models.csv": ModelRow,
    "tasks.csv": TaskRow,
    "results.csv": ResultRow,
    "rankings.csv": RankingRow,
}
#: Build reports: validated by ``validate_db`` when present, not loaded by ``load_db``.
REPORT_FILES: dict[str, type[_Row]] = {"unmapped.csv": ReportRow, "skipped.csv": ReportRow}


@dataclass(frozen=True)
class DBIssue:
    """One problem found in a database file."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: field {self.field!r}: {self.message}"


def default_db_path() -> Path:
    """Where the shipped database lives (``SLMSELECT_DB`` overrides)."""
    env = os.environ.get("SLMSELECT_DB")
    if env:
        return Path(env)
    package = Path(__file__).resolve().parents[1]  # slmselect/
    for cand in (package / "benchmarks_db", package.parent / "benchmarks_db"):
        if (cand / "meta.json").exists():
            return cand
    raise DatabaseError(
        "The benchmark database was not found next to the package. Reinstall slmselect, "
        "or point SLMSELECT_DB at a folder holding meta.json and the CSV files."
    )


#: Files a database needs rows in: every later command reads them.
_NEEDS_ROWS = ("sources.csv", "models.csv", "tasks.csv", "results.csv")


def _read_rows(
    path: Path, model: type[_Row], issues: list[DBIssue], failed: set[str] | None = None
) -> list[dict[str, Any]]:
    """Validated rows of one file; problems go to ``issues``, the ids of rows that failed to ``failed``."""
    rows: list[dict[str, Any]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        issues.append(DBIssue(path.name, 0, "-", "file is missing"))
        return rows
    except IsADirectoryError:
        issues.append(DBIssue(path.name, 0, "-", f"{path} is a folder, not a CSV file; replace it with the CSV file"))
        return rows
    except UnicodeDecodeError as e:
        issues.append(DBIssue(path.name, 0, "-", f"not UTF-8 (byte {e.start}); re-save the file as UTF-8"))
        return rows
    except OSError as e:
        issues.append(DBIssue(path.name, 0, "-", f"cannot be read: {e.strerror or e}"))
        return rows
    old_limit = csv.field_size_limit(max(len(text), MAX_CELL_CHARS))  # long cells are reported below, not fatal
    try:
        reader = csv.DictReader(text.splitlines(keepends=True))
        try:
            header = reader.fieldnames or []
        except csv.Error as e:
            issues.append(DBIssue(path.name, 1, "-", f"the header cannot be parsed as CSV: {e}"))
            return rows
        if not header:
            issues.append(DBIssue(path.name, 1, "-", "file is empty: it needs a header row"
                                  + (" and at least one row" if path.name in _NEEDS_ROWS else "")))
            return rows
        expected = list(model.model_fields)
        missing = [c for c in expected if c not in header and model.model_fields[c].is_required()]
        unknown = [c for c in header if c not in expected]
        dup = sorted({c for c in header if header.count(c) > 1})
        if missing or unknown or dup:
            msg = []
            if missing:
                msg.append(f"missing columns {missing}")
            if unknown:
                msg.append(f"unknown columns {unknown}" + did_you_mean(str(unknown[0]), expected))
            if dup:
                msg.append(f"repeated columns {dup}")
            issues.append(DBIssue(path.name, 1, ",".join(map(str, missing + unknown + dup)), "; ".join(msg)))
            return rows
        while True:
            try:
                raw = next(reader)
            except StopIteration:
                break
            except csv.Error as e:
                issues.append(DBIssue(path.name, reader.line_num, "-",
                                      f"cannot be parsed as CSV ({e}); close the quotes. Rows after it were not checked"))
                break
            line = reader.line_num
            long = [k for k, v in raw.items() if isinstance(v, str) and len(v) > MAX_CELL_CHARS]
            for k in long:
                issues.append(DBIssue(path.name, line, str(k), f"cell of {len(raw[k]):,} characters; at most {MAX_CELL_CHARS:,} are allowed"))
            if None in raw:  # more cells than header columns
                issues.append(DBIssue(path.name, line, "-", f"{len(header) + len(raw[None])} cells for {len(header)} columns"))
                continue
            raw = {k: "" if v is None else v for k, v in raw.items()}  # missing trailing cells read as blank
            try:
                rows.append(model.model_validate(raw).model_dump())
            except ValidationError as e:
                if failed is not None:  # its id (the model's first field) still counts for references
                    failed.add(str(raw.get(next(iter(model.model_fields))) or "").strip())
                for err in e.errors():
                    field = ".".join(str(x) for x in err["loc"]) or "-"
                    issues.append(DBIssue(path.name, line, field, f"{err['msg']} (got {raw.get(field)!r})"))
    finally:
        csv.field_size_limit(old_limit)
    if not rows and path.name in _NEEDS_ROWS and not any(i.file == path.name for i in issues):
        issues.append(DBIssue(path.name, 2, "-", "file has a header but no rows; every later command needs at least one"))
    return rows


def _check_references(
    frames: dict[str, pd.DataFrame], issues: list[DBIssue], failed: dict[str, set[str]] | None = None
) -> None:
    failed = failed or {}
    known = {  # rows that failed validation were reported already: their ids still resolve here
        "source_id": set(frames["sources.csv"].get("source_id", [])) | failed.get("sources.csv", set()),
        "model_id": set(frames["models.csv"].get("model_id", [])) | failed.get("models.csv", set()),
        "task_id": set(frames["tasks.csv"].get("task_id", [])) | failed.get("tasks.csv", set()),
    }
    for fname, keys in (("models.csv", ["model_id"]), ("tasks.csv", ["task_id"]), ("sources.csv", ["source_id"])):
        df = frames[fname]
        if len(df):
            for i in np.flatnonzero(df.duplicated(keys).to_numpy()):
                issues.append(DBIssue(fname, int(i) + 2, keys[0], f"duplicate {keys[0]} {df.iloc[i][keys[0]]!r}"))
    models = frames["models.csv"]
    for col in ("twin",):
        if col in models and len(models):
            vals = models[col]
            for i in np.flatnonzero((vals.notna() & (vals.astype(str) != "") & ~vals.isin(known["model_id"])).to_numpy()):
                val = models.iloc[i][col]
                issues.append(DBIssue("models.csv", int(i) + 2, col, f"{val!r} is not in models" + did_you_mean(val, known["model_id"])))
    for fname, cols in (("results.csv", ["source_id", "model_id", "task_id"]), ("rankings.csv", ["source_id", "model_id"])):
        df = frames[fname]
        for col in cols:
            if not len(df):
                continue
            bad = ~df[col].isin(known[col])
            for i in np.flatnonzero(bad.to_numpy()):
                val = df.iloc[i][col]
                issues.append(
                    DBIssue(fname, int(i) + 2, col, f"{val!r} is not in {col.split('_')[0]}s" + did_you_mean(val, known[col]))
                )
    tasks = frames["tasks.csv"]
    if len(tasks):
        bare = tasks["prompt_template"].isna() & (tasks["example_inputs"].map(len) == 0)
        for i in np.flatnonzero(bare.to_numpy()):
            issues.append(DBIssue("tasks.csv", int(i) + 2, "example_inputs",
                                  "task has neither a prompt_template nor example_inputs; add one so new tasks can be compared with it"))
    res = frames["results.csv"]
    if len(res):
        dup = res.duplicated(["source_id", "model_id", "task_id", "metric"])
        for i in np.flatnonzero(dup.to_numpy()):
            issues.append(DBIssue("results.csv", int(i) + 2, "metric", "duplicate (source_id, model_id, task_id, metric)"))
        prim = res[res["primary"].astype(bool)]
        n_primary = prim.groupby(["source_id", "task_id"])["metric"].nunique()
        for (src, task), n in n_primary[n_primary > 1].items():
            first = prim[(prim["source_id"] == src) & (prim["task_id"] == task)]
            line = int(first.index[first["metric"] != first["metric"].iloc[0]][0]) + 2
            issues.append(DBIssue("results.csv", line, "primary",
                                  f"{n} different primary metrics for ({src}, {task}); mark exactly one metric primary"))
        empty = res["base_score"].isna() & res["finetuned_score"].isna()
        for i in np.flatnonzero(empty.to_numpy()):
            issues.append(DBIssue("results.csv", int(i) + 2, "base_score", "row has neither a base nor a fine-tuned score"))
        for col, score in (("base_stderr", "base_score"), ("finetuned_stderr", "finetuned_score")):
            orphan = res[col].notna() & res[score].isna()
            for i in np.flatnonzero(orphan.to_numpy()):
                issues.append(DBIssue("results.csv", int(i) + 2, col, f"a standard error without a {score}"))
    if len(res) and len(tasks):
        lo = tasks.set_index("task_id")["score_min"].astype(float).reindex(res["task_id"]).to_numpy()
        hi = tasks.set_index("task_id")["score_max"].astype(float).reindex(res["task_id"]).to_numpy()
        for col in ("base_score", "finetuned_score"):
            v = res[col].astype(float).to_numpy()
            for i in np.flatnonzero((v < lo) | (v > hi)):
                issues.append(DBIssue("results.csv", int(i) + 2, col, f"{v[i]} is outside the task's range {lo[i]}..{hi[i]}"))
    if len(tasks):
        bad = tasks["score_min"].astype(float) >= tasks["score_max"].astype(float)
        for i in np.flatnonzero(bad.to_numpy()):
            issues.append(DBIssue("tasks.csv", int(i) + 2, "score_max", "score_max must be above score_min"))


def _check_citations(path: Path, sources: pd.DataFrame, issues: list[DBIssue]) -> None:
    """Every source cites a public URL or a file that is in the repository (relative to the database's parent)."""
    for i, url in enumerate(sources.get("url", [])):
        u = str(url or "")
        if u.startswith(("https://", "http://")):
            continue
        roots = (path.parent, Path(__file__).resolve().parents[2])  # the database's parent, the repository
        if not u or not any((r / u).exists() for r in roots):
            issues.append(DBIssue("sources.csv", i + 2, "url",
                                  f"{u!r} is neither a public http(s) URL nor a file in the repository; cite where the numbers can be read"))


def _read_all(path: Path) -> tuple[dict[str, Any], dict[str, pd.DataFrame], list[DBIssue]]:
    issues: list[DBIssue] = []
    meta: dict[str, Any] = {}
    try:
        loaded = json.loads((path / "meta.json").read_text(encoding="utf-8"))
        if not isinstance(loaded, dict):
            issues.append(DBIssue("meta.json", 1, "-", f"must be a JSON object, got a {type(loaded).__name__}"))
        else:
            meta = loaded
            if meta.get("schema_version") != SCHEMA_VERSION:
                issues.append(
                    DBIssue("meta.json", 1, "schema_version", f"is {meta.get('schema_version')!r}; this slmselect reads {SCHEMA_VERSION}")
                )
    except FileNotFoundError:
        issues.append(DBIssue("meta.json", 0, "-", f"missing in {path}"))
    except json.JSONDecodeError as e:
        issues.append(DBIssue("meta.json", e.lineno, "-", f"invalid JSON: {e.msg}"))
    except (OSError, UnicodeDecodeError, RecursionError) as e:
        issues.append(DBIssue("meta.json", 0, "-", f"cannot be read: {getattr(e, 'strerror', None) or e}"))
    frames = {}
    failed: dict[str, set[str]] = {}
    for fname, model in FILES.items():
        failed.setdefault(fname, set())
        fast = fast_frame(path / fname, model) if (path / fname).is_file() else None
        if fast is not None:
            frames[fname] = fast
            continue
        rows = _read_rows(path / fname, model, issues, failed[fname])
        frames[fname] = pd.DataFrame(rows, columns=list(model.model_fields))
    _check_references(frames, issues, failed)
    return meta, frames, issues


def _check_reports(path: Path, issues: list[DBIssue]) -> None:
    for fname, model in REPORT_FILES.items():
        if (path / fname).exists():
            _read_rows(path / fname, model, issues)


def validate_db(path: str | os.PathLike[str] | None = None) -> list[DBIssue]:
    """Check every database file and return the problems found (an empty list when all is well)."""
    try:
        p = Path(path) if path is not None else default_db_path()
    except DatabaseError as e:
        return [DBIssue("-", 0, "-", str(e))]
    if not p.exists():
        return [DBIssue(str(p), 0, "-", "does not exist; pass a folder holding meta.json and the CSV files")]
    if not p.is_dir():
        return [DBIssue(str(p), 0, "-", "is a file, not a folder; pass the folder holding meta.json and the CSV files")]
    try:
        _, frames, issues = _read_all(p)
        _check_citations(p, frames["sources.csv"], issues)
        _check_reports(p, issues)
        return issues
    except Exception as e:  # noqa: BLE001 - validation reports, it never raises
        return [DBIssue(str(p), 0, "-", f"validation stopped on {type(e).__name__}: {e}; please report this as a bug")]


def estimate_memory_gb(
    params_b: Any, layers: Any, n_kv_heads: Any, head_dim: Any, *, context: int = MEMORY_CONTEXT_TOKENS, bytes_per_param: float = 2.0
) -> np.ndarray:
    """Inference memory in GB: weights at ``bytes_per_param`` + a KV cache for ``context`` tokens + 10 %.

    Works elementwise on arrays; when the architecture is unknown the KV cache is taken as 15 % of weights.
    """
    p = np.asarray(params_b, dtype=float) * 1e9
    weights = p * bytes_per_param
    kv = 2.0 * np.asarray(layers, float) * np.asarray(n_kv_heads, float) * np.asarray(head_dim, float) * context * bytes_per_param
    kv = np.where(np.isnan(kv), 0.15 * weights, kv)
    return (weights + kv) * 1.10 / 1e9


@dataclass
class DBIndex:
    """What the predictor and the recommender derive from one database object, computed on first use and
    kept with it. A database is never changed in place (:meth:`BenchmarkDB.with_results` returns a new one,
    with a fresh index), so nothing here goes stale. The values are the predict layer's objects; this layer
    only holds them."""

    #: kind ("base", "finetuned", "gain") -> its models x units matrix (``slmselect.predict.observed.observe``)
    observed: dict[str, Any] = field(default_factory=dict)
    #: digest of what the predictor is fitted from (``slmselect.predict.observed.fingerprint``)
    fingerprint: str | None = None
    #: embedder preference -> the predictor served for this database (``slmselect.predict.artifact.get_predictor``)
    predictors: dict[str, Any] = field(default_factory=dict)
    #: (predictor fingerprint, kind) -> the predictor's fit laid over this database's evidence
    bound: dict[tuple[str, str], Any] = field(default_factory=dict)
    #: embedder preference -> (the embedder, {task_id: vector of the task's text})
    task_vectors: dict[str, Any] = field(default_factory=dict)


class BenchmarkDB:
    """Benchmark results, models, tasks and sources as pandas frames.

    Attributes: ``models`` (indexed by model_id, with derived ``memory_gb`` and ``reference``), ``tasks``
    (indexed by task_id), ``results``, ``sources`` (indexed by source_id), ``rankings``, ``meta``, ``path``,
    and ``index`` (:class:`DBIndex`, what is derived from them on first use).
    """

    def __init__(
        self,
        *,
        models: pd.DataFrame,
        tasks: pd.DataFrame,
        results: pd.DataFrame,
        sources: pd.DataFrame,
        rankings: pd.DataFrame,
        meta: dict[str, Any] | None = None,
        path: Path | None = None,
    ) -> None:
        models = models.set_index("model_id", drop=False) if "model_id" in models.columns else models
        models = models.copy()
        models["memory_gb"] = estimate_memory_gb(
            models["params_b"].astype(float), models["layers"].astype(float),
            models["n_kv_heads"].astype(float), models["head_dim"].astype(float),
        )
        params = models["params_b"].astype(float)
        # references, never recommended: closed API models, very large models, and models of unknown size
        models["reference"] = models["api_only"].astype(bool) | (params >= REFERENCE_PARAMS_B) | params.isna()
        self.models = models
        self.tasks = tasks.set_index("task_id", drop=False) if "task_id" in tasks.columns else tasks
        self.results = results.reset_index(drop=True)
        self.sources = sources.set_index("source_id", drop=False) if "source_id" in sources.columns else sources
        self.rankings = rankings.reset_index(drop=True)
        self.meta = meta or {"schema_version": SCHEMA_VERSION}
        self.path = path
        self.index = DBIndex()

    def __repr__(self) -> str:
        return (
            f"BenchmarkDB({len(self.models)} models, {len(self.tasks)} tasks, {len(self.results)} results, "
            f"{len(self.sources)} sources, path={str(self.path) if self.path else None!r})"
        )

    @cached_property
    def _alias_map(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for mid, aliases in zip(self.models["model_id"], self.models["aliases"].fillna("")):
            out[mid.lower()] = mid
            out[mid.split("/")[-1].lower()] = mid
            for a in str(aliases).split(";"):
                if a.strip():
                    out[a.strip().lower()] = mid
        return out

    def resolve_model(self, name: str) -> str:
        """Map a model id or alias (case-insensitive) to its database id, or raise UnknownModelError."""
        mid = self._alias_map.get(str(name).strip().lower())
        if mid is None:
            raise UnknownModelError(
                f"Model {name!r} is not in the benchmark database." + did_you_mean(str(name), list(self.models["model_id"]))
                + " List the known ids with `slmselect compare --list-models`."
            )
        return mid

    @cached_property
    def primary_results(self) -> pd.DataFrame:
        """Results of each source's ranking metric, joined with task category."""
        r = self.results[self.results["primary"].astype(bool)]
        return r.merge(self.tasks[["category"]], left_on="task_id", right_index=True, how="left")

    def with_results(self, extra: pd.DataFrame, extra_tasks: pd.DataFrame, extra_sources: pd.DataFrame) -> "BenchmarkDB":
        """A new database with more results (e.g. local measurements) appended."""
        return BenchmarkDB(
            models=self.models.drop(columns=["memory_gb", "reference"]).reset_index(drop=True),
            tasks=pd.concat([self.tasks.reset_index(drop=True), extra_tasks], ignore_index=True),
            results=pd.concat([self.results, extra], ignore_index=True),
            sources=pd.concat([self.sources.reset_index(drop=True), extra_sources], ignore_index=True),
            rankings=self.rankings,
            meta=self.meta,
            path=self.path,
        )


_CACHE: dict[tuple[str, tuple[float, ...]], BenchmarkDB] = {}


def load_db(path: str | os.PathLike[str] | None = None) -> BenchmarkDB:
    """Load and validate the benchmark database (the shipped one by default).

    Raises :class:`DatabaseError` listing the first problems (file, line, field) when a file is malformed.
    Loads are cached per folder until a file changes.
    """
    p = Path(path) if path is not None else default_db_path()
    if not p.is_dir():
        raise DatabaseError(f"Benchmark database folder {str(p)!r} does not exist; pass a folder holding meta.json and the CSV files.")
    key = (str(p.resolve()), tuple((p / f).stat().st_mtime if (p / f).exists() else -1.0 for f in ["meta.json", *FILES]))
    if key in _CACHE:
        return _CACHE[key]
    meta, frames, issues = _read_all(p)
    if issues:
        shown = "\n  ".join(str(i) for i in issues[:10])
        more = f"\n  ... and {len(issues) - 10} more" if len(issues) > 10 else ""
        raise DatabaseError(f"The benchmark database in {p} has {len(issues)} problem(s):\n  {shown}{more}\nRun `slmselect db validate {p}` for all of them.")
    db = BenchmarkDB(
        models=frames["models.csv"], tasks=frames["tasks.csv"], results=frames["results.csv"],
        sources=frames["sources.csv"], rankings=frames["rankings.csv"], meta=meta, path=p,
    )
    _CACHE.clear()
    _CACHE[key] = db
    return db

