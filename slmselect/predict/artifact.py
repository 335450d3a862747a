"""The stored predictor: standings and factors fitted at database build time, settings chosen by CV.

``fit_predictor(db)`` fits every kind and chooses the query-time settings by cross-validation over datasets;
``save_artifact`` writes it as ``benchmarks_db/predictor.json`` (sorted keys, 7 significant digits: the same
database gives the same bytes). ``get_predictor(db)`` returns the stored artifact when its fingerprint matches
the database, else a fresh fit with default settings (cached in memory per fingerprint), so an edited or
generated database still works, only slower on its first call.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from slmselect.evidence.db import BenchmarkDB
from slmselect.predict.fit import KindFit
from slmselect.predict.observed import KINDS, Observed, fingerprint, observe
from slmselect.predict.query import Bound, Settings, bind
from slmselect.predict.select import Query, choose_settings, fit_all
from slmselect._validate import QUERY_FORMS
from slmselect.predict.text import unit_text, user_text

ARTIFACT_FILE = "predictor.json"
FORMAT = 1


@dataclass
class Artifact:
    fingerprint: str
    fits: dict[str, KindFit]
    settings: dict[str, Settings]
    embedder: str = ""
    notes: list[str] = field(default_factory=list)

    def bound(self, db: BenchmarkDB, kind: str) -> Bound:
        """This artifact's ``kind`` laid over ``db`` (kept in ``db.index``)."""
        cache = db.index.bound
        key = (self.fingerprint, kind)
        if key not in cache:
            cache[key] = bind(self.fits[kind], observe(db, kind))
        return cache[key]


def eligible_models(db: BenchmarkDB) -> np.ndarray:
    return ~db.models["reference"].to_numpy(dtype=bool)


def task_embeddings(db: BenchmarkDB, embedder: str = "auto") -> tuple[Any, dict[str, np.ndarray], dict[str, Query]]:
    """(embedder, unit-side vectors per task id, user-side queries per form); each text embedded once."""
    from slmselect.profile.embed import add_seed_folder, embed_cached, get_embedder

    add_seed_folder(db.path)
    tasks = db.tasks
    ut = unit_text(tasks).tolist()
    qts = {f: user_text(tasks, f).tolist() for f in QUERY_FORMS}
    allq = [t for f in QUERY_FORMS for t in qts[f]]
    emb = get_embedder(ut + allq, prefer=embedder)
    E = embed_cached(emb, ut + allq)
    n = len(tasks)
    ids = list(tasks.index)
    queries = {f: Query(lookup(dict(zip(ids, E[n * (i + 1): n * (i + 2)]))), dict(zip(ids, qts[f])))
               for i, f in enumerate(QUERY_FORMS)}
    return emb, dict(zip(ids, E[:n])), queries


def lookup(vecs: dict[str, np.ndarray]):
    def f(task_ids: np.ndarray) -> np.ndarray:
        if not len(task_ids):
            return np.zeros((0, len(next(iter(vecs.values()))) if vecs else 0))
        return np.stack([vecs[t] for t in task_ids])
    return f


def fit_predictor(db: BenchmarkDB, *, settings: dict[str, Settings] | None = None, embedder: str = "auto",
                  seed: int = 0, n_folds: int | None = None) -> Artifact:
    """Fit the predictor on ``db``; choose its settings by cross-validation over datasets unless given.

    Deterministic for a given database and embedder (``seed`` fixes the fold assignment).
    """
    obs = {k: observe(db, k) for k in KINDS}
    fits = fit_all(obs, db.models)
    emb_name = ""
    if settings is None:
        from slmselect.predict.select import DEFAULT_FOLDS

        emb, eu, queries = task_embeddings(db, embedder)
        emb_name = emb.name.split(" (")[0]
        settings = choose_settings(obs, db.models, eligible_models(db), lookup(eu), list(queries.values()),
                                   n_folds=n_folds or DEFAULT_FOLDS, seed=seed)
    return Artifact(fingerprint=fingerprint(db), fits=fits, settings=dict(settings), embedder=emb_name)


