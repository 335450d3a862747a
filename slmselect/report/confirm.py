"""Rich rendering of a :class:`~slmselect.confirmation.results.ConfirmReport` (rich imported only here)."""

from __future__ import annotations

from typing import Any


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def _with_ci(value: float | None, ci: tuple[float, float] | None, spec: str = ".2f") -> str:
    if value is None:
        return "-"
    return f"{value:{spec}}" if ci is None else f"{value:{spec}} [{ci[0]:{spec}}, {ci[1]:{spec}}]"


def render_report(report: Any, width: int = 120) -> Any:
    """Rich renderables for a report: a table of candidates and a few lines of summary (throughput and
    peak memory only when ``width`` leaves room for them)."""
    from rich.table import Table
    from rich.text import Text

    val = f", pick made on {report.n_validation} validation examples" if report.n_validation else ""
    title = (
        f"confirm: {report.task_type}, {report.metric} on {report.n_eval} test examples with 95% intervals "
        f"({report.n_train} trained{val})"
    )
    table = Table(title=title, title_justify="left")
    wide = width >= 110
    beside = report.beside_metric
    beside_col = {"macro_f1": "macro-F1", "accuracy": "accuracy"}.get(beside or "", "")
    columns = ["status", "base", "tuned"] + ([beside_col] if beside else []) + ["gain"]
    columns += (["val"] if report.n_validation else []) + ["steps", "train s"]
    columns += ["tok/s", "peak GB"] if wide else []
    longest = max((len(c.model_id) + 2 for c in report.candidates), default=10)
    room = width - sum(max(len(n), 6) + 3 for n in columns) - 4  # cells, padding and borders of the others
    table.add_column("model", no_wrap=True, overflow="ellipsis", max_width=max(12, min(longest, room)))
    for name in columns:
        table.add_column(name, justify="left" if name == "status" else "right", no_wrap=True, min_width=len(name))
    pick = report.pick
    for c in report.candidates:
        gain = c.gain
        cells = {
            "status": c.status,
            "base": _with_ci(c.base_score, c.base_ci),
            "tuned": _with_ci(c.finetuned_score, c.finetuned_ci),
            "gain": _with_ci(gain, c.gain_ci, "+.2f"),
            "val": _fmt(c.validation_score, ".2f"),
            beside_col: _fmt(c.finetuned_metrics.get(beside or ""), ".2f"),
            "steps": str(c.steps),
            "train s": _fmt(c.train_seconds, ".1f"),
            "tok/s": _fmt(c.tokens_per_second, ".0f"),
            "peak GB": _fmt(c.peak_memory_gb, ".2f"),
        }
        name = f"* {c.model_id}" if c.model_id == pick else c.model_id
        table.add_row(name, *(cells[k] for k in columns))
    yield table
    served = [c for c in report.candidates if getattr(c, "serving", None)]
    if served:
        yield from render_serving({c.model_id: c.serving for c in served},
                                  tuned={c.model_id: c.finetuned_score for c in served})
    lines: list[str] = []
    if pick:
        agree = report.agrees_with_first_choice
        tail = (
            ""
            if agree is None
            else (" (agrees with the first choice)" if agree else f" (first choice was {report.first_choice})")
        )
        lines.append(f"pick: {pick}{tail}")
        lines.extend(f"  {c.text}" for c in report.comparisons)
        if report.verdict:
            lines.append(f"verdict: {report.verdict}")
    else:
        lines.append("no candidate finished")
    for c in report.candidates:
        if c.reason and c.status != "ok":
            lines.append(f"{c.model_id}: {c.status}: {c.reason.splitlines()[0]}")
    if report.halving is not None:
        h = report.halving
        lines.append(
            f"successive halving: {h.rung_steps}-step rung, kept {', '.join(h.kept)}; "
            f"{h.steps_used} of {h.steps_full_budget} training steps "
            f"(saved {h.steps_saved}, ~{h.seconds_saved_estimate:.0f} s)"
        )
    if report.interrupted:
        lines.append("interrupted: the candidates above that finished are kept; --resume goes on from there")
    for c in report.candidates:
        if c.reused_from:
            lines.append(f"{c.model_id}: reused from run {c.reused_from} (same data and settings; --resume)")
        elif c.resumed_from_step:
            lines.append(f"{c.model_id}: training went on from the step-{c.resumed_from_step} checkpoint of a killed run")
    if report.store_path:
        lines.append(f"results stored in {report.store_path}")
    lines.extend(report.notes)
    yield Text("\n".join(lines))


def hardware_text(hw: dict[str, Any]) -> str:
    """One line for a hardware tag: CPU, cores, RAM, GPU."""
    ram = hw.get("ram_bytes")
    parts = [str(hw.get("cpu") or "unknown CPU"), f"{hw.get('cpu_count')} cores"]
    parts += [f"{ram / 1024**3:.0f} GiB RAM"] if ram else []
    parts += [f"GPU {hw['gpu']}"] if hw.get("gpu") else []
    return ", ".join(parts)


def render_serving(serving: dict[str, Any], tuned: dict[str, float | None] | None = None) -> Any:
    """A table of llama.cpp measurements: one serving dict, or {model: serving}; ``tuned`` adds the confirm score."""
    from rich.table import Table
    from rich.text import Text

    rows = serving if "format" not in serving else {serving.get("model_id", "model"): serving}
    first = next(iter(rows.values()))
    t = Table(title=f"served in llama.cpp on this machine ({hardware_text(first.get('hardware') or {})})",
              title_justify="left")
    cols = ["format", "prompt tok/s", "gen tok/s", "p50 ms", "p95 ms", "peak MB", "served score"]
    cols += ["tuned score"] if tuned else []
    t.add_column("model", no_wrap=True)
    for col in cols:
        t.add_column(col, justify="right", no_wrap=True)
    for model, s in rows.items():
        cells = [str(s.get("format")), _fmt(s.get("prompt_tokens_per_second"), ".0f"),
                 _fmt(s.get("generation_tokens_per_second"), ".0f"), _fmt(s.get("latency_p50_ms"), ".0f"),
                 _fmt(s.get("latency_p95_ms"), ".0f"), _fmt(s["peak_rss_bytes"] / 1e6 if s.get("peak_rss_bytes") else None, ".0f"),
                 _fmt(s.get("score"), ".3f")]
        cells += [_fmt((tuned or {}).get(model), ".3f")] if tuned else []
        t.add_row(model, *cells)
    yield t
    yield Text(f"{first.get('n_examples', '?')} examples one at a time, greedy; served score: {first.get('metric', 'the metric')} "
               "of llama.cpp's answers on the same test examples; peak MB: the llama.cpp process's peak resident memory",
               style="dim")
