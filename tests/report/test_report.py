"""The report's HTML structure, built from synthetic run folders (fast, no browser)."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _report_runs import MALICIOUS, make_runs

import cartpk
from cartpk.cli import main
from cartpk.errors import SpecError
from cartpk.report import build_report, render_report
from cartpk.report._html import fmt
from cartpk.run import run_folder

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def module_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Synthetic run folders, built once for this module (the tests only read them)."""
    return make_runs(tmp_path_factory.mktemp("runs"))


class _Collect(HTMLParser):
    """Tags, ids, image sources and links of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.ids: set[str] = set()
        self.imgs: list[str] = []
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        if a.get("id"):
            self.ids.add(a["id"] or "")
        if tag == "img":
            self.imgs.append(a.get("src") or "")
        if tag == "a":
            self.hrefs.append(a.get("href") or "")


@pytest.fixture(scope="module")
def report(module_runs: dict[str, Path], tmp_path_factory) -> tuple[str, _Collect]:
    out = build_report(list(module_runs.values()), tmp_path_factory.mktemp("rep") / "report.html")
    text = out.read_text(encoding="utf-8")
    page = _Collect()
    page.feed(text)
    return text, page


def test_build_report_has_every_section_with_inputs(report):
    _, page = report
    for sec in (
        "overview",
        "data",
        "methods",
        "estimates",
        "convergence",
        "gof",
        "individual",
        "exposure",
        "recist",
        "er",
        "other",
        "manifests",
    ):
        assert sec in page.ids, sec


def test_build_report_toc_links_resolve(report):
    _, page = report
    internal = [h[1:] for h in page.hrefs if h.startswith("#")]
    assert len(internal) > 12
    assert all(h in page.ids for h in internal), set(internal) - page.ids


def test_build_report_embeds_every_png_as_data_uri(report, module_runs):
    _, page = report
    pngs = [p for d in module_runs.values() for p in d.rglob("*.png")]
    assert len(page.imgs) == len(pngs) == 9
    embedded = set()
    for src in page.imgs:
        assert src.startswith("data:image/png;base64,")
        data = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert data.startswith(PNG_SIGNATURE)
        embedded.add(data)
    assert embedded == {p.read_bytes() for p in pngs}


def test_build_report_has_no_network_reference_and_no_script(report):
    text, page = report
    assert "http://" not in text and "https://" not in text
    assert all(src.startswith("data:image/") for src in page.imgs)
    assert all(h.startswith("#") for h in page.hrefs)
    assert "script" not in page.tags and "link" not in page.tags and "iframe" not in page.tags
    assert "<script" not in text.lower()
    assert not re.search(r"\son[a-z]+\s*=", text)  # no inline event handlers
    assert "url(" not in text  # no CSS fetches


def test_build_report_escapes_a_script_in_a_csv_cell(report):
    text, _ = report
    assert MALICIOUS not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quoted&quot;" in text


def test_build_report_population_table_matches_csv(report, module_runs):
    text, _ = report
    pop = pd.read_csv(module_runs["fit_population"] / "population.csv")
    for _, row in pop.iterrows():
        assert f">{fmt(row['estimate'])}<" in text or f">{fmt(row['estimate'])} <small>" in text
        assert f"{fmt(row['lower'])} – {fmt(row['upper'])}" in text
    # Greek in display only; the identifier stays searchable
    assert 'title="omega_cmax">ω_cmax</span>' in text
    assert 'title="sigma">σ</span>' in text
    assert "0.56 <small>(fixed)</small>" in text  # `fixed` column of population.csv
    assert "copies/µg" in text
    # BSV CV % and shrinkage carried to the typical value's row
    estimates = text.split("Population estimates from", 1)[1]
    cmax_row = re.search(r'title="cmax">cmax</span></td>(.*?)</tr>', estimates).group(1)
    assert ">95.3<" in cmax_row and ">8.2<" in cmax_row


def test_build_report_flags_failed_run_and_convergence(report):
    text, _ = report
    assert "fit_population finished with status “failed_checks”" in text
    assert 'class="banner fail"' in text
    assert "1 row(s) of diagnostics.csv miss the convergence thresholds" in text
    assert "1.08 ✖" in text
    assert "1 of 8 individual fit(s) did not converge: ID 108" in text


def test_build_report_method_statement_and_manifest(report, module_runs):
    text, _ = report
    assert "Synthetic CAR-T trial" in text.split("</header>")[0]
    assert "method <b>population</b>, engine <b>nutpie</b>" in text
    assert "M3: each BLQ observation enters the likelihood" in text
    assert "chains 4, draws 500, tune 500, target_accept 0.9" in text
    assert "LogNormal(log(24000), 1)" in text
    sha = cartpk.run.sha256_file(module_runs["validate"].parent / "trial.csv")
    assert text.count(sha) == 4  # each of the 4 runs that recorded the input shows it


def test_build_report_nca_summary_and_reasons(report, module_runs):
    text, _ = report
    nca = pd.read_csv(module_runs["nca"] / "nca.csv")
    cmax = nca.loc[nca["PPTESTCD"] == "CMAX", "PPORRES"].to_numpy(dtype=float)
    gm = float(np.exp(np.log(cmax).mean()))  # geometric mean, by its definition
    assert f">{fmt(gm)}<" in text
    assert "[too_few_points] fewer than 3 quantified samples" in text


def test_build_report_recist_bor_counts(report):
    text, _ = report
    row = re.search(r"<td>SD</td>(.*?)</tr>", text).group(1)
    assert re.findall(r">([\d.]+)<", row) == ["3", "37.5", "2", "25.0"]


def test_build_report_rejects_paths_that_are_not_run_folders(tmp_path, module_runs):
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(SpecError) as err:
        render_report([module_runs["nca"], plain, tmp_path / "missing"])
    assert err.value.code == "not_a_run_folder"
    assert len(err.value.violations) == 2
    assert "plain" in str(err.value) and "missing" in str(err.value)


def test_build_report_suggests_run_folders_inside_a_parent(module_runs):
    with pytest.raises(SpecError, match="pass the run folders inside it: .*fit_individual"):
        render_report([module_runs["nca"].parent])


def test_build_report_replaces_an_invalid_png_with_a_warning(tmp_path):
    with run_folder(tmp_path / "r", command=["cartpk", "demo"]) as rf:
        rf.file("broken_gof.png").write_bytes(b"not a png at all, but named so")
    text = render_report([tmp_path / "r"])
    assert "<img" not in text
    assert "broken_gof.png: not a valid PNG file; figure not shown" in text


def test_cli_report_writes_file(tmp_path, module_runs, capsys):
    out = tmp_path / "out" / "r.html"
    rc = main(["report", *map(str, module_runs.values()), "--out", str(out), "--title", "T & <b>"])
    assert rc == 0
    text = out.read_text(encoding="utf-8")
    assert "<title>T &amp; &lt;b&gt;</title>" in text
    io = capsys.readouterr()
    assert str(out.resolve()) in io.out
    assert "fit_population has status 'failed_checks'" in io.err
    assert not [p for p in out.parent.iterdir() if p.name != "r.html"]  # no temp files left


def test_cli_report_not_a_run_folder_exits_2(tmp_path, capsys):
    (tmp_path / "x").mkdir()
    out = tmp_path / "r.html"
    rc = main(["report", str(tmp_path / "x"), "--out", str(out)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "error [not_a_run_folder]" in err and "manifest.json" in err
    assert not out.exists()


def test_build_report_is_public():
    assert cartpk.build_report is build_report


def test_build_report_er_estimates_grouped_by_analysis(report):
    text, _ = report
    er = text.split('id="er"', 1)[1]
    assert "orr ~ auc_0_28d · logistic (estimates on the log-odds scale) · n 23, 11 events" in er
    assert "OR 1.86 (1.08–3.2)" in er and "OR 7.87 (1.44–43)" in er
    assert re.search(r'<tr class="group fail"><td colspan="\d+">il6_cmax ~ cmax · emax', er)
    assert "exposures never reach the plateau" in er
    # the E-R exclusions belong to the E-R section, not to the data exclusions
    assert "`auc_0_28d` is missing or not a number" in er
    data = text.split('id="data"', 1)[1].split('id="methods"', 1)[0]
    assert "auc_0_28d" not in data


def _checks(value: list[float], passed: list[bool], **columns: list[object]) -> pd.DataFrame:
    """A convergence table of the checks R-hat, bulk ESS and divergences (thresholds 1.01,
    400, 0) with their values, whether each passed, and ``columns`` after ``check``."""
    return pd.DataFrame(
        {
            "check": ["rhat", "ess_bulk", "divergences"],
            **columns,
            "value": value,
            "threshold": [1.01, 400.0, 0.0],
            "passed": passed,
        }
    )


def test_build_report_long_convergence_table_marks_failed_checks(tmp_path):
    table = _checks(
        [1.003, 120.0, 0.0],
        [True, False, True],
        parameter=["cmax", "omega_cmax", ""],
        element=["", "", ""],
    )
    with run_folder(tmp_path / "pop", command=["cartpk", "fit", "x.toml"]) as rf:
        rf.write_csv("convergence.csv", table)
        rf.status = "failed_checks"
    text = render_report([tmp_path / "pop"])
    assert "1 of 3 convergence checks in convergence.csv missed their threshold" in text
    assert '<td class="fail num">120 ✖</td>' in text
    assert text.count("✖</td>") == 2  # the value and the `passed` cell of that one check


def test_build_report_escapes_names_of_runs_files_and_columns(tmp_path):
    evil = "<i>run</i>&"
    with run_folder(tmp_path / evil, command=["cartpk", "<b>cmd</b>"], seed=1) as rf:
        rf.write_csv("odd.csv", pd.DataFrame({"<script>col</script>": ["<img src=x>"]}))
        rf.file("<em>plot</em>.png").write_bytes(b"not a png")
        rf.manifest["<u>extra</u>"] = {"<k>": "<v>"}
    text = render_report([tmp_path / evil], title="<h1>title</h1>")
    body = text.split("</style>", 1)[1]
    for raw in ("<i>", "<b>cmd", "<script", "<img", "<em>", "<u>", "<k>", "<v>", "<h1>title"):
        assert raw not in body, raw
    assert "&lt;i&gt;run&lt;/i&gt;&amp;" in body


def test_build_report_model_exposure_summarises_subjects_over_draws(tmp_path):
    # two subjects, three posterior draws each: subject medians 100 and 400
    frame = pd.DataFrame(
        {
            "ID": ["1"] * 3 + ["2"] * 3,
            "draw": [0, 1, 2] * 2,
            "DVID": ["QPCR"] * 6,
            "cmax": [90.0, 100.0, 130.0, 300.0, 400.0, 410.0],
        }
    )
    with run_folder(tmp_path / "expo", command=["cartpk", "exposure"]) as rf:
        rf.write_csv("model_exposure.csv", frame)
    text = render_report([tmp_path / "expo"])
    row = re.search(r'title="cmax">cmax</span> <small>\(QPCR\)</small></td>(.*?)</tr>', text)
    cells = re.findall(r">([^<>]+)</td>", row.group(1))
    # unit (unknown here), n, geometric mean sqrt(100 * 400), geometric CV %, median, range
    assert cells[:3] == ["—", "2", "200"] and cells[4:] == ["250", "100 – 400"]
    assert "median over draws" in text


@pytest.mark.skipif(
    __import__("cartpk.report._pdf", fromlist=["find_browser"]).find_browser() is None,
    reason="no Chromium on PATH (CI installs Debian's chromium)",
)
def test_cli_report_prints_a_pdf_with_headless_chromium(tmp_path, module_runs, capsys):
    out, pdf = tmp_path / "r.html", tmp_path / "sub" / "r.pdf"
    rc = main(["report", *map(str, module_runs.values()), "--out", str(out), "--pdf", str(pdf)])
    assert rc == 0
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 20_000  # text plus embedded figures
    assert data.count(b"/Type /Page") - data.count(b"/Type /Pages") >= 2  # several pages
    assert f"pdf: {pdf.resolve()}" in capsys.readouterr().out
    assert [p.name for p in pdf.parent.iterdir()] == ["r.pdf"]  # no temporary file left


def test_cli_report_pdf_without_browser_is_a_usage_error_and_writes_nothing(
    tmp_path, module_runs, capsys, monkeypatch
):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    out = tmp_path / "r.html"
    rc = main(
        [
            "report",
            *map(str, module_runs.values()),
            "--out",
            str(out),
            "--pdf",
            str(tmp_path / "r.pdf"),
        ]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert "chromium" in err and "Traceback" not in err
    assert not out.exists()


def test_report_exposure_tables_are_per_metric_with_units_and_files_true_to_disk(tmp_path):
    """Issue 21: no geometric mean of counts or of r2, no pooling of Cmax with AUC, a unit
    on every exposure row, and a file written twice is present, not MISSING."""
    import cartpk as ck

    ids = [str(i) for i in range(1, 7)]
    model = pd.DataFrame({"ID": ids, "cmax": [1e3, 2e3, 4e3, 8e3, 1.6e4, 3.2e4]})
    model["auc_0_28d"] = model["cmax"] * 10
    nca = model.assign(cmax=model["cmax"] * 0.5, auc_0_28d=model["auc_0_28d"] * 0.8)
    cmp = ck.compare_exposure(model, nca, metrics=["cmax", "auc_0_28d"])
    long = model.melt(id_vars="ID", var_name="metric", value_name="value")
    long["unit"] = long["metric"].map({"cmax": "copies/ug", "auc_0_28d": "copies/ug*day"})
    with run_folder(tmp_path / "expo", command=["cartpk", "exposure"]) as rf:
        rf.write_csv("exposure_model.csv", model)
        rf.write_csv("exposure_model_long.csv", long)
        rf.write_csv("exposure_vs_nca.csv", cmp.table)
        rf.write_csv("exposure_pairs.csv", cmp.pairs)
        rf.write_csv("exposure_model_copy.csv", model)  # same bytes under a second name
    text = render_report([tmp_path / "expo"])
    # no statistic of a count, an r2 or a reason
    for name in ("n", "r2_log", "reason", "n_excluded"):
        assert f'title="{name}">{name}</span></td>' not in text, name
    # the paired table: one row per metric, never pooled
    pairs = text.split("Paired subjects, per metric", 1)[1].split("</table>", 1)[0]
    assert pairs.count("<tr") == 3  # header + cmax + auc_0_28d
    assert "copies/µg" in pairs and "copies/µg*day" in pairs
    summary = text.split("Model-based exposure (<code>exposure_model.csv", 1)[1]
    summary = summary.split("</table>", 1)[0]
    assert "copies/µg" in summary
    files = text.split("Files listed in the manifest", 1)[1].split("</table>", 1)[0]
    assert "MISSING" not in files
    assert "same bytes as" in files


def test_converged_fit_with_weak_parameters_is_flagged_where_they_are_shown(tmp_path):
    """Issue 21: a green "all checks passed" must not sit unqualified next to a
    prior-dominated typical value with an RSE of 656 %."""
    pop = pd.DataFrame(
        {
            "parameter": ["cmax", "foldx", "beta", "omega_cmax"],
            "estimate": [24000.0, 3900.0, 0.02, 0.8],
            "lower": [20000.0, 50.0, 0.001, 0.6],
            "upper": [29000.0, 90000.0, 0.3, 1.0],
            "unit": ["copies/ug", "1", "1/day", "1"],
            "se": [2300.0, 25600.0, 0.0366, 0.1],
            "rse_pct": [9.6, 656.0, 183.0, 12.5],
            "shrinkage_pct": [np.nan, np.nan, np.nan, 12.0],
            "role": ["typical", "typical", "typical", "iiv"],
            "prior_dominated": [False, True, True, False],
        }
    )
    checks = _checks([1.004, 800.0, 0.0], [True, True, True])
    with run_folder(tmp_path / "pop", command=["cartpk", "fit", "pop.toml"]) as rf:
        rf.write_csv("population.csv", pop)
        rf.write_csv("diagnostics.csv", checks)
    text = render_report([tmp_path / "pop"])
    assert "convergence checks passed" in text
    assert "convergence is not identification" in text
    banner_text = text.split("convergence is not identification", 1)[1].split("</div>", 1)[0]
    assert "foldx (prior-dominated, RSE 656 %)" in banner_text and "beta" in banner_text
    assert "cmax (" not in banner_text
    rows = re.findall(r'<tr class="warn">(.*?)</tr>', text)
    assert len(rows) == 2 and all("weak: prior-dominated" in r for r in rows)


def test_report_names_the_folder_the_run_lives_in(tmp_path):
    """A run built elsewhere (the demo's temporary folder) shows its recorded final folder."""
    import json

    with run_folder(tmp_path / "r", command=["cartpk", "nca"]) as rf:
        rf.write_csv("x.csv", pd.DataFrame({"a": [1]}))
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert manifest["folder"] == str((tmp_path / "r").resolve())
    manifest["folder"] = "/somewhere/final/r"
    (tmp_path / "r" / "manifest.json").write_text(json.dumps(manifest))
    text = render_report([tmp_path / "r"])
    assert "<th>Folder</th><td>/somewhere/final/r</td>" in text


def test_frame_table_shows_the_columns_that_fit_and_names_the_rest():
    import numpy as np
    import pandas as pd

    from cartpk.report._html import TABLE_WIDTH_PX, frame_table

    wide = pd.DataFrame(
        {f"parameter_{k:02d}": np.linspace(1.0, 2.0, 5) * 1234.5678 for k in range(60)}
    )
    html_ = frame_table(wide)
    shown = html_.count("<th>")
    assert 3 < shown < 60
    assert f"First {shown} of 60 columns shown" in html_
    # the note names the first twelve left out, then counts the others
    assert f"parameter_{shown:02d}, " in html_ and f"and {60 - shown - 12} more" in html_
    # each column here is "parameter_NN" (12 characters) wide: they fit the page's width
    assert shown * (12 * 7.6 + 22) <= TABLE_WIDTH_PX
    narrow = frame_table(wide.iloc[:, :3])
    assert narrow.count("<th>") == 3 and "columns shown" not in narrow


def test_convergence_section_says_how_the_population_fit_sampled(tmp_path):
    """Rounds of chains added by fit_population(extend=...) are stated, with the reason
    sampling stopped (from the run manifest's results)."""
    from cartpk.report._collect import Run
    from cartpk.report._sections_fit import _sampling_line

    rounds = [{"round": 1, "chains": 4}, {"round": 2, "chains": 8}]
    res = {"chains": 8, "rounds": rounds, "sampling_stopped": "converged"}
    run = Run(path=tmp_path, name="pop", manifest={"results": res}, tables={}, figures={})
    line = _sampling_line(run)
    assert "Sampled 8 chains in 2 round(s)" in line and "1 extra round(s)" in line
    assert "sampling stopped: converged" in line
    assert _sampling_line(Run(path=tmp_path, name="ind", manifest={}, tables={}, figures={})) == ""
    assert "resampled" not in line
    res = {**res, "resampled": {"121": 0.093}}
    line = _sampling_line(
        Run(path=tmp_path, name="pop", manifest={"results": res}, tables={}, figures={})
    )
    assert "1 subject(s) did not mix" in line and "121: 9%" in line
