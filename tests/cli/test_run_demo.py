"""`cartpk run` over a folder of specs, and the end-to-end `cartpk demo`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from _run_specs import individual_spec_folder

from cartpk.cli import main
from cartpk.cli._run import spec_kind


def test_spec_kind_reads_the_keys():
    assert spec_kind({"model": "stein2019", "method": "individual"}) == "fit"
    assert spec_kind({"analysis": [{}]}) == "er"
    assert spec_kind({"n_replicates": 2, "estimator": {}}) == "sse"
    assert spec_kind({"model": "stein2019", "candidate": [{}]}) == "scm"
    assert spec_kind({"model": "stein2019"}) is None


def test_every_shipped_spec_has_a_kind_and_validates():
    """`cartpk run fits/` runs every spec in fits/: each one's command is known and its
    reader accepts it (nothing invalid before anything runs)."""
    from cartpk.cli._run import _plan

    plan = _plan(sorted((Path(__file__).parents[2] / "fits").glob("*.toml")))
    assert plan and not [p.name for p, kind in plan if kind.startswith("invalid")]


def test_cli_run_folder_of_specs_summary_and_exit_codes(tmp_path, capsys):
    specs = individual_spec_folder(tmp_path)
    (specs / "b_bad.toml").write_text(
        'model = "nope"\ndata = "../sim.csv"\nmethod = "individual"\n'
    )
    out = tmp_path / "runs"
    code = main(["run", str(specs), "--out", str(out), "--quiet", "--format", "json"])
    rows = json.loads(capsys.readouterr().out)
    assert [r["spec"] for r in rows] == ["a_ind.toml", "b_bad.toml"]
    assert rows[1]["status"] == "invalid" and rows[1]["exit_code"] == 2
    assert rows[0]["exit_code"] in (0, 1) and rows[0]["convergence"].endswith("/2 subjects")
    assert code == 1
    table = pd.read_csv(out / "summary.csv")
    assert list(table.columns[:5]) == ["spec", "kind", "status", "exit_code", "runtime_s"]
    assert (out / "a_ind" / "individual.csv").is_file()
    assert json.loads((out / "manifest.json").read_text())["status"] == "failed_checks"


@pytest.mark.slow  # 15 s on one core; CI runs it with -m slow
def test_cli_run_messages_name_the_final_folder(tmp_path, capsys):
    """A spec's stderr names ``--out``, not the temporary folder it ran in (issue 21)."""
    specs = tmp_path / "fits"
    specs.mkdir()
    # maximum likelihood on the trial design: most subjects underdetermined, exit 1
    (specs / "ml.toml").write_text(
        'model = "stein2019"\ndata = "example:trial.csv"\nmethod = "individual"\n'
        'seed = 1\nn_starts = 1\ninterval = "wald"\n'
    )
    out = tmp_path / "runs"
    assert main(["run", str(specs), "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"{out / 'ml'}: fit ran but checks failed" in err
    assert ".tmp-" not in err


def test_cli_run_usage_errors(tmp_path, capsys):
    assert main(["run", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["run", str(empty), "--out", str(tmp_path / "o")]) == 2
    (empty / "x.toml").write_text("title = 'no kind'\n")
    assert main(["run", str(empty), "--out", str(tmp_path / "o")]) == 2
    assert "cannot tell" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_demo_end_to_end(tmp_path, capsys):
    """The README's main command on the bundled trial (population fit kept small)."""
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--quiet", "--draws", "500", "--tune", "500"])
    stages = pd.read_csv(out / "stages.csv")
    assert list(stages["stage"]) == [
        "data",
        "nca",
        "fit_population",
        "fit_individual",
        "exposure",
        "recist",
        "er",
        "report",
    ]
    assert code in (0, 1)
    assert set(stages["status"]) <= {"ok", "failed_checks"}
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in html and "http://" not in html
    for sub in ("data", "nca", "fit_population", "fit_individual", "exposure", "recist", "er"):
        assert (out / sub / "manifest.json").is_file(), sub
        # commands and inputs name the folder the user has, not the demo's temporary one
        assert ".tmp-" not in (out / sub / "manifest.json").read_text(), sub
    assert ".tmp-" not in html
    ind = (out / "specs" / "individual.toml").read_text()
    assert 'prior = "population"' in ind and "[ini]" in ind
    assert "report:" in capsys.readouterr().out


def test_demo_stage_manifests_name_the_final_folder(tmp_path):
    import json

    from cartpk.run import retarget_manifests

    root = tmp_path / ".demo.tmp-abc"
    (root / "er").mkdir(parents=True)
    manifest = {
        "command": ["cartpk", "er", f"{root}/specs/er.toml", "--out", f"{root}/er"],
        "inputs": {f"{root}/specs/er.toml": "ab12"},
        "seed": 1,
    }
    (root / "er" / "manifest.json").write_text(json.dumps(manifest))
    retarget_manifests(root, root, tmp_path / "demo")
    got = json.loads((root / "er" / "manifest.json").read_text())
    final = str(tmp_path / "demo")
    assert got["command"][2:] == [f"{final}/specs/er.toml", "--out", f"{final}/er"]
    assert list(got["inputs"]) == [f"{final}/specs/er.toml"] and got["seed"] == 1
    assert [p.name for p in (root / "er").iterdir()] == ["manifest.json"]


def test_demo_stage_messages_name_the_final_folder():
    """A stage's stderr (e.g. `fit ran but checks failed`) names `--out`, not the demo's
    temporary folder (issue 21: wrong paths)."""
    import io

    from cartpk.cli._common import Renaming

    sink = io.StringIO()
    err = Renaming(sink, ("/x/.demo.tmp-ab12", "demo"))
    err.write("/x/.demo.tmp-ab12/fit_individual: fit ran but checks failed\n")
    assert sink.getvalue() == "demo/fit_individual: fit ran but checks failed\n"
    assert err.isatty() is False
