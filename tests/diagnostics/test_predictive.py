"""Censoring-aware VPC, pcVPC, NPD and plots on fits with a known (point-mass) posterior.

The "posterior" here puts all its mass on the parameters that simulated the data, so the
predictive checks have known answers: a correct model's observed percentiles and BLQ
fractions fall inside the simulated intervals, NPDs are standard normal; a wrong model's
are not. No sampling is needed (:meth:`PopulationFit.from_idata`).
"""

from __future__ import annotations

import numpy as np
import pytest

import cartpk as ck
from cartpk.diagnostics import (
    plot_gof,
    plot_individual,
    plot_vpc,
    predictions,
    vpc,
    vpc_percentiles,
)
from cartpk.fit.population import PopulationFit

TRUTH = dict(foldx=2000.0, tmax=8.0, cmax=3000.0, alpha=0.25, fb=0.02, beta=0.01)
IIV = {"tmax": 0.3, "cmax": 0.8, "alpha": 0.5}
N_SUBJECTS, SEED = 60, 7


def _model():
    return ck.load_model("stein2019_smooth").with_iiv(drop=["foldx", "fb", "beta"])


def _data(seed: int) -> ck.Dataset:
    sim_model = _model().with_ini(**TRUTH).with_iiv(sd=IIV)
    return ck.read_dataset(ck.simulate(sim_model, n=N_SUBJECTS, seed=seed, lloq=50))


def _point_mass_fit(model, data, params, n_draws: int = 100, seed: int = SEED) -> PopulationFit:
    """A PopulationFit whose every draw equals the true parameters and random effects."""
    import arviz as az

    sim_model = _model().with_ini(**TRUTH).with_iiv(sd=IIV)
    ind = ck.simulation.simulate_parameters(sim_model, n=N_SUBJECTS, seed=seed)
    post = {}
    for name, value in params.items():
        post[f"mu_{name}"] = np.full((1, n_draws), float(model.to_transformed({name: value})[name]))
        post[name] = np.full((1, n_draws), value)
    for name, sd in IIV.items():
        eta = np.log(ind[name].to_numpy()) - np.log(TRUTH[name])
        post[f"eta_{name}"] = np.broadcast_to(eta, (1, n_draws, eta.size)).copy()
        post[f"omega_{name}"] = np.full((1, n_draws), sd)
    post["sigma"] = np.full((1, n_draws), 0.56)
    idata = az.from_dict(
        posterior=post,
        coords={"subject": data.subjects},
        dims={f"eta_{n}": ["subject"] for n in IIV},
    )
    return PopulationFit.from_idata(model, data, idata)


@pytest.fixture(scope="module")
def data():
    return _data(SEED)


@pytest.fixture(scope="module")
def true_fit(data):
    return _point_mass_fit(_model(), data, TRUTH)


@pytest.fixture(scope="module")
def wrong_fit(data):
    return _point_mass_fit(_model(), data, dict(TRUTH, cmax=TRUTH["cmax"] * 8))


def test_vpc_percentiles_censoring_rule():
    # half the values censored: the 25th percentile is below the limit, the 90th is not
    out = vpc_percentiles([50.0, 50.0, 200.0, 400.0], [True, True, False, False], [0.25, 0.5, 0.9])
    assert np.isnan(out[0]) and np.isnan(out[1])
    assert out[2] == pytest.approx(np.quantile([50, 50, 200, 400], 0.9))
    reps = vpc_percentiles(
        np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 9.0]]),
        np.array([[False] * 3, [True, True, False]]),
        [0.5],
    )
    assert reps.shape == (1, 2)
    assert reps[0, 0] == 2.0 and np.isnan(reps[0, 1])


def test_data_have_late_blq(data):
    obs = data.observations("QPCR")
    late = obs.loc[obs.TIME >= 60, "CENS"].mean()
    assert 0.15 < obs.CENS.mean() < 0.5 and late > 0.3


def _inside(v) -> tuple[int, int]:
    shown = v.percentiles.loc[~v.percentiles.observed_censored & ~v.percentiles.sim_censored]
    inside = (shown.observed >= shown.sim_lower) & (shown.observed <= shown.sim_upper)
    return int(inside.sum()), len(shown)


def test_vpc_of_true_model_covers_observed():
    """Pooled over 8 simulated trials, about 90 % of observed percentiles lie in the 90 % PIs.

    One trial of 60 subjects can miss several bins together (seed 7 draws a tmax sample mean
    2.7 SE below the population's), and the percentiles of one trial are correlated, so
    coverage is judged over replicate trials, with a bound (75 %) well above what a wrong
    model reaches (below 20 %, next test).
    """
    hits = total = blq_hits = blq_total = 0
    for seed in range(7, 15):
        data = _data(seed)
        v = vpc(_point_mass_fit(_model(), data, TRUTH, seed=seed), n=100, seed=1)
        h, t = _inside(v)
        hits, total = hits + h, total + t
        b = v.blq
        blq_hits += int(
            ((b.observed >= b.sim_lower - 1e-9) & (b.observed <= b.sim_upper + 1e-9)).sum()
        )
        blq_total += len(b)
    assert total >= 80
    assert hits / total >= 0.75
    assert blq_hits / blq_total >= 0.75


