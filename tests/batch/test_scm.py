"""`cartpk scm` / `cartpk.batch.scm` (issue 20): the step-wise covariate search.

Its specification (every problem at once, exit 2), the search's decisions on given OFVs,
and on a simulated trial with KNOWN truth (the weight acts on cmax; age, sex and a weight
effect on alpha are null): the search adds the true effect and not the nulls, the
estimate's 95 % interval covers the truth, a rerun reuses every fit, and the command line
runs it end to end.
"""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest
from _spec_file import write_spec

import cartpk as ck
from cartpk.batch import scm, scm_from_spec
from cartpk.batch._scm_search import STEP_COLUMNS, FitRecord, fit_key, run_search
from cartpk.cli import main
from cartpk.errors import FitError, SpecError
from cartpk.model import categorical, power

TRUE_EXPONENT = 2.0  # cmax = cmax_tv * (WT / 70) ** 2
N_SUBJECTS = 40
OPTIONS = {
    "drop_iiv": ["foldx", "tmax", "fb", "beta"],
    "explore": 100,
    "smooth": 100,
    "is_samples": 300,
    "fim_samples": 100,
}
SEED = 1


def _base():
    model = ck.load_model("stein2019_smooth").with_iiv(drop=["foldx", "tmax", "fb", "beta"])
    return model.fix("foldx", "fb", "beta")


def _trial(path):
    """A trial simulated with the weight acting on cmax (exponent 2), written to ``path``."""
    rng = np.random.default_rng(7)
    cov = pd.DataFrame(
        {
            "WT": np.exp(rng.normal(np.log(70.0), 0.3, N_SUBJECTS)).round(1),
            "AGE": rng.uniform(20, 80, N_SUBJECTS).round(),
            "SEX": rng.choice(["F", "M"], N_SUBJECTS),
        }
    )
    truth = _base().with_covariates(power("cmax", on="WT", ref=70.0, coef=TRUE_EXPONENT))
    days = (1.0, 3.0, 7.0, 14.0, 28.0, 90.0)
    ck.simulate(truth, n=N_SUBJECTS, seed=3, lloq=50.0, days=days, covariates=cov).to_csv(
        path, index=False
    )
    return path


CANDIDATES = [
    power("cmax", on="WT", ref=70.0),
    power("cmax", on="AGE", ref=50.0),
    categorical("cmax", on="SEX", reference="F", levels=["F", "M"]),
    power("alpha", on="WT", ref=70.0),
]


@pytest.fixture(scope="module")
def searched(tmp_path_factory, client):
    """The search of the simulated trial, run once for the module."""
    root = tmp_path_factory.mktemp("scm")
    data = _trial(root / "trial.csv")
    out = root / "study"
    result = scm(
        _base(), data, CANDIDATES, out=out, options=OPTIONS, seed=SEED, client=client, quiet=True
    )
    return result, data, out


# ---------------------------------------------------------------------------------------
# the specification


SPEC = """
model = "stein2019_smooth"
data = "example:trial.csv"
seed = 1
fix = ["foldx", "fb", "beta"]
forward_p = 0.05

[options]
drop_iiv = ["foldx", "tmax", "fb", "beta"]
explore = 50

[[candidate]]
parameter = "cmax"
covariate = "DOSE"
kind = "power"
reference = 3.0e7

[[candidate]]
parameter = "cmax"
covariate = "TARGET"
kind = "categorical"
reference = "GD2"
"""


def test_spec_gives_the_search_its_model_data_candidates_and_options(tmp_path):
    s = scm_from_spec(write_spec(tmp_path, SPEC))
    assert [c.label for c in s["candidates"]] == ["cmax-DOSE", "cmax-TARGET"]
    assert [c.df for c in s["candidates"]] == [1, 3]  # four antigens in the data: 3 shifts
    assert s["forward_p"] == 0.05 and s["backward_p"] == 0.01
    assert s["options"]["explore"] == 50 and s["seed"] == 1
    assert s["model"].thetas["foldx"].fixed and s["data"].name == "trial.csv"


