"""Hand-computed checks of the NCA kernels (cartpk.noncompartmental._core)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cartpk.noncompartmental import _core


def _rows(*profiles: tuple[list[float], list[float]]) -> tuple[np.ndarray, np.ndarray]:
    m = max(len(t) for t, _ in profiles)
    T = np.full((len(profiles), m), np.nan)
    C = np.full((len(profiles), m), np.nan)
    for i, (t, c) in enumerate(profiles):
        T[i, : len(t)] = t
        C[i, : len(c)] = c
    return T, C


# profile A: t = 0, 1, 2, 4 ; C = 0, 4, 2, 1
A = ([0.0, 1.0, 2.0, 4.0], [0.0, 4.0, 2.0, 1.0])


def test_auc_last_linear_trapezoid_by_hand():
    T, C = _rows(A)
    _, _, ilast = _core.last_positive(T, C)
    # 1*(0+4)/2 + 1*(4+2)/2 + 2*(2+1)/2 = 2 + 3 + 3
    assert _core.auc_last(T, C, ilast, "linear")[0] == pytest.approx(8.0, rel=1e-15)


def test_auc_last_log_down_uses_log_trapezoid_on_declines():
    T, C = _rows(A)
    _, _, ilast = _core.last_positive(T, C)
    # rise 0->4 linear: 2 ; declines: dt*(c1-c2)/ln(c1/c2) = 1*2/ln 2 and 2*1/ln 2
    expected = 2.0 + 2.0 / math.log(2.0) + 2.0 / math.log(2.0)
    assert _core.auc_last(T, C, ilast, "linuplogdown")[0] == pytest.approx(expected, rel=1e-14)


def test_auc_at_interpolates_linearly_inside_a_segment():
    T, C = _rows(A)
    count = np.array([4])
    got = _core.auc_at(T, C, count, np.array([3.0]), "linear", lambda_z=np.array([np.nan]))
    # C(3) = 1.5 by linear interpolation; 2 + 3 + 1*(2+1.5)/2
    assert got[0] == pytest.approx(6.75, rel=1e-15)


def test_auc_at_interpolates_log_linearly_on_a_decline_under_linuplogdown():
    T, C = _rows(A)
    count = np.array([4])
    got = _core.auc_at(T, C, count, np.array([3.0]), "linuplogdown", lambda_z=np.array([np.nan]))
    # on [2, 4] C(t) = 2 exp(-k (t-2)), k = ln 2 / 2 -> C(3) = sqrt 2,
    # partial area (2 - sqrt 2)/k
    k = math.log(2.0) / 2.0
    expected = 2.0 + 2.0 / math.log(2.0) + (2.0 - math.sqrt(2.0)) / k
    assert got[0] == pytest.approx(expected, rel=1e-14)


def test_auc_at_extrapolates_after_tlast_with_lambda_z_and_is_nan_before_first_sample():
    t = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    c = [0.0] + [8.0 * math.exp(-0.5 * x) for x in t[1:]]
    T, C = _rows((t, c))
    count = np.array([6])
    lam = np.array([0.5])
    at8 = _core.auc_at(T, C, count, np.array([8.0]), "linear", lambda_z=lam)
    at5 = _core.auc_at(T, C, count, np.array([5.0]), "linear", lambda_z=lam)
    tail = c[-1] / 0.5 * (1 - math.exp(-0.5 * 3.0))
    assert at8[0] - at5[0] == pytest.approx(tail, rel=1e-14)
    off = _core.auc_at(T, C, count, np.array([8.0]), "linear", lambda_z=lam, extrapolate=False)
    assert np.isnan(off[0])
    before = _core.auc_at(T + 1.0, C, count, np.array([0.5]), "linear", lambda_z=lam)
    assert np.isnan(before[0])


def test_peak_takes_first_time_of_cmax_and_last_positive_skips_trailing_zero():
    T, C = _rows(([0.0, 1.0, 2.0, 3.0], [1.0, 5.0, 5.0, 0.0]))
    cmax, tmax, imax = _core.peak(T, C)
    tlast, clast, ilast = _core.last_positive(T, C)
    assert (cmax[0], tmax[0], imax[0]) == (5.0, 1.0, 1)
    assert (tlast[0], clast[0], ilast[0]) == (2.0, 5.0, 2)


def _fit(t, c, **kw):
    T, C = _rows((t, c))
    _, _, imax = _core.peak(T, C)
    tlast, clast, ilast = _core.last_positive(T, C)
    col = np.arange(T.shape[1])[None, :]
    start = imax[:, None] if kw.pop("allow_tmax", False) else imax[:, None] + 1
    cand = (C > 0) & (col >= start) & (col <= ilast[:, None])
    return _core.lambda_z(T, C, cand, tlast, clast, **kw)


def test_lambda_z_excludes_tmax_unless_allowed():
    t = [0.0, 1.0, 2.0, 3.0, 4.0]
    c = [0.0, 16.0, 8.0, 4.0, 2.0]  # exactly C = 32 * 2^-t from Tmax on
    fit = _fit(t, c)
    assert fit.npoints[0] == 3 and fit.lower[0] == 2.0
    assert fit.lambda_z[0] == pytest.approx(math.log(2.0), rel=1e-12)
    with_tmax = _fit(t, c, allow_tmax=True)
    # all sets fit perfectly (adjusted R^2 = 1): the tie goes to more points
    assert with_tmax.npoints[0] == 4 and with_tmax.lower[0] == 1.0


def _adj_r2(t, c):
    """Adjusted R^2 of ln(c) on t, computed independently with numpy.corrcoef."""
    r = np.corrcoef(t, np.log(c))[0, 1]
    n = len(t)
    return 1 - (1 - r * r) * (n - 1) / (n - 2)


@pytest.mark.parametrize(("delta", "expected_points"), [(0.004, 4), (0.03, 3)])
def test_lambda_z_tie_within_tolerance_prefers_more_points(delta, expected_points):
    # after Tmax (t=1): the last three points lie exactly on ln C = 3 - 0.3 t (adj R^2 = 1);
    # the point at t = 2 is off the line by `delta` in ln C.
    t = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    c = [0.0, 50.0] + [math.exp(3 - 0.3 * x + (delta if x == 2 else 0.0)) for x in t[2:]]
    adj4 = _adj_r2(t[2:], c[2:])
    # the premise of each case, checked independently of cartpk
    assert (1.0 - adj4 < 1e-4) == (expected_points == 4)
    fit = _fit(t, c, tolerance=1e-4)
    assert fit.npoints[0] == expected_points
    if expected_points == 4:
        assert fit.r2adj[0] == pytest.approx(adj4, abs=1e-12)


def test_lambda_z_too_few_points_and_rising_terminal_phase_give_nan():
    few = _fit([0.0, 1.0, 2.0, 3.0], [0.0, 5.0, 4.0, 3.0])
    assert np.isnan(few.lambda_z[0]) and few.ncandidates[0] == 2
    # after Tmax the level rises again: no regression has lambda_z > 0
    rising = _fit([0.0, 1.0, 2.0, 3.0, 4.0], [0.0, 10.0, 1.0, 2.0, 4.0])
    assert np.isnan(rising.lambda_z[0]) and not rising.any_positive[0]


def test_lambda_z_vectorised_rows_match_one_at_a_time():
    rng = np.random.default_rng(8)
    t = np.array([0.0, 1, 2, 4, 7, 10, 14, 21, 28])
    profiles = []
    for _ in range(20):
        c = 100 * np.exp(-rng.uniform(0.05, 0.4) * t) * np.exp(rng.normal(0, 0.1, t.size))
        c[0] = 0.0
        profiles.append((list(t), list(c)))
    T, C = _rows(*profiles)
    _, _, imax = _core.peak(T, C)
    tlast, clast, ilast = _core.last_positive(T, C)
    col = np.arange(T.shape[1])[None, :]
    cand = (C > 0) & (col > imax[:, None]) & (col <= ilast[:, None])
    together = _core.lambda_z(T, C, cand, tlast, clast)
    for i, (ti, ci) in enumerate(profiles):
        alone = _fit(ti, ci)
        assert together.npoints[i] == alone.npoints[0]
        np.testing.assert_allclose(together.lambda_z[i], alone.lambda_z[0], rtol=1e-12)
