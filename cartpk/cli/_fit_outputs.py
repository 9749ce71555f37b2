"""What every population fit of ``cartpk fit`` writes besides its own tables (Bayesian and
SAEM alike): the predictive checks (predictions, VPC, pcVPC, GOF and individual plots) and
its summary as JSON."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["jsonable", "write_checks"]


def write_checks(folder: Any, fit: Any, *, n: int, seed: int) -> None:
    """Predictions, VPC and pcVPC of ``n`` simulated replicates, GOF and individual plots."""
    from cartpk import diagnostics as dg

    sims = fit.simulate(n, seed=seed)
    pred = dg.predictions(fit, n=n, seed=seed, simulations=sims)
    folder.write_csv("predictions.csv", pred)
    v = dg.vpc(fit, n=n, seed=seed, simulations=sims)
    pc = dg.vpc(fit, n=n, seed=seed, simulations=sims, prediction_corrected=True)
    folder.write_csv("vpc.csv", v.percentiles)
    folder.write_csv("vpc_blq.csv", v.blq)
    folder.write_csv("pcvpc.csv", pc.percentiles)
    units = {"units": dict(fit.model.outputs), "time_unit": fit.model.time_unit}
    dg.plot_vpc(v, folder.file("vpc.png"), observations=fit.observations, **units)
    dg.plot_vpc(pc, folder.file("pcvpc.png"), **units)
    dg.plot_gof(pred, folder.file("gof.png"), **units)
    # every subject, 24 per page: individual_fits.png, individual_fits_2.png, ...
    ids = list(fit.subjects)
    for page, start in enumerate(range(0, len(ids), 24), start=1):
        name = "individual_fits.png" if page == 1 else f"individual_fits_{page}.png"
        dg.plot_individual(fit, folder.file(name), ids=ids[start : start + 24])


def jsonable(obj: Any) -> Any:
    """``obj`` as JSON can hold it: keys as text, tuples as lists, NumPy scalars as Python
    numbers, non-finite floats as ``null``."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if hasattr(obj, "item"):
        return jsonable(obj.item())
    return obj
