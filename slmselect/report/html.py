"""One self-contained HTML file: task profile, ranked candidates, constraints, charts, confirm's before and after.

:func:`write_report` draws whatever it is given (a recommendation, a confirm report, a task profile),
reading them by attribute, so this module imports nothing from the rest of slmselect but its base layer (errors,
the parameter layer).
The page carries its CSS inline and its charts as inline SVG (:mod:`slmselect.report.svg`): it opens
offline, from disk or an e-mail attachment, and prints.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Iterable
from html import escape
from pathlib import Path
from typing import Any

from slmselect.errors import ParameterError
from slmselect._validate import validate_params
from slmselect.report.svg import BeforeAfter, IntervalRow, SizePoint, before_after_chart, interval_chart, size_chart

#: Metrics that are a share of held-out examples, so a Wilson interval over n examples applies.
PROPORTIONS = {"accuracy", "call_accuracy", "exact_match"}

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;color:#1f2937;background:#f8fafc;margin:0}
main{max-width:1120px;margin:0 auto;padding:24px 32px 48px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:0 0 12px;color:#111827}
.sub{color:#6b7280;margin:0 0 20px}
section{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:18px 22px;margin:18px 0;
box-shadow:0 1px 2px rgba(0,0,0,.04)}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:6px 8px;border-bottom:1px solid #f1f5f9;text-align:left;vertical-align:top}
th{background:#f8fafc;font-weight:600;color:#374151}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.pill{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600}
.ok{background:#dcfce7;color:#166534}.failed,.refused,.interrupted{background:#fee2e2;color:#991b1b}
.eliminated{background:#fef3c7;color:#92400e}.low{background:#fef3c7;color:#92400e}
.kv{display:grid;grid-template-columns:repeat(4,minmax(0,1fr));gap:10px 18px}
.kv div{background:#f8fafc;border-radius:8px;padding:8px 10px}.kv b{display:block;font-size:12px;color:#6b7280;font-weight:500}
.note{color:#92400e;font-size:12px}.muted{color:#6b7280;font-size:12px}ul.ev{margin:0;padding-left:16px;font-size:12px}
details summary{cursor:pointer;color:#374151}code{background:#f1f5f9;padding:1px 4px;border-radius:4px}
svg{max-width:100%;height:auto}.pick{font-weight:700}
"""


def _f(x: Any, spec: str = ".3f", dash: str = "—") -> str:
    return dash if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _e(x: Any) -> str:
    return escape("" if x is None else str(x))


def _short(model_id: str) -> str:
    return model_id.rsplit("/", 1)[-1]


