"""Named prior sets (``prior_sets``/``default_priors``) and the omega reading in the priors.

Issue 23 item 4: the covariate model of the originating solid-tumour trial
(``stein2019_covariates``) fits with the ``solid_tumour`` set by default, whose ``cmax``,
``foldx`` and ``tmax`` priors do not assume B-ALL expansion (numbers and sources in
``models/stein2019_covariates.py``). The omega priors of every set scale the model's own
IIV SDs, so they follow ``omega_reading("variance" | "sd")``.
"""

from __future__ import annotations

import math
import sys
import warnings

import pytest

import cartpk as ck
from cartpk.errors import CartpkWarning, ModelError, SpecError
from cartpk.fit._spec import parse_fit_spec
from cartpk.fit.population import population_priors, prior_set_name
from cartpk.model import ClosedFormModel, log_additive, omega, prior_set, theta, typical_prior

Z975 = 1.959964  # standard-normal 97.5 % quantile


def _rows(model, priors=None):
    return population_priors(model, priors).set_index("parameter")


def _table1_random_effect():
    """Stein 2019 Table 1 "random effect" column as printed, from ``models/stein2019.py``
    (its six numbers are pinned by tests/export/golden/stein2019.nlmixr2.R)."""
    return sys.modules[type(ck.load_model("stein2019")).__module__].TABLE1_RANDOM_EFFECT


def test_covariate_model_defaults_to_the_solid_tumour_set():
    m = ck.load_model("stein2019_covariates")
    assert prior_set_name(m) == "solid_tumour"
    p = _rows(m)
    assert p.attrs["priors"] == "solid_tumour"
    # each prior's central 95 % lies between its two cited anchors (module docstring)
    for name, lo, hi in (("cmax", 25.0, 24000.0), ("foldx", 1.0, 3900.0)):
        row = p.loc[f"mu_{name}"]
        low, high = (
            math.exp(row["loc"] - Z975 * row["scale"]),
            math.exp(row["loc"] + Z975 * row["scale"]),
        )
        assert low == pytest.approx(lo, rel=2e-3) and high == pytest.approx(hi, rel=2e-3), name
        assert "Stein 2019" in row["source"]
    assert "Haas 2019" in p.loc["mu_cmax", "source"]
    assert (
        math.exp(p.loc["mu_tmax", "loc"]) == pytest.approx(9.3) and p.loc["mu_tmax", "scale"] == 0.5
    )
    # B-ALL typical values sit at the upper edge, not the centre: 24,000 is 1.96 SD above
    z = (math.log(24000.0) - p.loc["mu_cmax", "loc"]) / p.loc["mu_cmax", "scale"]
    assert z == pytest.approx(Z975, rel=1e-3)


def test_solid_tumour_set_leaves_the_rest_to_its_base():
    m = ck.load_model("stein2019_covariates")
    solid, weak = _rows(m), _rows(m, "weak")
    assert list(solid.index) == list(weak.index)
    for name in solid.index:
        if name in ("mu_cmax", "mu_foldx", "mu_tmax"):
            continue
        assert (
            solid.loc[name, ["loc", "scale"]].tolist() == weak.loc[name, ["loc", "scale"]].tolist()
        )
    # weak stays centred on Stein's B-ALL values: the choice a user makes by name
    assert math.exp(weak.loc["mu_cmax", "loc"]) == pytest.approx(24000.0)
    assert weak.loc["mu_cmax", "source"] == "declared value (weak set)"


def test_models_without_prior_sets_keep_weak_as_default():
    m = ck.load_model("stein2019_smooth")
    assert prior_set_name(m) == "weak" and _rows(m).attrs["priors"] == "weak"
    with pytest.raises(SpecError) as err:
        population_priors(m, "solid_tumour")
    assert err.value.code == "priors"
    assert "'weak' or 'literature'" in err.value.violations[0].expected


