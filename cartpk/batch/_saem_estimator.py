"""Estimator of SSE and bootstrap studies by population maximum likelihood (SAEM)."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from cartpk.data import Dataset
    from cartpk.model import Model

__all__ = ["SaemEstimator"]


@dataclass(frozen=True)
class SaemEstimator:
    """Estimator of :func:`cartpk.sse` / :func:`cartpk.bootstrap` by :func:`cartpk.fit_saem`.

    Returns one row per estimated population parameter (typical values, covariate
    coefficients, ``omega_*``, residual SDs) with its Wald interval at ``level``;
    ``converged`` is the fit's own verdict (settled, Fisher information positive definite,
    no parameter at its bound) and ``identified`` whether the parameter's standard error is
    finite.

    Parameters
    ----------
    blq : {"m3", "m1"}, default "m3"
        Censoring method.
    drop_iiv : tuple of str, default ()
        Random effects removed from the fitted model (the simulation keeps the study's).
    explore, smooth, is_samples, fim_samples, level
        As :func:`cartpk.fit_saem`.
    parameters : tuple of str, optional
        Report only these parameters.
    profile : tuple of str, default ()
        Typical values without random effects whose ``lower``/``upper`` are their
        profile-likelihood interval (``fit_saem(profile=...)``) instead of the Wald one.
    """

    blq: Literal["m3", "m1"] = "m3"
    drop_iiv: tuple[str, ...] = ()
    explore: int = 300
    smooth: int = 200
    is_samples: int = 2000
    fim_samples: int = 500
    level: float = 0.95
    parameters: tuple[str, ...] | None = None
    profile: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.blq not in ("m3", "m1"):
            raise ValueError(f"`blq` must be 'm3' or 'm1', not {self.blq!r}")
        for name in ("explore", "smooth", "is_samples", "fim_samples"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"`{name}` must be an integer >= 1, not {v!r}")
        if not 0.0 < float(self.level) < 1.0:
            raise ValueError(f"`level` must lie in (0, 1), not {self.level!r}")
        object.__setattr__(self, "drop_iiv", tuple(str(p) for p in self.drop_iiv))
        object.__setattr__(self, "profile", tuple(str(p) for p in self.profile))
        if self.parameters is not None:
            object.__setattr__(self, "parameters", tuple(str(p) for p in self.parameters))

    def _fit_options(self) -> dict[str, Any]:
        """The options passed to :func:`cartpk.fit_saem`: every field but ``parameters``."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "parameters"}

    def __call__(self, dataset: Dataset, model: Model) -> pd.DataFrame:
        """Fit ``dataset`` by SAEM and return the estimates table (see the class notes)."""
        import numpy as np
        import pandas as pd

        from cartpk.errors import CartpkWarning
        from cartpk.fit.saem import fit_saem

        with warnings.catch_warnings():
            # the verdict is in `converged`; a study must not stop on a replicate's warning
            warnings.simplefilter("ignore", CartpkWarning)
            fit = fit_saem(model, dataset, **self._fit_options())
        p = fit.parameters[~fit.parameters["fixed"].astype(bool)]
        if self.parameters is not None:
            p = p[p["parameter"].isin(self.parameters)]
        lower, upper = p["lower"].to_numpy(dtype=float), p["upper"].to_numpy(dtype=float)
        if self.profile:  # the profile-likelihood interval where one was computed
            lower = np.where(p["profile_lower"].notna(), p["profile_lower"], lower)
            upper = np.where(p["profile_upper"].notna(), p["profile_upper"], upper)
        return pd.DataFrame(
            {
                "parameter": p["parameter"].to_numpy(),
                "estimate": p["estimate"].to_numpy(dtype=float),
                "lower": np.asarray(lower, dtype=float),
                "upper": np.asarray(upper, dtype=float),
                "converged": fit.converged,
                "identified": [math.isfinite(float(v)) for v in p["se"]],
            }
        )
