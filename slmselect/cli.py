"""The ``slmselect`` command: one typer app, a thin layer over the Python API.

Each command parses its options, calls the library, and hands the result to ``slmselect.report`` to draw (or
prints it as JSON with ``--json``). Numbers and comma-separated lists are passed on as the text given, so the
library's one parameter layer (:mod:`slmselect._validate`) reads and checks them: ``--top-k 0`` and
``recommend(top_k=0)`` fail with the same words. Every command exits with the one map in
:mod:`slmselect.errors`: 0 success, 1 the run failed, 2 bad input, 3 nothing satisfies the constraints,
4 malformed database, 5 an optional extra is not installed, 130 interrupted.
"""

import functools
import json
import sys
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Optional, TypeVar

import typer

from slmselect.errors import EXIT_BAD_INPUT, EXIT_DATABASE, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, exit_code

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="slmselect",
    help="Which small language model should I fine-tune for this task?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
db_app = typer.Typer(help="Benchmark database tools: validate, build.", no_args_is_help=True)
app.add_typer(db_app, name="db")

_state: dict[str, Any] = {"db": None}

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]
DescOpt = Annotated[Optional[str], typer.Option("--description", "-d", help="what the task is, in a sentence")]
StoreOpt = Annotated[Optional[str], typer.Option(help="results store: a SQLite file or a postgresql:// URL "
                                                      "(default: $SLMSELECT_RESULTS or the user data folder)")]


HtmlOpt = Annotated[Optional[str], typer.Option("--html", metavar="FILE", help="also write the result as one self-contained HTML report")]


def _int(help: str) -> Any:
    """An integer option passed on as text, for the parameter layer to read and check."""
    return typer.Option(help=help, metavar="INTEGER")


def _float(help: str) -> Any:
    """A number option passed on as text, for the parameter layer to read and check."""
    return typer.Option(help=help, metavar="FLOAT")


def _write_html(path: Optional[str], **shown: Any) -> None:
    if path:
        from slmselect.report.html import write_report

        print(f"slmselect: report written to {write_report(path, **shown)}", file=sys.stderr)


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    print(f"slmselect: {message}", file=sys.stderr)
    raise typer.Exit(code)


def _show_warning(message: Any, category: type[Warning], *_: Any, **__: Any) -> None:
    """Warnings as one plain line on stderr (slmselect's own without a file name or a class)."""
    from slmselect._validate import redact
    from slmselect.errors import SlmselectWarning

    kind = "" if issubclass(category, SlmselectWarning) else f"{category.__name__}: "
    print(f"slmselect: warning: {kind}{redact(str(message))}", file=sys.stderr)