def test_every_spec_problem_is_listed_and_the_command_exits_2(tmp_path, capsys):
    bad = (
        SPEC.replace("forward_p = 0.05", 'forward_p = 1.5\nmethod = "bayes"\nbackward = 0.1')
        .replace("explore = 50", "explore = 0")
        .replace('covariate = "DOSE"', 'covariate = "WEIGHT"')
        .replace('reference = "GD2"', "reference = 1")
        + '\n[[candidate]]\nparameter = "foldx"\ncovariate = "AGE"\nkind = "linear"\n'
    )
    spec = write_spec(tmp_path, bad)
    with pytest.raises(SpecError) as err:
        scm_from_spec(spec)
    codes = {v.code for v in err.value.violations}
    assert codes >= {
        "spec_value",  # forward_p out of (0, 1); kind "linear"
        "spec_unknown_key",  # backward
        "spec_method",
        "spec_option_value",  # explore = 0
        "scm_candidate_covariate",  # WEIGHT
        "scm_candidate_reference",  # a categorical reference must be a level name
        "spec_missing_key",  # the third candidate has no reference
    }, codes
    rc = main(["scm", str(spec), "--out", str(tmp_path / "o")])
    stderr = capsys.readouterr().err
    assert rc == 2 and not (tmp_path / "o").exists()
    for word in ("forward_p", "backward", "WEIGHT", "candidate[2].reference", "explore"):
        assert word in stderr, word


def test_candidates_on_fixed_parameters_or_twice_are_refused(tmp_path):
    text = SPEC.replace('covariate = "DOSE"', 'covariate = "DOSE"\nname = "c"') + (
        '\n[[candidate]]\nparameter = "fb"\ncovariate = "AGE"\nkind = "power"\nreference = 50.0\n'
        '\n[[candidate]]\nname = "c"\nparameter = "cmax"\ncovariate = "DOSE"\nkind = "power"\n'
        "reference = 1e7\n"
    )
    with pytest.raises(SpecError) as err:
        scm_from_spec(write_spec(tmp_path, text))
    codes = [v.code for v in err.value.violations]
    assert codes == ["scm_candidate_parameter", "scm_candidate_duplicate"], codes


# ---------------------------------------------------------------------------------------
# the decisions, on given OFVs


class _Cand:
    def __init__(self, label, df=1):
        self.label, self.df, self.parameter, self.covariate = label, df, "cmax", label


def _evaluator(ofv, unconverged=(), failing=(), mc_se=0.1):
    """``evaluate`` of :func:`run_search` from a table of OFVs by included set."""
    asked = []

    def evaluate(label, todo):
        asked.append(label)
        out = {}
        for key, inc in todo.items():
            if inc in failing:
                out[key] = FitRecord(key, inc, False, message="ValueError: boom")
            else:
                ok = inc not in unconverged
                out[key] = FitRecord(key, inc, True, ofv[inc], mc_se, ok, "" if ok else "drift")
        return out

    return evaluate, asked


def test_forward_adds_the_most_significant_and_backward_removes_the_weakest():
    ofv = {
        (): 100.0,
        (0,): 90.0,  # -10: added first
        (1,): 95.0,  # -5
        (2,): 99.0,  # -1: never significant
        (0, 1): 85.5,  # -4.5 after A: added second
        (0, 2): 89.5,
        (0, 1, 2): 85.0,  # -0.5: forward ends
    }
    evaluate, asked = _evaluator(ofv)
    s = run_search(evaluate, [_Cand("A"), _Cand("B"), _Cand("C")])
    assert s.forward == (0, 1)
    assert s.final == (0,)  # removing B costs 4.5 < 6.63; removing A then costs 10
    chosen = [(r["direction"], r["candidate"]) for r in s.rows if r["chosen"]]
    assert chosen == [("base", ""), ("forward", "A"), ("forward", "B"), ("backward", "B")]
    assert asked == ["forward step 1", "forward step 2", "forward step 3", "backward step 4"] + [
        "backward step 5"
    ]
    first = [r for r in s.rows if r["step"] == 1]
    assert [round(r["dofv"], 6) for r in first] == [-10.0, -5.0, -1.0]
    assert math.isclose(first[0]["threshold"], 3.8414588, rel_tol=1e-6)


