"""Catalogue: loading by name, listing, unknown names."""

from __future__ import annotations

import pytest

import cartpk as ck
from cartpk.errors import ModelError

EXPECTED = {"stein2019", "stein2019_ode", "stein2019_smooth", "ogasawara2021_lag"}


def test_list_models_table():
    table = ck.list_models()
    assert list(table.columns) == [
        "name",
        "kind",
        "reference",
        "outputs",
        "provenance",
        "provenance_detail",
    ]
    assert EXPECTED <= set(table["name"])
    kinds = table.set_index("name")["kind"]
    assert kinds["stein2019_ode"] == "ode" and kinds["stein2019"] == "closed_form"
    assert table["reference"].str.contains("doi:").all()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_catalogue_model_loads_and_evaluates(name):
    import numpy as np

    m = ck.load_model(name)
    assert m.name == name
    out = m.evaluate(np, np.array([7.0, 14.0, 28.0, 90.0]), m.typical())
    assert set(out) == set(m.outputs)
    for v in out.values():
        assert np.all(np.isfinite(v)) and np.all(v > 0)


def test_unknown_model_lists_valid_names():
    with pytest.raises(ModelError) as err:
        ck.load_model("stein2020")
    assert err.value.code == "unknown_model"
    assert "stein2019_ode" in str(err.value)


def test_ode_form_reuses_the_closed_form_parameter_block():
    closed, ode = ck.load_model("stein2019"), ck.load_model("stein2019_ode")
    assert closed.ini == ode.ini
    assert closed.parameters.equals(ode.parameters)


def test_stein_variability_read_as_variances():
    """Stein 2019 Table 1 random effects read as omega^2 (see models/stein2019.py)."""
    sd = ck.load_model("stein2019").iiv.sd
    assert sd["foldx"] == pytest.approx(2.4**0.5)
    assert sd["tmax"] == pytest.approx(0.38**0.5)
