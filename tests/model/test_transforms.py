"""One Transform object per estimation scale (issue 18): round trips, derivatives against
central differences, ranges, and the same numbers as every engine used before."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cartpk.model._transforms import TRANSFORMS, transform_of

POINTS = {"log": [1e-6, 0.3, 2.0, 5e4], "logit": [1e-6, 0.2, 0.5, 0.999], None: [-3.0, 0.0, 7.5]}


@pytest.mark.parametrize("name", ["log", "logit", None])
def test_round_trip_derivative_and_range(name):
    t = transform_of(name)
    v = np.array(POINTS[name])
    np.testing.assert_allclose(t.backward(np, t.forward(np, v)), v, rtol=1e-12)
    h = t.forward(np, v)
    eps = 1e-6
    fd = (t.backward(np, h + eps) - t.backward(np, h - eps)) / (2 * eps)
    np.testing.assert_allclose(t.dnat_dh(v) * np.ones_like(v), fd, rtol=1e-6)
    lo, hi = t.natural_range
    assert all(lo < x < hi for x in v)


def test_closed_forms_and_table():
    assert set(TRANSFORMS) == {"log", "logit", None}
    assert transform_of("log").forward(np, math.e) == pytest.approx(1.0)
    assert transform_of("logit").forward(np, 0.75) == pytest.approx(math.log(3.0))
    assert transform_of("logit").backward(np, 0.0) == pytest.approx(0.5)
    with pytest.raises(KeyError):
        transform_of("sqrt")


def test_engines_share_the_transforms():
    """The model's transformed scale, the per-patient fitter's and the bounds agree."""
    import cartpk as ck
    from cartpk.fit._subject_problem import _dnat_dh, _to_nat, _to_tr

    model = ck.load_model("stein2019")
    for name, th in model.thetas.items():
        v = float(th.value)
        h = float(model.to_transformed({name: v})[name])
        assert _to_tr(th.transform, v) == pytest.approx(h)
        assert _to_nat(th.transform, h) == pytest.approx(v)
        assert _dnat_dh(th.transform, v) == pytest.approx(transform_of(th.transform).dnat_dh(v))
        lo, hi = th.natural_bounds()
        rlo, rhi = transform_of(th.transform).natural_range
        assert lo >= rlo and hi <= rhi