def command(fn: F) -> F:
    """Run a command body and turn slmselect's errors into a message on stderr and the mapped exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import warnings

        warnings.showwarning = _show_warning
        try:
            code = fn(*args, **kwargs)
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            print("slmselect: interrupted", file=sys.stderr)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as err:  # noqa: BLE001 - mapped to an exit code; unexpected ones keep their traceback
            from slmselect.errors import SlmselectError

            if not isinstance(err, SlmselectError):
                raise
            from slmselect._validate import redact

            print(f"slmselect: {redact(str(err))}", file=sys.stderr)
            raise typer.Exit(exit_code(err)) from None
        raise typer.Exit(code or EXIT_OK)

    return wrapper  # type: ignore[return-value]


def _db() -> Any:
    from slmselect.evidence.db import load_db

    return load_db(_state["db"]) if _state["db"] else load_db()


def _print_json(text_or_obj: Any) -> None:
    print(text_or_obj if isinstance(text_or_obj, str) else json.dumps(text_or_obj, indent=2, default=str))


def _show(*renderables: Any) -> None:
    from slmselect.report.console import make_console

    con = make_console()
    for r in renderables:
        con.print(r)


@app.callback()
def _main(
    db: Annotated[Optional[str], typer.Option("--db", help="benchmark database folder (default: the shipped one, or $SLMSELECT_DB)")] = None,
) -> None:
    _state["db"] = db


@app.command()
@command
def profile(
    path: Annotated[str, typer.Argument(help="examples file (.jsonl, .json, .csv, .tsv, .parquet, .xlsx; .gz/.bz2/.xz/.zst)")],
    description: DescOpt = None,
    normalize_labels: Annotated[bool, typer.Option("--normalize-labels", help="merge labels that differ only in case, spacing or punctuation")] = False,
    as_json: JsonOpt = False,
) -> int:
    """Profile the task in PATH: type (and why), labels, lengths, language, output format."""
    from slmselect.profile.profiler import profile_task

    prof = profile_task(path, description=description, normalize_labels=normalize_labels)
    if as_json:
        _print_json(prof.to_json())
        return EXIT_OK
    from slmselect.report.console import mapping_table

    _show(mapping_table(prof.summary(), f"Task profile of {path}"))
    return EXIT_OK


@app.command()
@command
def recommend(
    path: Annotated[Optional[str], typer.Argument(help="examples file (.jsonl, .json, .csv or .tsv)")] = None,
    description: DescOpt = None,
    objective: Annotated[str, typer.Option(help="accuracy | tunability | edge | no_finetune")] = "accuracy",
    max_params: Annotated[Optional[str], typer.Option(help="largest model: 1.5B, 500M, 1.5 (billions) or a parameter count")] = None,
    max_memory: Annotated[Optional[str], typer.Option(help="largest inference memory in GB (bf16 with a 4k-token context unless --deploy says otherwise; measured where measured)")] = None,
    deploy: Annotated[Optional[str], typer.Option(help="deployment format for the memory estimate: bf16 | q8_0 | q4_k_m (llama.cpp, the task's context)")] = None,
    context: Annotated[Optional[str], _int("tokens of KV cache for --deploy (default: the task's longest input plus answer)")] = None,
    max_latency_ms: Annotated[Optional[str], _float("largest p95 latency per example, as measured in llama.cpp (confirm --serve, serve-bench)")] = None,
    license: Annotated[Optional[str], typer.Option(help="comma-separated licences, or 'commercial' / 'permissive'")] = None,
    family: Annotated[Optional[str], typer.Option(help="comma-separated model families, e.g. 'Qwen3,Llama 3.2'")] = None,
    models: Annotated[Optional[str], typer.Option(help="comma-separated model ids to choose among")] = None,
    min_context: Annotated[Optional[str], _int("smallest context length in tokens (a hard constraint; replaces the context read from your examples)")] = None,
    languages: Annotated[Optional[str], typer.Option(help="languages the model must support, e.g. 'de' or 'de,fr' (default: your examples' language); 'any' for none")] = None,
    normalize_labels: Annotated[bool, typer.Option("--normalize-labels", help="merge labels that differ only in case, spacing or punctuation")] = False,
    task_type: Annotated[Optional[str], typer.Option(help="set the task type when the profile guesses wrong: classification, ner_extraction, qa_open_book, qa_closed_book, tool_calling, summarization, generation")] = None,
    measured: Annotated[Optional[str], typer.Option(help="scores measured on this task, 'MODEL=SCORE,MODEL=SCORE': they anchor every other prediction")] = None,
    top_k: Annotated[str, _int("how many candidates to show")] = "3",
    edge_tolerance: Annotated[Optional[str], _float("edge objective: score points below the best allowed (default: 0.05)")] = None,
    store: StoreOpt = None,
    no_local: Annotated[bool, typer.Option("--no-local", help="ignore locally measured results")] = False,
    html: HtmlOpt = None,
    as_json: JsonOpt = False,
) -> int:
    """Recommend base models for the task in PATH (or from --description); small models (at most 9B) unless --max-params says otherwise."""
    from slmselect.recommender import recommend as _recommend

    if not path and not description:
        _fail("Give an examples file (slmselect recommend tasks.jsonl) or --description 'what the task is'.")
    rec = _recommend(
        path, description=description, objective=objective, top_k=top_k, max_params=max_params,
        max_memory_gb=max_memory, licenses=license, families=family, models=models,
        min_context=min_context, include_local=not no_local, store=store, db=_db(),
        languages=languages, task_type=task_type, measured=measured, normalize_labels=normalize_labels,
        deploy=deploy, context=context, max_latency_ms=max_latency_ms,
        **({"edge_tolerance": edge_tolerance} if edge_tolerance is not None else {}),
    )
    _write_html(html, recommendation=rec)
    if as_json:
        _print_json(rec.to_json())
    else:
        _show(rec)
    return EXIT_OK


@app.command()
@command
def compare(
    source: Annotated[Optional[str], typer.Option(help="source id (default: distil_guide_2025, else the source with the most fine-tuned scores); see --list-sources")] = None,
    value: Annotated[Optional[str], typer.Option(help="finetuned | base | tunability for the category table (default: finetuned, or base for a source without fine-tuned scores)")] = None,
    family: Annotated[Optional[str], typer.Option(help="comma-separated families to keep")] = None,
    max_params: Annotated[Optional[str], typer.Option(help="largest model size to keep, e.g. 4B")] = None,
    sort: Annotated[Optional[str], typer.Option(help="column to sort the category table by (default: mean)")] = None,
    list_sources: Annotated[bool, typer.Option("--list-sources", help="list the database's sources and exit")] = False,
    list_models: Annotated[bool, typer.Option("--list-models", help="list the database's models and exit")] = False,
    plot: Annotated[Optional[str], typer.Option(help="also write a PNG: average rank with 95% CI and score versus size")] = None,
    as_json: JsonOpt = False,
) -> int:
    """Compare models across task categories and by average rank, within one source."""
    from slmselect.evidence import compare as cmp

    db = _db()
    if list_sources or list_models:
        from slmselect.report.console import frame_table

        df, title = (cmp.source_table(db), "Sources") if list_sources else (cmp.model_table(db), "Models")
        return _frame_out(df, title, as_json, frame_table)
    result = cmp.compare(source, value=value, families=family, max_params=max_params, sort=sort, plot=plot, db=db)
    if as_json:
        _print_json(result.to_json())
        return EXIT_OK
    _show(result)
    if plot:
        _show(f"Wrote {plot}")
    return EXIT_OK


def _frame_out(df: Any, title: str, as_json: bool, draw: Callable[[Any, str], Any]) -> int:
    if as_json:
        _print_json(df.to_json(orient="records", indent=2))
    else:
        _show(draw(df, title))
    return EXIT_OK


@db_app.command("validate")
@command
def db_validate(
    path: Annotated[Optional[str], typer.Argument(help="database folder (default: the shipped one)")] = None,
    as_json: JsonOpt = False,
) -> int:
    """Check the database files; report file, line and field of each problem."""
    from slmselect.evidence.db import default_db_path, load_db, validate_db

    where = path or _state["db"] or str(default_db_path())
    problems = validate_db(where)
    if as_json:
        _print_json({"path": where, "ok": not problems, "issues": [vars(i) for i in problems]})
    elif problems:
        from slmselect.report.console import lines

        _show(lines([f"{len(problems)} problem(s) in {where}:"] + [f"  {i}" for i in problems], style="red"))
    else:
        db = load_db(where)
        _show(f"[green]OK[/green] {where}: {len(db.models)} models, {len(db.tasks)} tasks, {len(db.results)} results, "
              f"{len(db.sources)} sources, {len(db.rankings)} published ranks")
    return EXIT_DATABASE if problems else EXIT_OK


@db_app.command("build")
@command
def db_build(
    raw: Annotated[Optional[str], typer.Option(help="raw tables folder (default: benchmarks_db/raw)")] = None,
    out: Annotated[Optional[str], typer.Option(help="output folder (default: the folder above --raw)")] = None,
    no_predictor: Annotated[bool, typer.Option("--no-predictor", help="skip fitting the stored predictor (predictor.json)")] = False,
    as_json: JsonOpt = False,
) -> int:
    """Rebuild the database from its raw public tables (deterministic: a rerun is byte-identical)."""
    from slmselect.evidence.build import build_db

    report = build_db(raw, out)
    fitted = None
    if not report.issues and not no_predictor:
        from slmselect.predict.artifact import build_artifact

        fitted = str(build_artifact(report.out_dir))
    if as_json:
        _print_json({"out_dir": str(report.out_dir), "counts": report.counts, "unmapped": report.unmapped,
                     "skipped": len(report.skipped), "issues": report.issues, "predictor": fitted})
    else:
        from slmselect.report.console import lines

        _show(lines([str(report)] + [f"  {i}" for i in report.issues[:20]]
                    + ([f"predictor fitted: {fitted}"] if fitted else [])))
    return EXIT_DATABASE if report.issues else EXIT_OK


cache_app = typer.Typer(help="What slmselect keeps on disk (converted models, adapters): where, how big; clear it.",
                        invoke_without_command=True)
app.add_typer(cache_app, name="cache")


@cache_app.callback()
def cache_show(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show what is cached where, and how big."""
    if ctx.invoked_subcommand is not None:
        return
    _cache_show(as_json)


