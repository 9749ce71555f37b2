"""cartpk.er_draws: exposure uncertainty propagated by refitting per posterior draw."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from er_helpers import BETA_BINARY, simulate_subjects

import cartpk as ck
from cartpk.er import ESTIMATE_COLUMNS


def _draws(subjects: pd.DataFrame, rng: np.random.Generator, m: int, sd: float) -> pd.DataFrame:
    """Posterior-like draws: the true Cmax times log-normal noise with SD ``sd`` (log scale)."""
    frames = []
    for d in range(m):
        noise = rng.normal(0.0, sd, len(subjects)) if sd > 0 else 0.0
        frames.append(pd.DataFrame({"ID": subjects["ID"], "draw": d,
                                    "cmax": subjects["cmax"] * np.exp(noise)}))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def test_er_draws_without_uncertainty_reproduces_the_single_fit(rng):
    subjects = simulate_subjects(rng, n=200)
    single = ck.fit_er(subjects, "orr", exposure="cmax", model="logistic").slope
    res = ck.er_draws(subjects, _draws(subjects, rng, 5, 0.0), "orr", exposure="cmax",
                      model="logistic")  # fmt: skip
    assert len(res.per_draw) == 5
    np.testing.assert_allclose(res.per_draw["estimate"], single["estimate"], rtol=1e-10)
    row = res.pooled.iloc[0]
    assert row["estimate"] == pytest.approx(single["estimate"], rel=1e-10)
    assert row["se"] == pytest.approx(single["se"], rel=1e-8)
    assert row["fraction_missing_info"] == pytest.approx(0.0, abs=1e-12)
    assert list(res.pooled.columns[: len(ESTIMATE_COLUMNS)]) == ESTIMATE_COLUMNS
    assert row["model"] == "logistic+draws"


def test_er_draws_widens_the_interval_and_reports_the_slope_distribution(rng):
    subjects = simulate_subjects(rng, n=200)
    res = ck.er_draws(subjects, _draws(subjects, rng, 30, 0.4), "orr", exposure="cmax",
                      model="logistic")  # fmt: skip
    row = res.pooled.iloc[0]
    assert row["n_draws"] == 30 and row["n_draws_used"] == 30
    assert row["draws_q025"] < row["draws_median"] < row["draws_q975"]
    within = math.sqrt((res.per_draw["se"] ** 2).mean())
    assert row["se"] > within  # exposure uncertainty adds variance (Rubin's T = W + ...)
    assert 0 < row["fraction_missing_info"] < 1
    assert row["lower"] < BETA_BINARY < row["upper"]
    assert row["or_per_2fold"] == pytest.approx(math.exp(row["estimate"] * math.log(2)))
    # Rubin's rules, recomputed from the per-draw table
    b, s = res.per_draw["estimate"], res.per_draw["se"]
    total = (s**2).mean() + (1 + 1 / 30) * b.var(ddof=1)
    assert row["se"] == pytest.approx(math.sqrt(total))


def test_er_draws_missing_subject_is_named(rng):
    subjects = simulate_subjects(rng, n=50)
    draws = _draws(subjects, rng, 2, 0.1)
    draws = draws[draws["ID"] != "S007"]
    with pytest.raises(ck.DatasetError) as info:
        ck.er_draws(subjects, draws, "orr", exposure="cmax", model="logistic")
    assert info.value.code == "draws_missing_subject"
    assert "S007" in str(info.value)


def test_er_draws_rejects_emax(rng):
    subjects = simulate_subjects(rng, n=50)
    with pytest.raises(ck.SpecError) as info:
        ck.er_draws(subjects, _draws(subjects, rng, 2, 0.1), "orr", exposure="cmax",
                    model="emax")  # fmt: skip
    assert info.value.code == "model_unsupported"
