"""Convergence diagnostics of MCMC fits, as data: R-hat, bulk/tail ESS, divergences, BFMI.

These checks live in the FIT stage because a fit must judge its own convergence (its
``summary`` and its warning say whether it converged); ``cartpk.diagnostics`` re-exports
them next to the predictive checks. The numbers come from ArviZ (rank-normalised split
R-hat, bulk and tail ESS of Vehtari et al. 2021; E-BFMI of Betancourt 2016); this module
turns them into one tidy table with the thresholds applied.

Thresholds (defaults of :class:`ConvergenceThresholds`, all configurable)
-----------------------------------------------------------------------
==================== ========= ==================================================
check                default    source
==================== ========= ==================================================
``rhat``             <= 1.01    Vehtari et al. 2021 (rank-normalised split R-hat)
``ess_bulk``         >= 400     Vehtari et al. 2021 (100 per chain for 4 chains)
``ess_tail``         >= 400     Vehtari et al. 2021
``divergences``      <= 0       Betancourt 2017: any divergence can bias the fit
``bfmi``             >= 0.3     Betancourt 2016 (E-BFMI below 0.3 is problematic)
==================== ========= ==================================================

Every variable is checked at its worst element (for ``eta_cmax`` the worst subject, named
in the ``element`` column).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cartpk.errors import CartpkWarning, Outcome

if TYPE_CHECKING:  # pragma: no cover
    import arviz

__all__ = [
    "ConvergenceThresholds",
    "PopulationStatus",
    "check_convergence",
    "convergence_summary",
    "convergence_table",
    "eta_shrinkage",
]

_TABLE_COLUMNS = ["check", "parameter", "element", "value", "threshold", "passed"]


class PopulationStatus(Outcome):
    """Outcome of a sampling fit (:attr:`cartpk.fit.PopulationFit.status`)."""

    converged = "converged", "Every convergence threshold was met.", True
    not_converged = (
        "not_converged",
        "At least one convergence threshold was missed (`summary['failed']` lists them; "
        "the `not_converged` warning says what to try): sample longer (`extend`, `draws`, "
        "`tune`), raise `target_accept`, or drop random effects the design cannot inform. "
        "Do not use these estimates as converged.",
    )


@dataclass(frozen=True)
class ConvergenceThresholds:
    """Thresholds a sampling fit must meet to be called converged.

    Attributes
    ----------
    rhat_max : float, default 1.01
        Largest acceptable rank-normalised split R-hat of any parameter element.
    ess_bulk_min : float, default 400
        Smallest acceptable bulk effective sample size.
    ess_tail_min : float, default 400
        Smallest acceptable tail effective sample size (5 % and 95 % quantiles).
    divergences_max : int, default 0
        Largest acceptable number of divergent transitions after tuning (all chains).
    bfmi_min : float, default 0.3
        Smallest acceptable energy Bayesian fraction of missing information of any chain.
    """

    rhat_max: float = 1.01
    ess_bulk_min: float = 400.0
    ess_tail_min: float = 400.0
    divergences_max: int = 0
    bfmi_min: float = 0.3

    def to_dict(self) -> dict[str, float]:
        """``{threshold name: value}``."""
        return asdict(self)


def _arviz() -> Any:
    from cartpk._deps import require

    return require("arviz", purpose="convergence diagnostics")


def _as_idata(data: Any) -> arviz.InferenceData:
    """InferenceData from an InferenceData, or a mapping of ``(chain, draw, ...)`` arrays."""
    az = _arviz()
    if isinstance(data, az.InferenceData):
        return data
    if isinstance(data, Mapping):
        return az.from_dict(posterior={k: np.asarray(v, dtype=float) for k, v in data.items()})
    raise TypeError(
        "`data` must be an arviz.InferenceData or a mapping of name -> (chain, draw, ...) array"
    )


def _worst(da: Any, *, largest: bool) -> tuple[float, str]:
    """Worst value of a diagnostic DataArray and the label of its element (``""`` if scalar)."""
    arr = np.asarray(da.values, dtype=float)
    if arr.ndim == 0:
        return float(arr), ""
    flat = np.where(np.isfinite(arr), arr, -np.inf if largest else np.inf).ravel()
    if flat.size == 0:
        return math.nan, ""
    i = int(np.argmax(flat) if largest else np.argmin(flat))
    value = float(arr.ravel()[i])
    pos = np.unravel_index(i, arr.shape)
    labels = [
        str(da.coords[d].values[k]) if d in da.coords else str(k)
        for d, k in zip(da.dims, pos, strict=True)
    ]
    return value, ",".join(labels)


def convergence_table(
    data: Any,
    *,
    var_names: Iterable[str] | None = None,
    thresholds: ConvergenceThresholds | None = None,
) -> pd.DataFrame:
    """Convergence checks of a posterior sample as a tidy table, thresholds applied.

    Parameters
    ----------
    data : arviz.InferenceData or mapping of str to array
        Posterior draws; arrays are shaped ``(chain, draw, ...)``. Divergences and BFMI
        need a ``sample_stats`` group with ``diverging`` and ``energy``.
    var_names : iterable of str, optional
        Variables to check (default every posterior variable).
    thresholds : ConvergenceThresholds, optional
        Defaults: R-hat <= 1.01, ESS >= 400 (bulk and tail), 0 divergences, BFMI >= 0.3.

    Returns
    -------
    pandas.DataFrame
        ``check, parameter, element, value, threshold, passed``: one ``rhat``, ``ess_bulk``
        and ``ess_tail`` row per variable (its worst element), one ``divergences`` row and
        one ``bfmi`` row per chain when sample statistics are available.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> mixed = rng.normal(size=(4, 1000))
    >>> stuck = mixed + np.array([0.0, 0.0, 0.0, 3.0])[:, None]  # one chain elsewhere
    >>> t = convergence_table({"mixed": mixed, "stuck": stuck})
    >>> t.loc[t.check == "rhat", ["parameter", "passed"]].to_dict("list")
    {'parameter': ['mixed', 'stuck'], 'passed': [True, False]}
    """
    az = _arviz()
    th = thresholds or ConvergenceThresholds()
    idata = _as_idata(data)
    post = idata.posterior
    names = list(var_names) if var_names is not None else list(post.data_vars)
    rows: list[dict[str, Any]] = []
    if names:
        sub = post[names]
        with warnings.catch_warnings():
            # a constant variable (e.g. a fixed effect) has undefined R-hat/ESS: NaN is the answer
            warnings.filterwarnings("ignore", category=RuntimeWarning)
            rh = az.rhat(sub, method="rank")
            eb = az.ess(sub, method="bulk")
            et = az.ess(sub, method="tail")
        # (check, values, worst is the largest, threshold); R-hat must stay below, ESS above
        checks = (
            ("rhat", rh, True, th.rhat_max),
            ("ess_bulk", eb, False, th.ess_bulk_min),
            ("ess_tail", et, False, th.ess_tail_min),
        )
        for n in names:
            for check, values, largest, threshold in checks:
                v, el = _worst(values[n], largest=largest)
                rows.append(
                    dict(
                        check=check,
                        parameter=n,
                        element=el,
                        value=v,
                        threshold=threshold,
                        passed=bool(v <= threshold if largest else v >= threshold),
                    )
                )
    stats = getattr(idata, "sample_stats", None)
    if stats is not None and "diverging" in stats:
        div = stats["diverging"]
        if "tuning" in stats:  # nutpie keeps warm-up flags; count sampling draws only
            div = div.where(~stats["tuning"].astype(bool), False)
        n_div = int(np.asarray(div.values, dtype=bool).sum())
        rows.append(
            dict(
                check="divergences",
                parameter="",
                element="",
                value=float(n_div),
                threshold=float(th.divergences_max),
                passed=n_div <= th.divergences_max,
            )
        )
    if stats is not None and "energy" in stats:
        bfmi = np.atleast_1d(np.asarray(az.bfmi(idata), dtype=float))
        chains = np.asarray(stats["energy"].coords["chain"].values)
        for c, b in zip(chains, bfmi, strict=True):
            rows.append(
                dict(
                    check="bfmi",
                    parameter="",
                    element=f"chain {c}",
                    value=float(b),
                    threshold=th.bfmi_min,
                    passed=bool(b >= th.bfmi_min),
                )
            )
    return pd.DataFrame(rows, columns=_TABLE_COLUMNS)


def convergence_summary(table: pd.DataFrame) -> dict[str, Any]:
    """Summarise a :func:`convergence_table`: worst values, ``converged`` and failed checks.

    Returns
    -------
    dict
        ``converged`` (bool), ``failed`` (list of str, one line per failed check, e.g.
        ``"rhat of eta_cmax [7] = 1.034 > 1.01"``), ``rhat_max``, ``ess_bulk_min``,
        ``ess_tail_min``, ``divergences``, ``bfmi_min`` (NaN where not available).
    """

    def worst(check: str, largest: bool) -> float:
        v = table.loc[table["check"] == check, "value"].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        if v.size == 0:
            return math.nan
        return float(v.max() if largest else v.min())

    failed = []
    for r in table.itertuples(index=False):
        if r.passed:
            continue
        sign = ">" if r.check in ("rhat", "divergences") else "<"
        where = r.parameter + (f" [{r.element}]" if r.element else "")
        where = f" of {where}" if where else ""
        failed.append(f"{r.check}{where} = {r.value:.4g} {sign} {r.threshold:g}")
    divs = worst("divergences", True)
    return {
        "converged": not failed,
        "failed": failed,
        "rhat_max": worst("rhat", True),
        "ess_bulk_min": worst("ess_bulk", False),
        "ess_tail_min": worst("ess_tail", False),
        "divergences": 0 if math.isnan(divs) else int(divs),
        "bfmi_min": worst("bfmi", False),
    }


def missed_thresholds(failed: Sequence[str]) -> tuple[str, str]:
    """How many convergence thresholds were missed, and the first five, for a warning.

    Parameters
    ----------
    failed : sequence of str
        The missed checks, as in :func:`convergence_summary`'s ``failed``.

    Returns
    -------
    (str, str)
        ``"<n> convergence threshold(s)"`` and the first five checks joined by ``"; "``
        (``"; ..."`` appended where there are more).

    Examples
    --------
    >>> missed_thresholds(["rhat of cl = 1.02 > 1.01", "divergences = 3 > 0"])
    ('2 convergence thresholds', 'rhat of cl = 1.02 > 1.01; divergences = 3 > 0')
    """
    n = len(failed)
    shown = "; ".join(failed[:5]) + ("; ..." if n > 5 else "")
    return f"{n} convergence threshold{'s' if n > 1 else ''}", shown


def check_convergence(
    data: Any,
    *,
    var_names: Iterable[str] | None = None,
    thresholds: ConvergenceThresholds | None = None,
    warn: bool = True,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Run :func:`convergence_table` and :func:`convergence_summary`; warn when not converged.

    Parameters
    ----------
    data, var_names, thresholds
        As for :func:`convergence_table`.
    warn : bool, default True
        Emit a :class:`~cartpk.errors.CartpkWarning` with code ``not_converged`` (details:
        the failed checks) when any threshold is missed.

    Returns
    -------
    (pandas.DataFrame, dict)
        The table and its summary.
    """
    table = convergence_table(data, var_names=var_names, thresholds=thresholds)
    summary = convergence_summary(table)
    if warn and not summary["converged"]:
        missed, shown = missed_thresholds(summary["failed"])
        warnings.warn(
            CartpkWarning(
                f"sampling did not meet {missed}: {shown}. Try more `tune`/`draws`, a higher "
                '`target_accept`, or more informative priors (`priors="literature"`); do not '
                "use these estimates as converged.",
                code="not_converged",
                details={"failed": summary["failed"]},
            ),
            stacklevel=2,
        )
    return table, summary


def eta_shrinkage(eta_mean: Any, omega: float) -> float:
    """Eta-shrinkage of one random effect: ``1 - SD(posterior-mean eta_i) / omega``.

    Parameters
    ----------
    eta_mean : array
        Posterior mean of the random effect of each subject (transformed scale).
    omega : float
        SD of the random effect (the posterior mean of ``omega_<name>``).

    Returns
    -------
    float
        Shrinkage as a fraction (0: the data determine every subject's eta; 1: every
        subject sits at the typical value). NaN for fewer than 2 subjects or ``omega <= 0``.

    Notes
    -----
    Savic RM, Karlsson MO. Importance of shrinkage in empirical Bayes estimates for
    diagnostics: problems and solutions. AAPS J 2009;11:558-569. The SD uses ``ddof=1``.

    Examples
    --------
    >>> eta_shrinkage([-0.5, 0.0, 0.5], omega=1.0)
    0.5
    """
    x = np.asarray(eta_mean, dtype=float)
    if x.size < 2 or not omega > 0:
        return math.nan
    return float(1.0 - np.std(x, ddof=1) / float(omega))
