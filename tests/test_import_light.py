"""`import cartpk` stays light; heavy libraries load only when used."""

from __future__ import annotations

import subprocess
import sys


def test_import_cartpk_loads_no_heavy_library():
    code = (
        "import sys, cartpk, cartpk.data, cartpk.cli;"
        "heavy = [m for m in ('pymc', 'pytensor', 'jax', 'dask', 'distributed', 'matplotlib',"
        " 'arviz', 'nutpie', 'lmfit', 'statsmodels') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == ""


def test_namespace_shows_the_public_api_only():
    import cartpk

    names = dir(cartpk)
    assert names == sorted(cartpk.__all__)
    assert not {"Any", "TYPE_CHECKING", "importlib", "annotations"} & set(names)
    assert "Quick start" in (cartpk.__doc__ or "")


def test_top_level_holds_what_an_analysis_needs_and_stages_hold_the_rest():
    """About 40 names at the top (issue 18); the rest by stage, without importing it first."""
    code = (
        "import cartpk as ck;"
        "print(len(ck.__all__));"
        "print(ck.model.theta.__name__, ck.simulation.simulate_parameters.__name__,"
        " ck.fit.population_model.__name__, ck.noncompartmental.nca_summary.__name__,"
        " ck.er.ERFit.__name__, ck.exposure.exposure_from_posterior.__name__)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    count, names = r.stdout.split("\n")[:2]
    assert int(count) <= 49  # 46 + read_sdtm, read_adam (issue 19) + fit_saem (issue 20)
    assert names.split() == [
        "theta",
        "simulate_parameters",
        "population_model",
        "nca_summary",
        "ERFit",
        "exposure_from_posterior",
    ]
