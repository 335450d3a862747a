"""expand() under faults a real teacher server will not produce on demand: 429, 500, a body that is not
JSON, a server slower than the time-out, a server that is down, a refused key.

The faults come from a small real HTTP server on loopback (http.server in a thread) that answers from a
script; the happy path against a real llama.cpp server is in test_expand_server.py. Also here: the
checks on teacher replies, copies, the output file's resumption, and bad parameters.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from public_datasets import bfcl_simple_python, conll_sample, trec

from slmselect import ExpandReport, ParameterError, TeacherError, expand
from slmselect.expansion.checks import Deduper, check_example, parse_reply
from slmselect.expansion.spec import build_spec

SECRET = "sk-test-0123456789-never-print-me"
NEW_QUESTIONS = [
    ("Which river flows through Vienna ?", "location"),
    ("How many moons does Neptune have ?", "numeric"),
    ("Who painted the ceiling of the Sistine Chapel ?", "human"),
    ("What does the abbreviation NATO stand for ?", "abbreviation"),
    ("Why do cats purr when they are stroked ?", "description"),
    ("What is the name of the longest bone in the human body ?", "entity"),
]


def _completion(content: str) -> bytes:
    return json.dumps({"id": "x", "object": "chat.completion", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]}).encode()


class Scripted:
    """A loopback HTTP server that answers each POST with the next step of a script.

    Steps: ``("ok", content)``, ``("status", code, headers)``, ``("garbage",)`` (200 with a body that is not
    JSON), ``("sleep", seconds)`` (then a good answer, too late). After the script it answers good examples.
    """

    def __init__(self, script: list[tuple]) -> None:
        self.script = list(script)
        self.requests: list[dict] = []
        self.auth: list[str | None] = []
        self.lock = threading.Lock()
        self.good = iter(NEW_QUESTIONS * 3)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with outer.lock:
                    outer.requests.append(json.loads(body))
                    outer.auth.append(self.headers.get("authorization"))
                    step = outer.script.pop(0) if outer.script else ("ok", None)
                    if step[0] in ("ok", "sleep"):
                        content = step[1] if step[0] == "ok" and step[1] is not None else None
                        if content is None:
                            q, label = next(outer.good)
                            content = json.dumps({"input": q, "output": label})
                if step[0] == "sleep":
                    time.sleep(step[1])
                if step[0] == "status":
                    payload = json.dumps({"error": {"message": f"scripted {step[1]}"}}).encode()
                    self.send_response(step[1])
                    for k, v in (step[2] if len(step) > 2 else {}).items():
                        self.send_header(k, v)
                elif step[0] == "garbage":
                    payload = b"<html>upstream proxy error {not json"
                    self.send_response(200)
                else:
                    payload = _completion(content)
                    self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except OSError:  # the client gave up (time-out)
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Scripted:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("seeds") / "seeds.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in trec(24, seed=0)))
    return path


def _expand(seeds: Path, url: str, out: Path, **kw) -> ExpandReport:
    kw.setdefault("backoff", 0.0)
    kw.setdefault("concurrency", 1)
    return expand(seeds, base_url=url, model="teacher", output=out, **kw)


def _accounted(r: ExpandReport) -> bool:
    return r.requests == r.written + sum(r.rejected.values()) + r.failed_requests + r.abandoned


# --------------------------------------------------------------------------------------------- faults


def test_429_and_500_are_retried_and_the_key_is_sent_but_never_shown(seeds, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    out = tmp_path / "train.jsonl"
    script = [("status", 429, {"Retry-After": "0"}), ("status", 500), ("status", 503)]
    with Scripted(script) as server:
        report = _expand(seeds, server.url, out, n=2, max_retries=3)
    assert report.written == 2 and report.total == 2 and report.complete
    assert report.retries == 3 and report.failed_requests == 0 and _accounted(report)
    assert len(server.requests) == 5
    assert server.auth == [f"Bearer {SECRET}"] * 5
    assert server.requests[0]["model"] == "teacher" and server.requests[0]["response_format"] == {"type": "json_object"}
    shown = capsys.readouterr()
    texts = [shown.out, shown.err, str(report), report.model_dump_json(), out.read_text(),
             (tmp_path / "train.jsonl.expand.json").read_text()]
    assert not any(SECRET in t for t in texts)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows == [{"text": q, "label": label} for q, label in NEW_QUESTIONS[:2]]  # the seeds' own field names


def test_a_body_that_is_not_json_is_retried_then_counted_as_failed(seeds, tmp_path):
    with Scripted([("garbage",), ("garbage",), ("garbage",)]) as server:
        report = _expand(seeds, server.url, tmp_path / "t.jsonl", n=1, max_retries=1)
    assert report.failures == {"malformed_response": 1} and report.failed_requests == 1
    assert report.retries == 2 and report.written == 1 and _accounted(report)


def test_a_reply_that_is_not_an_example_is_rejected_not_retried(seeds, tmp_path):
    script = [("ok", "Sure! Here is an example: input=foo"), ("ok", '{"input": "Where is Lima ?", "output": "city"}'),
              ("ok", '{"input": "Where is Lima ?"}')]
    with Scripted(script) as server:
        report = _expand(seeds, server.url, tmp_path / "t.jsonl", n=1)
    assert report.rejected == {"not_json": 1, "label_not_in_set": 1, "missing_field": 1}
    assert report.retries == 0 and report.written == 1 and len(server.requests) == 4 and _accounted(report)
    assert {s["reason"] for s in report.rejected_samples} == {"not_json", "label_not_in_set", "missing_field"}


def test_a_server_slower_than_the_timeout_fails_the_run_with_a_clear_error(seeds, tmp_path):
    out = tmp_path / "t.jsonl"
    with Scripted([("sleep", 3.0)] * 6) as server:
        with pytest.raises(TeacherError, match="requests in a row .* failed.*time-out") as err:
            _expand(seeds, server.url, out, n=2, timeout=0.3, max_retries=1)
    report = err.value.report
    assert report.failures == {"timeout": 3} and report.retries == 3 and report.written == 0
    assert "rerun to continue" in str(err.value)


def test_a_server_that_is_down_fails_fast_and_keeps_what_was_written(seeds, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    out = tmp_path / "t.jsonl"
    out.write_text(json.dumps({"text": "Which ocean is the deepest ?", "label": "location"}) + "\n")
    with pytest.raises(TeacherError, match="cannot reach http://127.0.0.1") as err:
        _expand(seeds, f"http://127.0.0.1:{port}", out, n=3, max_retries=2, concurrency=2)
    report = err.value.report
    assert report.existing == 1 and set(report.failures) == {"connection"} and report.failures["connection"] >= 3
    assert out.read_text().count("\n") == 1


def test_a_refused_key_stops_at_once_without_showing_the_key(seeds, tmp_path, monkeypatch):
    monkeypatch.setenv("MY_TEACHER_KEY", SECRET)
    with Scripted([("status", 401)]) as server:
        with pytest.raises(TeacherError, match="API key is missing or wrong") as err:
            _expand(seeds, server.url, tmp_path / "t.jsonl", n=2, api_key_env="MY_TEACHER_KEY")
    assert SECRET not in str(err.value) and len(server.requests) == 1


def test_an_unset_key_variable_is_a_parameter_error(seeds, tmp_path, monkeypatch):
    monkeypatch.delenv("MY_TEACHER_KEY", raising=False)
    with pytest.raises(ParameterError, match="'MY_TEACHER_KEY'.*not set"):
        _expand(seeds, "http://127.0.0.1:9", tmp_path / "t.jsonl", n=2, api_key_env="MY_TEACHER_KEY")


# --------------------------------------------------------------------------------------------- the file


def test_rerun_counts_valid_rows_drops_a_cut_line_and_asks_only_for_the_rest(seeds, tmp_path):
    out = tmp_path / "t.jsonl"
    kept = [{"text": "Which ocean is the deepest ?", "label": "location"},
            {"text": "Which ocean is the deepest ?", "label": "location"},  # a copy: kept in the file, not counted
            {"text": "Whose face is on the ten dollar bill ?", "label": "colour"}]  # no label of the set
    out.write_text("".join(json.dumps(r) + "\n" for r in kept) + '{"text": "How tall is the Eiff')
    with Scripted([]) as server:
        report = _expand(seeds, server.url, out, n=3)
    assert report.repaired_partial_line and report.existing == 1 and report.existing_invalid == 2
    assert report.written == 2 and len(server.requests) == 2
    lines = out.read_text().splitlines()
    assert [json.loads(x) for x in lines[:3]] == kept and len(lines) == 5
    with Scripted([]) as server:
        again = _expand(seeds, server.url, out, n=3)
    assert again.existing == 3 and again.requests == 0 and server.requests == []


def test_the_seeds_file_is_never_the_output(seeds):
    with pytest.raises(ParameterError, match="is the seeds file itself"):
        _expand(seeds, "http://127.0.0.1:9", seeds, n=2)


@pytest.mark.parametrize("kw, match", [({"n": 0}, "'n' parameter"), ({"concurrency": 0}, "'concurrency'"),
                                       ({"response_format": "json"}, "Did you mean .*'json_object'"),
                                       ({"timeout": -1}, "'timeout'")])
def test_bad_parameters_say_what_to_change(seeds, tmp_path, kw, match):
    with pytest.raises(ParameterError, match=match):
        _expand(seeds, "http://127.0.0.1:9", tmp_path / "t.jsonl", **{"n": 2, **kw})


# --------------------------------------------------------------------------------------------- checks


def test_labels_must_be_in_the_set_and_are_spelt_as_the_seeds_spell_them():
    spec = build_spec(trec(24, seed=0))
    assert check_example(parse_reply('{"input": "Where is Lima ?", "output": "Location."}', spec), spec).output == "location"
    assert check_example(parse_reply('{"input": "Where is Lima ?", "output": "place"}', spec), spec) == "label_not_in_set"
    assert parse_reply('```json\n{"input": "Where is Lima ?", "output": "location"}\n```', spec).input == "Where is Lima ?"
    long_input = " ".join(["word"] * 400) + " ?"
    assert check_example(parse_reply(json.dumps({"input": long_input, "output": "entity"}), spec), spec) == "input_length"


def test_tool_calls_must_be_json_calls_to_an_offered_tool():
    rows = bfcl_simple_python(20, seed=0)
    spec = build_spec(rows)
    tools = spec.seeds[0].tools
    name = json.loads(tools)[0]["name"]
    good = json.dumps({"input": "Please run it for Boston.", "output": {"name": name, "arguments": {"x": 1}}})
    ok = check_example(parse_reply(good, spec), spec, tools=tools)
    assert not isinstance(ok, str) and ok.tools == tools
    other = json.dumps({"input": "Please run it for Boston.", "output": {"name": "rm_rf", "arguments": {}}})
    assert check_example(parse_reply(other, spec), spec, tools=tools) == "unknown_tool"
    not_call = json.dumps({"input": "Please run it for Boston.", "output": {"city": "Boston"}})
    assert check_example(parse_reply(not_call, spec), spec, tools=tools) == "not_a_tool_call"
    assert parse_reply('{"input": "Please run it.", "output": "{\\"name\\": \\"f\\", "}', spec) == "invalid_output_json"


def test_entities_must_appear_in_the_input_with_known_types():
    spec = build_spec(conll_sample(20, seed=0))
    text = "Angela Merkel met Emmanuel Macron in Paris on Tuesday ."
    good = {"person": ["Angela Merkel", "Emmanuel Macron"], "location": ["Paris"]}
    assert not isinstance(check_example(parse_reply(json.dumps({"input": text, "output": good}), spec), spec), str)
    made_up = {"person": ["Olaf Scholz"], "location": ["Paris"]}
    assert check_example(parse_reply(json.dumps({"input": text, "output": made_up}), spec), spec) == "entity_not_in_input"
    new_type = {"politician": ["Angela Merkel"]}
    assert check_example(parse_reply(json.dumps({"input": text, "output": new_type}), spec), spec) == "unknown_entity_type"


def test_copies_and_near_copies_are_rejected():
    spec = build_spec(trec(24, seed=0))
    seed_q = spec.seeds[0].input
    d = Deduper(spec.seeds, near_copy=0.8)
    ex = spec.seeds[0].model_copy(update={"input": seed_q.upper().replace(" ?", "?")})
    assert d.check(ex) == "duplicate"
    assert d.check(ex.model_copy(update={"input": seed_q.replace(" ?", " then ?")})) == "near_copy_of_seed"
    fresh = ex.model_copy(update={"input": "Which composer wrote the opera Carmen ?"})
    assert d.check(fresh) is None
    assert d.check(fresh.model_copy(update={"input": "Which composer wrote the opera Carmen , then ?"})) == "near_duplicate"


# --------------------------------------------------------------------------------------------- command line


def test_the_command_line_expands_and_maps_a_dead_server_to_exit_1(seeds, tmp_path, capsys):
    from slmselect.cli import main

    out = tmp_path / "train.jsonl"
    with Scripted([("status", 500)]) as server:
        code = main(["expand", str(seeds), "--base-url", server.url, "--model", "teacher", "-n", "2", "-o", str(out),
                     "--concurrency", "1"])
    shown = capsys.readouterr()
    assert code == 0, shown.err
    assert f"{out}: 2 of 2 rows (0 already there, 2 new)" in shown.out and "1 retries" in shown.out
    assert len(out.read_text().splitlines()) == 2
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = main(["expand", str(seeds), "--base-url", f"http://127.0.0.1:{port}", "--model", "teacher", "-n", "3",
                 "-o", str(out), "--max-retries", "0", "--json"])
    shown = capsys.readouterr()
    assert code == 1 and re.match(r"slmselect: \d+ requests in a row", shown.err) and "Traceback" not in shown.err
