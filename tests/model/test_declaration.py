"""Declaration API: theta/omega/error/covariates, the class-creation check, immutability."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import cartpk as ck
from cartpk.errors import ModelError
from cartpk.model import (
    ClosedFormModel,
    OdeModel,
    additive,
    categorical,
    combined,
    log_additive,
    omega,
    power,
    proportional,
    theta,
)


def _toy():
    class Toy(ClosedFormModel):
        name = "toy"
        outputs = {"CONC": "ng/mL"}
        ka = theta(1.0, unit="1/day")
        f = theta(0.5, transform="logit")
        base = theta(2.0, transform=None, unit="ng/mL")
        iiv = omega(sd={"ka": 0.3, "f": 0.5})
        error = combined(sigma_add=0.1, sigma_prop=0.2)
        covariates = [power("ka", on="WT", ref=70.0, coef=0.75)]

        @staticmethod
        def predict(xp, time, *, ka, f, base):
            return {"CONC": base + f * xp.exp(-ka * time)}

    return Toy()


def test_omega_var_is_stored_as_sd():
    assert omega(var={"cmax": 0.25}).sd == {"cmax": 0.5}
    assert omega(sd={"cmax": 0.5}).var == {"cmax": 0.25}


def test_omega_needs_exactly_one_scale():
    with pytest.raises(ModelError) as err:
        omega(sd={"a": 1.0}, var={"a": 1.0})
    assert err.value.code == "omega_scale"
    with pytest.raises(ModelError):
        omega()


def test_omega_negative_value_raises_with_every_name():
    with pytest.raises(ModelError) as err:
        omega(sd={"a": -1.0, "b": float("nan"), "c": 0.2})
    assert [v.code for v in err.value.violations] == ["omega_value", "omega_value"]
    assert "`a`" in str(err.value) and "`b`" in str(err.value)


def test_error_model_names_and_sd():
    assert log_additive(sigma=0.56).names == ("sigma",)
    assert combined(sigma_add=1.0, sigma_prop=0.1).names == ("sigma_add", "sigma_prop")
    f = np.array([0.0, 10.0, 100.0])
    # combined2: SD = sqrt(a^2 + b^2 f^2)
    np.testing.assert_allclose(
        combined(sigma_add=3.0, sigma_prop=0.4).sd(np, f), [3.0, 5.0, math.sqrt(9 + 1600)]
    )
    np.testing.assert_allclose(proportional(sigma=0.2).sd(np, f), [0.0, 2.0, 20.0])
    np.testing.assert_allclose(additive(sigma=2.0).sd(np, f), [2.0, 2.0, 2.0])
    assert log_additive(sigma=0.5).scale == "log"


def test_covariate_names():
    assert power("cmax", on="DOSE", ref=1e8).name == "cov_cmax_dose"
    eff = categorical("foldx", on="TARGET", reference="GD2", levels=["GD2", "PSMA", "MUC1"])
    assert list(eff.coefficients) == ["cov_foldx_target_psma", "cov_foldx_target_muc1"]


def test_categorical_reference_must_be_a_level():
    with pytest.raises(ModelError) as err:
        categorical("foldx", on="TARGET", reference="CD19", levels=["GD2"], coef={"X": 1.0})
    assert {v.code for v in err.value.violations} == {"covariate_reference", "covariate_level"}


def test_predict_mismatch_lists_every_bad_name():
    with pytest.raises(ModelError) as err:

        class Bad(ClosedFormModel):
            name = "bad"
            outputs = {"QPCR": "copies/ug"}
            cmax = theta(100.0)
            tmax = theta(10.0)
            alpha = theta(0.1)
            iiv = omega(sd={"cmax": 0.5, "beta": 0.2})
            error = log_additive(sigma=0.5)

            @staticmethod
            def predict(xp, time, *, cmax, t_max, rho):
                return {"QPCR": cmax + 0 * time}

    codes = [v.code for v in err.value.violations]
    text = str(err.value)
    assert codes.count("signature_unknown") == 2  # t_max, rho
    assert codes.count("signature_missing") == 2  # tmax, alpha
    assert "iiv_unknown" in codes  # beta
    for name in ("t_max", "rho", "tmax", "alpha", "beta"):
        assert f"`{name}`" in text


def test_predict_must_be_keyword_only():
    with pytest.raises(ModelError) as err:

        class Positional(ClosedFormModel):
            name = "positional"
            outputs = {"QPCR": "copies/ug"}
            cmax = theta(100.0)
            error = log_additive(sigma=0.5)

            @staticmethod
            def predict(xp, time, cmax):
                return {"QPCR": cmax + 0 * time}

    assert "signature_positional" in [v.code for v in err.value.violations]


def test_ode_unused_theta_and_missing_states():
    with pytest.raises(ModelError) as err:

        class BadOde(OdeModel):
            name = "bad_ode"
            outputs = {"QPCR": "copies/ug"}
            k = theta(0.1, unit="1/day")
            unused = theta(1.0)
            error = log_additive(sigma=0.5)

            @staticmethod
            def rhs(xp, time, y, *, k):
                return {"a": -k * y["a"]}

            @staticmethod
            def initial(xp, *, dose):
                return {"a": dose}

            @staticmethod
            def observe(xp, y):
                return {"QPCR": y["a"]}

    codes = [v.code for v in err.value.violations]
    assert "theta_unused" in codes and "states_missing" in codes


def test_theta_outside_transform_domain():
    with pytest.raises(ModelError) as err:

        class Neg(ClosedFormModel):
            name = "neg"
            outputs = {"QPCR": "copies/ug"}
            cmax = theta(-1.0)
            fb = theta(1.5, transform="logit")
            error = log_additive(sigma=0.5)

            @staticmethod
            def predict(xp, time, *, cmax, fb):
                return {"QPCR": cmax * fb + 0 * time}

    assert [v.code for v in err.value.violations] == ["theta_value", "theta_value"]


def test_parameter_table():
    m = _toy()
    p = m.parameters
    assert list(p.columns) == [
        "name", "role", "initial", "lower", "upper", "fixed", "transform", "unit", "label",
    ]  # fmt: skip
    assert p["name"].tolist() == [
        "ka", "f", "base", "omega_ka", "omega_f", "sigma_add", "sigma_prop", "cov_ka_wt",
    ]  # fmt: skip
    assert p.set_index("name").loc["f", "upper"] == 1.0
    assert p.set_index("name").loc["cov_ka_wt", "initial"] == 0.75
    assert p.set_index("name")["role"].to_dict()["omega_f"] == "iiv"
    assert "omega_ka" in m.describe() and "def predict" in m.describe()


def test_models_are_immutable():
    m = ck.load_model("stein2019")
    with pytest.raises(AttributeError):
        m.name = "x"  # type: ignore[misc]
    fixed = m.fix(fb=0.01)
    assert fixed.thetas["fb"].fixed and fixed.typical()["fb"] == 0.01
    assert not m.thetas["fb"].fixed and m.typical()["fb"] == 0.0079
    lean = m.with_iiv(drop=["foldx"])
    assert "foldx" not in lean.iiv and "foldx" in m.iiv
    assert "omega_foldx" not in lean.parameter_names()
    wider = m.with_iiv(sd={"cmax": 1.2})
    assert wider.iiv.sd["cmax"] == 1.2 and m.iiv.sd["cmax"] == pytest.approx(math.sqrt(0.65))
    assert m.with_ini(cmax=500.0).typical()["cmax"] == 500.0
    assert m.typical()["cmax"] == 24000.0
    assert m.with_ini(omega_cmax=0.1).iiv.sd["cmax"] == 0.1
    assert m.fix("sigma").parameters.set_index("name").loc["sigma", "fixed"]
    assert m.fix(fb=0.0079) == m.fix(fb=0.0079) and m.fix(fb=0.0079) != m
    cov = m.with_covariates(power("cmax", on="DOSE", ref=1e8, coef=0.5))
    assert "cov_cmax_dose" in cov.parameter_names() and not m.covariates
    assert cov.unfix().covariates == cov.covariates


def test_unknown_names_in_transformations_raise_once():
    m = ck.load_model("stein2019")
    with pytest.raises(ModelError) as err:
        m.fix(rho=1.0, kel=2.0)
    assert [v.value for v in err.value.violations] == ["rho", "kel"]
    with pytest.raises(ModelError):
        m.with_iiv(drop=["rho"])


def test_transform_round_trip():
    m = ck.load_model("stein2019")
    vals = {**m.typical(), "omega_cmax": 0.8, "sigma": 0.56}
    tr = m.to_transformed(vals)
    assert tr["fb"] == pytest.approx(math.log(0.0079 / (1 - 0.0079)))
    assert tr["cmax"] == pytest.approx(math.log(24000))
    back = m.from_transformed(tr)
    for k, v in vals.items():
        assert back[k] == pytest.approx(v)


def test_individual_parameters_with_covariates_and_eta():
    m = _toy()
    cov = pd.DataFrame({"WT": [70.0, 140.0]})
    ind = m.individual_parameters(eta={"ka": np.array([0.0, 0.1])}, covariates=cov)
    # power: ka = 1.0 * (WT/70)^0.75 * exp(eta)
    np.testing.assert_allclose(ind["ka"], [1.0, 2**0.75 * math.exp(0.1)])
    np.testing.assert_allclose(ind["f"], [0.5, 0.5])
    assert ind["base"].shape == (2,)
    with pytest.raises(ModelError) as err:
        m.individual_parameters(eta={"base": np.zeros(2)})
    assert {v.code for v in err.value.violations} == {"eta_without_iiv", "covariate_missing"}


def test_categorical_shift_on_transformed_scale():
    m = ck.load_model("stein2019").with_covariates(
        categorical(
            "cmax",
            on="TARGET",
            reference="GD2",
            levels=["GD2", "PSMA"],
            coef={"PSMA": math.log(0.5)},
        )  # fmt: skip
    )
    ind = m.individual_parameters(covariates=pd.DataFrame({"TARGET": ["GD2", "PSMA"]}))
    np.testing.assert_allclose(ind["cmax"], [24000.0, 12000.0])
    with pytest.raises(ModelError) as err:
        m.individual_parameters(covariates=pd.DataFrame({"TARGET": ["CD19"]}))
    assert err.value.violations[0].code == "covariate_value"


def test_evaluate_fills_fixed_and_checks_names():
    m = ck.load_model("stein2019").fix(fb=0.0079)
    p = {k: v for k, v in m.typical().items() if k != "fb"}
    out = m.evaluate(np, np.array([7.0, 14.0]), p)
    assert out["QPCR"].shape == (2,)
    with pytest.raises(ModelError) as err:
        m.evaluate(np, np.array([7.0]), {"cmax": 1.0, "rho": 2.0})
    codes = [v.code for v in err.value.violations]
    assert codes.count("missing_parameter") == 4 and "unknown_parameter" in codes


def test_evaluate_broadcasts_over_subjects():
    m = ck.load_model("stein2019")
    p = {k: np.full((3, 1), v) for k, v in m.typical().items()}
    t = np.array([7.0, 14.0, 21.0, 28.0])
    out = m.evaluate(np, t, p)["QPCR"]
    assert out.shape == (3, 4)
    out2 = m.evaluate(np, np.tile(t, (3, 1)), p)["QPCR"]
    np.testing.assert_allclose(out, out2)