def test_unconverged_fits_are_not_chosen_and_close_calls_are_noted():
    ofv = {(): 100.0, (0,): 80.0, (1,): 94.0, (0, 1): 93.5}
    evaluate, _ = _evaluator(ofv, unconverged={(0,)}, mc_se=0.1)
    s = run_search(evaluate, [_Cand("A"), _Cand("B")])
    step1 = {r["candidate"]: r for r in s.rows if r["step"] == 1}
    assert not step1["A"]["chosen"] and "not converged (drift); not chosen" in step1["A"]["note"]
    assert step1["B"]["chosen"] and "within 2 Monte-Carlo SEs" not in step1["B"]["note"]
    evaluate, _ = _evaluator({(): 100.0, (0,): 96.1}, mc_se=0.2)  # 3.9 vs 3.84 +- 0.57
    row = run_search(evaluate, [_Cand("A")]).rows[1]
    assert row["chosen"] and "within 2 Monte-Carlo SEs" in row["note"]


def test_a_step_whose_fits_all_failed_stops_the_search():
    ofv = {(): 100.0, (0,): 90.0, (1,): 99.0, (0, 1): 89.5}
    evaluate, _ = _evaluator(ofv, failing={(1,)})
    s = run_search(evaluate, [_Cand("A"), _Cand("B")])  # one failed at step 1: recorded
    assert s.final == (0,) and "fit failed (ValueError: boom)" in s.rows[2]["note"]
    evaluate, _ = _evaluator(ofv, failing={(0,), (1,)})
    with pytest.raises(FitError) as err:
        run_search(evaluate, [_Cand("A"), _Cand("B")])
    assert err.value.code == "scm_step_failed"
    evaluate, _ = _evaluator(ofv, failing={()})
    with pytest.raises(FitError, match="base model"):
        run_search(evaluate, [_Cand("A"), _Cand("B")])


def test_fit_keys_name_the_included_set():
    assert fit_key(()) == "fit_base" and fit_key((3, 0)) == fit_key((0, 3)) == "fit_01-04"


# ---------------------------------------------------------------------------------------
# a simulated trial with known truth


def test_search_adds_the_true_effect_only_and_covers_the_truth(searched):
    result, _, out = searched
    assert result.final == ["cmax-WT"], result.steps
    steps = result.steps
    first = steps[steps["step"] == 1].set_index("candidate")
    assert bool(first.loc["cmax-WT", "chosen"]) and first.loc["cmax-WT", "dofv"] < -3.84
    coef = result.population.set_index("parameter").loc["cov_cmax_wt"]
    assert coef["lower"] <= TRUE_EXPONENT <= coef["upper"], coef
    on_disk = pd.read_csv(out / "scm_steps.csv")
    assert list(on_disk.columns) == STEP_COLUMNS
    assert STEP_COLUMNS[:3] == ["step", "direction", "candidate"] and "chosen" in STEP_COLUMNS
    summary = json.loads((out / "scm_result.json").read_text())
    assert [e["label"] for e in summary["final"]["effects"]] == ["cmax-WT"]
    assert summary["final"]["ofv"] < summary["base"]["ofv"] - 3.84
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "scm" and "population.csv" in manifest["files"]


def test_rerun_reuses_every_fit_and_other_thresholds_reuse_them_too(searched, client):
    result, data, out = searched
    again = scm(
        _base(), data, CANDIDATES, out=out, options=OPTIONS, seed=SEED, client=client, quiet=True
    )
    assert again.fits_run == 0 and again.fits_reused == result.fits_run
    pd.testing.assert_frame_equal(again.steps, result.steps)
    strict = scm(
        _base(),
        data,
        CANDIDATES,
        out=out,
        options=OPTIONS,
        seed=SEED,
        client=client,
        quiet=True,
        backward_p=1e-12,  # dOFV 50.2 to stay: the weight effect is removed
    )
    assert strict.fits_run == 0 and strict.final == [] and strict.forward == ["cmax-WT"]