def wilson(score: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion ``score`` measured on ``n`` examples."""
    if n <= 0:
        return 0.0, 1.0
    centre = (score + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(score * (1 - score) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _table(headers: Iterable[str], rows: Iterable[Iterable[str]], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th class='num'>{h}</th>" if i in numeric else f"<th>{h}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f"<td class='num'>{c}</td>" if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# ---------------------------------------------------------------------------------------------- sections


def _examples_cell(p: Any) -> str:
    sampled = getattr(p, "stats_sample", None)
    if not sampled or sampled >= p.n_examples:
        return str(p.n_examples)
    return f"{p.n_examples} (lengths, language, type from a seeded sample of {sampled})"


def _profile_section(p: Any) -> str:
    labels = getattr(p, "labels", None) or []
    cells = [
        ("task type", f"{p.task_type} ({p.confidence:.2f})"),
        ("examples", _examples_cell(p)),
        ("output format", p.output_format),
        ("language", p.language),
        ("input tokens (mean / p95)", f"{p.input_tokens.mean:.0f} / {p.input_tokens.p95:.0f}"),
        ("output tokens (mean / p95)", f"{p.output_tokens.mean:.0f} / {p.output_tokens.p95:.0f}"),
        ("labels", f"{len(labels)}" if labels else "—"),
        ("fingerprint", str(p.fingerprint)[:12]),
    ]
    kv = "".join(f"<div><b>{_e(k)}</b>{_e(v)}</div>" for k, v in cells)
    extra = ""
    if labels:
        extra += f"<p class='muted'>labels: {_e(', '.join(labels[:40]))}</p>"
    if getattr(p, "description", None):
        extra += f"<p>description: {_e(p.description)}</p>"
    reasons = getattr(p, "reasons", None) or []
    if reasons:
        extra += "<details><summary>why this task type</summary><ul>" + "".join(f"<li>{_e(r)}</li>" for r in reasons) + "</ul></details>"
    samples = getattr(p, "sample_inputs", None) or []
    if samples:
        extra += "<details><summary>sample inputs</summary><ul>" + "".join(f"<li>{_e(s[:200])}</li>" for s in samples[:5]) + "</ul></details>"
    return f"<section id='profile'><h2>Task profile</h2><div class='kv'>{kv}</div>{extra}</section>"


def _evidence(c: Any) -> str:
    items = [
        f"<li>{_e(e.task_id)} <span class='muted'>[{_e(e.source_id)}]</span> {e.score:.2f} "
        f"<span class='muted'>similarity {e.similarity:.2f}, weight {e.weight:.0%}</span></li>"
        for e in (getattr(c, "evidence", None) or [])[:3]
    ]
    notes = "".join(f"<div class='note'>{_e(n)}</div>" for n in getattr(c, "notes", None) or [])
    return (f"<ul class='ev'>{''.join(items)}</ul>" if items else "<span class='muted'>no evidence</span>") + notes


def _candidates_section(rec: Any) -> str:
    """The same numbers as the table and the JSON: gap to #1 with its interval, P(best), and the score (a range on
    tasks like this one, or the measurement that anchors it)."""
    rows = []
    for c in rec.candidates:
        flags = []
        if getattr(c, "measured", False):
            flags.append("<span class='pill'>measured</span>")
        if c.cold_start:
            flags.append("<span class='pill low'>cold start</span>")
        elif c.low_evidence:
            flags.append("<span class='pill low'>low evidence</span>")
        gap = "—" if c.gap is None else ("#1" if c.rank == 1 else f"{c.gap:+.3f} [{c.gap_lower:+.2f}, {c.gap_upper:+.2f}]")
        facts = (f"context {c.context_len or 'unknown'}; languages {_e(c.languages or 'unknown')}; tools {_e(c.tool_calls or 'unknown')}"
                 + (f"; superseded by {_e(c.superseded_by)}" if c.superseded_by else "")
                 + (f"; also {_e(c.other_variant)}" if c.other_variant else ""))
        rows.append([
            str(c.rank), f"<span class='{'pick' if c.rank == 1 else ''}'>{_e(c.model_id)}</span><div class='muted'>{facts}</div>",
            _f(c.params_b, "g") + ("B" if c.params_b is not None else ""), _f(c.memory_gb, ".1f"),
            _e(c.license or "—"), gap, "—" if c.p_best is None else f"{c.p_best:.0%}",
            f"{_f(c.predicted_score)} [{c.lower:.2f} – {c.upper:.2f}] {' '.join(flags)}", _evidence(c),
        ])
    what = "measured-anchored" if getattr(rec, "anchored", False) else "range on tasks like this one"
    table = _table(["#", "model", "params", "memory GB", "licence", "gap vs #1 (95%)", "P(best)",
                    f"{_e(rec.value)} score ({what})", "evidence (top 3)"], rows, numeric={0, 2, 3, 5, 6, 7})
    chart = interval_chart(
        [IntervalRow(_short(c.model_id), c.predicted_score, c.lower, c.upper, highlight=c.rank == 1) for c in rec.candidates],
        f"{rec.value} score with 95% interval ({what})",
    )
    notes = "".join(f"<p class='muted'>• {_e(n)}</p>" for n in getattr(rec, "notes", None) or [])
    head = (f"<p class='sub'>objective <b>{_e(rec.objective)}</b>; gap = expected {_e(rec.value)} score below #1 on your "
            f"task (0-1), P(best) = chance of being the best candidate; similarity by "
            f"{_e(str(getattr(rec, 'embedder', '?')).split(' (')[0])}</p>")
    return f"<section id='candidates'><h2>Ranked candidates</h2>{head}{table}<div>{chart}</div>{notes}</section>"


def _constraints_section(rec: Any) -> str:
    constraints = getattr(rec, "constraints", None) or {}
    excluded = getattr(rec, "excluded", None) or {}
    given = ", ".join(f"<code>{_e(k)}={_e(v)}</code>" for k, v in constraints.items()) or "none given"
    rows = [
        [_e(k), str(len(v)), f"<details><summary>show</summary>{_e(', '.join(v))}</details>"]
        for k, v in excluded.items()
    ]
    table = _table(["constraint", "models excluded", "which"], rows, numeric={1}) if rows else "<p>nothing excluded</p>"
    return f"<section id='constraints'><h2>Constraints and what they excluded</h2><p>constraints: {given}</p>{table}</section>"


def _size_points_from_rec(rec: Any) -> list[SizePoint]:
    return [
        SizePoint(_short(c.model_id), c.params_b, c.predicted_score, c.lower, c.upper)
        for c in rec.candidates
        if c.params_b and c.predicted_score is not None
    ]


def _size_section(rec: Any | None, confirm: Any | None) -> str:
    charts = []
    if rec is not None:
        points = _size_points_from_rec(rec)
        charts.append(size_chart(points, f"{rec.value} score vs size (recommendation)", f"{rec.value} score"))
    if confirm is not None:
        points = []
        for c in confirm.candidates:
            if c.finetuned_score is not None and c.n_params and c.status == "ok":
                ci = _interval(c, "finetuned", confirm)
                points.append(SizePoint(_short(c.model_id), c.n_params / 1e9, c.finetuned_score, *(ci or (None, None))))
        charts.append(size_chart(points, f"Measured fine-tuned {confirm.metric} vs size (confirm)", f"fine-tuned {confirm.metric}"))
    return ("<section id='size'><h2>Score versus size</h2><p class='muted'>The Pareto frontier links the models that no "
            "other model beats while being smaller; bars are 95% intervals.</p>" + "".join(f"<div>{c}</div>" for c in charts)
            + "</section>")


def _interval(c: Any, which: str, report: Any) -> tuple[float, float] | None:
    """The result's own interval when it has one, else a Wilson interval for a proportion metric."""
    own = getattr(c, f"{which}_ci", None)
    if own:
        return float(own[0]), float(own[1])
    score = getattr(c, f"{which}_score")
    if score is None or c.metric not in PROPORTIONS:
        return None
    return wilson(score, int(report.n_eval))


