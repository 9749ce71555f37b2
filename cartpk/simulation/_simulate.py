"""Model + design -> long table in the columns :func:`cartpk.read_dataset` reads.

Random numbers come from one ``numpy.random.default_rng(seed)`` stream, drawn in a fixed
order: random effects (subjects x parameters with IIV, in declaration order), then residual
errors (subjects x times, per output in declaration order). The same ``seed`` therefore
gives the same individual parameters in :func:`simulate_parameters` and :func:`simulate`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cartpk.errors import ModelError, Violation
from cartpk.model import Model
from cartpk.model._outputs import unknown_outputs

__all__ = ["SEED_DESIGN", "simulate", "simulate_parameters", "simulate_typical"]

SEED_DESIGN: tuple[float, ...] = (7.0, 14.0, 21.0, 28.0, 60.0, 90.0)
"""Sampling days of the originating trial's qPCR schedule (days after infusion)."""

_COLUMNS = ["ID", "TIME", "DV", "EVID", "AMT", "MDV", "CENS", "LLOQ", "DVID"]


def _lloq_problems(outs: list[str], lloq: float | Mapping[str, float] | None) -> list[Violation]:
    """An LLOQ that is not a finite number >= 0 (per output when given as a mapping)."""
    if lloq is None:
        return []
    given = {o: lloq.get(o) for o in outs} if isinstance(lloq, Mapping) else {"": lloq}
    bad = {}
    for o, v in given.items():
        try:
            ok = v is None or (math.isfinite(float(v)) and float(v) >= 0)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            bad[o] = v
    return [
        Violation(
            "simulate_lloq",
            f"the LLOQ{f' of `{o}`' if o else ''} is not a finite number >= 0",
            value=repr(v),
            expected="a finite LLOQ >= 0 (or None: no LLOQ)",
            fix="give the assay's LLOQ, e.g. lloq=50",
        )
        for o, v in bad.items()
    ]


def _resolve_subjects(
    model: Model, n: int | None, covariates: pd.DataFrame | None
) -> tuple[int, pd.DataFrame | None]:
    problems: list[Violation] = []
    if covariates is not None:
        if not isinstance(covariates, pd.DataFrame):
            covariates = pd.DataFrame(covariates)
        if n is not None and n != len(covariates):
            problems.append(
                Violation(
                    "simulate_n",
                    "`n` differs from the number of covariate rows",
                    value=f"n={n}, rows={len(covariates)}",
                    expected="one covariate row per subject",
                    fix="leave `n` out when passing `covariates`",
                )
            )
        n = len(covariates)
    if n is None or n < 1:
        problems.append(
            Violation(
                "simulate_n",
                "the number of subjects is missing or < 1",
                value=repr(n),
                expected="n >= 1, or a covariate table with one row per subject",
                fix="pass `n=` (e.g. n=60)",
            )
        )
    missing = [c for c in model.covariate_columns if covariates is None or c not in covariates]
    if missing and not (missing == ["DOSE"]):
        problems.append(
            Violation(
                "covariate_missing",
                f"`{model.name}` needs covariate columns {missing}",
                column=", ".join(missing),
                expected=f"columns {model.covariate_columns}",
                fix="pass `covariates=` with these columns (one row per subject)",
            )
        )
    if problems:
        raise ModelError("Cannot simulate: invalid design.", problems)
    assert n is not None
    return n, covariates


def _doses(model: Model, n: int, dose: Any, covariates: pd.DataFrame | None) -> np.ndarray:
    if dose is None:
        if covariates is not None and "DOSE" in covariates:
            dose = covariates["DOSE"].to_numpy(dtype=float)
        elif model.default_dose is not None:
            dose = model.default_dose
        else:
            dose = 1.0
    d = np.broadcast_to(np.asarray(dose, dtype=float), (n,)).copy()
    if not np.all(np.isfinite(d) & (d > 0)):
        raise ModelError(
            "Cannot simulate: invalid dose.",
            [Violation("simulate_dose", "every dose must be > 0", value=repr(d[:5].tolist()))],
        )
    return d


def _draw_parameters(
    model: Model,
    rng: np.random.Generator,
    n: int,
    covariates: pd.DataFrame | None,
    doses: np.ndarray,
    iiv: bool,
) -> dict[str, np.ndarray]:
    sd = model.iiv.sd
    z = rng.standard_normal((n, len(sd))) if sd else np.zeros((n, 0))
    eta = {k: z[:, j] * s for j, (k, s) in enumerate(sd.items())} if iiv else {}
    cov = covariates
    if "DOSE" in model.covariate_columns and (cov is None or "DOSE" not in cov):
        cov = (cov.copy() if cov is not None else pd.DataFrame(index=range(n))).assign(DOSE=doses)
    if cov is None and not eta:
        return {k: np.full(n, v) for k, v in model.typical().items()}
    ind = model.individual_parameters(eta=eta, covariates=cov)
    return {k: np.broadcast_to(np.asarray(v, dtype=float), (n,)).copy() for k, v in ind.items()}


