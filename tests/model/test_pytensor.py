"""The same declaration evaluated with `pytensor.tensor` as `xp`, and differentiated."""

from __future__ import annotations

import numpy as np
import pytest

import cartpk as ck

pytensor = pytest.importorskip("pytensor")
pt = pytest.importorskip("pytensor.tensor")

TIMES = np.array([7.0, 14.0, 21.0, 28.0, 60.0, 90.0])


def _loglik(model, names, values, eta):
    """Sum of log predictions for 3 subjects with a random effect on cmax."""
    ind = model.individual_parameters(typical=values, eta={"cmax": eta}, xp=pt)
    params = {k: (ind[k][:, None] if k == "cmax" else ind[k]) for k in names}
    return pt.sum(pt.log(model.evaluate(pt, TIMES, params)["QPCR"]))


@pytest.mark.parametrize("name", ["stein2019", "stein2019_smooth", "ogasawara2021_lag"])
def test_pytensor_gradient_matches_finite_differences(name):
    model = ck.load_model(name)
    names = [n for n, t in model.thetas.items() if not t.fixed]
    sym = {n: pt.dscalar(n) for n in names}
    eta = pt.dvector("eta")
    ll = _loglik(model, names, sym, eta)
    grads = pytensor.grad(ll, [sym[n] for n in names] + [eta])
    f = pytensor.function([sym[n] for n in names] + [eta], [ll, *grads], mode="FAST_COMPILE")
    typ = model.typical()
    e0 = np.array([0.0, 0.3, -0.2])
    value, *g = f(*[typ[n] for n in names], e0)

    def numpy_ll(vals, e):
        ind = model.individual_parameters(typical=vals, eta={"cmax": e})
        params = {k: np.asarray(ind[k])[:, None] for k in names}
        return float(np.sum(np.log(model.evaluate(np, TIMES, params)["QPCR"])))

    assert value == pytest.approx(numpy_ll(typ, e0), rel=1e-10)
    for i, n in enumerate(names):
        h = 1e-6 * typ[n]
        up, dn = dict(typ), dict(typ)
        up[n] += h
        dn[n] -= h
        fd = (numpy_ll(up, e0) - numpy_ll(dn, e0)) / (2 * h)
        assert g[i] == pytest.approx(fd, rel=1e-4, abs=1e-6), n
    assert np.all(np.isfinite(g[-1])) and g[-1].shape == (3,)