def _r(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return [_r(v) for v in x.tolist()]
    if isinstance(x, list):
        return [_r(v) for v in x]
    if isinstance(x, float):
        return float(f"{x:.7g}")
    return x


def artifact_to_json(a: Artifact) -> str:
    kinds = {}
    for k, f in a.fits.items():
        kinds[k] = {
            "settings": a.settings[k].as_dict(), "tau2": _r(f.tau2), "prior_var": _r(f.prior_var),
            "beta": {n: _r(v) for n, v in f.beta.items()},
            "models": [str(m) for m in f.models], "theta": _r(f.theta), "theta_var": _r(f.theta_var),
            "n_obs": [int(v) for v in f.n_obs], "prior_mean": _r(f.prior_mean), "P": _r(f.P),
            "units": [[str(s), str(t)] for s, t in zip(f.units["source_id"], f.units["task_id"])],
            "c": _r(f.c), "s": _r(f.s), "Q": _r(f.Q),
        }
    doc = {"format": FORMAT, "fingerprint": a.fingerprint, "embedder": a.embedder, "notes": a.notes, "kinds": kinds}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n"


def artifact_from_json(text: str) -> Artifact:
    doc = json.loads(text)
    if doc.get("format") != FORMAT:
        raise ValueError(f"predictor file format {doc.get('format')!r}; this slmselect reads {FORMAT}")
    fits, settings = {}, {}
    for k, d in doc["kinds"].items():
        M, U = len(d["models"]), len(d["units"])
        fits[k] = KindFit(
            kind=k, models=np.array(d["models"], dtype=object),
            units=pd.DataFrame(d["units"] or np.zeros((0, 2)), columns=["source_id", "task_id"]),
            theta=np.array(d["theta"], float), theta_var=np.array(d["theta_var"], float), n_obs=np.array(d["n_obs"], int),
            prior_mean=np.array(d["prior_mean"], float), c=np.array(d["c"], float), s=np.array(d["s"], float),
            P=np.array(d["P"], float).reshape(M, -1), Q=np.array(d["Q"], float).reshape(U, -1),
            tau2=float(d["tau2"]), prior_var=float(d["prior_var"]), beta=dict(d["beta"]))
        settings[k] = Settings.from_dict(d["settings"])
    return Artifact(fingerprint=doc["fingerprint"], fits=fits, settings=settings, embedder=doc.get("embedder", ""),
                    notes=list(doc.get("notes", [])))


def save_artifact(a: Artifact, folder: str | os.PathLike[str]) -> Path:
    """Write ``predictor.json`` into the database folder atomically."""
    path = Path(folder) / ARTIFACT_FILE
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(artifact_to_json(a), encoding="utf-8")
    os.replace(tmp, path)
    return path


_MEMO: dict[tuple[str, str], Artifact] = {}
#: Above this many primary results an unfitted database gets default settings instead of a cross-validation
#: on the first call (build the database with its predictor.json instead: ``fit_predictor`` + ``save_artifact``).
ON_THE_FLY_CV_MAX_RESULTS = 20_000


def get_predictor(db: BenchmarkDB, embedder: str = "auto") -> Artifact:
    """The stored artifact if it was fitted on this very database, else a fresh fit, cached in memory: its
    settings chosen by cross-validation with ``embedder`` on a small database, defaults on a large one."""
    cache = db.index.predictors
    if embedder in cache:
        return cache[embedder]
    fp = fingerprint(db)
    art = _MEMO.get((fp, embedder))
    if art is None and db.path is not None and (Path(db.path) / ARTIFACT_FILE).exists():
        try:
            stored = artifact_from_json((Path(db.path) / ARTIFACT_FILE).read_text(encoding="utf-8"))
            if stored.fingerprint == fp:
                art = stored
        except (ValueError, KeyError, json.JSONDecodeError):
            art = None
    if art is None:
        if len(db.primary_results) <= ON_THE_FLY_CV_MAX_RESULTS:
            art = fit_predictor(db, embedder=embedder)
            art.notes.append("fitted on first use (this database has no matching predictor.json); settings by cross-validation")
        else:
            art = fit_predictor(db, settings={k: Settings() for k in KINDS})
            art.notes.append("fitted on first use with default settings: this database has no matching predictor.json")
    if len(_MEMO) > 4:
        _MEMO.clear()
    _MEMO[(fp, embedder)] = art
    cache[embedder] = art
    return art


def attach(db: BenchmarkDB, art: Artifact, embedder: str = "auto") -> None:
    """Serve ``art`` for this database object, as :func:`get_predictor` does after reading a matching
    ``predictor.json`` (for databases built in memory, e.g. the benchmark's generated one)."""
    db.index.predictors[embedder] = art


def obs_bundle(db: BenchmarkDB) -> dict[str, Observed]:
    return {k: observe(db, k) for k in KINDS}


def build_artifact(folder: str | os.PathLike[str], *, embedder: str = "auto", seed: int = 0) -> Path:
    """Fit the predictor on the database in ``folder`` and write its ``predictor.json`` there (the database
    build's last step; deterministic, so a rebuild gives the same bytes)."""
    from slmselect.evidence.db import load_db

    db = load_db(folder)
    path = save_artifact(fit_predictor(db, embedder=embedder, seed=seed), folder)
    export_task_vectors(db, folder, embedder=embedder)
    return path


def export_task_vectors(db: BenchmarkDB, folder: str | os.PathLike[str], *, embedder: str = "auto") -> None:
    """Ship the vectors of every task text the predictor and recommend() embed, so that a first run with an
    empty cache embeds only the user's query (vectors may differ in the last bits between machines, so they
    stay out of the byte-identical files)."""
    from slmselect.profile.embed import export_vectors
    from slmselect.profile.task_types import TASK_TABLE

    emb, _, _ = task_embeddings(db, embedder)
    texts = unit_text(db.tasks).tolist() + [t for f in QUERY_FORMS for t in user_text(db.tasks, f).tolist()]
    texts += [e for t in TASK_TABLE for e in t.exemplars]
    export_vectors(emb, texts, folder)


if __name__ == "__main__":  # python -m slmselect.predict.artifact [FOLDER]
    import sys

    from slmselect.evidence.db import default_db_path

    print(build_artifact(sys.argv[1] if len(sys.argv) > 1 else default_db_path()))
