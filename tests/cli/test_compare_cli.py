"""``cartpk compare RUNDIR...``: -2LL, delta OFV, AIC, BIC and LRT of SAEM run folders."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from cartpk.cli import main
from cartpk.cli._common import TERMINAL_WIDTH
from cartpk.cli._compare import COLUMNS

pytestmark = pytest.mark.slow  # two or more SAEM fits through the CLI (quick-suite time)

# a short SAEM fit of the bundled example trial (fits/stein2019_saem.toml, fewer iterations
# and samples: the comparison is tested, not the fit)
SPEC = """
model = "stein2019_smooth"
data = "example:trial.csv"
method = "saem"
seed = 20261203
fix = ["foldx", "fb", "beta"]

[options]
dvid = "QPCR"
drop_iiv = {drop_iiv}
blq = "m3"
explore = 60
smooth = 20
is_samples = 200
fim_samples = 100
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two nested SAEM runs: ``full`` (random effects on cmax and alpha) and ``small``
    (on alpha only: omega_cmax dropped, one parameter fewer)."""
    where = tmp_path_factory.mktemp("compare")
    iiv = {
        "full": '["foldx", "tmax", "fb", "beta"]',
        "small": '["foldx", "tmax", "fb", "beta", "cmax"]',
    }
    out = {}
    for name, drop in iiv.items():
        spec = where / f"{name}.toml"
        spec.write_text(SPEC.format(drop_iiv=drop))
        out[name] = where / name
        assert main(["fit", str(spec), "--out", str(out[name]), "--quiet"]) in (0, 1)
    return out


def _copy(run: Path, to: Path, **results: object) -> Path:
    """A copy of a run folder with ``results`` changed in its manifest."""
    shutil.copytree(run, to)
    manifest = json.loads((to / "manifest.json").read_text())
    manifest["results"].update(results)
    (to / "manifest.json").write_text(json.dumps(manifest))
    return to


def test_nested_runs_get_a_likelihood_ratio_test(runs, tmp_path, capsys):
    out = tmp_path / "compare.csv"
    assert main(["compare", str(runs["full"]), str(runs["small"]), "--out", str(out)]) == 0
    printed, err = capsys.readouterr()
    assert "warning" not in err
    assert max(len(line) for line in printed.splitlines()) <= TERMINAL_WIDTH
    assert printed.splitlines()[1].split()[:3] == ["run", "model", "k"]

    table = pd.read_csv(out, keep_default_na=False, na_values=[""])
    assert tuple(table.columns) == COLUMNS
    assert list(table["run"]) == ["full", "small"]
    full, small = (table.set_index("run").loc[n] for n in ("full", "small"))
    assert (full["n_parameters"], small["n_parameters"]) == (6, 5)
    assert (table["delta_ofv"] >= 0).all() and table["delta_ofv"].min() == 0
    assert table["delta_ofv"].tolist() == pytest.approx(
        (table["minus2ll"] - table["minus2ll"].min()).tolist()
    )
    assert table["aic"].tolist() == pytest.approx(
        (table["minus2ll"] + 2 * table["n_parameters"]).tolist()
    )
    assert (table["minus2ll_mc_se"] > 0).all()
    assert pd.isna(full["nested_in"]) and pd.isna(full["lrt_p"])
    assert small["nested_in"] == "full" and small["lrt_df"] == 1
    assert 0 < small["lrt_p"] <= 1
    assert small["lrt_stat"] == pytest.approx(small["minus2ll"] - full["minus2ll"])
    # the file is the table --format csv prints
    assert main(["compare", str(runs["full"]), str(runs["small"]), "--format", "csv"]) == 0
    assert capsys.readouterr().out == out.read_text()


def test_out_is_not_replaced_without_force(runs, tmp_path, capsys):
    out = tmp_path / "compare.csv"
    argv = ["compare", str(runs["small"]), str(runs["full"]), "--out", str(out)]
    assert main(argv) == 0
    first = out.read_text()
    assert main(argv) == 2
    assert "--force" in capsys.readouterr().err
    assert out.read_text() == first
    assert main([*argv, "--force"]) == 0
    assert pd.read_csv(out)["run"].tolist() == ["small", "full"]
    mine = tmp_path / "mine.csv"
    mine.write_text("a,b\n1,2\n")
    assert main([*argv[:3], "--out", str(mine), "--force"]) == 2
    assert mine.read_text() == "a,b\n1,2\n"


def test_difference_within_monte_carlo_error_is_noted(runs, tmp_path, capsys):
    full = json.loads((runs["full"] / "manifest.json").read_text())["results"]
    close = _copy(
        runs["small"], tmp_path / "close", minus2ll=full["minus2ll"] + 0.5, minus2ll_mc_se=0.4
    )
    assert main(["compare", str(runs["full"]), str(close), "--format", "csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    note = table.set_index("run").loc["close", "note"]
    assert "within 2 Monte-Carlo SEs" in note
    assert main(["compare", str(runs["full"]), str(close)]) == 0
    assert "note [close]:" in capsys.readouterr().out


def test_runs_on_different_data_are_compared_with_a_warning(runs, tmp_path, capsys):
    other = _copy(runs["small"], tmp_path / "other", n_observations=100)
    assert main(["compare", str(runs["full"]), str(other), "--format", "csv"]) == 0
    captured = capsys.readouterr()
    assert "warning [different_data]" in captured.err and "not comparable" in captured.err
    table = pd.read_csv(io.StringIO(captured.out), keep_default_na=False)
    assert table["nested_in"].tolist() == ["", ""]  # no LRT across data


def test_bad_folders_are_all_named_and_exit_2(runs, tmp_path, capsys):
    plain = tmp_path / "plain"
    plain.mkdir()
    bayes = tmp_path / "bayes"
    bayes.mkdir()
    manifest = {"cartpk_run": 1, "spec": {"method": "bayes"}, "results": {"method": "population"}}
    (bayes / "manifest.json").write_text(json.dumps(manifest))
    missing = tmp_path / "missing"
    rc = main(["compare", str(runs["full"]), str(plain), str(bayes), str(missing)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "Traceback" not in err
    assert "error [compare_inputs]: 3 of 4 folder(s)" in err
    for folder, code in (
        (plain, "not_a_run_folder"),
        (bayes, "no_minus2ll"),
        (missing, "not_a_folder"),
    ):
        assert f"[{code}] `{folder}`" in err
    assert 'method = "saem"' in err


def test_run_folder_written_by_the_run_module_without_minus2ll_exits_2(tmp_path, capsys):
    from cartpk.run import run_folder

    with run_folder(tmp_path / "ind", command="cartpk fit x.toml") as folder:
        folder.manifest["results"] = {"method": "individual", "converged": 2}
    assert main(["compare", str(tmp_path / "ind")]) == 2
    err = capsys.readouterr().err
    assert "[no_minus2ll]" in err and "'individual'" in err
