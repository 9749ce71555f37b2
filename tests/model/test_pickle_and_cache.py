"""Models pickle as (class, parameter block); evaluation facts are cached per instance."""

from __future__ import annotations

import copy
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cartpk as ck
from cartpk.errors import ModelError
from cartpk.model import ClosedFormModel, log_additive, omega, power, theta

TIMES = [7.0, 14.0, 21.0, 28.0, 60.0, 90.0]

# Runs in a fresh interpreter: loads the pickled model before anything registered the
# catalogue package, and reports what the parent compares.
_CHILD = """
import json, pickle, sys
import numpy as np
assert "cartpk._catalogue" not in sys.modules
with open(sys.argv[1], "rb") as fh:
    m = pickle.load(fh)
t = np.array(json.loads(sys.argv[2]))
free = {k: v for k, v in m.typical().items() if not m.thetas[k].fixed}
out = {
    "type": type(m).__module__ + "." + type(m).__qualname__,
    "typical": m.typical(),
    "parameters": m.parameters.to_json(orient="records"),
    "evaluate": m.evaluate(np, t, free, dose=1e8)["QPCR"].tolist(),
}
with open(sys.argv[3], "w") as fh:
    json.dump(out, fh)
with open(sys.argv[4], "wb") as fh:
    pickle.dump(m, fh)
"""


def _modified():
    return (
        ck.load_model("stein2019")
        .fix(fb=0.005)
        .with_ini(tmax=11.0, omega_cmax=0.7)
        .with_iiv(drop=["foldx"])
        .with_covariates(power("cmax", on="DOSE", ref=1e8, coef=0.4))
        .fix("sigma")
    )


def test_catalogue_model_round_trips_in_a_fresh_process(tmp_path):
    m = _modified()
    src, res, back = tmp_path / "m.pkl", tmp_path / "out.json", tmp_path / "back.pkl"
    src.write_bytes(pickle.dumps(m))
    root = str(Path(ck.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    args = [str(src), json.dumps(TIMES), str(res), str(back)]
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(res.read_text())
    assert got["type"] == "cartpk._catalogue.stein2019.Stein2019"
    assert got["typical"] == m.typical()
    mine = json.loads(m.parameters.to_json(orient="records"))
    assert json.loads(got["parameters"]) == mine
    free = {k: v for k, v in m.typical().items() if not m.thetas[k].fixed}
    expected = m.evaluate(np, np.array(TIMES), free, dose=1e8)["QPCR"]
    np.testing.assert_array_equal(np.array(got["evaluate"]), expected)
    # and back again: the model pickled by the fresh process equals the original
    assert pickle.loads(back.read_bytes()) == m


@pytest.mark.parametrize("name", ["stein2019", "stein2019_ode", "stein2019_smooth"])
def test_pickle_and_copy_keep_type_and_block(name):
    m = ck.load_model(name).fix(fb=0.01).with_iiv(drop=["foldx"])
    for twin in (pickle.loads(pickle.dumps(m)), copy.copy(m), copy.deepcopy(m)):
        assert type(twin) is type(m) and twin == m and hash(twin) == hash(m)
        assert twin.thetas["fb"].fixed and "foldx" not in twin.iiv
        assert twin.parameters.equals(m.parameters)


class Mono(ClosedFormModel):
    """A model outside the catalogue, importable by module and name."""

    name = "mono"
    outputs = {"QPCR": "copies/ug"}
    k = theta(0.5, unit="1/day")
    c0 = theta(100.0, unit="copies/ug")
    iiv = omega(sd={"k": 0.3})
    error = log_additive(sigma=0.5)

    @staticmethod
    def predict(xp, time, *, k, c0):
        return {"QPCR": c0 * xp.exp(-k * time)}


def test_model_outside_the_catalogue_pickles_by_reference():
    m = Mono().fix(c0=50.0).with_iiv(drop=["k"])
    twin = pickle.loads(pickle.dumps(m))
    assert type(twin) is Mono and twin == m and twin.thetas["c0"].fixed
    np.testing.assert_array_equal(
        twin.evaluate(np, np.array(TIMES), {"k": 0.5})["QPCR"],
        m.evaluate(np, np.array(TIMES), {"k": 0.5})["QPCR"],
    )


def test_cached_plan_is_per_instance_and_not_pickled():
    m = ck.load_model("stein2019")
    before = pickle.dumps(m)
    t = np.array(TIMES)
    full = m.typical()
    m.evaluate(np, t, full)  # builds the cached plan of `m`
    assert pickle.dumps(m) == before  # the cache is not part of the value
    assert m == ck.load_model("stein2019") and hash(m) == hash(ck.load_model("stein2019"))
    # a model derived after `m` was evaluated sees its own fixed set ...
    fixed = m.fix(fb=0.02)
    no_fb = {k: v for k, v in full.items() if k != "fb"}
    out = fixed.evaluate(np, t, no_fb)["QPCR"]
    np.testing.assert_allclose(out, m.evaluate(np, t, {**no_fb, "fb": 0.02})["QPCR"])
    # ... and the original still needs every free parameter
    with pytest.raises(ModelError) as err:
        m.evaluate(np, t, no_fb)
    assert [v.code for v in err.value.violations] == ["missing_parameter"]
    # unfixing after evaluation makes the parameter required again
    fixed.evaluate(np, t, no_fb)
    with pytest.raises(ModelError):
        fixed.unfix("fb").evaluate(np, t, no_fb)
    # a new value for a fixed parameter is used, not the cached one of the parent
    moved = fixed.with_ini(fb=0.1)
    np.testing.assert_allclose(
        moved.evaluate(np, t, no_fb)["QPCR"], m.evaluate(np, t, {**no_fb, "fb": 0.1})["QPCR"]
    )
    # names added by a transformation are known to the derived model only
    cov = m.with_covariates(power("cmax", on="DOSE", ref=1e8, coef=0.4))
    cov.evaluate(np, t, {**full, "cov_cmax_dose": 0.4})
    with pytest.raises(ModelError):
        m.evaluate(np, t, {**full, "cov_cmax_dose": 0.4})


def test_signature_cache_follows_the_function_not_the_class():
    class NoDose(ClosedFormModel):
        name = "nodose"
        outputs = {"QPCR": "copies/ug"}
        c0 = theta(100.0, unit="copies/ug")
        error = log_additive(sigma=0.5)

        @staticmethod
        def predict(xp, time, *, c0):
            return {"QPCR": c0 + 0.0 * time}

    class WithDose(NoDose):
        name = "withdose"

        @staticmethod
        def predict(xp, time, *, c0, dose):
            return {"QPCR": c0 * dose + 0.0 * time}

    t = np.array([1.0, 2.0])
    np.testing.assert_allclose(NoDose().evaluate(np, t, {"c0": 2.0}, dose=3.0)["QPCR"], 2.0)
    np.testing.assert_allclose(WithDose().evaluate(np, t, {"c0": 2.0}, dose=3.0)["QPCR"], 6.0)
    np.testing.assert_allclose(NoDose().evaluate(np, t, {"c0": 2.0}, dose=3.0)["QPCR"], 2.0)
