"""confirm(backend="ray") on a real local Ray cluster (this machine's CPUs) with the real offline models.

Two tiny candidates train at once as Ray actors; their progress streams back to the driver; the store rows
are written by the driver. A worker killed mid-training (SIGKILL to its process) fails its candidate only.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys

import pytest

from slmselect.confirmation import confirm, load_local_results
from slmselect.errors import ParameterError
from slmselect.events import StageAdvanced

SMOL = "HuggingFaceTB/SmolLM2-135M-Instruct"
GEMMA = "google/gemma-3-270m"


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    yield ray
    if started:
        ray.shutdown()


class Events(list):
    """The progress events the driver hands to confirm's progress callback, from the workers."""

    def __init__(self, on_event=None) -> None:
        super().__init__()
        self.on_event = on_event

    def __call__(self, event) -> None:
        self.append(event)
        if self.on_event is not None:
            self.on_event(event)


def _run(rows, tmp_path, steps, progress, **kw):
    return confirm(
        rows, models=[SMOL, GEMMA], steps=steps, batch_size=2, eval_examples=8, seed=0, progress=progress,
        store=tmp_path / "results.sqlite", output_dir=tmp_path / "adapters", backend="ray", **kw,
    )


@pytest.mark.slow
def test_two_candidates_train_at_once_as_ray_actors(local_ray, models_ready, trec_rows, tmp_path):
    """Successive halving on Ray: both first rungs at once, then the better candidate finishes on its actor."""
    events = Events()
    report = _run(trec_rows[:40], tmp_path, steps=2, progress=events, successive_halving=True)
    assert [c.model_id for c in report.candidates] == [SMOL, GEMMA]
    h = report.halving
    assert h.rung_steps == 1 and len(h.kept) == 1 and set(h.kept + h.eliminated) == {SMOL, GEMMA}
    kept, cut = report.result(h.kept[0]), report.result(h.eliminated[0])
    assert kept.status == "ok" and kept.steps == 2 and kept.adapter_path and 0 <= kept.finetuned_score <= 1
    assert cut.status == "eliminated" and cut.steps == 1 and "rung" in cut.reason
    assert h.steps_used == 3 and h.steps_full_budget == 4
    assert all(c.config["backend"] == "ray" for c in report.candidates)
    # progress came from two other processes (the workers), stage by stage, and reached the driver
    pids = {e.subject: e.pid for e in events if e.pid != os.getpid()}
    assert set(pids) == {SMOL, GEMMA} and len(set(pids.values())) == 2
    stages = {(e.subject, e.stage) for e in events if isinstance(e, StageAdvanced)}
    assert {(SMOL, "LoRA train"), (GEMMA, "LoRA train")} <= stages
    rows = load_local_results(tmp_path / "results.sqlite")
    assert sorted(rows["model_id"]) == sorted([SMOL, GEMMA]) and set(rows["run_id"]) == {report.run_id}


@pytest.mark.slow
def test_a_killed_worker_fails_only_its_candidate(local_ray, models_ready, trec_rows, tmp_path):
    killed: list[int] = []

    def kill_gemma_mid_training(event) -> None:
        if (not killed and event.subject == GEMMA and isinstance(event, StageAdvanced)
                and event.stage == "LoRA train"):  # one step done, more to go
            killed.append(event.pid)
            os.kill(event.pid, signal.SIGKILL)

    report = _run(trec_rows[:40], tmp_path, steps=4, progress=Events(kill_gemma_mid_training))
    assert killed and killed[0] != os.getpid()
    smol, gemma = report.result(SMOL), report.result(GEMMA)
    assert smol.status == "ok" and smol.steps == 4 and smol.finetuned_score is not None
    assert gemma.status == "failed" and "Ray worker" in gemma.reason and "LoRA train" in gemma.reason
    assert report.pick == SMOL and not report.interrupted
    rows = load_local_results(tmp_path / "results.sqlite").set_index("model_id")
    assert rows.loc[SMOL, "status"] == "ok" and rows.loc[GEMMA, "status"] == "failed"
    assert len(rows) == 2  # written once each, by the driver
    html = report.to_html()
    assert "<span class='pill failed'>failed</span>" in html and "Ray worker" in html


def test_bad_backend_and_address_say_what_to_do(trec_rows):
    with pytest.raises(ParameterError, match="'backend' parameter of confirm must be one of 'local', 'ray'"):
        confirm(trec_rows, models=[SMOL], backend="rayy")
    with pytest.raises(ParameterError, match="add backend='ray'"):
        confirm(trec_rows, models=[SMOL], address="auto")


def test_without_ray_the_option_says_how_to_install_it(tmp_path):
    code = (
        "import sys; sys.modules['ray'] = None\n"  # as if Ray were not installed
        "from slmselect.confirmation import confirm\n"
        "confirm([{'text': 'a b', 'label': 'x'}] * 4, models=['m'], backend='ray')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode != 0
    assert "pip install 'slmselect[ray]'" in out.stderr and "MissingDependencyError" in out.stderr


@pytest.mark.slow  # Ray tries to reach the cluster for about half a minute
def test_cli_ray_option_reports_an_unreachable_cluster(trec_rows, tmp_path):
    import json

    data = tmp_path / "trec.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in trec_rows[:24]))
    out = subprocess.run(  # a process of its own: a Ray already started in this one would be used instead
        [sys.executable, "-m", "slmselect.cli", "confirm", str(data), "--models", SMOL, "--steps", "1", "--no-store",
         "--ray", "nonsense://x:1"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "Could not connect to the Ray cluster at 'nonsense://x:1'" in out.stderr