def test_vpc_table_structure_and_censoring(true_fit):
    v = vpc(true_fit, n=200, seed=1)
    p = v.percentiles
    assert set(p.columns) >= {
        "DVID",
        "bin",
        "time",
        "quantile",
        "observed",
        "sim_lower",
        "sim_upper",
    }
    assert sorted(p["time"].unique()) == [7.0, 14.0, 21.0, 28.0, 60.0, 90.0]
    # censoring is treated alike: where the data's 10th percentile is below LLOQ, so is the
    # simulated median 10th percentile (at the latest time)
    last = p.loc[(p.time == 90.0) & (p["quantile"] == 0.1)].iloc[0]
    assert last.observed_censored and last.sim_censored
    assert v.limits == {"QPCR": 50.0}
    assert list(v.blq.columns) == [
        "DVID",
        "bin",
        "time",
        "n",
        "observed",
        "sim_median",
        "sim_lower",
        "sim_upper",
    ]


def test_vpc_of_wrong_model_misses(wrong_fit):
    v = vpc(wrong_fit, n=200, seed=1)
    med = v.percentiles.loc[(v.percentiles["quantile"] == 0.5) & ~v.percentiles.observed_censored]
    below = med.observed < med.sim_lower  # cmax 8x too high: data sit below the simulations
    assert below.mean() >= 0.8
    assert _inside(v)[0] / _inside(v)[1] < 0.2
    assert (v.blq.observed > v.blq.sim_upper).sum() >= 2  # too few simulated BLQ values


def test_pcvpc_of_true_model():
    hits = total = 0
    for seed in range(7, 15):
        v = vpc(
            _point_mass_fit(_model(), _data(seed), TRUTH, seed=seed),
            n=100,
            seed=1,
            prediction_corrected=True,
        )
        assert v.prediction_corrected
        h, t = _inside(v)
        hits, total = hits + h, total + t
    assert hits / total >= 0.75


def test_predictions_npd_standard_normal_for_true_model(true_fit, wrong_fit):
    t = predictions(true_fit, n=300, seed=2)
    assert list(t.columns) == [
        "ROW",
        "ID",
        "TIME",
        "DVID",
        "DV",
        "CENS",
        "LLOQ",
        "PRED",
        "IPRED",
        "IPRED_lower",
        "IPRED_upper",
        "NPD",
    ]
    assert np.isfinite(t.NPD).all()
    assert abs(t.NPD.mean()) < 0.3
    assert 0.75 < t.NPD.std() < 1.25
    # IPRED of a point-mass posterior is the true individual prediction: tight around DV
    q = t.CENS == 0
    resid = np.log(t.DV[q]) - np.log(t.IPRED[q])
    assert resid.std() == pytest.approx(0.56, rel=0.2)
    bad = predictions(wrong_fit, n=300, seed=2)
    assert bad.NPD.mean() < -1.0


def test_plots_are_written(tmp_path, true_fit):
    v = vpc(true_fit, n=50, seed=1)
    files = [
        plot_vpc(v, tmp_path / "vpc.png", observations=true_fit.observations),
        plot_vpc(vpc(true_fit, n=50, seed=1, prediction_corrected=True), tmp_path / "pcvpc.png"),
        plot_gof(predictions(true_fit, n=50), tmp_path / "gof.png"),
        plot_individual(true_fit, tmp_path / "ind.png", max_subjects=8, n=50),
    ]
    for f in files:
        assert f.is_file() and f.stat().st_size > 10_000


def test_point_mass_fit_tables(true_fit):
    p = true_fit.parameters.set_index("parameter")
    assert p.loc["cmax", "estimate"] == pytest.approx(3000.0)
    assert p.loc["omega_cmax", "cv_pct"] == pytest.approx(100 * np.sqrt(np.expm1(0.8**2)))
    assert 0 <= p.loc["omega_cmax", "shrinkage_pct"] < 30
    assert list(true_fit.individual.columns[:4]) == ["ID", "foldx", "foldx_lower", "foldx_upper"]
    assert len(true_fit.individual) == N_SUBJECTS


def test_plot_axes_carry_units_and_subsets_are_stated(tmp_path, true_fit, monkeypatch):
    """Issue 21: no axis reads a bare DV / PRED / IPRED; a page of subjects says which."""
    import cartpk.diagnostics._plots as plots

    figures = []
    real_save = plots._save

    def keep(fig, path):
        figures.append(
            {
                "labels": [ax.get_xlabel() for ax in fig.axes]
                + [ax.get_ylabel() for ax in fig.axes]
                + [t.get_text() for t in (fig._supxlabel, fig._supylabel) if t is not None],
                "title": fig._suptitle.get_text() if fig._suptitle is not None else "",
            }
        )
        return real_save(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    units = {"units": dict(true_fit.model.outputs), "time_unit": true_fit.model.time_unit}
    unit = next(iter(true_fit.model.outputs.values())).replace("ug", "µg")
    plot_vpc(vpc(true_fit, n=20, seed=1), tmp_path / "v.png", **units)
    plot_gof(predictions(true_fit, n=20), tmp_path / "g.png", **units)
    plot_individual(true_fit, tmp_path / "i.png", max_subjects=4, n=20)
    for fig in figures:
        labels = [lab for lab in fig["labels"] if lab]
        assert labels
        for lab in labels:
            assert "(" in lab, lab  # every axis names its unit (or "dimensionless")
    assert any(unit in lab for fig in figures for lab in fig["labels"])
    n = len(true_fit.subjects)
    assert figures[-1]["title"].startswith(f"4 of {n} subjects shown")
