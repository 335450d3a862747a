"""Progress as events: the printer's plain lines off a terminal, a real confirm's events, and what confirm takes
from a recommendation instead of doing it again."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from slmselect import confirm
from slmselect.errors import ParameterError
from slmselect.events import ProgressMessage, Reporter, StageAdvanced, StageFinished, StageStarted
from slmselect.report.progress import ProgressPrinter

REPO = Path(__file__).resolve().parents[1]
SMOL = "HuggingFaceTB/SmolLM2-135M-Instruct"
ESCAPE = "\x1b"
CLOCK_TIME = re.compile(r"\b\d{1,2}:\d\d:\d\d\b|\d{4}-\d\d-\d\d")


class _Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


def _wait_for(stream: io.StringIO, text: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while text not in stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.02)
    return stream.getvalue()


def test_plain_lines_on_a_pipe_say_step_loss_elapsed_and_remaining():
    out = _Pipe()
    rep = Reporter(ProgressPrinter("confirm", stream=out, interval=0.0), "confirm")
    train = rep.stage("LoRA train", 4, subject="HuggingFaceTB/SmolLM2-135M-Instruct")
    train.advance(1, note="loss 2.500")
    train.advance(1, note="loss 1.250")
    train.done("loss 1.000")
    lines = out.getvalue().splitlines()
    assert lines[0] == "[confirm] SmolLM2-135M-Instruct: LoRA train ..."
    assert "SmolLM2-135M-Instruct: LoRA train: step 2/4, loss 1.250," in lines[2]
    assert "elapsed" in lines[2] and "left" in lines[2]
    assert "LoRA train: done in" in lines[-1] and lines[-1].endswith("loss 1.000")


def test_a_stage_without_steps_still_reports_while_it_runs():
    out = _Pipe()
    rep = Reporter(ProgressPrinter("confirm", stream=out, interval=0.05), "confirm")
    with rep.stage("load", subject="google/gemma-3-270m") as load:
        text = _wait_for(out, "elapsed")  # the heartbeat, with no step done
        load.done("cache")
    assert "gemma-3-270m: load: " in text and "elapsed" in text
    assert out.getvalue().splitlines()[-1].startswith("[confirm] gemma-3-270m: load: done in")


def test_lines_come_at_each_tenth_and_the_interval_and_a_failed_stage_says_so():
    out = _Pipe()
    rep = Reporter(ProgressPrinter("evaluate", stream=out, interval=3600), "evaluate")
    stage = rep.stage("cross-validation", 100)
    for _ in range(100):
        stage.advance(1)
    stage.done()
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 + 9 + 1  # start, one line per tenth passed (not 100/100), end
    assert "step 10/100" in lines[1] and "step 90/100" in lines[-2]
    with pytest.raises(KeyError), rep.stage("loading the benchmark database"):
        raise KeyError("x")
    assert out.getvalue().splitlines()[-1] == "[evaluate] loading the benchmark database: stopped after 0:00, KeyError"


def test_events_pass_to_a_callback_and_nothing_is_drawn_when_progress_is_false(capsys):
    from slmselect.report.progress import reporter

    seen: list = []
    rep = reporter(seen.append, "expand")
    with rep.stage("writing rows", 2, subject="train.jsonl") as rows:
        rows.advance(1, note="3 requests, 1 rejected")
    rep.message("the teacher is slow")
    kinds = [type(e) for e in seen]
    assert kinds == [StageStarted, StageAdvanced, StageFinished, ProgressMessage]
    assert seen[1].done == 1 and seen[1].total == 2 and seen[1].note == "3 requests, 1 rejected"
    assert seen[2].ok and seen[2].seconds >= 0 and all(e.job == "expand" and e.pid == os.getpid() for e in seen)
    quiet = reporter(False, "confirm")
    quiet.stage("load").done()
    quiet.message("x")
    assert capsys.readouterr().err == ""
    with pytest.raises(ParameterError, match="'progress' parameter of confirm must be True"):
        confirm([{"text": "a", "label": "b"}], models=["HuggingFaceTB/SmolLM2-135M-Instruct"], progress="yes")


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", **extra}
    env.pop("FORCE_COLOR", None)
    return env


def _plain_lines(stderr: str) -> list[str]:
    """The progress lines of a piped run, checked to be plain: no control codes, no clock times."""
    lines = [line for line in stderr.splitlines() if line.startswith("[confirm] ")]
    assert lines and ESCAPE not in stderr, stderr[-3000:]
    assert not [line for line in lines if CLOCK_TIME.search(line)], lines
    return lines


@pytest.mark.slow
def test_a_real_confirm_piped_to_a_file_says_what_it_does(models_ready, trec_rows, tmp_path):
    """A real confirm recommending first, its stderr a pipe: plain lines with the set-up stages, each training
    step with its loss, and each candidate's stages."""
    data = tmp_path / "trec.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in trec_rows[:40]))
    code = (
        "import sys\nfrom slmselect import confirm, recommend\n"
        "d = 'Classify the question by the kind of answer it expects.'\n"
        f"rec = recommend(sys.argv[1], description=d, models=[{SMOL!r}], top_k=1, include_local=False)\n"
        "confirm(sys.argv[1], recommendation=rec, top_k=1, steps=2, batch_size=2, eval_examples=4, store=False,"
        " output_dir=sys.argv[2])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(data), str(tmp_path / "adapters")], capture_output=True,
                          text=True, env=_env(SLMSELECT_CACHE_DIR=str(models_ready)), timeout=900, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = _plain_lines(proc.stderr)
    text = "\n".join(lines)
    for setup in ("opening the results store", "reading trec.jsonl", "importing torch, transformers and peft"):
        assert f"[confirm] {setup} ..." in lines and f"[confirm] {setup}: done in 0:" in text, text
    assert "[confirm] SmolLM2-135M-Instruct: LoRA train: step 1/2, loss " in text  # a training step, with its loss
    for stage in ("load", "base eval", "LoRA train", "fine-tuned eval"):
        assert f"[confirm] SmolLM2-135M-Instruct: {stage} ..." in lines, text
        assert f"[confirm] SmolLM2-135M-Instruct: {stage}: done in" in text, text


def test_the_command_reads_and_profiles_the_examples_once_when_it_recommends(trec_rows, tmp_path):
    """`slmselect confirm FILE` without --models: the file is read once, profiled once (by the recommendation),
    and confirm goes on with that profile. The recommended model is not available offline, so it fails at
    loading, after the set-up this test is about."""
    data = tmp_path / "trec.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in trec_rows[:40]))
    proc = subprocess.run(
        [sys.executable, "-m", "slmselect.cli", "confirm", str(data), "--top-k", "1", "--steps", "1", "--no-store",
         "--description", "Classify the question by the kind of answer it expects."],
        capture_output=True, text=True, env=_env(SLMSELECT_CACHE_DIR=str(tmp_path / "cache")), timeout=600,
        cwd=tmp_path)
    assert proc.returncode == 1 and "No candidate could be measured" in proc.stderr, proc.stderr[-3000:]
    lines = _plain_lines(proc.stderr)
    assert [line for line in lines if line.endswith(" ...")][:3] == [
        "[confirm] reading trec.jsonl ...", "[confirm] profiling the examples and recommending candidates ...",
        "[confirm] opening the results store ..."]
    assert sum("reading" in line and line.endswith(" ...") for line in lines) == 1
    assert sum("profiling" in line and line.endswith(" ...") for line in lines) == 1
    assert "[confirm] the examples' profile: the recommendation's (the same examples and description)" in lines
    assert "[confirm] preparing the examples: done in 0:00, 40 examples" in lines  # the rows read, not the file


def test_confirm_takes_the_profile_from_the_recommendation(trec_rows, tmp_path, monkeypatch):
    """confirm(recommendation=rec) uses rec.profile, and profiles only examples the recommendation was not made
    from. The candidate cannot be loaded here (offline, and no package carries it), so nothing trains."""
    from slmselect import confirm, recommend
    from slmselect.errors import ConfirmError

    monkeypatch.setenv("SLMSELECT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rows = trec_rows[:40]
    description = "Classify the question by the kind of answer it expects."
    rec = recommend(rows, description=description, models=["Qwen/Qwen2.5-0.5B-Instruct"], top_k=1,
                    include_local=False)
    for examples, profiled in ((rows, False), (rows[:-1], True)):
        seen: list = []
        with pytest.raises(ConfirmError) as failed:
            confirm(examples, recommendation=rec, top_k=1, steps=1, store=False, progress=seen.append,
                    output_dir=tmp_path / "adapters")
        stages = [e.stage for e in seen if isinstance(e, StageStarted)]
        reused = [e.text for e in seen if isinstance(e, ProgressMessage) and "the recommendation's" in e.text]
        assert ("profiling the examples" in stages) is profiled and bool(reused) is not profiled, stages
        assert (failed.value.report.task_fingerprint == rec.profile.fingerprint) is not profiled
        assert "load" in stages and seen[-1].subject == "Qwen/Qwen2.5-0.5B-Instruct"  # it got as far as loading


def test_evaluate_reports_its_set_up_and_each_fold():
    from slmselect.evaluation import evaluate

    seen: list = []
    evaluate(sources="lora_land_2024", objectives="accuracy", folds=3, progress=seen.append,
             predictor={"temperature": 0.2, "shrink": 1.0, "type_weight": 0.0, "lowrank": 0.0, "interval_scale": 1.0})
    started = [e.stage for e in seen if isinstance(e, StageStarted)]
    assert started == ["loading the benchmark database", "embedding the task texts", "cross-validation"]
    folds = [e for e in seen if isinstance(e, StageAdvanced)]
    assert [e.done for e in folds] == [1, 2, 3] and all(e.total == 3 and e.job == "evaluate" for e in folds)
    assert all(e.ok for e in seen if isinstance(e, StageFinished))
