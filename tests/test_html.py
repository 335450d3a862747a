"""The HTML report, opened in a real headless browser (Debian's chromium): screenshot and rendered DOM.

The recommendation is computed here on real TREC questions; the confirm report is a real run recorded in
``tests/data/confirm_report_trec.json`` (``python benchmarks/ray_bench.py --save-report ...``: three candidates,
the third a local-folder copy of SmolLM2 in ``.slmselect_cache/``, confirmed on TREC on a local Ray cluster
on this project's 2-core CPU; see docs/report.md).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from slmselect.confirmation import ConfirmReport
from slmselect.errors import ParameterError
from slmselect.recommender import recommend
from slmselect.report.html import wilson, write_report

DATA = Path(__file__).parent / "data"
SMOL = "HuggingFaceTB/SmolLM2-135M-Instruct"
GEMMA = "google/gemma-3-270m"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's chromium: apt-get install -y chromium (.ci/run installs it)")


@pytest.fixture(scope="module")
def rec(trec_rows):
    return recommend(trec_rows, top_k=5, max_params="4B", licenses="commercial")


@pytest.fixture(scope="module")
def confirmed() -> ConfirmReport:
    return ConfirmReport.model_validate_json((DATA / "confirm_report_trec.json").read_text())


def _chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
                          capture_output=True, text=True, timeout=120)


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.mark.slow  # starts a browser
@needs_chromium
def test_the_report_renders_in_a_real_browser(rec, confirmed, tmp_path):
    page = write_report(tmp_path / "report.html", recommendation=rec, confirm_report=confirmed)
    html = page.read_text()
    assert not re.search(r"<(script|link|img)\b|\b(src|href)\s*=", html)  # self-contained: nothing to fetch

    dom = _chromium("--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    parsed = _Dom()
    parsed.feed(dom.stdout)
    text = " ".join(parsed.text)
    for c in rec.candidates:  # every ranked candidate, with its interval
        assert c.model_id in text and f"{c.lower:.2f} – {c.upper:.2f}" in text
    for c in confirmed.candidates:
        assert c.model_id in text
    assert "Pareto frontier" in text and "Before and after fine-tuning" in text
    assert parsed.tags.count("svg") == 4  # intervals, score vs size (recommend, confirm), before/after
    assert parsed.tags.count("circle") >= len(rec.candidates)
    for k in rec.excluded:
        assert k in text

    shot = tmp_path / "report.png"
    run = _chromium(f"--screenshot={shot}", "--window-size=1280,4000", page.as_uri())
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    from PIL import Image

    img = Image.open(shot).convert("RGB")
    assert img.size == (1280, 4000)
    small = img.resize((320, 1000))
    colours = small.getcolors(maxcolors=1 << 16) or []
    assert len(colours) > 200  # text, tables and charts, not a blank page
    raw = small.tobytes()
    pixels = [tuple(raw[i:i + 3]) for i in range(0, len(raw), 3)]
    red = sum(1 for r, g, b in pixels if r > 190 and g < 80 and b < 80)  # Pareto frontier markers and line
    green = sum(1 for r, g, b in pixels if g > 130 and r < 60 and b < 110)  # fine-tuned scores
    assert red > 20 and green > 3


def test_to_html_methods_and_atomic_write(rec, confirmed, trec_rows, tmp_path):
    html = rec.to_html()
    assert html.startswith("<!DOCTYPE html>") and rec.best.model_id in html and "Confirm" not in html
    assert "predicted 95% interval" not in confirmed.to_html()
    pair = recommend(trec_rows, models=[SMOL, GEMMA], top_k=2)  # the confirmed models, predicted
    both = confirmed.to_html(tmp_path / "c.html", recommendation=pair)
    assert (tmp_path / "c.html").read_text() == both and "predicted 95% interval" in both
    assert [p.name for p in tmp_path.iterdir()] == ["c.html"]  # no temporary file left behind
    assert (tmp_path / "c.html").stat().st_mode & 0o044  # readable by others as the umask allows, like any file
    profile_only = write_report(tmp_path / "p.html", profile=rec.profile).read_text()
    assert "Task profile" in profile_only and "Ranked candidates" not in profile_only


def test_bad_report_calls_say_what_to_do(rec, tmp_path):
    with pytest.raises(ParameterError, match="needs something to show"):
        write_report(tmp_path / "x.html")
    with pytest.raises(ParameterError, match="does not exist"):
        write_report(tmp_path / "no" / "x.html", recommendation=rec)


def test_wilson_interval():
    lo, hi = wilson(0.5, 32)
    assert lo == pytest.approx(0.336, abs=1e-3) and hi == pytest.approx(0.664, abs=1e-3)
    assert wilson(0.0, 10)[0] == 0.0 and wilson(1.0, 10)[1] == 1.0


def test_report_command_from_saved_results(rec, tmp_path, capsys):
    from slmselect.cli import main

    saved = tmp_path / "rec.json"
    saved.write_text(rec.to_json())
    out = tmp_path / "report.html"
    assert main(["report", str(out), "--recommendation", str(saved), "--confirm", str(DATA / "confirm_report_trec.json")]) == 0
    html = out.read_text()
    assert rec.best.model_id in html and "Before and after fine-tuning" in html and html.count("<svg") == 4
    assert main(["report", str(tmp_path / "x.html"), "--confirm", str(saved)]) == 2  # a recommendation is no confirm report
    assert "Cannot read" in capsys.readouterr().err and not (tmp_path / "x.html").exists()
    assert main(["report", str(tmp_path / "x.html")]) == 2
    capsys.readouterr()
    assert main(["report", str(tmp_path / "y.html"), "--confirm", str(DATA / "confirm_report_trec.json"), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["report"] == str(tmp_path / "y.html") and printed["recommendation"] is None
    assert "Before and after fine-tuning" in (tmp_path / "y.html").read_text()