def simulate_parameters(
    model: Model,
    *,
    n: int | None = None,
    seed: int | np.random.Generator | None = None,
    covariates: pd.DataFrame | None = None,
    iiv: bool = True,
    dose: float | Sequence[float] | np.ndarray | None = None,
) -> pd.DataFrame:
    """Individual parameters of ``n`` virtual subjects (the ones :func:`simulate` uses).

    Returns
    -------
    pandas.DataFrame
        ``ID`` then one column per structural parameter (natural scale).
    """
    n, covariates = _resolve_subjects(model, n, covariates)
    rng = np.random.default_rng(seed)
    doses = _doses(model, n, dose, covariates)
    ind = _draw_parameters(model, rng, n, covariates, doses, iiv)
    return pd.DataFrame({"ID": [str(i + 1) for i in range(n)], **ind})


def simulate(
    model: Model,
    *,
    n: int | None = None,
    seed: int | np.random.Generator | None = None,
    days: Sequence[float] | Mapping[str, Sequence[float]] = SEED_DESIGN,
    lloq: float | Mapping[str, float] | None = None,
    covariates: pd.DataFrame | None = None,
    iiv: bool = True,
    residual: bool = True,
    dose: float | Sequence[float] | np.ndarray | None = None,
    outputs: Sequence[str] | None = None,
    ipred: bool = False,
) -> pd.DataFrame:
    """Simulate a virtual trial as a long NONMEM-style table.

    Parameters
    ----------
    model : Model
        A catalogue or user model (``cartpk.load_model("stein2019")``).
    n : int, optional
        Number of subjects (taken from ``covariates`` when given).
    seed : int or numpy.random.Generator, optional
        Seed of ``numpy.random.default_rng``; the same seed gives the same table.
    days : sequence of float or mapping DVID -> sequence, default (7, 14, 21, 28, 60, 90)
        Sampling days after infusion, for all outputs or per output.
    lloq : float or mapping DVID -> float, optional
        Lower limit of quantification; values below it become ``CENS=1, DV=LLOQ``.
    covariates : pandas.DataFrame, optional
        One row per subject; its columns are appended to every row of that subject.
        ``DOSE`` (if present) is the dose unless ``dose`` is given.
    iiv : bool, default True
        Draw random effects (``False``: every subject is typical).
    residual : bool, default True
        Add residual error.
    dose : float or array, optional
        ``AMT`` of the dose record at ``TIME=0`` (CAR+ cells); default ``DOSE`` column or
        the model's ``default_dose``.
    outputs : sequence of str, optional
        DVIDs to simulate (default all the model's outputs).
    ipred : bool, default False
        Add an ``IPRED`` column (the individual prediction without residual error).

    Returns
    -------
    pandas.DataFrame
        ``ID, TIME, DV, EVID, AMT, MDV, CENS, LLOQ, DVID`` (+ ``IPRED``) + covariates: one
        dose record (``EVID=1``) then the observations of each subject, sorted by
        ``ID`` (as strings ``"1"``..), ``TIME`` and output.

    Raises
    ------
    ModelError
        ``simulate_n``, ``simulate_days`` (none, non-finite, repeated or negative days),
        ``simulate_lloq`` (not a finite number >= 0), ``simulate_seed`` (negative),
        ``simulate_dose``, ``covariate_missing``, ``unknown_output``.

    Examples
    --------
    >>> import cartpk as ck
    >>> sim = ck.simulate(ck.load_model("stein2019"), n=3, seed=1, lloq=50)
    >>> sorted(sim.columns)[:3], len(sim)
    (['AMT', 'CENS', 'DV'], 21)
    """
    n, covariates = _resolve_subjects(model, n, covariates)
    outs = list(model.outputs) if outputs is None else list(outputs)
    if isinstance(days, Mapping):
        design = {o: days[o] for o in outs if o in days}
    else:
        design = {o: days for o in outs}
    problems = unknown_outputs(model, outs, fix="choose outputs among the model's DVIDs")
    for o in outs:
        d = np.asarray(design.get(o, ()), dtype=float)
        if o not in design or d.ndim != 1 or d.size == 0 or not np.all(np.isfinite(d)):
            problems.append(
                Violation(
                    "simulate_days",
                    f"no valid sampling days for `{o}`",
                    value=repr(design.get(o)),
                    expected="a non-empty sequence of finite days",
                    fix="e.g. days=(7, 14, 21, 28, 60, 90)",
                )
            )
        elif np.any(d < 0) or np.unique(d).size != d.size:
            problems.append(
                Violation(
                    "simulate_days",
                    f"sampling days of `{o}` repeat or are negative",
                    value=repr(d.tolist()),
                    expected="distinct days >= 0 (days since the infusion)",
                    fix="list each sampling day once, e.g. days=(7, 14, 21, 28, 60, 90)",
                )
            )
    problems.extend(_lloq_problems(outs, lloq))
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and seed < 0:
        problems.append(
            Violation(
                "simulate_seed",
                "the seed is negative",
                value=repr(seed),
                expected="an integer >= 0 or a numpy Generator",
                fix="pass seed=0, 1, 2, ...",
            )
        )
    if problems:
        raise ModelError("Cannot simulate: invalid design.", problems)
    rng = np.random.default_rng(seed)
    doses = _doses(model, n, dose, covariates)
    ind = _draw_parameters(model, rng, n, covariates, doses, iiv)
    params = {k: v[:, None] for k, v in ind.items()}
    ids = np.array([str(i + 1) for i in range(n)], dtype=object)

    # columns are assembled as NumPy arrays and ordered once (ID, TIME, output order)
    parts: dict[str, list[np.ndarray]] = {c: [] for c in [*_COLUMNS[1:], "_subj", "_order"]}
    if ipred:
        parts["IPRED"] = []

    def add(subj: np.ndarray, order: int, **cols: Any) -> None:
        size = subj.size
        parts["_subj"].append(subj)
        parts["_order"].append(np.full(size, order))
        for c in parts:
            if c in cols:
                parts[c].append(np.broadcast_to(np.asarray(cols[c]), (size,)))

    add(
        np.arange(n), -1, TIME=0.0, DV=np.nan, EVID=1, AMT=doses, MDV=1, CENS=0,
        LLOQ=np.nan, DVID=np.array("", dtype=object), IPRED=np.nan,
    )  # fmt: skip
    # one evaluation per distinct sampling grid
    grids: dict[tuple[float, ...], list[str]] = {}
    for o in outs:
        grids.setdefault(tuple(float(x) for x in design[o]), []).append(o)
    preds: dict[str, np.ndarray] = {}
    times: dict[str, np.ndarray] = {}
    for grid, group in grids.items():
        t = np.asarray(grid)
        pr = model.evaluate(np, t, params, dose=doses[:, None])
        for o in group:
            preds[o] = np.broadcast_to(np.asarray(pr[o], dtype=float), (n, t.size))
            times[o] = t
    for j, o in enumerate(outs):
        f = preds[o]
        y = model.error[o].sample(rng, f) if residual else f.copy()
        limit = lloq.get(o) if isinstance(lloq, Mapping) else lloq
        cens = np.zeros(f.shape, dtype=int)
        if limit is not None:
            cens = (y < limit).astype(int)
            y = np.where(cens == 1, float(limit), y)
        k = times[o].size
        add(
            np.repeat(np.arange(n), k), j, TIME=np.tile(times[o], n), DV=y.reshape(-1),
            EVID=0, AMT=0.0, MDV=0, CENS=cens.reshape(-1),
            LLOQ=np.nan if limit is None else float(limit), DVID=np.array(o, dtype=object),
            IPRED=f.reshape(-1),
        )  # fmt: skip
    cols = {c: np.concatenate(v) for c, v in parts.items()}
    order = np.lexsort((cols.pop("_order"), cols["TIME"], cols["_subj"]))
    subj = cols.pop("_subj")[order]
    data: dict[str, Any] = {"ID": ids[subj]}
    data.update({c: v[order] for c, v in cols.items()})
    out = pd.DataFrame(data)
    if covariates is not None:
        cov = covariates.reset_index(drop=True)
        for c in cov.columns:
            if c not in out.columns and c != "ID":
                out[c] = cov[c].to_numpy()[subj]
    return out


def simulate_typical(
    model: Model,
    times: Sequence[float] | np.ndarray,
    *,
    params: Mapping[str, float] | None = None,
    dose: float | None = None,
) -> pd.DataFrame:
    """Typical (``PRED``, all random effects 0) profile of every output.

    Parameters
    ----------
    model : Model
    times : sequence of float
        Days after infusion.
    params : mapping, optional
        Structural values replacing the typical ones (by name).
    dose : float, optional
        Dose for models that use it (default the model's ``default_dose``).

    Returns
    -------
    pandas.DataFrame
        ``TIME`` and one column per output DVID.

    Examples
    --------
    >>> import cartpk as ck
    >>> prof = ck.simulation.simulate_typical(ck.load_model("stein2019"), [7, 14])
    >>> prof["QPCR"].round(0).tolist()
    [3105.0, 11412.0]
    """
    vals = model.typical()
    if params:
        vals.update(params)
    t = np.asarray(times, dtype=float)
    d = dose if dose is not None else model.default_dose
    pr = model.evaluate(np, t, vals, dose=d)
    return pd.DataFrame({"TIME": t, **{k: np.asarray(v, dtype=float) for k, v in pr.items()}})