def _confirm_section(report: Any, rec: Any | None) -> str:
    predicted = {c.model_id: (c.lower, c.upper) for c in rec.candidates} if rec is not None else {}
    pick = getattr(report, "pick", None)
    beside = getattr(report, "beside_metric", None)
    rows, bars = [], []
    for c in report.candidates:
        b_ci, t_ci = _interval(c, "base", report), _interval(c, "finetuned", report)
        ci = lambda v, i: _f(v) + (f" <span class='muted'>[{i[0]:.2f}, {i[1]:.2f}]</span>" if i else "")  # noqa: E731
        gain = None if c.base_score is None or c.finetuned_score is None else c.finetuned_score - c.base_score
        peak = getattr(c, "peak_memory_bytes", None)
        rows.append([
            f"<span class='{'pick' if c.model_id == pick else ''}'>{_e(c.model_id)}</span>",
            f"<span class='pill {_e(c.status)}'>{_e(c.status)}</span>"
            + (f"<div class='note'>{_e((c.reason or '').splitlines()[0][:300])}</div>" if c.reason else ""),
            ci(c.base_score, b_ci), ci(c.finetuned_score, t_ci),
            *([_f(c.finetuned_metrics.get(beside))] if beside else []), _f(gain, "+.3f"), str(c.steps),
            _f(c.train_seconds, ".1f"), _f(None if peak is None else peak / 1024**3, ".2f"),
        ])
        bars.append(BeforeAfter(_short(c.model_id), c.base_score, b_ci, c.finetuned_score, t_ci, c.status,
                                predicted.get(c.model_id)))
    heads = ["model", "status", f"base {_e(report.metric)}", f"fine-tuned {_e(report.metric)}"]
    heads += [f"fine-tuned {_e(beside)}"] if beside else []
    heads += ["gain", "steps", "train s", "peak GB"]
    table = _table(heads, rows, numeric=set(range(2, len(heads))))
    chart = before_after_chart(bars, f"Before and after fine-tuning: {report.metric} on {report.n_eval} held-out examples")
    if any(getattr(c, "finetuned_ci", None) or getattr(c, "base_ci", None) for c in report.candidates):
        how = "95% intervals as measured by the run (bootstrap over the test examples)"
    elif report.metric in PROPORTIONS:
        how = f"Wilson 95% intervals over the {report.n_eval} held-out examples"
    else:
        how = f"{report.metric} is not a share of examples and the run measured no interval"
    lines = [f"{report.task_type}, {report.n_train} examples trained, {report.n_eval} held out, device {report.device}; {how}."]
    if pick:
        lines.append(f"pick: <b>{_e(pick)}</b>" + ("" if report.first_choice in (None, pick) else
                                                   f" (the first choice was {_e(report.first_choice)})"))
    if getattr(report, "verdict", None):
        lines.append(f"verdict: {_e(report.verdict)}")
    halving = getattr(report, "halving", None)
    if halving is not None:
        lines.append(f"successive halving: {halving.rung_steps}-step rung, kept {_e(', '.join(halving.kept))}; "
                     f"{halving.steps_used} of {halving.steps_full_budget} training steps")
    if getattr(report, "interrupted", False):
        lines.append("interrupted: the candidates that finished are kept; --resume goes on from there")
    for c in report.candidates:
        if getattr(c, "reused_from", None):
            lines.append(f"{_e(c.model_id)}: reused from run {_e(c.reused_from)} (same data and settings; --resume)")
    lines += [_e(n) for n in getattr(report, "notes", None) or []]
    text = "".join(f"<p class='muted'>{line}</p>" for line in lines)
    return (f"<section id='confirm'><h2>Confirm: measured before and after</h2>{text}{table}<div>{chart}</div>"
            f"{_serving_section(report)}</section>")