@command
def _cache_show(as_json: bool) -> int:
    from dataclasses import asdict

    import pandas as pd

    from slmselect.confirmation.cache import cache_info, human_size

    entries = cache_info()
    if as_json:
        _print_json([asdict(e) for e in entries])
        return EXIT_OK
    from slmselect.report.console import frame_table, lines

    df = pd.DataFrame([{"kind": e.kind, "name": e.name, "size": human_size(e.bytes), "path": e.path} for e in entries],
                      columns=["kind", "name", "size", "path"])
    total = sum(e.bytes for e in entries if e.clearable)
    _show(frame_table(df, "slmselect cache"), lines([f"{human_size(total)} can be cleared with `slmselect cache clear`; "
                                                     "the results store is never cleared."], style="dim"))
    return EXIT_OK


@cache_app.command("clear")
@command
def cache_clear(
    what: Annotated[Optional[str], typer.Argument(help="models | gguf | adapters | a model id or folder name (default: all)")] = None,
    as_json: JsonOpt = False,
) -> int:
    """Delete cached models and adapters (never the results store)."""
    from slmselect.confirmation.cache import clear_cache, human_size

    freed = clear_cache(what)
    if as_json:
        _print_json({"cleared": what or "all", "bytes_freed": freed})
    else:
        _show(f"freed {human_size(freed)}")
    return EXIT_OK


