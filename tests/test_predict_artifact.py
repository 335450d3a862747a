"""The stored predictor (benchmarks_db/predictor.json) and the per-text embedding cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from slmselect.evidence.db import default_db_path, load_db
from slmselect.predict.artifact import ARTIFACT_FILE, artifact_from_json, fit_predictor, get_predictor
from slmselect.predict.observed import fingerprint


def test_the_shipped_predictor_matches_a_fresh_fit_of_the_shipped_database() -> None:
    path = Path(default_db_path()) / ARTIFACT_FILE
    assert path.exists(), "benchmarks_db/predictor.json is missing: run `python -m slmselect.predict.artifact`"
    stored = artifact_from_json(path.read_text(encoding="utf-8"))
    db = load_db()
    assert stored.fingerprint == fingerprint(db), (
        "benchmarks_db changed since predictor.json was fitted: rebuild it with `python -m slmselect.predict.artifact`")
    fresh = fit_predictor(db, settings=stored.settings)
    for kind, f in fresh.fits.items():
        s = stored.fits[kind]
        assert list(s.models) == list(f.models)
        assert s.units.values.tolist() == f.units.values.tolist()
        for name in ("theta", "theta_var", "c", "s", "P", "Q", "prior_mean"):
            np.testing.assert_allclose(getattr(s, name), getattr(f, name), rtol=1e-5, atol=1e-6, err_msg=f"{kind}.{name}")
    assert get_predictor(db) is get_predictor(db)  # served from the file, once per database


def test_a_new_task_text_is_embedded_alone(tmp_path, monkeypatch) -> None:
    """The cache is per text: adding one text to a list already seen embeds that one text only."""
    from slmselect.profile import embed as E

    monkeypatch.setenv("SLMSELECT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(E, "_STORES", {})
    d = E.find_minilm_dir()
    assert d is not None, "all-MiniLM-L6-v2 is installed by scripts/setup.sh"

    class Counting(E.MiniLMEmbedder):  # the real model, counting the texts it encodes
        seen: list[str] = []

        def embed(self, texts: list[str]) -> np.ndarray:
            Counting.seen.extend(texts)
            return super().embed(texts)

    emb = Counting(d)
    first = ["classify support tickets", "extract invoice fields", "answer questions about a passage"]
    a = E.embed_cached(emb, first)
    assert Counting.seen == first
    b = E.embed_cached(emb, first + ["summarise meeting notes"])
    assert Counting.seen == first + ["summarise meeting notes"]
    np.testing.assert_array_equal(a, b[:3])
    # a fresh process (empty memory) reads the vectors from disk and embeds nothing
    monkeypatch.setattr(E, "_STORES", {})
    Counting.seen = []
    c = E.embed_cached(emb, list(reversed(first)))
    assert Counting.seen == [] and np.allclose(c[::-1], a)


def test_shipped_vectors_cover_every_text_a_first_run_embeds() -> None:
    """A first run with an empty cache embeds only the user's query: the database ships the vectors of every
    task text and task-type exemplar (written by `slmselect db build`)."""
    from slmselect.evidence.db import default_db_path, load_db
    from slmselect.predict.artifact import QUERY_FORMS, unit_text, user_text
    from slmselect.profile.embed import MiniLMEmbedder, _read_store, _seed_name, _text_key, get_embedder
    from slmselect.profile.task_types import TASK_TABLE

    emb = get_embedder([])
    if not isinstance(emb, MiniLMEmbedder):
        pytest.skip("all-MiniLM-L6-v2 is not installed: no vectors are shipped for TF-IDF")
    db = load_db()
    shipped = _read_store(default_db_path() / _seed_name(emb.key))
    texts = unit_text(db.tasks).tolist() + [t for f in QUERY_FORMS for t in user_text(db.tasks, f).tolist()]
    texts += [e for t in TASK_TABLE for e in t.exemplars]
    missing = [t[:60] for t in texts if _text_key(t) not in shipped]
    assert not missing, f"run `slmselect db build`: {len(missing)} texts have no shipped vector, e.g. {missing[:3]}"