def _serving_section(report: Any) -> str:
    """llama.cpp's measurements of the candidates on this machine (confirm(serve=True)), tagged with the hardware."""
    served = [c for c in report.candidates if getattr(c, "serving", None)]
    if not served:
        return ""
    from slmselect.report.confirm import hardware_text

    rows = [[_e(c.model_id), _e(s.get("format")), _f(s.get("prompt_tokens_per_second"), ".0f"),
             _f(s.get("generation_tokens_per_second"), ".0f"), _f(s.get("latency_p50_ms"), ".0f"),
             _f(s.get("latency_p95_ms"), ".0f"), _f(s["peak_rss_bytes"] / 1e6 if s.get("peak_rss_bytes") else None, ".0f"),
             _f(s.get("score")), _f(c.finetuned_score)] for c in served for s in [c.serving]]
    table = _table(["model", "format", "prompt tok/s", "gen tok/s", "p50 ms", "p95 ms", "peak MB", "served score",
                    "fine-tuned score"], rows, numeric={2, 3, 4, 5, 6, 7, 8})
    hw = _e(hardware_text(served[0].serving.get("hardware") or {}))
    return (f"<h3>Served in llama.cpp on this machine</h3><p class='muted'>{hw}; the test examples one at a time, "
            "greedy; peak MB is the llama.cpp process's peak resident memory.</p>" + table)


# ---------------------------------------------------------------------------------------------- page


def render_html(*, recommendation: Any = None, confirm_report: Any = None, profile: Any = None, db: Any = None) -> str:
    """The report as one HTML document (text). Give at least one of the three things to show."""
    if recommendation is None and confirm_report is None and profile is None:
        raise ParameterError("The report needs something to show: a recommendation, a confirm report or a task profile.")
    profile = profile if profile is not None else getattr(recommendation, "profile", None)
    parts = []
    if profile is not None:
        parts.append(_profile_section(profile))
    if recommendation is not None:
        parts += [_candidates_section(recommendation), _constraints_section(recommendation)]
    if recommendation is not None or confirm_report is not None:
        parts.append(_size_section(recommendation, confirm_report))
    if confirm_report is not None:
        parts.append(_confirm_section(confirm_report, recommendation))
    sources = ""
    if db is not None and getattr(db, "sources", None) is not None:
        used = {e.source_id for c in getattr(recommendation, "candidates", []) for e in c.evidence}
        names = [f"<li><b>{_e(s)}</b> {_e(db.sources.at[s, 'name'])} <span class='muted'>{_e(db.sources.at[s, 'url'])}</span></li>"
                 for s in sorted(used) if s in db.sources.index]
        if names:
            sources = f"<section id='sources'><h2>Sources of the evidence</h2><ul>{''.join(names)}</ul></section>"
    desc = getattr(recommendation, "description", None) or getattr(profile, "description", None)
    title = "slmselect report" + (f": {desc}" if desc else "")
    stamp = time.strftime("%Y-%m-%d %H:%M")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width,initial-scale=1'><title>{_e(title)}</title>"
        f"<style>{CSS}</style></head><body><main><h1>{_e(title)}</h1>"
        f"<p class='sub'>Which small language model to fine-tune — written by slmselect on {stamp}. Every score is 0-1; "
        "every number traces to its source (the evidence column) or to a local confirm run.</p>"
        + "".join(parts) + sources + "</main></body></html>"
    )


@validate_params("report")
def write_report(
    path: str | os.PathLike[str], *, recommendation: Any = None, confirm_report: Any = None, profile: Any = None,
    db: Any = None,
) -> Path:
    """Write the report to ``path`` (one self-contained .html file) atomically; returns the path."""
    out = Path(path).expanduser()
    if not out.parent.is_dir():
        raise ParameterError(f"Cannot write the report to {str(out)!r}: folder {str(out.parent)!r} does not exist.")
    text = render_html(recommendation=recommendation, confirm_report=confirm_report, profile=profile, db=db)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")  # created with the usual permissions (umask)
    try:
        with open(tmp, "x", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out


def html_text(path: str | os.PathLike[str] | None = None, **shown: Any) -> str:
    """The report's HTML text; written to ``path`` as well when one is given (what the results' ``to_html`` do)."""
    if path is None:
        return render_html(**shown)
    return write_report(path, **shown).read_text(encoding="utf-8")
