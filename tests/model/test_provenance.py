"""Model provenance (verified / transcribed / assumed per block) and Stein 2019's omega reading."""

from __future__ import annotations

import math

import numpy as np
import pytest

import cartpk as ck
from cartpk.errors import ModelError
from cartpk.model import (
    BLOCKS,
    LEVELS,
    ClosedFormModel,
    Evidence,
    assumed,
    log_additive,
    provenance,
    theta,
    transcribed,
    verified,
)
from cartpk.model._catalogue import catalogue_names


def test_levels_blocks_and_summary():
    p = provenance(
        structure=verified("Table 1"),
        typical=[verified("abstract", covers="tmax"), assumed("placeholder", covers="cmax")],
        iiv=transcribed("nlmixr2lib X.R"),
    )
    assert p.levels == {"structure": "verified", "typical": "assumed", "iiv": "transcribed"}
    assert p.weakest == "assumed"
    assert p.summary() == "verified 1/3, weakest assumed"
    assert "typical [cmax]: assumed (placeholder)" in p.detail()
    assert p.as_dict()["typical"]["entries"][0] == {
        "level": "verified",
        "source": "abstract",
        "covers": "tmax",
    }
    assert list(p.with_blocks(iiv=verified("Table 1 header")).levels.values()) == [
        "verified",
        "assumed",
        "verified",
    ]


@pytest.mark.parametrize(
    ("build", "code"),
    [
        (lambda: provenance(priors=verified("x")), "provenance_block"),
        (lambda: Evidence("checked", "x"), "provenance_level"),
        (lambda: verified("  "), "provenance_source"),
        (lambda: provenance(iiv="verified"), "provenance_entry"),
        (lambda: provenance(iiv=[]), "provenance_entry"),
    ],
)
def test_unknown_levels_blocks_and_entries_are_errors(build, code):
    with pytest.raises(ModelError) as err:
        build()
    assert err.value.code == code


def test_a_model_declaring_provenance_wrongly_is_rejected():
    with pytest.raises(ModelError) as err:

        class Bad(ClosedFormModel):
            name = "bad"
            outputs = {"QPCR": "copies/ug"}
            k = theta(1.0, unit="1/day")
            error = log_additive(sigma=0.5)
            provenance = {"structure": "verified"}

            @staticmethod
            def predict(xp, time, *, k):
                return {"QPCR": xp.exp(-k * time)}

    assert any(v.code == "provenance_type" for v in err.value.violations)


@pytest.mark.parametrize("name", catalogue_names())
def test_every_catalogue_model_declares_structure_values_and_error(name):
    prov = ck.load_model(name).provenance
    assert {"structure", "typical", "error"} <= set(prov.levels)
    assert set(prov.levels) <= set(BLOCKS)
    assert set(prov.levels.values()) <= set(LEVELS)


def test_declared_levels_of_the_audited_models():
    """Audit 2026-12 (../shared/reference/audit_2026-12.md) and issue 23."""
    lv = {n: ck.load_model(n).provenance.levels for n in catalogue_names()}
    assert lv["stein2019"]["structure"] == "verified"  # 0.78 d / 4.3 d / 217 d
    assert lv["stein2019"]["iiv"] == "transcribed"  # omega vs omega^2 not checked
    assert lv["stein2019_ode"]["structure"] == "verified"
    assert lv["stein2019_smooth"]["structure"] == "assumed"  # own gate design
    assert lv["hardiansyah2019"]["structure"] == "verified"  # published IL-6 peaks
    assert lv["cartmath_illustration"]["structure"] == "assumed"  # compartments recalled
    assert lv["ogasawara2021_lag"]["typical"] == "assumed"  # cmax, fb placeholders
    assert lv["ogasawara2021_lag"]["iiv"] == "assumed"
    assert lv["stein2019_covariates"]["covariates"] == "assumed"


def test_list_models_carries_provenance():
    table = ck.list_models().set_index("name")
    assert table.loc["stein2019", "provenance"] == "verified 1/5, weakest transcribed"
    assert "iiv: transcribed (" in table.loc["stein2019", "provenance_detail"]
    assert "Stein_2019_Tisagenlecleucel.R" in table.loc["stein2019", "provenance_detail"]


def _geometric_cv_of_peak(model, n=200_000, seed=2019):
    """CV of the simulated peak (the level at each subject's own tmax), log-normal form."""
    rng = np.random.default_rng(seed)
    eta = {k: rng.normal(0.0, s, n) for k, s in model.iiv.sd.items()}
    p = model.individual_parameters(eta=eta)
    peak = model.evaluate(np, np.asarray(p["tmax"]), p)["QPCR"]
    sd_log = float(np.std(np.log(peak)))
    return math.sqrt(math.exp(sd_log**2) - 1.0)


@pytest.mark.parametrize(
    ("reading", "cv"),
    [
        # Table 1 Cmax random effect 0.65 read as omega^2: CV = sqrt(exp(0.65) - 1) = 96 %
        ("variance", math.sqrt(math.exp(0.65) - 1.0)),
        # read as omega (SD): CV = sqrt(exp(0.65^2) - 1) = 73 %
        ("sd", math.sqrt(math.exp(0.65**2) - 1.0)),
    ],
)
def test_stein_omega_reading_pins_the_cv_of_cmax(reading, cv):
    model = ck.load_model("stein2019").omega_reading(reading)
    assert _geometric_cv_of_peak(model) == pytest.approx(cv, rel=0.01)
    assert model.iiv.sd["foldx"] == pytest.approx(2.4 if reading == "sd" else 2.4**0.5)
    # the ODE form shares the block, and its reading gives the same random effects
    ode = ck.load_model("stein2019_ode").omega_reading(reading)
    assert ode.iiv.sd == model.iiv.sd


def test_stein_default_is_the_variance_reading_and_unknown_readings_fail():
    m = ck.load_model("stein2019")
    assert m.omega_reading("variance") == m
    assert ck.load_model("stein2019_smooth").omega_reading("sd").iiv.sd["cmax"] == 0.65
    assert ck.load_model("stein2019_covariates").omega_reading("sd").iiv.sd["tmax"] == 0.38
    with pytest.raises(ModelError) as err:
        m.omega_reading("cv")
    assert err.value.code == "omega_reading"
