"""E-R figures say where the exposure comes from, and the Cox figure's legend gives each
quartile's exposure range and names the dashed model curves (new-user walk)."""

from __future__ import annotations

import matplotlib.figure
import numpy as np
import pandas as pd

import cartpk as ck
from cartpk.er import fit_er


def _subjects(n: int = 80) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    cmax = np.exp(rng.normal(8.0, 1.0, n))
    t = rng.exponential(200.0 / (1.0 + cmax / 3000.0))
    return pd.DataFrame(
        {"ID": [str(i) for i in range(n)], "cmax": cmax, "pfs_time": t, "pfs_event": 1}
    )


def test_cox_legend_has_quartile_ranges_and_the_model_curves_named(tmp_path, monkeypatch):
    seen: dict[str, list[str]] = {"titles": [], "legend": []}
    real = matplotlib.figure.Figure.savefig

    def keep(fig, *args, **kwargs):
        for ax in fig.axes:
            seen["titles"].append(ax.get_title())
            leg = ax.get_legend()
            seen["legend"].extend(t.get_text() for t in (leg.get_texts() if leg else []))
        return real(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", keep)
    fit = fit_er(_subjects(), "pfs_time", exposure="cmax", model="cox", event="pfs_event")
    ck.er.er_plot(fit, tmp_path / "c.png", units={"cmax": "copies/ug"}, source="model")
    km = [t for t in seen["legend"] if "(KM, n=" in t]
    assert len(km) == 4 and all("cmax " in t and "copies/µg" in t for t in km), km
    assert "model at each quartile's median exposure" in seen["legend"]
    assert "(model exposure)" in seen["titles"][0]
