"""Charts for `slmselect compare --plot FILE`: average rank with 95% CI, and score versus size with the Pareto frontier.

matplotlib is imported only here, lazily, and drawn with the Agg canvas, so plotting works headless.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from slmselect.errors import MissingDependencyError, ParameterError

LABELS = {"finetuned": "fine-tuned score", "tunability": "gain from fine-tuning (fine-tuned − base)", "base": "base score"}


def pareto_frontier(params: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Boolean mask of the points no other point beats: fewer (or equal) parameters and a higher (or equal) score."""
    params, score = np.asarray(params, float), np.asarray(score, float)
    le_p = params[None, :] <= params[:, None]  # [i, j]: j is no larger than i
    ge_s = score[None, :] >= score[:, None]
    strict = (params[None, :] < params[:, None]) | (score[None, :] > score[:, None])
    dominated = (le_p & ge_s & strict).any(axis=1)
    return ~dominated


def _short(mid: str) -> str:
    return mid.split("/")[-1]


def plot_compare(data: Any, path: str | os.PathLike[str]) -> Path:
    """Write a PNG (or any format matplotlib knows from the suffix) with two panels for one source.

    Left: average rank per model (1 = best) with 95% CI error bars, computed from the source's tasks, or the
    published table when the source has too few computed ranks. Right: mean score over the source's tasks
    versus parameters (log scale), with the Pareto frontier (higher score, fewer parameters) drawn and marked.
    ``data`` comes from :func:`slmselect.evidence.compare.chart_data`.
    """
    try:
        import matplotlib
    except ImportError:
        raise MissingDependencyError("Plotting needs matplotlib, which is not installed: `pip install matplotlib` "
                                     "(or `pip install 'slmselect[plot]'`).") from None
    if "matplotlib.pyplot" not in sys.modules:  # never switch the backend of a session that already plots
        matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    source, objective, ranks, rank_note = data.source, data.objective, data.ranks, data.rank_note
    mean, params, n_tasks = data.means, data.params, data.n_tasks
    fig = Figure(figsize=(13, max(4.5, 0.42 * max(len(ranks), 6) + 1.5)), dpi=110)
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.15]})

    if len(ranks):
        d = ranks.sort_values("avg_rank", ascending=False)
        y = np.arange(len(d))
        err = d["ci95"].astype(float).fillna(0).to_numpy()
        ax1.errorbar(d["avg_rank"].astype(float), y, xerr=err, fmt="o", color="tab:blue", ecolor="tab:gray",
                     capsize=3, elinewidth=1.2)
        ax1.set_yticks(y)
        ax1.set_yticklabels([_short(m) for m in d["model_id"]], fontsize=8)
        ax1.set_xlabel("average rank (1 = best), 95% CI")
        ax1.grid(axis="x", alpha=0.3)
    else:
        ax1.text(0.5, 0.5, "no rank table: the source has\nfewer than two models per task", ha="center", va="center",
                 transform=ax1.transAxes)
        ax1.set_axis_off()
    ax1.set_title(f"Average rank of {LABELS[objective]}\n{rank_note}", fontsize=10)

    if len(mean):
        front = pareto_frontier(params.to_numpy(), mean["mean"].to_numpy())
        if (~front).any():
            ax2.scatter(params[~front], mean["mean"][~front], color="tab:gray", s=30, label="dominated")
        ax2.scatter(params[front], mean["mean"][front], color="tab:red", marker="*", s=140, zorder=3,
                    label="Pareto frontier (no model is smaller and better)")
        fp = params[front].sort_values()
        ax2.step(fp.to_numpy(), mean["mean"].reindex(fp.index).to_numpy(), where="post", color="tab:red", alpha=0.6)
        for mid in mean.index:
            ax2.annotate(_short(mid), (params[mid], mean.at[mid, "mean"]), fontsize=7, xytext=(4, 3),
                         textcoords="offset points", color="tab:red" if front[list(mean.index).index(mid)] else "black")
        from matplotlib.ticker import FuncFormatter

        ax2.set_xscale("log")
        fmt = FuncFormatter(lambda x, _: f"{x:g}")
        ax2.xaxis.set_major_formatter(fmt)
        ax2.xaxis.set_minor_formatter(fmt)
        ax2.tick_params(axis="x", which="minor", labelsize=7)
        ax2.legend(fontsize=8, loc="lower right")
    ax2.set_xlabel("parameters (billions, log scale)")
    ax2.set_ylabel(f"mean {LABELS[objective]} (0-1)")
    ax2.set_title(f"Mean {LABELS[objective]} vs size — {source}\nmean over the {n_tasks} task(s) each model has",
                  fontsize=10)
    ax2.grid(alpha=0.3, which="both")
    fig.tight_layout()
    out = Path(path)
    if out.parent and not out.parent.exists():
        raise ParameterError(f"Cannot write the plot to {str(out)!r}: folder {str(out.parent)!r} does not exist.")
    fig.savefig(out)
    return out
