"""Progress of a confirm run off a terminal: plain lines with stage, step, loss, elapsed and remaining time."""

from __future__ import annotations

import io
import time

from slmselect.report.progress import ConfirmProgress


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
    with ConfirmProgress(True, stream=out, interval=0.0) as prog:
        assert not prog.rich
        train = prog.stage("HuggingFaceTB/SmolLM2-135M-Instruct", "LoRA train", 4)
        train.advance(1, note="loss 2.500")
        train.advance(1, note="loss 1.250")
        train.done("loss 1.000")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[confirm 0:0") and lines[0].endswith("SmolLM2-135M-Instruct: LoRA train ...")
    assert "SmolLM2-135M-Instruct: LoRA train: step 2/4, loss 1.250," in lines[2]
    assert "elapsed" in lines[2] and "left" in lines[2]
    assert "LoRA train: done in" in lines[-1] and lines[-1].endswith("loss 1.000")


def test_a_stage_without_steps_still_reports_while_it_runs():
    out = _Pipe()
    with ConfirmProgress(True, stream=out, interval=0.05) as prog:
        load = prog.stage("google/gemma-3-270m", "load", 1)
        text = _wait_for(out, "elapsed")  # the heartbeat, with no step done
        load.done("cache")
    assert "gemma-3-270m: load: " in text and "elapsed" in text


def test_lines_are_spaced_by_the_interval_and_nothing_is_drawn_when_disabled():
    out = _Pipe()
    with ConfirmProgress(True, stream=out, interval=3600) as prog:
        stage = prog.stage("m", "LoRA train", 100)
        for _ in range(100):
            stage.advance(1, note="loss 1.0")
    assert len(out.getvalue().splitlines()) == 1  # only the start line within the interval
    quiet = _Pipe()
    with ConfirmProgress(False, stream=quiet) as prog:
        prog.stage("m", "load", 1).done()
        prog.log("x")
    assert quiet.getvalue() == ""
