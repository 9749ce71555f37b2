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
