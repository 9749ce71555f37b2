"""Observed NCA on a table: :func:`nca` and its result, :class:`NCAResult`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from cartpk.noncompartmental import _core
from cartpk.noncompartmental._nca_input import (
    _check_intervals,
    _is_dataset,
    _observations_from_dataset,
    _observations_from_frame,
    _spec_error,
)
from cartpk.noncompartmental._nca_rules import _TIME_UNITS, _Rules
from cartpk.noncompartmental._nca_steps import (
    _apply_blq,
    _evaluate,
    _impute_c0,
    _profiles,
    _sample_grid,
    _tables,
)
from cartpk.noncompartmental._options import BLQRules, LambdaZ, as_blq_rules, as_lambda_z

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.data import Dataset

__all__ = ["NCAResult", "nca"]

Interval = tuple[float, float]


@dataclass(frozen=True, eq=False)
class NCAResult:
    """Result of :func:`cartpk.nca`.

    Attributes
    ----------
    long : DataFrame
        One row per profile and parameter: ``ID, DVID, PPTESTCD, PPTEST, PPORRES,
        PPORRESU, PPSTINT, PPENINT, REASON, PPANMETH``. ``PPORRES`` is ``NaN`` exactly
        when ``REASON`` says why (``"[code] message"``); ``PPSTINT``/``PPENINT`` are ISO
        8601 durations for interval parameters (``AUCINT``). ``PPANMETH`` (CDISC
        "analysis method") says how each present ``AUCINT`` was obtained:
        ``"interpolated"``, ``"blq_zero"``, ``"extrapolated_lambda_z"`` or ``"all_blq"``
        (see :func:`cartpk.nca`, Notes); it is empty for other parameters and for missing
        values. A parameter missing because one it is computed from is missing (the
        registry's ``depends``) keeps that reason's code and names the parameter where it
        arose, e.g. ``LAMZHL``: ``"[lambda_z_too_few_points] LAMZ is missing: 2 positive
        point(s) after Tmax at or before Tlast; lambda_z needs 3"``.
    wide : DataFrame
        One row per profile: ``ID, DVID`` and one snake_case column per parameter
        (``cmax``, ``tmax``, ``auclast``, ``auc_0_28d``, ``lambda_z``, ``half_life``, ...).
    rules : DataFrame
        Every rule applied to a sample or profile: ``ID, DVID, ROW, TIME, RULE, DETAIL``
        (``ROW`` is the 1-based input row, missing for profile-level rules).
    covariates : DataFrame
        One row per subject (``ID`` + per-subject columns of the input), used by
        :func:`cartpk.noncompartmental.nca_summary` for grouping.
    options : dict
        The options used (method, intervals, BLQ rules, lambda_z rule, units).
    """

    long: pd.DataFrame
    wide: pd.DataFrame
    rules: pd.DataFrame
    covariates: pd.DataFrame
    options: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        n = len(self.wide)
        missing = int(self.long["PPORRES"].isna().sum())
        return (
            f"NCAResult({n} profiles, {len(self.long)} parameter values, {missing} missing "
            f"with reasons, {len(self.rules)} applied rules, "
            f"auc_method={self.options.get('auc_method')!r})"
        )


# ----------------------------------------------------------------------------- nca


def nca(
    data: Dataset | pd.DataFrame,
    *,
    dvid: str | None = None,
    auc_method: Literal["linear", "linuplogdown"] = "linear",
    interval: Interval | Sequence[Interval] | None = (0, 28),
    blq: BLQRules | Mapping[str, str] | None = None,
    lambda_z: LambdaZ | Mapping[str, Any] | None = None,
    extrapolate: bool = True,
    impute_c0: bool = True,
    conc_unit: str | None = None,
    time_unit: str = "day",
) -> NCAResult:
    """Observed (non-compartmental) exposure of every subject, with CDISC names.

    Parameters
    ----------
    data : Dataset or DataFrame
        A :class:`cartpk.Dataset` (its ``observations(dvid)`` are used, ``TIME`` in days
        since infusion) or a table with at least ``ID, TIME, DV`` and optionally ``CENS``
        (1 = below the limit, ``DV`` holds the limit), ``LLOQ``, ``DVID``, ``EVID``/``MDV``
        (only observation rows are used) and ``ROW``. Other per-subject constant columns
        are kept as covariates for :func:`cartpk.noncompartmental.nca_summary`.
    dvid : str, optional
        Analyse one endpoint only; by default every continuous endpoint is analysed and
        ``DVID`` tells them apart.
    auc_method : {"linear", "linuplogdown"}, default "linear"
        Linear trapezoid throughout, or linear-up/log-down (log trapezoid on declining
        segments with both ends positive). Interpolation inside an interval follows the
        same rule.
    interval : (float, float) or list of them or None, default (0, 28)
        AUC interval(s) ``[start, end]`` in ``time_unit`` (AUC0-28d is the CAR-T standard).
    blq : BLQRules or mapping, optional
        BLQ rules by position; default ``before="zero", between="drop", after="zero"``
        (PKNCA's ``conc.blq = list(first="keep", middle="drop", last="keep")``).
    lambda_z : LambdaZ or mapping, optional
        Terminal-phase rule; default best-fit adjusted R^2, tolerance 1e-4, at least 3
        points, Tmax excluded.
    extrapolate : bool, default True
        Whether an interval ending after ``Tlast``, in a profile whose last sample is
        quantifiable, may be completed with ``Clast/lambda_z * (1 - exp(-lambda_z (end -
        Tlast)))``; otherwise it is missing. A profile with a BLQ zero after ``Tlast``
        needs no extrapolation (see Notes).
    impute_c0 : bool, default True
        Concentration 0 at ``TIME`` 0 when a profile has no sample there (the infused
        product is absent from blood before infusion; Phoenix WinNonlin does the same for
        extravascular doses). Recorded as rule ``c0_imputed``.
    conc_unit : str, optional
        Unit of ``DV``; by default the endpoint's unit of a Dataset, else empty.
    time_unit : {"day", "h", "week", "min"}, default "day"
        Unit of ``TIME``.

    Returns
    -------
    NCAResult
        ``.long`` (CDISC), ``.wide``, ``.rules``; see :class:`NCAResult`.

    Raises
    ------
    DatasetError
        ``missing_column``, ``time_not_numeric``, ``dv_not_numeric``, ``cens_invalid``,
        ``dv_negative``, ``duplicate_time``, ``id_missing`` (plain tables only; a Dataset
        was checked when it was read).
    SpecError
        ``auc_method_invalid``, ``interval_invalid``, ``time_unit_invalid``,
        ``dvid_unknown``, ``blq_rule_invalid``, ``lambda_z_*``.

    Notes
    -----
    ============ ==================================================================
    PPTESTCD     definition
    ============ ==================================================================
    CMAX, TMAX   largest concentration and the first time it occurs
    TLST, CLST   last positive concentration and its time
    AUCLST       AUC from the first sample (or the imputed 0 at time 0) to Tlast
    AUCINT       AUC over ``interval``; its ends interpolated linearly, or log-linearly
                 on a declining segment under linuplogdown; after Tlast see below
    LAMZ         minus the slope of ln C on time, best-fit adjusted R^2 (ties within
                 ``tolerance`` go to more points), >= 3 points after Tmax
    LAMZHL       ln 2 / LAMZ
    R2ADJ        1 - (1 - R^2)(n - 1)/(n - 2)
    AUCIFO       AUCLST + CLST / LAMZ
    AUCIFP       AUCLST + CLSTP / LAMZ, CLSTP the regression's value at Tlast
    AUCPEO       100 (AUCIFO - AUCLST) / AUCIFO
    ============ ==================================================================

    How an interval AUC is obtained, by where the interval ends (``PPANMETH``):

    ========================= =========================================================
    PPANMETH                  interval end ``b``
    ========================= =========================================================
    ``interpolated``          ``b <= Tlast``: inside the quantifiable profile
    ``blq_zero``              ``b > Tlast`` and a BLQ sample kept as 0 follows Tlast:
                              linear from ``Clast`` down to that zero (log interpolation
                              to 0 is impossible, so linear under either ``auc_method``,
                              as PKNCA's ``choose_interval_method``), 0 after it
    ``extrapolated_lambda_z`` ``b > Tlast``, the last sample is quantifiable:
                              ``Clast/lambda_z * (1 - exp(-lambda_z (b - Tlast)))``
    ``all_blq``               no quantifiable sample, BLQ kept as 0: the AUC is 0
                              (PKNCA: an all-zero profile has AUC 0)
    ========================= =========================================================

    A trailing BLQ zero takes precedence over lambda_z: once a sample is observed below
    the limit the level is not extrapolated through it (PKNCA's ``aucint.all``; PKNCA's
    ``aucint.inf.obs`` would extrapolate from Clast regardless). ``blq_zero``,
    ``extrapolated_lambda_z`` and ``all_blq`` are also recorded per profile and interval
    in ``rules`` (``aucint_blq_zero``, ``aucint_extrapolated``, ``aucint_all_blq``). See
    ``docs/nca_blq.md``.

    A parameter that cannot be computed has ``PPORRES`` missing, ``PPANMETH`` empty and a
    ``REASON`` ``"[code] message"``: ``no_quantifiable``, ``lambda_z_too_few_points``,
    ``lambda_z_not_positive``, ``interval_before_first_sample``,
    ``interval_needs_lambda_z``, ``interval_after_tlast``.

    References
    ----------
    Gabrielsson J, Weiner D. Pharmacokinetic and Pharmacodynamic Data Analysis, 5th ed.
    2016. Denney W et al. PKNCA (R package), ``pk.calc.half.life``, ``pk.calc.auc``,
    ``pk.calc.aucint``, ``clean.conc.blq``, ``PKNCA.options`` (``conc.blq``).

    Examples
    --------
    >>> import pandas as pd
    >>> import cartpk as ck
    >>> df = pd.DataFrame({"ID": "1", "TIME": [0, 1, 2, 4, 8], "DV": [0, 8, 6, 3, 1.5]})
    >>> res = ck.nca(df, interval=(0, 4))
    >>> float(res.wide.loc[0, "auc_0_4d"])
    20.0
    """
    if auc_method not in ("linear", "linuplogdown"):
        raise _spec_error(
            "auc_method_invalid",
            "`auc_method` must be 'linear' or 'linuplogdown'",
            value=repr(auc_method),
            expected="'linear' | 'linuplogdown'",
            fix="pass auc_method='linear'",
        )
    if time_unit not in _TIME_UNITS:
        raise _spec_error(
            "time_unit_invalid",
            "`time_unit` is not a supported unit",
            value=repr(time_unit),
            expected=" | ".join(_TIME_UNITS),
            fix="pass time_unit='day'",
        )
    rules_opt = as_blq_rules(blq)
    lz_opt = as_lambda_z(lambda_z)
    intervals = _check_intervals(interval)

    if _is_dataset(data):
        obs, units, covariates = _observations_from_dataset(data, dvid)  # type: ignore[arg-type]
    elif isinstance(data, pd.DataFrame):
        obs, covariates = _observations_from_frame(data, dvid)
        units = {}
    else:
        raise _spec_error(
            "data_type",
            "`data` must be a cartpk Dataset or a pandas DataFrame",
            value=type(data).__name__,
            expected="Dataset or DataFrame with ID, TIME, DV",
            fix="read the file with cartpk.read_dataset(path)",
        )
    if dvid is not None and obs.empty:
        raise _spec_error(
            "dvid_unknown",
            f"no observations with DVID {dvid!r}",
            value=repr(dvid),
            expected="a DVID present in the data",
            fix="check `--dvid` / `dvid=`",
        )

    return _compute(
        obs,
        covariates=covariates,
        units=units,
        conc_unit=conc_unit,
        time_unit=time_unit,
        method=auc_method,
        intervals=intervals,
        blq=rules_opt,
        lz=lz_opt,
        extrapolate=extrapolate,
        impute_c0=impute_c0,
    )


def _compute(
    obs: pd.DataFrame,
    *,
    covariates: pd.DataFrame,
    units: Mapping[str, str],
    conc_unit: str | None,
    time_unit: str,
    method: _core.AucMethod,
    intervals: list[Interval],
    blq: BLQRules,
    lz: LambdaZ,
    extrapolate: bool,
    impute_c0: bool,
) -> NCAResult:
    """Run the steps of :mod:`._nca_steps` on checked observations (``ROW, ID, DVID, TIME,
    DV, CENS, LLOQ``); the parameters come from walking the registry (``_evaluate``)."""
    obs, codes, keys = _profiles(obs)
    rules = _Rules(keys)
    T, DV, ROW, CENS, LLOQ = _sample_grid(obs, codes, len(keys), rules)
    C = _apply_blq(T, DV, ROW, CENS, LLOQ, blq, rules)
    if impute_c0:
        T, C, ROW = _impute_c0(T, C, ROW, rules)
    T, C, count, (ROW,) = _core.compact(T, C, ROW)

    values = _evaluate(
        {
            "time": T,
            "conc": C,
            "row": ROW,
            "count": count,
            "profiles": keys,
            "auc_method": method,
            "lambda_z_rule": lz,
            "intervals": intervals,
            "extrapolate": extrapolate,
            "time_unit": time_unit,
            "rules": rules,
        }
    )
    long, wide = _tables(keys, values, units=units, conc_unit=conc_unit, time_unit=time_unit)
    options = {
        "auc_method": method,
        "intervals": intervals,
        "blq": blq,
        "lambda_z": lz,
        "extrapolate": extrapolate,
        "impute_c0": impute_c0,
        "time_unit": time_unit,
        "conc_unit": conc_unit,
    }
    return NCAResult(
        long=long,
        wide=wide,
        rules=rules.frame(),
        covariates=covariates.assign(ID=covariates["ID"].astype(str)),
        options=options,
    )