def test_an_interrupted_search_runs_only_its_missing_fits(searched, client, tmp_path):
    result, data, out = searched
    copy = tmp_path / "study"
    shutil.copytree(out, copy)
    for name in ("manifest.json", "scm_steps.csv", "tasks/fit_01-02.json"):
        (copy / name).unlink()  # as if stopped during forward step 2
    again = scm(
        _base(), data, CANDIDATES, out=copy, options=OPTIONS, seed=SEED, client=client, quiet=True
    )
    assert again.fits_run == 1  # the same seed and data: the same fit, the same search
    pd.testing.assert_frame_equal(again.steps, result.steps)


def test_a_changed_search_or_data_file_is_refused(searched, client, tmp_path):
    _, data, out = searched
    with pytest.raises(SpecError) as err:
        scm(_base(), data, CANDIDATES[:3], out=out, options=OPTIONS, client=client, quiet=True)
    assert err.value.code == "study_mismatch"
    copy = tmp_path / "study"
    shutil.copytree(out, copy)
    changed = tmp_path / "changed.csv"
    shutil.copy(data, changed)
    with pytest.raises(SpecError):  # another data file: another search
        scm(_base(), changed, CANDIDATES, out=copy, options=OPTIONS, client=client, quiet=True)


def _scm_spec(tmp_path, data):
    text = f"""
    model = "stein2019_smooth"
    data = "{data}"
    seed = {SEED}
    fix = ["foldx", "fb", "beta"]

    [options]
    drop_iiv = ["foldx", "tmax", "fb", "beta"]
    explore = {OPTIONS["explore"]}
    smooth = {OPTIONS["smooth"]}
    is_samples = {OPTIONS["is_samples"]}
    fim_samples = {OPTIONS["fim_samples"]}
    """
    for c in ("WT", "AGE"):
        ref = 70.0 if c == "WT" else 50.0
        text += f'[[candidate]]\nparameter = "cmax"\ncovariate = "{c}"\n'
        text += f'kind = "power"\nreference = {ref}\n'
    text += '[[candidate]]\nparameter = "cmax"\ncovariate = "SEX"\nkind = "categorical"\n'
    text += 'reference = "F"\nlevels = ["F", "M"]\n'
    text += '[[candidate]]\nparameter = "alpha"\ncovariate = "WT"\nkind = "power"\n'
    text += "reference = 70.0\n"
    return write_spec(tmp_path, text)


def test_command_resumes_the_search_and_prints_steps_and_final_model(searched, tmp_path, capsys):
    _, data, out = searched
    copy = tmp_path / "study"
    shutil.copytree(out, copy)  # the same search: every fit is reused
    spec = _scm_spec(tmp_path, data)
    rc = main(["scm", str(spec), "--out", str(copy), "--workers", "1"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "final model: cmax-WT" in captured.out and "cov_cmax_wt" in captured.out
    assert "forward step 1: 5 fits (5 already done)" in captured.err
    assert json.loads((copy / "manifest.json").read_text())["tasks"]["run_now"] == 0


def test_command_exits_1_when_every_fit_of_a_step_failed(tmp_path, capsys, monkeypatch):
    import cartpk.batch

    def failing(*args, **kwargs):
        from cartpk.batch._scm_search import _all_failed

        raise _all_failed("base model", [FitRecord("fit_base", (), False, message="E: x")])

    monkeypatch.setattr(cartpk.batch, "scm", failing)
    rc = main(["scm", str(write_spec(tmp_path, SPEC)), "--out", str(tmp_path / "o")])
    assert rc == 1 and "[scm_step_failed]" in capsys.readouterr().err


def test_an_out_folder_that_is_no_study_is_refused_and_kept(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("mine\n")
    for force in ([], ["--force"]):
        rc = main(["scm", str(write_spec(tmp_path, SPEC)), "--out", str(out), *force])
        assert rc == 2 and "choose another `--out`" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]


@pytest.mark.slow
def test_command_runs_a_search_from_scratch(tmp_path, capsys):
    data = _trial(tmp_path / "trial.csv")
    spec = _scm_spec(tmp_path, data)
    out = tmp_path / "study"
    rc = main(["scm", str(spec), "--out", str(out), "--workers", "2"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "cartpk: 5/5 fits done" in captured.err and "final model: cmax-WT" in captured.out
    for name in ("scm_steps.csv", "scm_result.json", "population.csv", "manifest.json"):
        assert (out / name).is_file(), name