store_app = typer.Typer(help="The results store that confirm writes and recommend learns from.", no_args_is_help=True)
app.add_typer(store_app, name="store")


@store_app.command("import")
@command
def store_import(
    path: Annotated[str, typer.Argument(help="a recovery file written when the store refused a run's rows")],
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> int:
    """Store the rows of a recovery file (a rerun skips rows already stored)."""
    from slmselect.evidence.store.recovery import import_recovery

    n = import_recovery(path, store)
    if as_json:
        _print_json({"imported": n, "path": path})
    else:
        _show(f"stored {n} row(s) from {path}")
    return EXIT_OK


@app.command()
@command
def export(
    report: Annotated[str, typer.Argument(help="a confirm report (JSON from `slmselect confirm --json`) or a run id in the results store")],
    output: Annotated[str, typer.Option("-o", "--output", help="folder to write the merged model, the GGUF and the Modelfile to")],
    model: Annotated[Optional[str], typer.Option(help="which candidate (default: the pick)")] = None,
    quant: Annotated[str, typer.Option(help="GGUF type: f16 | q8_0 | q4_k_m")] = "q8_0",
    formats: Annotated[str, typer.Option(help="comma-separated: hf, gguf, ollama")] = "hf,gguf,ollama",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> int:
    """Write a confirmed candidate for deployment: merged Hugging Face folder, GGUF (llama.cpp's tools), Ollama Modelfile."""
    from slmselect.confirmation.export import export as _export

    paths = _export(report, model, output_dir=output, formats=formats, quant=quant, store=store)
    if as_json:
        _print_json({k: str(v) for k, v in paths.items()})
    else:
        for kind, path in paths.items():
            typer.echo(f"{kind}: {path}")
    return EXIT_OK


@app.command("serve-bench")
@command
def serve_bench(
    model: Annotated[str, typer.Argument(help="a model id, a model folder or a .gguf file")],
    path: Annotated[str, typer.Argument(help="examples file (.jsonl, .json, .csv or .tsv): the prompts to time")],
    quant: Annotated[str, typer.Option(help="GGUF type a model is converted to: f16 | q8_0 | q4_k_m")] = "q4_k_m",
    max_examples: Annotated[str, _int("examples to answer")] = "32",
    description: DescOpt = None,
    store: StoreOpt = None,
    no_store: Annotated[bool, typer.Option("--no-store", help="do not record the measurement")] = False,
    as_json: JsonOpt = False,
) -> int:
    """Measure a model in llama.cpp on this machine: tokens per second, latency per example (p50, p95), peak memory."""
    from slmselect.confirmation.serving import serve_bench as _bench

    serving = _bench(model, path, quant=quant, max_examples=max_examples, description=description,
                     store=False if no_store else store)
    if as_json:
        _print_json(serving)
    else:
        from slmselect.report.confirm import render_serving

        _show(render_serving(serving))
    return EXIT_OK


@app.command()
@command
def confirm(
    path: Annotated[str, typer.Argument(help="examples file (.jsonl, .json, .csv or .tsv)")],
    models: Annotated[Optional[str], typer.Option(help="comma-separated model ids, local folders or .gguf files")] = None,
    top_k: Annotated[str, _int("confirm the first K recommended models (when --models is not given)")] = "2",
    description: DescOpt = None,
    steps: Annotated[str, _int("LoRA training steps per candidate")] = "40",
    batch_size: Annotated[str, _int("examples per step")] = "8",
    eval_examples: Annotated[Optional[str], _int("held-out test examples to score (default: from the data)")] = None,
    validation_examples: Annotated[Optional[str], _int("validation examples for the pick and halving (default: 15%, none for one candidate)")] = None,
    learning_rate: Annotated[Optional[str], _float("LoRA learning rate (default: 2e-4)")] = None,
    lora_r: Annotated[Optional[str], _int("LoRA rank (default: 8)")] = None,
    max_seq_len: Annotated[Optional[str], _int("longest training sequence in tokens (default: from the data)")] = None,
    seed: Annotated[str, _int("split, initialisation and batch order")] = "0",
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | mps (pick a GPU with CUDA_VISIBLE_DEVICES)")] = "auto",
    output_dir: Annotated[Optional[str], typer.Option(help="where adapters are saved (default: the slmselect cache)")] = None,
    successive_halving: Annotated[bool, typer.Option("--successive-halving", help="train all candidates briefly, finish only the better half")] = False,
    store: StoreOpt = None,
    no_store: Annotated[bool, typer.Option("--no-store", help="do not record the results")] = False,
    normalize_labels: Annotated[bool, typer.Option("--normalize-labels", help="merge labels that differ only in case, spacing or punctuation")] = False,
    keep_samples: Annotated[bool, typer.Option("--keep-samples", help="also keep a few sample inputs of your data in the store (default: profile statistics only)")] = False,
    trust_remote_code: Annotated[bool, typer.Option("--trust-remote-code", help="allow models that run their own code")] = False,
    serve: Annotated[bool, typer.Option("--serve", help="also measure each finished candidate in llama.cpp on this machine (speed, latency, peak memory)")] = False,
    serve_format: Annotated[str, typer.Option(help="GGUF format --serve measures: q4_k_m | q8_0 | f16")] = "q4_k_m",
    ray: Annotated[Optional[str], typer.Option("--ray", metavar="ADDRESS", help="run each candidate as a Ray task: 'local' (a Ray on this machine), 'auto' (the cluster this node is in) or ray://HEAD:10001; needs pip install 'slmselect\\[ray]'")] = None,
    metric: Annotated[Optional[str], typer.Option(help="what scores and the pick use: accuracy | macro_f1 (classification), token_f1 | exact_match (QA); default: the task's main metric")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="after a killed run: reuse candidates already measured with the same data and settings, go on from the last checkpoint")] = False,
    checkpoint_every: Annotated[Optional[str], _int("checkpoint training every N steps for --resume (default: a quarter of --steps, at least 5; 0: never)")] = None,
    html: HtmlOpt = None,
    as_json: JsonOpt = False,
) -> int:
    """Short LoRA fine-tunes of the candidates on your data, measured before and after on held-out examples."""
    from slmselect.confirmation.runner import confirm as _confirm
    from slmselect.report.progress import reporter

    kwargs: dict[str, Any] = {}
    examples: Any = path
    if ray:
        kwargs.update(backend="ray", address=None if ray == "local" else ray)
    rep = reporter(not as_json, "confirm")
    if models:
        kwargs["models"] = models
    else:
        from pathlib import Path

        from slmselect.profile.readers import load_examples
        from slmselect.recommender import recommend as _recommend

        # read once: the recommendation profiles these rows, and confirm reuses that profile
        with rep.stage(f"reading {Path(path).name}") as stage:
            examples = load_examples(path)
            stage.done(f"{len(examples)} rows")
        with rep.stage("profiling the examples and recommending candidates"):
            kwargs["recommendation"] = _recommend(examples, description=description, top_k=top_k, store=store,
                                                  db=_db(), normalize_labels=normalize_labels)
        kwargs["top_k"] = top_k
    report = _confirm(
        examples, steps=steps, batch_size=batch_size, eval_examples=eval_examples,
        validation_examples=validation_examples, learning_rate=learning_rate,
        lora_r=lora_r, max_seq_len=max_seq_len, seed=seed, device=device, output_dir=output_dir,
        successive_halving=successive_halving, store=False if no_store else store, description=description,
        keep_samples=keep_samples, normalize_labels=normalize_labels, metric=metric, resume=resume,
        checkpoint_every=checkpoint_every, trust_remote_code=trust_remote_code,
        progress=rep.callback or False, serve=serve_format if serve else False, **kwargs,
    )
    _write_html(html, confirm_report=report, recommendation=kwargs.get("recommendation"))
    if as_json:
        _print_json(report.to_json())
    else:
        _show(report)
    return EXIT_INTERRUPTED if report.interrupted else EXIT_OK


@app.command()
@command
def expand(
    path: Annotated[str, typer.Argument(help="seed examples file (.jsonl, .json, .csv or .tsv)")],
    base_url: Annotated[str, typer.Option(help="the teacher's OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")],
    model: Annotated[str, typer.Option(help="the teacher model's name on that server")],
    output: Annotated[str, typer.Option("--output", "-o", help="expanded JSON Lines file (appended to; a rerun fills what is missing)")],
    n: Annotated[str, typer.Option("-n", "--n", help="how many valid expanded rows the output should hold", metavar="INTEGER")] = "100",
    api_key_env: Annotated[str, typer.Option(help="environment variable holding the API key (never pass the key itself)")] = "OPENAI_API_KEY",
    description: DescOpt = None,
    concurrency: Annotated[str, _int("requests in flight at once")] = "4",
    timeout: Annotated[str, _float("seconds to wait for one answer")] = "60",
    max_retries: Annotated[str, _int("retries of a request after a time-out, 429, 5xx or malformed body")] = "4",
    max_requests: Annotated[Optional[str], _int("most requests this run sends (default: 5 x missing + 10)")] = None,
    response_format: Annotated[str, typer.Option(help="json_object | json_schema | json_object_schema | none")] = "json_object",
    temperature: Annotated[str, _float("the teacher's sampling temperature")] = "0.9",
    max_tokens: Annotated[Optional[str], _int("longest reply in tokens (default: from the seeds)")] = None,
    seed: Annotated[str, _int("which seeds each request shows, and the server's sampling seed")] = "0",
    as_json: JsonOpt = False,
) -> int:
    """Ask a teacher model for new examples in the seeds' format, checked and deduplicated, until OUTPUT holds N."""
    from slmselect.expansion import expand as _expand

    report = _expand(
        path, base_url=base_url, model=model, n=n, output=output, api_key_env=api_key_env, description=description,
        concurrency=concurrency, timeout=timeout, max_retries=max_retries, max_requests=max_requests,
        response_format=response_format, temperature=temperature, max_tokens=max_tokens, seed=seed,
        progress=not as_json,
    )
    if as_json:
        _print_json(report.to_json())
    else:
        from slmselect.report.console import lines

        _show(lines(str(report).splitlines()))
    return EXIT_OK if report.complete else EXIT_FAILED


@app.command()
@command
def evaluate(
    source: Annotated[Optional[list[str]], typer.Option(help="evaluate this source's held-out tasks only (repeatable or comma-separated)")] = None,
    objective: Annotated[Optional[list[str]], typer.Option(help="accuracy | tunability | edge | no_finetune (repeatable or comma-separated)")] = None,
    min_models: Annotated[str, _int("evaluate tasks with at least this many models")] = "3",
    embedder: Annotated[str, typer.Option(help="auto | minilm | tfidf")] = "auto",
    folds: Annotated[str, _int("outer folds over datasets")] = "10",
    inner_folds: Annotated[str, _int("inner folds (on training datasets only) that choose the settings")] = "4",
    max_params: Annotated[Optional[str], typer.Option(help="only candidates up to this size, e.g. 3.5B")] = None,
    variant: Annotated[Optional[str], typer.Option(help="only 'instruct' or 'base' candidates")] = None,
    query: Annotated[str, typer.Option(help="what a held-out task is asked from: description | examples")] = "description",
    seed: Annotated[str, _int("deals datasets to folds")] = "0",
    tasks: Annotated[bool, typer.Option("--tasks", help="also print the per-task rows")] = False,
    as_json: JsonOpt = False,
) -> int:
    """Hold datasets out and measure the recommender against static advice and other baselines (nested CV)."""
    from slmselect.evaluation import evaluate as _evaluate

    kw: dict[str, Any] = dict(min_models=min_models, embedder=embedder, folds=folds, inner_folds=inner_folds,
                              max_params=max_params, variant=variant, query=query, seed=seed, progress=not as_json)
    if _state["db"]:
        kw["db"] = _db()
    if source:  # repeated options join into one comma-separated list
        kw["sources"] = ",".join(source)
    if objective:
        kw["objectives"] = ",".join(objective)
    rep = _evaluate(**kw)
    if as_json:
        _print_json(rep.to_json())
        return EXIT_OK
    _show(rep)
    if tasks:
        from slmselect.report.tables import render_evaluation_tasks

        _show(render_evaluation_tasks(rep.to_pandas("tasks")))
    return EXIT_OK


@app.command()
@command
def report(
    out: Annotated[str, typer.Argument(help="the HTML file to write")],
    recommendation: Annotated[Optional[str], typer.Option(help="a recommendation saved with `slmselect recommend --json`")] = None,
    confirm_report: Annotated[Optional[str], typer.Option("--confirm", help="a confirm report saved with `slmselect confirm --json`")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the written file and its inputs as JSON")] = False,
) -> int:
    """Write one self-contained HTML report from saved results: profile, candidates, constraints, charts, confirm."""
    from slmselect.confirmation.results import ConfirmReport
    from slmselect.recommender import Recommendation

    if not recommendation and not confirm_report:
        _fail("Give --recommendation REC.json (from `slmselect recommend --json`), --confirm CONFIRM.json, or both.")
    shown = {}
    for key, path, cls in (("recommendation", recommendation, Recommendation), ("confirm_report", confirm_report, ConfirmReport)):
        if path:
            try:
                shown[key] = cls.from_json(open(path, encoding="utf-8").read())
            except (OSError, ValueError) as err:
                _fail(f"Cannot read {path!r} as a saved {key.replace('_', ' ')}: {str(err).splitlines()[0]}. "
                      f"Save one with `slmselect {key.split('_')[0]} ... --json > FILE`.")
    if as_json:
        from slmselect.report.html import write_report

        _print_json({"report": str(write_report(out, **shown)), "recommendation": recommendation, "confirm": confirm_report})
    else:
        _write_html(out, **shown)
    return EXIT_OK


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line and return its exit code (for tests; the console script is :func:`run`)."""
    try:
        app(args=list(argv) if argv is not None else None, prog_name="slmselect")
    except SystemExit as stop:
        code = stop.code
        return code if isinstance(code, int) else (EXIT_OK if code is None else 1)
    return EXIT_OK


def run() -> None:
    """Console-script entry point."""
    app(prog_name="slmselect")


if __name__ == "__main__":  # pragma: no cover
    run()
