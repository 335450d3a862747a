"""compare --plot: real PNG files rendered headless, for the guide and LoRA Land sources."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from slmselect.evidence.db import load_db
from slmselect.errors import ParameterError
from slmselect.evidence.compare import chart_data
from slmselect.report.plots import pareto_frontier, plot_compare

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("source", ["distil_guide_2025", "lora_land_2024"])
def test_plot_renders_png(tmp_path: Path, source: str) -> None:
    out = plot_compare(chart_data(load_db(), source), tmp_path / f"{source}.png")
    data = out.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 20_000  # two panels with labels, not an empty canvas


def test_plot_filters_and_objective(tmp_path: Path) -> None:
    out = plot_compare(chart_data(load_db(), "lora_land_2024", families=["Mistral", "Gemma"], objective="tunability"), tmp_path / "t.png")
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_plot_published_ranks_fallback(tmp_path: Path) -> None:
    # distil_12x8_2025 has fine-tuned scores for two models only: the published rank table is drawn instead
    out = plot_compare(chart_data(load_db(), "distil_12x8_2025"), tmp_path / "p.png")
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_bad_source_suggests() -> None:
    with pytest.raises(ParameterError, match="Did you mean 'lora_land_2024'"):
        plot_compare(chart_data(load_db(), "lora_land"), "x.png")


def test_bad_folder(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="does not exist"):
        plot_compare(chart_data(load_db(), "lora_land_2024"), tmp_path / "nope" / "x.png")


def test_pareto_frontier() -> None:
    params = np.array([1.0, 2.0, 3.0, 3.0, 8.0])
    score = np.array([0.5, 0.4, 0.7, 0.6, 0.7])
    assert pareto_frontier(params, score).tolist() == [True, False, True, False, False]


def test_cli_compare_plot(tmp_path: Path) -> None:
    out = tmp_path / "cmp.png"
    res = subprocess.run([sys.executable, "-m", "slmselect.cli", "compare", "--source", "distil_guide_2025", "--plot", str(out), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_compare_plots_the_score_it_shows(tmp_path: Path) -> None:
    from slmselect import compare

    result = compare("helm_lite", plot=tmp_path / "b.png")  # a leaderboard: base scores only
    assert result.value == "base" and result.plot == str(tmp_path / "b.png")
    assert (tmp_path / "b.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
