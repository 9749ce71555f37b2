"""Simulation against declared truth: IIV, residual SD, censoring, reproducibility, round trip."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import cartpk as ck
from cartpk.model import categorical, power


@pytest.fixture(scope="module")
def stein():
    return ck.load_model("stein2019")


def test_columns_and_design(stein):
    sim = ck.simulate(stein, n=5, seed=1, lloq=50)
    assert list(sim.columns) == ["ID", "TIME", "DV", "EVID", "AMT", "MDV", "CENS", "LLOQ", "DVID"]
    assert sim["ID"].unique().tolist() == ["1", "2", "3", "4", "5"]
    doses = sim[sim["EVID"] == 1]
    assert len(doses) == 5 and (doses["TIME"] == 0).all() and (doses["AMT"] == 1e8).all()
    obs = sim[sim["EVID"] == 0]
    assert sorted(obs["TIME"].unique()) == [7, 14, 21, 28, 60, 90]
    assert (obs["DVID"] == "QPCR").all()


def test_seeded_and_reproducible(stein):
    a = ck.simulate(stein, n=20, seed=7, lloq=50)
    b = ck.simulate(stein, n=20, seed=7, lloq=50)
    c = ck.simulate(stein, n=20, seed=8, lloq=50)
    pd.testing.assert_frame_equal(a, b)
    assert not a["DV"].equals(c["DV"])


def test_left_censoring_holds_the_limit(stein):
    sim = ck.simulate(stein, n=200, seed=3, lloq=50.0, ipred=True)
    obs = sim[sim["EVID"] == 0]
    cens = obs[obs["CENS"] == 1]
    assert len(cens) > 0 and (cens["DV"] == 50.0).all() and (obs["LLOQ"] == 50.0).all()
    assert (obs.loc[obs["CENS"] == 0, "DV"] >= 50.0).all()
    # censoring is applied to the noisy observation, not to IPRED
    raw = ck.simulate(stein, n=200, seed=3, ipred=True)
    raw_obs = raw[raw["EVID"] == 0]
    np.testing.assert_array_equal(obs["CENS"].to_numpy(), (raw_obs["DV"] < 50).to_numpy())


def test_simulated_iiv_matches_declared_sd(stein):
    """Seeded bound: SD of log individual parameters within 4 % of the declared omega
    (n=20,000: the sampling SE of an SD is omega/sqrt(2n) = 0.5 %)."""
    ind = ck.simulation.simulate_parameters(stein, n=20000, seed=11)
    sd = stein.iiv.sd
    for name in ("foldx", "tmax", "cmax", "alpha", "beta"):
        x = np.log(ind[name])
        assert x.std() == pytest.approx(sd[name], rel=0.04), name
        assert x.mean() == pytest.approx(math.log(stein.typical()[name]), abs=4 * sd[name] / 141)
    logit_fb = np.log(ind["fb"] / (1 - ind["fb"]))
    assert logit_fb.std() == pytest.approx(sd["fb"], rel=0.04)
    typical = ck.simulation.simulate_parameters(stein, n=10, seed=11, iiv=False)
    assert (typical["cmax"] == 24000.0).all()


def test_simulate_uses_the_same_individuals_as_simulate_parameters(stein):
    ind = ck.simulation.simulate_parameters(stein, n=4, seed=5)
    sim = ck.simulate(stein, n=4, seed=5, residual=False)
    obs = sim[sim["EVID"] == 0]
    t = np.array([7.0, 14.0, 21.0, 28.0, 60.0, 90.0])
    expected = stein.evaluate(np, t, {k: ind[k].to_numpy()[:, None] for k in stein.typical()})
    np.testing.assert_allclose(obs["DV"].to_numpy(), expected["QPCR"].reshape(-1))


def test_simulated_residual_sd_matches_declared(stein):
    """log(DV) - log(IPRED) has SD sigma = 0.56 (Stein 2019 Table 1); seeded, 3 % bound."""
    sim = ck.simulate(stein, n=3000, seed=2, ipred=True)
    obs = sim[sim["EVID"] == 0]
    eps = np.log(obs["DV"]) - np.log(obs["IPRED"])
    assert eps.std() == pytest.approx(0.56, rel=0.03)
    assert abs(eps.mean()) < 0.02


@pytest.mark.parametrize(
    ("error", "spread"),
    [
        (ck.model.additive(sigma=5.0), lambda f: np.full_like(f, 5.0)),
        (ck.model.proportional(sigma=0.2), lambda f: 0.2 * f),
        (ck.model.combined(sigma_add=5.0, sigma_prop=0.2), lambda f: np.sqrt(25 + 0.04 * f**2)),
    ],
)
def test_linear_error_models_standardised_residuals(stein, error, spread):
    m = stein.with_error(error)
    sim = ck.simulate(m, n=2000, seed=4, ipred=True)
    obs = sim[sim["EVID"] == 0]
    z = (obs["DV"] - obs["IPRED"]) / spread(obs["IPRED"].to_numpy())
    assert z.std() == pytest.approx(1.0, rel=0.03)


def test_no_iiv_no_residual_gives_typical_profile(stein):
    sim = ck.simulate(stein, n=2, seed=1, iiv=False, residual=False)
    obs = sim[(sim["EVID"] == 0) & (sim["ID"] == "1")]
    typ = ck.simulation.simulate_typical(stein, [7, 14, 21, 28, 60, 90])
    np.testing.assert_allclose(obs["DV"], typ["QPCR"])


def test_covariates_are_carried_and_used(stein):
    m = stein.with_covariates(
        power("cmax", on="DOSE", ref=1e8, coef=1.0),
        categorical("cmax", on="TARGET", reference="GD2", levels=["GD2", "PSMA"],
                    coef={"PSMA": math.log(0.5)}),
    )  # fmt: skip
    cov = pd.DataFrame({"TARGET": ["GD2", "PSMA", "GD2"], "DOSE": [1e8, 1e8, 2e8]})
    ind = ck.simulation.simulate_parameters(m, covariates=cov, seed=1, iiv=False)
    np.testing.assert_allclose(ind["cmax"], [24000.0, 12000.0, 48000.0])
    sim = ck.simulate(m, covariates=cov, seed=1)
    assert {"TARGET", "DOSE"} <= set(sim.columns)
    assert sim.loc[sim["EVID"] == 1, "AMT"].tolist() == [1e8, 1e8, 2e8]
    with pytest.raises(ck.ModelError) as err:
        ck.simulate(m.with_covariates(power("alpha", on="AGE", ref=40.0)), covariates=cov)
    assert err.value.code == "covariate_missing"


def test_invalid_design_lists_every_problem(stein):
    with pytest.raises(ck.ModelError) as err:
        ck.simulate(stein, n=0, days=())
    assert {v.code for v in err.value.violations} >= {"simulate_n"}
    with pytest.raises(ck.ModelError) as err:
        ck.simulate(stein, n=3, days=(), outputs=["QPCR", "IL6"])
    assert {v.code for v in err.value.violations} == {"unknown_output", "simulate_days"}


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"days": (7, 7, 14)}, "simulate_days"),
        ({"days": (-7, 14)}, "simulate_days"),
        ({"lloq": float("inf")}, "simulate_lloq"),
        ({"lloq": float("nan")}, "simulate_lloq"),
        ({"lloq": -1.0}, "simulate_lloq"),
        ({"lloq": {"QPCR": "fifty"}}, "simulate_lloq"),
        ({"seed": -1}, "simulate_seed"),
    ],
)
def test_a_design_the_validator_would_refuse_is_not_simulated(stein, kwargs, code):
    """Repeated or negative days (duplicate or negative TIME records), a non-finite LLOQ and
    a negative seed (NumPy's traceback) are design violations before anything is drawn."""
    with pytest.raises(ck.ModelError) as err:
        ck.simulate(stein, n=3, **{"seed": 1, **kwargs})
    assert [v.code for v in err.value.violations] == [code]


def test_a_simulated_table_passes_the_validator(stein):
    table = ck.simulate(stein, n=4, seed=3, lloq=50, days=(0, 7, 14, 28))
    ds = ck.read_dataset(table)
    assert len(ds.exclusions) == 0 and len(ds.observations()) == 16


def test_ode_model_simulates_like_closed_form(stein):
    a = ck.simulate(stein, n=6, seed=9, lloq=50)
    b = ck.simulate(ck.load_model("stein2019_ode"), n=6, seed=9, lloq=50)
    np.testing.assert_allclose(a["DV"], b["DV"], rtol=1e-6)


def test_round_trip_through_read_dataset(stein, tmp_path):
    data = pytest.importorskip("cartpk.data")
    sim = ck.simulate(
        stein, n=12, seed=1, lloq=50,
        covariates=pd.DataFrame({"TARGET": ["GD2", "PSMA"] * 6}),
    )  # fmt: skip
    path = tmp_path / "sim.csv"
    sim.to_csv(path, index=False)
    ds = data.read_dataset(path)
    obs = ds.observations("QPCR")
    assert ds.subjects == [str(i) for i in range(1, 13)]
    assert len(obs) == 72 and len(ds.doses) == 12
    mine = sim[sim["EVID"] == 0]
    np.testing.assert_allclose(obs["DV"].to_numpy(), mine["DV"].to_numpy())
    np.testing.assert_array_equal(obs["CENS"].to_numpy(), mine["CENS"].to_numpy())
    assert ds.exclusions.empty
    assert ds.covariates["TARGET"].tolist() == ["GD2", "PSMA"] * 6
