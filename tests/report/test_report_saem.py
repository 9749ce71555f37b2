"""The report of a SAEM run (issue 20): what a user runs (`cartpk fit` with ``method =
"saem"``, then `cartpk report`) shows the objective function of the run and SAEM's checks,
and a failed or weakly identified fit says so."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from cartpk.cli import main

REPO = Path(__file__).resolve().parents[2]
SHORT = "explore = 80\nsmooth = 40\nis_samples = 300\nfim_samples = 150\n"


def _text(html: Path) -> str:
    return re.sub(r"\s+", " ", re.sub("<[^>]+>", " ", html.read_text()))


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("saem_report")
    text = (REPO / "fits" / "stein2019_saem.toml").read_text()
    spec = tmp / "saem.toml"
    spec.write_text(text.replace("explore = 300", "").replace("smooth = 200", "") + SHORT)
    out = tmp / "run"
    assert main(["fit", str(spec), "--out", str(out), "--quiet"]) == 0
    return out


def _report(run: Path, tmp_path: Path) -> str:
    html = tmp_path / "report.html"
    assert main(["report", str(run), "--out", str(html)]) == 0
    return _text(html)


def test_report_shows_the_objective_function_and_the_checks(run, tmp_path):
    d = json.loads((run / "diagnostics.json").read_text())
    text = _report(run, tmp_path)
    assert f"-2LL (importance sampling) {d['minus2ll']:.2f} (Monte-Carlo SE" in text
    assert f"AIC {d['aic']:.2f}" in text and f"BIC (log N subjects) {d['bic']:.2f}" in text
    assert "Fisher information positive definite yes" in text
    assert "every SAEM check passed" in text


def test_a_failed_fit_and_a_poorly_identified_one_are_flagged(run, tmp_path):
    failed = tmp_path / "failed"
    shutil.copytree(run, failed)
    d = json.loads((failed / "diagnostics.json").read_text())
    bad = {**d, "fim_positive_definite": False, "converged": False, "at_bound": ["fb"]}
    (failed / "diagnostics.json").write_text(json.dumps(bad))
    text = _report(failed, tmp_path / "a")
    assert "SAEM did not converge (Fisher information positive definite" in text
    assert "Typical values at the edge of the search box fb" in text
    assert "every SAEM check passed" not in text

    weak = tmp_path / "weak"
    shutil.copytree(run, weak)
    poor = {**d, "poorly_identified": ["beta"], "profile_suggested": ["tmax", "fb"]}
    (weak / "diagnostics.json").write_text(json.dumps(poor))
    text = _report(weak, tmp_path / "b")
    assert "beta: barely determined by these data" in text
    assert "profile-likelihood intervals of tmax, fb" in text
