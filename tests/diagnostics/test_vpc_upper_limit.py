"""VPC percentiles and replicate intervals with records censored above an upper limit."""

from __future__ import annotations

import numpy as np
import pytest

from cartpk.diagnostics import vpc_percentiles
from cartpk.diagnostics._predictive import _censored_percentiles, _quantile_nearest


def test_percentiles_inside_the_fraction_above_the_limit_are_censored():
    values = [50.0, 120.0, 200.0, 300.0, 900.0, 900.0, 900.0, 900.0]
    cens = [1, 0, 0, 0, -1, -1, -1, -1]  # 1/8 below the LLOQ, 4/8 above the ULOQ
    out = vpc_percentiles(values, cens, [0.1, 0.3, 0.5, 0.9])
    assert np.isnan(out[0])  # 0.1 <= 1/8: below the lower limit
    assert out[1] == pytest.approx(np.quantile(values, 0.3))
    assert np.isnan(out[2]) and np.isnan(out[3])  # >= 1 - 4/8: above the upper limit
    # boolean flags keep their meaning (below a lower limit only)
    as_bool = vpc_percentiles(values, np.array(cens) == 1, [0.9])
    assert as_bool[0] == pytest.approx(900.0)


def test_replicate_quantiles_rank_values_above_the_limit_highest():
    # three replicates of two records: the 90th percentile is above the limit in two
    sims = np.array([[10.0, 900.0], [10.0, 900.0], [10.0, 20.0]])
    codes = np.array([[0, -1], [0, -1], [0, 0]])
    per_rep = _censored_percentiles(sims, codes, [0.9])  # (1, 3)
    assert np.isposinf(per_rep[0, :2]).all() and np.isfinite(per_rep[0, 2])
    med, lo = _quantile_nearest(per_rep[0], [0.5, 0.05])
    assert np.isnan(med)  # the median replicate lies above the limit, reported censored
    assert lo == pytest.approx(per_rep[0, 2])  # the finite one ranks lowest, not highest
