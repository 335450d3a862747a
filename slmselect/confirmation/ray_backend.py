"""``confirm(..., backend="ray")``: every candidate as a Ray actor on a cluster, the results kept by the driver.

Each candidate runs in its own Ray actor with a resource request (one GPU where the cluster has GPUs,
otherwise an equal share of its CPUs) and works through the same stages as a local run
(:func:`~slmselect.confirmation.stages.run_trial`); with successive halving the first rung and the rest
of the training are two calls (two Ray tasks) on the same actor, so a survivor keeps its adapter and
optimizer state between them. Workers put their progress events (:mod:`slmselect.events`) on a
:class:`ray.util.queue.Queue`; the driver hands them to the run's progress callback, as a local run's.
Only the driver writes to the results store. A worker that dies (killed, out of memory, node lost)
fails its candidate alone: the report marks it and the finished candidates are kept.

Ray is an optional extra: ``pip install 'slmselect[ray]'``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from slmselect.confirmation.halving import cut_reason, finish_stages, rung_stages, rung_steps_for, split, summary
from slmselect.confirmation.results import CandidateResult, HalvingSummary
from slmselect.confirmation.trial import Setup, Trial
from slmselect.errors import MissingDependencyError, ParameterError
from slmselect.events import Event, Reporter, StageFinished, StageStarted

INSTALL = "pip install 'slmselect[ray]'  (or: pip install 'ray[default]')"
#: Environment variables the workers need to find models and stay offline like the driver.
FORWARDED_ENV = ("SLMSELECT_CACHE_DIR", "SLMSELECT_MODEL_SOURCES", "HF_HOME", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE",
                 "TOKENIZERS_PARALLELISM")


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MissingDependencyError(f"backend='ray' needs Ray, which is not installed: {INSTALL}.") from None
    return ray


def connect(address: str | None) -> bool:
    """Join the Ray cluster at ``address`` (None: RAY_ADDRESS, a running local cluster, or a new local one).

    Returns True when this call started Ray (and so should shut it down).
    """
    ray = import_ray()
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as err:
        raise ParameterError(
            f"Could not connect to the Ray cluster at {address!r}: {str(err).rstrip('.')}. Start one with `ray start --head` "
            "and pass address='auto' (on a cluster node) or 'ray://HEAD:10001' (a Ray client), or leave "
            "address unset for a local Ray on this machine."
        ) from None
    return True


def resources(n_candidates: int, device: str = "auto") -> dict[str, float]:
    """One GPU (and one CPU) per candidate where the cluster has GPUs and the run may use them; else an equal
    share of its CPUs (``device="cpu"`` reserves no GPU). More candidates than GPUs wait for one: every actor
    ends when its call is done (a halving rung hands its state back to the driver), so none holds a GPU idle."""
    import ray

    total = ray.cluster_resources()
    if total.get("GPU", 0) >= 1 and device.split(":")[0] in ("auto", "cuda"):
        return {"num_gpus": 1, "num_cpus": 1}
    cpus = int(total.get("CPU", 1))
    return {"num_gpus": 0, "num_cpus": max(1, cpus // max(1, n_candidates))}


# ---------------------------------------------------------------------------------------------- workers


class QueueSink:
    """The worker's progress callback: each event goes on the driver's queue, as it is."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue

    def __call__(self, event: Event) -> None:
        self.queue.put(event)


