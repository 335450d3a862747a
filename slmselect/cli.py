"""The ``slmselect`` command: a thin layer over the library.

Exit codes: 0 success; 1 unexpected error; 2 bad input or arguments; 3 no model satisfies the
constraints; 4 the benchmark database is malformed; 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from slmselect.errors import DatabaseError, NoCandidatesError, SlmselectError

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NO_CANDIDATES, EXIT_DB = 0, 1, 2, 3, 4


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # a log or a pipe gets 120 columns rather than rich's 80, so that model ids fit the tables
    return Console(stderr=stderr, soft_wrap=False, width=None if stream.isatty() else 120)


def _csv(v: str | None) -> list[str] | None:
    return [x.strip() for x in v.split(",") if x.strip()] if v else None


def _add_constraints(p: argparse.ArgumentParser) -> None:
    p.add_argument("--objective", default="accuracy", help="accuracy | tunability | edge | no_finetune (default: accuracy)")
    p.add_argument("--max-params", help="largest model size, e.g. 1.5 (billions), 1.5B or 500M")
    p.add_argument("--max-memory", type=float, help="largest bf16 inference memory in GB (4k-token context)")
    p.add_argument("--license", help="comma-separated licences, or 'commercial' / 'permissive'")
    p.add_argument("--family", help="comma-separated model families, e.g. 'Qwen3,Llama 3.2'")
    p.add_argument("--models", help="comma-separated model ids to choose among")
    p.add_argument("--min-context", type=int, help="smallest context length in tokens")
    p.add_argument("--top-k", type=int, default=3, help="how many candidates to show (default: 3)")
    p.add_argument("--edge-tolerance", type=float, default=0.05, help="edge objective: score points below the best allowed (default: 0.05)")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slmselect", description="Which small language model should I fine-tune for this task?")
    parser.add_argument("--db", help="benchmark database folder (default: the shipped one, or $SLMSELECT_DB)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("recommend", help="recommend base models for the task in PATH (JSONL or CSV)")
    p.add_argument("path", nargs="?", help="examples file (.jsonl, .json or .csv)")
    p.add_argument("--description", "-d", help="what the task is, in a sentence")
    _add_constraints(p)
    p.add_argument("--store", help="local results store (SQLite) to learn from")
    p.add_argument("--no-local", action="store_true", help="ignore locally measured results")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")

    p = sub.add_parser("profile", help="profile the task in PATH: type, labels, lengths, language, format")
    p.add_argument("path")
    p.add_argument("--description", "-d")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("compare", help="compare models across task categories and by average rank, within one source")
    p.add_argument("--source", default=None, help="source id (default: distil_guide_2025); see --list-sources")
    p.add_argument("--value", default="finetuned", help="finetuned | base | tunability for the category table")
    p.add_argument("--family", help="comma-separated families to keep")
    p.add_argument("--max-params", help="largest model size to keep, e.g. 4B")
    p.add_argument("--sort", help="column to sort the category table by (default: mean)")
    p.add_argument("--list-sources", action="store_true", help="list the database's sources and exit")
    p.add_argument("--list-models", action="store_true", help="list the database's models and exit")
    p.add_argument("--plot", help="also write a PNG: average rank with 95%% CI and score versus size")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("db", help="benchmark database tools")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION")
    v = dsub.add_parser("validate", help="check the database files; report file, line and field of each problem")
    v.add_argument("path", nargs="?", help="database folder (default: the shipped one)")
    v.add_argument("--json", action="store_true")

    try:
        from slmselect.confirmation import _cli as confirm_cli
    except ImportError:  # pragma: no cover - confirm not installed in this build
        confirm_cli = None
    if confirm_cli is not None:
        p = sub.add_parser("confirm", help="short LoRA fine-tunes of the top candidates on your data, measured before and after")
        confirm_cli.add_arguments(p)
    try:
        import slmselect._evaluate_cli as eval_cli
    except ImportError:
        eval_cli = None
    if eval_cli is not None:
        p = sub.add_parser("evaluate", help="leave-one-task-out evaluation of the recommender against baselines")
        eval_cli.add_arguments(p)
    return parser


def _db(args: argparse.Namespace) -> Any:
    from slmselect.evidence.db import load_db

    return load_db(args.db) if args.db else load_db()


def _cmd_recommend(args: argparse.Namespace) -> int:
    from slmselect.recommender import recommend

    if not args.path and not args.description:
        raise SlmselectError("Give an examples file (slmselect recommend tasks.jsonl) or --description 'what the task is'.")
    rec = recommend(
        args.path, description=args.description, objective=args.objective, top_k=args.top_k,
        max_params=args.max_params, max_memory_gb=args.max_memory, licenses=_csv(args.license),
        families=_csv(args.family), models=_csv(args.models), min_context=args.min_context,
        edge_tolerance=args.edge_tolerance, include_local=not args.no_local, store=args.store, db=_db(args),
    )
    if args.json:
        print(rec.to_json())
    else:
        _console().print(rec)
    return EXIT_OK


def _cmd_profile(args: argparse.Namespace) -> int:
    from slmselect.profile.profiler import profile_task

    prof = profile_task(args.path, description=args.description)
    if args.json:
        print(prof.model_dump_json(indent=2))
        return EXIT_OK
    from rich.table import Table

    t = Table(title=f"Task profile of {args.path}", show_header=False, title_justify="left")
    for k, v in prof.summary().items():
        if isinstance(v, dict):
            v = ", ".join(f"{a}={b}" for a, b in v.items())
        elif isinstance(v, list):
            v = ", ".join(map(str, v[:20])) + (" …" if len(v) > 20 else "")
        t.add_row(k, str(v))
    _console().print(t)
    return EXIT_OK


def _cmd_compare(args: argparse.Namespace) -> int:
    from slmselect.evidence import compare as cmp

    db = _db(args)
    if args.list_sources:
        df = db.sources[["source_id", "kind", "name"]].assign(results=db.results.groupby("source_id").size().reindex(db.sources.index).fillna(0).astype(int))
        return _print_frame(df, "Sources", args.json)
    if args.list_models:
        df = db.models[["model_id", "family", "params_b", "variant", "license", "memory_gb"]].round(2)
        return _print_frame(df, "Models", args.json)
    source = args.source or cmp.DEFAULT_SOURCE
    fams, mp = _csv(args.family), args.max_params
    table = cmp.category_table(db, source, value=args.value, families=fams, max_params=mp, sort_by=args.sort)
    ranks = {o: cmp.average_ranks(db, source, o, families=fams, max_params=mp) for o in cmp.RANK_OBJECTIVES}
    published = {o: cmp.published_ranks(db, source, o) for o in cmp.RANK_OBJECTIVES}
    if args.plot:
        from slmselect.evidence.compare import chart_data
        from slmselect.report.plots import plot_compare

        plot_compare(chart_data(db, source, families=fams, max_params=mp), args.plot)
    if args.json:
        out = {
            "source": source, "value": args.value,
            "categories": json.loads(table.reset_index().to_json(orient="records")),
            "average_ranks": {o: json.loads(r.to_json(orient="records")) for o, r in ranks.items()},
            "published_ranks": {o: json.loads(r.to_json(orient="records")) for o, r in published.items() if len(r)},
            "plot": args.plot,
        }
        print(json.dumps(out, indent=2))
        return EXIT_OK
    from slmselect.report.tables import render_compare

    con = _console()
    for item in render_compare(db, source, args.value, table, ranks, published):
        con.print(item)
    if args.plot:
        con.print(f"Wrote {args.plot}")
    return EXIT_OK


def _print_frame(df: Any, title: str, as_json: bool) -> int:
    if as_json:
        print(df.to_json(orient="records", indent=2))
        return EXIT_OK
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for c in df.columns:
        t.add_column(str(c))
    for row in df.itertuples(index=False):
        t.add_row(*["" if v is None or v != v else str(v) for v in row])
    _console().print(t)
    return EXIT_OK


def _cmd_db(args: argparse.Namespace) -> int:
    from slmselect.evidence.db import default_db_path, validate_db

    if args.db_command != "validate":
        raise SlmselectError("Usage: slmselect db validate [PATH]")
    path = args.path or args.db or str(default_db_path())
    issues = validate_db(path)
    if args.json:
        print(json.dumps({"path": path, "ok": not issues, "issues": [i.__dict__ for i in issues]}, indent=2))
    elif issues:
        con = _console()
        con.print(f"[red]{len(issues)} problem(s)[/red] in {path}:", highlight=False)
        for i in issues:
            con.print(f"  {i}", highlight=False, markup=False)
    else:
        from slmselect.evidence.db import load_db

        db = load_db(path)
        _console().print(f"[green]OK[/green] {path}: {len(db.models)} models, {len(db.tasks)} tasks, "
                         f"{len(db.results)} results, {len(db.sources)} sources, {len(db.rankings)} published ranks", highlight=False)
    return EXIT_DB if issues else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    handlers = {"recommend": _cmd_recommend, "profile": _cmd_profile, "compare": _cmd_compare, "db": _cmd_db}
    try:
        if args.command in handlers:
            return handlers[args.command](args)
        if args.command == "confirm":
            from slmselect.confirmation import _cli as confirm_cli

            return int(confirm_cli.run(args))
        if args.command == "evaluate":
            import slmselect._evaluate_cli as eval_cli

            return int(eval_cli.run(args))
        return EXIT_USAGE
    except NoCandidatesError as e:
        print(f"slmselect: {e}", file=sys.stderr)
        return EXIT_NO_CANDIDATES
    except DatabaseError as e:
        print(f"slmselect: {e}", file=sys.stderr)
        return EXIT_DB
    except SlmselectError as e:
        print(f"slmselect: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("slmselect: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