def test_fit_spec_checks_priors_against_the_model(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("ID,TIME,DV\n")
    base = {"model": "stein2019_covariates", "data": str(data), "method": "bayes"}
    assert parse_fit_spec({**base, "priors": "solid_tumour"}, base=tmp_path).options["priors"] == (
        "solid_tumour"
    )
    with pytest.raises(SpecError) as err:
        parse_fit_spec(
            {**base, "model": "stein2019_smooth", "priors": "solid_tumour"}, base=tmp_path
        )
    v = [v for v in err.value.violations if v.column == "priors"]
    assert v and "'weak', 'literature'" in v[0].expected


def test_prior_set_declaration_is_checked():
    def declare(**kw):
        class Bad(ClosedFormModel):
            name = "bad_prior_set"
            outputs = {"Y": "1"}
            k = theta(1.0, unit="1", transform="log", lower=0.1, upper=10)
            iiv = omega(sd={"k": 0.3})
            error = log_additive(sigma=0.1)
            prior_sets = {"s": prior_set(**kw)}
            default_priors = "s"

            @staticmethod
            def predict(xp, time, *, k):
                return {"Y": k + 0 * time}

        return Bad

    with pytest.raises(ModelError) as err:
        declare(q=typical_prior(1.0, sd=1.0, source="x"))
    assert err.value.code == "prior_set_parameter"
    with pytest.raises(ModelError) as err:
        declare(k=typical_prior(20.0, sd=1.0, source="x"))  # above upper = 10
    assert err.value.code == "prior_set_value"
    with pytest.raises(ModelError) as err:
        declare(k=typical_prior(2.0, sd=1.0, source=" "))
    assert err.value.code == "prior_set_source"
    with pytest.raises(ModelError) as err:
        declare(base="vague", k=typical_prior(2.0, sd=1.0, source="x"))
    assert err.value.code == "prior_set_base"
    with pytest.raises(ModelError) as err:
        prior_set(k=2.0)
    assert err.value.code == "prior_set_type"
    good = declare(k=typical_prior(2.0, sd=0.7, source="a cited source"))()
    row = _rows(good).loc["mu_k"]
    assert (row["loc"], row["scale"], row["distribution"]) == (
        math.log(2.0),
        0.7,
        "TruncatedNormal",
    )


# ---------------------------------------------------------------------------------------
# (b) the omega reading reaches the priors


@pytest.mark.parametrize("model_name", ["stein2019", "stein2019_smooth", "stein2019_covariates"])
@pytest.mark.parametrize("priors,factor", [("weak", 2.0), ("literature", 1.0)])
def test_omega_priors_follow_the_omega_reading(model_name, priors, factor):
    """Stein 2019 Table 1 random effects (foldx 2.4 ... beta 0.86): HalfNormal scales are
    factor x sqrt(value) under the variance reading and factor x value under the SD one."""
    m = ck.load_model(model_name)
    for reading, sd_of in (("variance", math.sqrt), ("sd", lambda v: v)):
        p = _rows(m.omega_reading(reading), priors)
        for name, value in _table1_random_effect().items():
            assert p.loc[f"omega_{name}", "scale"] == pytest.approx(
                round(factor * sd_of(value), 3)
            ), (reading, name)
    # the default named set (solid_tumour for the covariate model) follows it too
    sd_rows = _rows(m.omega_reading("sd"))
    assert sd_rows.loc["omega_foldx", "scale"] == pytest.approx(2.0 * 2.4)


def test_omega_reading_keeps_dropped_random_effects_dropped():
    """Regression: omega_reading restated all six Table-1 effects, undoing `drop`."""
    m = ck.load_model("stein2019_covariates").with_iiv(drop=["foldx", "tmax", "fb", "beta"])
    for reading in ("variance", "sd"):
        r = m.omega_reading(reading)
        assert r.iiv.names == ("cmax", "alpha")
        assert {n for n in _rows(r).index if n.startswith("omega_")} == {
            "omega_cmax",
            "omega_alpha",
        }
    assert m.omega_reading("sd").iiv.sd["cmax"] == 0.65


def test_population_model_uses_the_named_set():
    pytest.importorskip("pymc")
    from cartpk.fit.population import population_model

    m = ck.load_model("stein2019_covariates").with_covariates(replace_all=True)
    m = m.with_iiv(drop=["foldx", "tmax", "fb", "beta"])
    data = ck.read_dataset(ck.simulate(m, n=4, seed=1, lloq=10.0, days=(7.0, 14.0, 28.0)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CartpkWarning)
        pmm = population_model(m, data)
    # the prior of mu_cmax in the PyMC graph is the solid-tumour one
    lp = pmm.compile_logp(vars=[pmm["mu_cmax"]], sum=True)
    point = pmm.initial_point()
    point["mu_cmax"] = math.log(774.6)
    at_centre = float(lp(point))
    assert at_centre == pytest.approx(-math.log(1.752 * math.sqrt(2 * math.pi)), abs=1e-6)
