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
