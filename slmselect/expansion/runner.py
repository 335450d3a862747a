"""``expand()``: grow a few seed examples into a training set with a teacher model.

The loop keeps ``concurrency`` chat requests in flight (asyncio + httpx); each reply is parsed, checked
against the task spec, checked for copies, and appended to the output file at once. It stops when the
file holds ``n`` valid rows, when ``max_requests`` have been sent, or — raising
:class:`~slmselect.errors.TeacherError` — when requests keep failing in a row (server down, every
request timing out). A rerun first counts the valid rows already in the file and asks only for the rest.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from slmselect.errors import ParameterError, TeacherError
from slmselect._validate import validate_params
from slmselect.expansion.checks import Deduper, check_example, parse_reply
from slmselect.expansion.client import RequestFailed, TeacherClient, redact_url
from slmselect.expansion.prompts import PROMPT_VERSION, Request, build_request
from slmselect.expansion.results import ExpandReport
from slmselect.expansion.spec import TaskSpec, build_spec, from_row, to_row
from slmselect.expansion.store import OutputFile
from slmselect.events import ProgressCallback
from slmselect.profile.profiler import count_tokens
from slmselect.report.progress import reporter

__all__ = ["expand"]

T = TypeVar("T")


def _api_key(api_key_env: str | None) -> str | None:
    if not api_key_env:
        return None
    key = os.environ.get(api_key_env, "").strip()
    if not key and api_key_env != "OPENAI_API_KEY":
        raise ParameterError(
            f"The environment variable {api_key_env!r} named by api_key_env is not set or empty. "
            f"Set it (export {api_key_env}=...) or leave api_key_env at its default for a server that needs no key."
        )
    return key or None


def _max_tokens(spec: TaskSpec) -> int:
    shots = [json.dumps({"context": e.context or "", "input": e.input, "output": e.output}, ensure_ascii=False) for e in spec.seeds]
    counts, _ = count_tokens(shots)
    return int(min(4096, max(128, 2 * max(counts) + 64)))


def _run(coro_factory: Callable[[], Any]) -> Any:
    """Run a coroutine to completion, also from inside a running event loop (a notebook)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro_factory())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(coro_factory())).result()


class _Expansion:
    """State of one run: the spec, the checks, the file, the report."""

    def __init__(self, spec: TaskSpec, out: OutputFile, report: ExpandReport, dedup: Deduper) -> None:
        self.spec, self.out, self.report, self.dedup = spec, out, report, dedup
        self.rejected: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()

    def take(self, content: str, request: Request) -> bool:
        """Check one reply; append it to the file when it passes. True if it was kept."""
        verdict: Any = parse_reply(content, self.spec)
        if not isinstance(verdict, str):
            verdict = check_example(verdict, self.spec, tools=request.tools)
        if not isinstance(verdict, str):
            verdict = self.dedup.check(verdict) or verdict
        if isinstance(verdict, str):
            self.rejected[verdict] += 1
            if len(self.report.rejected_samples) < 5:
                self.report.rejected_samples.append({"reason": verdict, "reply": (content or "")[:200]})
            return False
        self.out.append(to_row(verdict, self.spec, tools_raw=request.tools_raw))
        self.report.written += 1
        return True

    def sync_report(self) -> None:
        self.report.rejected = dict(self.rejected)
        self.report.failures = dict(self.failures)


async def _generate(
    run: _Expansion,
    client: TeacherClient,
    *,
    n: int,
    concurrency: int,
    max_requests: int,
    first_request: int,
    seed: int,
    shots: int,
    response_format: str,
    max_tokens: int,
    temperature: float,
    state: dict[str, Any],
    on_row: Callable[[ExpandReport], None] | None,
) -> None:
    report, spec = run.report, run.spec
    pending: dict[asyncio.Task[str], Request] = {}
    index = first_request
    in_a_row, last_failure = 0, None
    give_up = max(3, concurrency)
    try:
        while report.total < n:
            while len(pending) < concurrency and report.requests < max_requests:
                request = build_request(spec, index, seed=seed, shots=shots, response_format=response_format)
                task = asyncio.create_task(client.complete(
                    request.messages, response_format=request.response_format, max_tokens=max_tokens,
                    temperature=temperature, seed=(seed * 1_000_003 + index) % 2**31,
                ))
                pending[task] = request
                index += 1
                report.requests += 1
                run.out.save_state({**state, "next_request": index})
            if not pending:
                break
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                request = pending.pop(task)
                try:
                    content = task.result()
                except RequestFailed as err:
                    report.failed_requests += 1
                    run.failures[err.reason] += 1
                    in_a_row, last_failure = in_a_row + 1, err
                    continue
                in_a_row = 0
                if report.total >= n:
                    report.abandoned += 1  # answered after the file was full
                elif run.take(content, request) and on_row is not None:
                    on_row(report)
            report.retries = client.retries
            if in_a_row >= give_up:
                raise TeacherError(
                    f"{in_a_row} requests in a row to the teacher at {client.shown_url} failed; the last: {last_failure}. "
                    "Check that the server is running and answers at --base-url, or raise timeout / max_retries. "
                    f"The {report.total} valid rows in {report.output} are kept; rerun to continue."
                )
    finally:
        report.abandoned += len(pending)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        report.retries = client.retries
        run.sync_report()


