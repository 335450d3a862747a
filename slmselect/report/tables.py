"""Rich rendering of slmselect's results. The only module (with the CLI) that imports rich; lazily."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


#: How `slmselect evaluate` names each method it compares (the method ids are evaluation.METHODS).
SHORT_LABELS = {
    "slmselect": "slmselect", "best_avg_rank": "avg rank", "largest": "largest",
    "best_base": "best base*", "random": "random",
}
METHOD_LABELS = {
    "slmselect": "slmselect predictor",
    "best_avg_rank": "best average rank (static advice, leave-one-out)",
    "largest": "largest model",
    "best_base": "best base score on the task (oracle-ish)",
    "random": "random choice (expected)",
}


def _fmt(x: float | None, digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


VALUE_WORDS = {"finetuned": "fine-tuned score", "base": "score without fine-tuning", "gain": "gain from fine-tuning"}


def _gap(c: Any) -> str:
    if c.gap is None:
        return "—"
    if c.rank == 1:
        return "#1"
    return f"{c.gap:+.3f} [{c.gap_lower:+.2f}, {c.gap_upper:+.2f}]"


def _score(c: Any) -> str:
    if c.predicted_score is None:
        return "—"
    if c.measured:
        return f"{c.predicted_score:.3f} measured"
    return f"{c.predicted_score:.2f} [{c.lower:.2f}–{c.upper:.2f}]"


def _flags(c: Any) -> str:
    out = []
    if c.cold_start:
        out.append("cold start")
    elif c.low_evidence:
        out.append("low evidence")
    if c.requirements:
        out.append("; ".join(r.split(":")[0] + ("?" if "unknown" in r else "✗") for r in c.requirements))
    if c.superseded_by:
        out.append(f"superseded by {c.superseded_by}")
    if c.other_variant:
        out.append(f"also: {c.other_variant.split('/')[-1]}")
    return "; ".join(out)


def render_recommendation(rec: Any) -> Iterator[Any]:
    """The recommendation table: the gap to the first pick and the chance of being best lead; the absolute
    score is a range for tasks like this one unless a measurement anchors it. The same numbers as the JSON."""
    from rich.table import Table
    from rich.text import Text

    what = VALUE_WORDS.get(rec.value, rec.value)
    title = (f"slmselect recommendation — objective: {rec.objective}; gap = expected {what} below #1 on your task "
             f"(0-1, 95% interval); P(best) = chance of being the best candidate")
    t = Table(title=title, title_justify="left")
    t.add_column("#", justify="right", no_wrap=True, min_width=1)
    t.add_column("model", no_wrap=True)
    deploy = rec.constraints.get("deploy")
    for col in ("params", f"mem GB ({deploy})" if deploy else "mem GB", "gap vs #1", "P(best)"):
        t.add_column(col, justify="right", no_wrap=True)
    t.add_column(f"{what} ({'anchored by your measurement' if rec.anchored else 'range on tasks like this'})",
                 justify="right", no_wrap=True)
    t.add_column("notes", no_wrap=True)
    for c in rec.candidates:
        t.add_row(str(c.rank), c.model_id, "—" if c.params_b is None else f"{c.params_b:g}B",
                  _fmt(c.memory_gb, 2 if deploy else 1) + ("*" if c.memory_source == "measured" else ""),
                  _gap(c), "—" if c.p_best is None else f"{c.p_best:.0%}", _score(c), _flags(c))
    yield t
    if rec.task_type:
        yield Text(f"Task type: {rec.task_type}" + (f" — {rec.task_type_reason}" if rec.task_type_reason else ""), style="dim")
    if rec.profile is not None:
        p = rec.profile
        sampled = getattr(p, "stats_sample", None)
        of = f" (lengths, language and type from a sample of {sampled:,})" if sampled and sampled < p.n_examples else ""
        yield Text(f"Task profile: {p.task_type} (confidence {p.confidence:.2f}), {p.n_examples} examples{of}, "
                   f"output {p.output_format}, language {p.language}, input up to {p.input_tokens.max} tokens"
                   + (f", {len(p.labels)} labels" if p.labels else "")
                   + (f", majority label {p.majority_label!r} {p.majority_rate:.0%}" if p.majority_rate is not None else ""),
                   style="dim")
    for c in rec.candidates:
        ev = ", ".join(f"{e.task_id} [{e.source_id}] {e.score:.2f}" + (f" ({e.weight:.0%})" if e.weight >= 0.005 else "")
                       for e in c.evidence[:3]) or "none"
        ev += f" — {c.evidence_share:.0%} of the prediction rests on results close to your task, the rest on its overall standing"
        lic = f"{c.license or 'licence unknown'}" + (f" (commercial use: {c.commercial_use})" if c.commercial_use else "")
        facts = (f"context {c.context_len or 'unknown'}, languages {c.languages or 'unknown'}, tools "
                 f"{c.tool_calls or 'unknown'}")
        yield Text(f"#{c.rank} {c.model_id} — {lic}; {facts}; evidence: {ev}")
        for n in c.notes:
            yield Text(f"   ↳ {n}", style="yellow")
    if rec.cold_start:
        yield Text("Without evidence of this kind (listed apart, predicted from metadata only): "
                   + ", ".join(c.model_id for c in rec.cold_start), style="dim")
    for n in rec.notes:
        yield Text(f"• {n}", style="dim")
    if rec.excluded:
        yield Text("Excluded: " + "; ".join(f"{k}: {len(v)} model(s)" for k, v in rec.excluded.items()), style="dim")
    yield Text(f"Similarity by {rec.embedder}.", style="dim")


def render_compare(result: Any) -> Iterator[Any]:
    """The `slmselect compare` tables of a :class:`~slmselect.evidence.compare.CompareReport`: models ×
    categories, then average rank with 95% CI per objective."""
    from rich.table import Table
    from rich.text import Text

    source, table = result.source, result.categories
    t = Table(title=f"{result.value} scores by task category — {source}", caption=result.source_name, title_justify="left")
    t.add_column("model", no_wrap=True)
    for c in table.columns:
        t.add_column("params" if c == "params_b" else str(c).replace("_", "\n"), justify="right")
    for mid, row in table.iterrows():
        cells = []
        for c, v in row.items():
            if v != v:
                cells.append("—")
            elif c == "params_b":
                cells.append(f"{v:g}B")
            else:
                cells.append(f"{100 * v:.1f}")
        t.add_row(str(mid), *cells)
    yield t
    yield Text("Scores in %, averaged over the source's tasks in each category; compare rows only within this source.", style="dim")
    labels = {"finetuned": "fine-tuned performance", "tunability": "tunability (fine-tuned − base)", "base": "base performance"}
    for obj, df in result.average_ranks.items():
        pub = result.published_ranks.get(obj)
        if len(df):
            rt = Table(title=f"Average rank, {labels[obj]} — computed from {source} ({int(df['n_tasks'].max())} tasks)", title_justify="left")
            for c in ("model", "avg rank", "95% CI", "tasks"):
                rt.add_column(c, justify="left" if c == "model" else "right")
            for r in df.itertuples():
                rt.add_row(r.model_id, f"{r.avg_rank:.2f}", f"±{r.ci95:.2f}", str(r.n_tasks))
            yield rt
        if pub is not None and len(pub):
            pt = Table(title=f"Average rank, {labels[obj]} — as published by {source}", title_justify="left")
            for c in ("model", "avg rank", "95% CI"):
                pt.add_column(c, justify="left" if c == "model" else "right")
            for r in pub.itertuples():
                pt.add_row(r.model_id, f"{r.avg_rank:.2f}", "—" if r.ci95 != r.ci95 else f"±{r.ci95:.2f}")
            yield pt

def _fmt_eval(x: float | None, pct: bool = False) -> str:
    if x is None or x != x:
        return "—"
    return f"{100 * x:.0f}%" if pct else f"{x:.3f}"


def _pts(x: float | None) -> str:
    """A figure given in points (of a 0-100 scale)."""
    return "—" if x is None or x != x else f"{x:.1f}"


def render_evaluation(rep: Any) -> Iterator[Any]:
    """The `slmselect evaluate` tables: per objective and scope, each method's figures."""
    from rich.table import Table
    from rich.text import Text

    scopes = list(dict.fromkeys(f.scope for f in rep.figures))
    for obj in rep.objectives:
        for scope in scopes:
            figs = [f for f in rep.figures if f.objective == obj and f.scope == scope]
            if not figs:
                continue
            where = "all evaluated sources" if scope == "all" else scope
            t = Table(title=f"{obj} — {where} — {figs[0].n_tasks} held-out tasks", title_justify="left")
            t.add_column("method", no_wrap=True)
            cols = ["top-1", "top-3", "regret", "Spearman", "Kendall"]
            cols += ["in tol", "mem ×"] if obj == "edge" else ["cover"]
            cols += ["gap cover", "gap width"] + ([] if obj == "edge" else ["anch. RMSE", "anch. cover"])
            for c in cols:
                t.add_column(c, justify="right")
            for f in figs:
                cells = [_fmt_eval(f.top1, True), _fmt_eval(f.top3_recall, True), _pts(f.points("regret")), _fmt_eval(f.spearman), _fmt_eval(f.kendall)]
                if obj == "edge":
                    cells += [_fmt_eval(f.within_tolerance, True), "—" if f.memory_ratio is None else f"{f.memory_ratio:.2f}"]
                else:
                    cells.append(_fmt_eval(f.coverage, True))
                cells += [_fmt_eval(f.gap_coverage, True), _pts(f.points("gap_width"))]
                if obj != "edge":
                    cells += [_pts(f.points("anchored_rmse")), _fmt_eval(f.anchored_coverage, True)]
                t.add_row(SHORT_LABELS.get(f.method, f.method), *cells, style="bold" if f.method == "slmselect" else None)
            yield t
            comps = [c for c in rep.comparisons if c.objective == obj and c.scope == scope]
            if comps:
                yield Text("  slmselect's regret per task vs " + "; ".join(
                    f"{SHORT_LABELS.get(c.baseline, c.baseline)}: lower on {c.better}, higher on {c.worse}, tied {c.tied}"
                    for c in comps), style="dim")
    yield Text("Methods: " + "; ".join(f"{SHORT_LABELS[m]} = {METHOD_LABELS[m]}" for m in dict.fromkeys(f.method for f in rep.figures)) + ". "
               "top-1: the pick is a true best; top-3: a true best is among the first three; regret: best true score - "
               "the pick's, in points (0-100); Spearman/Kendall: predicted vs true order; cover: true scores inside the "
               "95% interval; gap cover / gap width: true gaps below the pick inside their 95% gap interval, and its mean width in points; "
               "anch. RMSE / anch. cover: with the pick's true score revealed, the other candidates' error in points and "
               "their 95% coverage (edge: in tol = the pick is within the tolerance of the best; mem × = pick memory / "
               "true edge model memory).", style="dim")
    scenario = ", ".join(f"{k}={v}" for k, v in (getattr(rep, "scenario", None) or {}).items()) or "no constraints"
    yield Text(f"Held out by dataset: {getattr(rep, 'folds', 0)} outer folds, settings chosen by {getattr(rep, 'inner_folds', 0)} "
               f"inner folds on the training datasets only; candidates: {scenario}; similarity by {rep.embedder}; "
               f"{rep.seconds:.2f}s.", style="dim")
    for n in rep.notes:
        yield Text(f"• {n}", style="dim")


def render_evaluation_tasks(df: Any) -> Any:
    """The per-task rows of `slmselect evaluate --tasks`."""
    from rich.table import Table

    t = Table(title="Per-task rows", title_justify="left")
    cols = [c for c in ["objective", "method", "source_id", "task_id", "n_models", "best_model", "pick", "hit", "top3",
                        "regret", "spearman"] if c in df.columns]
    numeric = {"n_models", "hit", "top3", "regret", "spearman"}
    for c in cols:
        t.add_column(c, justify="right" if c in numeric else "left")
    for r in df[cols].itertuples(index=False):
        t.add_row(*["—" if v is None or v != v else (f"{v:.3f}" if isinstance(v, float) else str(v)) for v in r])
    return t