class CandidateWorker:
    """One candidate's trial inside a Ray actor (wrapped with ``ray.remote`` by :func:`run_on_ray`)."""

    def __init__(self, model_id: str, setup: Setup, device: str, env: dict[str, str], queue: Any, threads: int) -> None:
        os.environ.update(env)
        import torch

        from slmselect.confirmation.device import detect_device

        torch.set_num_threads(max(1, threads))
        progress = Reporter(QueueSink(queue), "confirm")
        self.trial = Trial(model_id, replace(setup, choice=detect_device(device), progress=progress))
        progress.message(f"started on {self.trial.setup.choice.label} (Ray worker)", subject=model_id)

    def run(self, steps: int) -> CandidateResult:
        from slmselect.confirmation.stages import run_trial

        return run_trial(self.trial, steps)

    def rung(self, steps: int) -> tuple[bool, CandidateResult, float | None, bytes | None]:
        """The first halving rung: train ``steps``, score, and park; returns the parked state (adapter, optimizer,
        schedule and counters, packed), so that the driver can end this actor and a new one can finish."""
        from slmselect.confirmation.stages import run_stages

        scores: dict[str, float] = {}
        ok = run_stages(self.trial, rung_stages(self.trial, steps, scores), finish=False)
        state = self.trial.pack() if ok else None
        if ok:
            self.trial.release()
        return ok, self.trial.result, scores.get(self.trial.model_id), state

    def finish(self, steps: int, state: bytes | None = None) -> CandidateResult:
        """A survivor: reload (from a packed rung state when it comes from another actor), train the remaining
        ``steps``, score and save."""
        from slmselect.confirmation.stages import run_stages

        if state is not None:
            self.trial.unpack(state)
        run_stages(self.trial, finish_stages(self.trial, steps))
        return self.trial.result

    def eliminate(self, reason: str, result: CandidateResult | None = None) -> CandidateResult:
        if result is not None:
            self.trial.result = result
        self.trial.complete("eliminated", reason)
        self.trial.release()
        return self.trial.result



# ---------------------------------------------------------------------------------------------- driver


class Relay:
    """The driver's side: hands the workers' events to the run's own progress callback, in the order they came."""

    def __init__(self, queue: Any, setup: Setup) -> None:
        self.queue, self.progress = queue, setup.progress
        self.stage: dict[str, str] = {}  # model id -> last stage reported
        self.running: dict[tuple[str, str, int], StageStarted] = {}  # stages started and not finished

    def drain(self) -> None:
        while not self.queue.empty():
            for event in self.queue.get_nowait_batch(self.queue.qsize()):
                key = (event.subject, getattr(event, "stage", ""), event.pid)
                if isinstance(event, StageStarted):
                    self.stage[event.subject] = event.stage
                    self.running[key] = event
                elif isinstance(event, StageFinished):
                    self.running.pop(key, None)
                self.progress.send(event)

    def end(self, model_id: str | None = None, note: str = "the Ray worker ended") -> None:
        """Finish the stages a worker that is gone (``model_id``'s, or every one) left running."""
        for key, started in list(self.running.items()):
            if model_id is None or started.subject == model_id:
                del self.running[key]
                self.progress.send(StageFinished(job=started.job, subject=started.subject, stage=started.stage,
                                                 pid=started.pid, seconds=time.time() - started.time, note=note,
                                                 ok=False))


def _died(model_id: str, setup: Setup, relay: Relay, err: BaseException) -> CandidateResult:
    stage = relay.stage.get(model_id, "start-up")
    first = str(err).strip().splitlines()[0] if str(err).strip() else ""
    result = CandidateResult(
        model_id=model_id,
        status="failed",
        metric=setup.metric,
        reason=f"the Ray worker running this candidate died during {stage} ({type(err).__name__}: {first[:200]}); "
        "the other candidates went on",
    )
    result.config = Trial(model_id, setup).config_dict()
    return result