@validate_params("expand")
def expand(
    seeds: Any,
    *,
    base_url: str,
    model: str,
    n: int,
    output: str | os.PathLike[str],
    api_key_env: str | None = "OPENAI_API_KEY",
    concurrency: int = 4,
    timeout: float = 60.0,
    max_retries: int = 4,
    seed: int = 0,
    description: str | None = None,
    response_format: str = "json_object",
    temperature: float = 0.9,
    max_tokens: int | None = None,
    shots: int = 5,
    max_requests: int | None = None,
    near_copy: float = 0.8,
    length_factor: float = 2.0,
    backoff: float = 0.5,
    input_field: str | None = None,
    output_field: str | None = None,
    context_field: str | None = None,
    on_row: Callable[[ExpandReport], None] | None = None,
    progress: bool | ProgressCallback = True,
) -> ExpandReport:
    """Ask a teacher model for new examples like ``seeds`` until ``output`` holds ``n`` valid rows.

    ``seeds``: anything :func:`slmselect.profile_task` reads (a JSONL/CSV path, a list of dicts, ...).
    ``base_url``/``model``: any OpenAI-compatible server (vLLM, llama.cpp's server, Ollama, a hosted API);
    the API key is read from the environment variable ``api_key_env`` only and is never printed.
    New rows are checked (label in the label set, valid JSON tool calls to an offered tool and entities
    found in the input, lengths within ``length_factor`` of the seeds'), deduplicated against the seeds
    and each other, near-copies (character 4-gram Jaccard >= ``near_copy``) dropped, and appended to
    ``output`` in the seeds' format as soon as they pass. Rerunning with the same ``output`` keeps its
    valid rows and asks only for the missing ones. ``max_requests`` (default ``5 * missing + 10``) caps
    the requests of one run; the report says when it ended before ``n``.
    ``on_row`` is called with the report after each row written; ``progress`` draws the run's progress on stderr
    (``True``), nothing (``False``), or hands each event to a callable (:mod:`slmselect.events`): reading the
    seeds, then the rows written out of ``n``, with the requests sent and the replies rejected so far.
    Raises :class:`~slmselect.errors.TeacherError` (with ``.report``) when the server cannot be used.
    """
    out = OutputFile(output)
    if isinstance(seeds, (str, os.PathLike)) and Path(seeds).expanduser().resolve() == out.path.resolve():
        raise ParameterError(
            f"The output {str(out.path)!r} is the seeds file itself; write the expanded examples to another file "
            "(the seeds are never overwritten)."
        )
    rep = reporter(progress, "expand")
    api_key = _api_key(api_key_env)
    with rep.stage("reading the seeds"):
        spec = build_spec(seeds, description=description, input_field=input_field, output_field=output_field,
                          context_field=context_field, length_factor=length_factor)
    started = time.perf_counter()
    report = ExpandReport(output=str(out.path), n=n, task_type=spec.profile.task_type, model=model,
                          base_url=redact_url(base_url), seed=seed)
    dedup = Deduper(spec.seeds, near_copy=near_copy)
    rows, bad_lines, report.repaired_partial_line = out.read()
    report.existing_invalid = bad_lines
    for row in rows:
        example = from_row(row, spec)
        verdict: Any = check_example(example, spec, tools=example.tools) if example is not None else "unreadable"
        if isinstance(verdict, str) or dedup.check(verdict):
            report.existing_invalid += 1
        else:
            report.existing += 1
    missing = max(0, n - report.existing)
    state = {
        "model": model, "base_url": report.base_url, "seed": seed, "prompt_version": PROMPT_VERSION,
        "response_format": response_format, "seeds_fingerprint": spec.profile.fingerprint, "task_type": spec.profile.task_type,
    }
    first_request = int(out.load_state().get("next_request", 0))
    run = _Expansion(spec, out, report, dedup)
    rows_stage = rep.stage("writing rows", n, subject=str(out.path))
    if report.existing:
        rows_stage.advance(report.existing, note="kept from an earlier run")

    def written(report: ExpandReport) -> None:
        rows_stage.advance(1, note=f"{report.requests} requests, {sum(run.rejected.values())} rejected")
        if on_row is not None:
            on_row(report)

    async def main() -> None:
        import httpx

        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(timeout=httpx.Timeout(timeout), limits=limits) as http:
            client = TeacherClient(http, base_url=base_url, model=model, api_key=api_key,
                                   max_retries=max_retries, backoff=backoff, seed=seed)
            await _generate(
                run, client, n=n, concurrency=concurrency, max_requests=max_requests or 5 * missing + 10,
                first_request=first_request, seed=seed, shots=shots, response_format=response_format,
                max_tokens=max_tokens or _max_tokens(spec), temperature=temperature, state=state, on_row=written,
            )

    try:
        with rows_stage:
            if missing:
                _run(main)
            rows_stage.done(f"{report.total} of {n} rows, {report.requests} requests")
    except TeacherError as err:
        err.report = report
        raise
    finally:
        out.close()
        report.elapsed_s = round(time.perf_counter() - started, 2)
    return report