class _Pool:
    """The candidates' actors and the calls in flight; results are gathered on the driver."""

    def __init__(self, ray: Any, model_ids: Sequence[str], setup: Setup, device: str) -> None:
        from ray.util.queue import Queue

        self.ray, self.setup = ray, setup
        self.queue = Queue()
        self.relay = Relay(self.queue, setup)
        res = resources(len(model_ids), device)
        self.env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
        self.remote = ray.remote(max_restarts=0, max_task_retries=0, **res)(CandidateWorker)
        self.worker_setup = replace(setup, progress=None)  # each worker sends its events to the queue
        self.device, self.threads = device, int(res["num_cpus"])
        self.actors = {m: self.start(m) for m in model_ids}
        self.pending: dict[Any, str] = {}

    def start(self, model_id: str) -> Any:
        """A new actor for ``model_id`` (it starts when the cluster has its resources free)."""
        return self.remote.remote(model_id, self.worker_setup, self.device, self.env, self.queue, self.threads)

    def restart(self, model_id: str) -> None:
        self.actors[model_id] = self.start(model_id)

    def call(self, model_id: str, method: str, *args: Any) -> None:
        self.pending[getattr(self.actors[model_id], method).remote(*args)] = model_id

    def results(self) -> Any:
        """Yield (model_id, value or the worker's death as an exception) as calls finish."""
        from ray.exceptions import RayActorError, RayError

        while self.pending:
            ready, _ = self.ray.wait(list(self.pending), num_returns=1, timeout=0.2)
            self.relay.drain()
            for ref in ready:
                model_id = self.pending.pop(ref)
                try:
                    value: Any = self.ray.get(ref)
                except (RayActorError, RayError) as err:
                    self.relay.drain()
                    value = _died(model_id, self.setup, self.relay, err)
                    self.relay.end(model_id, "the Ray worker died")
                    self.release(model_id)
                yield model_id, value

    def release(self, model_id: str) -> None:
        actor = self.actors.pop(model_id, None)
        if actor is not None:
            self.ray.kill(actor)

    def close(self) -> None:
        for model_id in list(self.actors):
            self.release(model_id)
        self.relay.drain()
        self.relay.end()
        self.ray.kill(self.queue.actor)


def run_on_ray(
    model_ids: Sequence[str],
    setup: Setup,
    steps: int,
    record: Callable[[CandidateResult], None],
    *,
    address: str | None = None,
    device: str = "auto",
    successive_halving: bool = False,
) -> HalvingSummary | None:
    """Run the candidates on Ray; ``record`` (driver side) gets each result as it arrives.

    Returns the halving summary when ``successive_halving`` (and more than one candidate), else None.
    Ctrl-C kills the actors and is re-raised; what was recorded is kept.
    """
    ray = import_ray()
    started = connect(address)
    setup.extra_config["backend"] = "ray"
    pool = _Pool(ray, model_ids, setup, device)
    try:
        if successive_halving and len(model_ids) > 1:
            return _halving(pool, model_ids, setup, steps, record)
        for m in model_ids:
            pool.call(m, "run", steps)
        for model_id, result in pool.results():
            pool.release(model_id)
            record(result)
        return None
    finally:
        pool.close()
        if started:
            ray.shutdown()


def _halving(
    pool: _Pool, model_ids: Sequence[str], setup: Setup, steps: int, record: Callable[[CandidateResult], None]
) -> HalvingSummary:
    rung = rung_steps_for(steps)
    for m in model_ids:
        pool.call(m, "rung", rung)
    parked: dict[str, CandidateResult] = {}
    states: dict[str, bytes] = {}
    scores: dict[str, float] = {}
    for model_id, value in pool.results():
        # every rung's actor ends here, so that candidates waiting for a GPU (more candidates than GPUs) start
        pool.release(model_id)
        if isinstance(value, CandidateResult):  # the worker died
            record(value)
            continue
        ok, result, score, state = value
        if ok and score is not None and state is not None:
            parked[model_id], scores[model_id], states[model_id] = result, score, state
        else:
            record(result)
    keep, cut = split(model_ids, scores)
    for m in cut:
        result = parked[m]
        result.status, result.reason = "eliminated", cut_reason(setup.metric, scores[m], rung, keep)
        record(result)
    for m in keep:  # a new actor each, resuming from the packed rung state
        pool.restart(m)
        pool.call(m, "finish", steps - rung, states.pop(m))
    for model_id, result in pool.results():
        pool.release(model_id)
        parked[model_id] = result
        record(result)
    return summary([parked[m] for m in model_ids if m in parked], rung, steps, keep, cut, scores)
