"""Observed NCA on a table: :func:`nca` and its result, :class:`NCAResult`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from cartpk.errors import SpecError, Violation
from cartpk.noncompartmental import _core
from cartpk.noncompartmental._nca_input import (
    _check_intervals,
    _is_dataset,
    _observations_from_dataset,
    _observations_from_frame,
    _spec_error,
)
from cartpk.noncompartmental._nca_rules import (
    _TIME_UNITS,
    _first_reason,
    _fmt,
    _iso,
    _pad,
    _reasons,
    _Rules,
    _wide_interval_name,
)
from cartpk.noncompartmental._options import BLQRules, LambdaZ, as_blq_rules, as_lambda_z
from cartpk.noncompartmental._registry import PARAMETERS, unit_for

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.data import Dataset

__all__ = ["NCAResult", "nca"]

Interval = tuple[float, float]


_LONG_COLUMNS = [
    "ID",
    "DVID",
    "PPTESTCD",
    "PPTEST",
    "PPORRES",
    "PPORRESU",
    "PPSTINT",
    "PPENINT",
    "REASON",
    "PPANMETH",
]


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
        values.
    wide : DataFrame
        One row per profile: ``ID, DVID`` and one snake_case column per parameter
        (``cmax``, ``tmax``, ``auclast``, ``auc_0_28d``, ``lambda_z``, ``half_life``, ...).
    rules : DataFrame
        Every rule applied to a sample or profile: ``ID, DVID, ROW, TIME, RULE, DETAIL``
        (``ROW`` is the 1-based input row, missing for profile-level rules).
    covariates : DataFrame
        One row per subject (``ID`` + per-subject columns of the input), used by
        :func:`cartpk.nca_summary` for grouping.
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
        are kept as covariates for :func:`cartpk.nca_summary`.
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
    obs = obs.assign(ID=obs["ID"].astype(str), DVID=obs["DVID"].astype(str))
    # profiles in order of first appearance of the subject (file order), then DVID
    obs = obs.assign(_order=pd.factorize(obs["ID"])[0])
    obs = obs.sort_values(["_order", "DVID", "TIME"], kind="stable").drop(columns="_order")
    key = obs["ID"].to_numpy(dtype=object) + "\x00" + obs["DVID"].to_numpy(dtype=object)
    codes, uniq = pd.factorize(key, sort=False)
    n = len(uniq)
    keys = pd.DataFrame(
        {
            "ID": obs["ID"].to_numpy()[np.unique(codes, return_index=True)[1]],
            "DVID": obs["DVID"].to_numpy()[np.unique(codes, return_index=True)[1]],
        }
    )
    rules = _Rules(keys)

    time_all = obs["TIME"].to_numpy(dtype=float)
    dv_all = obs["DV"].to_numpy(dtype=float)
    row_all = pd.to_numeric(obs["ROW"], errors="coerce").to_numpy(dtype=float)

    # rows that never enter a profile: before infusion, or DV missing
    predose = time_all < 0
    rules.add(
        codes[predose],
        row_all[predose],
        time_all[predose],
        "predose_excluded",
        "sample before TIME 0 (infusion) not used",
    )
    nodv = ~predose & np.isnan(dv_all)
    rules.add(
        codes[nodv], row_all[nodv], time_all[nodv], "dv_missing", "DV is empty; sample not used"
    )
    keep = ~(predose | nodv)
    codes_k = codes[keep]
    # position within profile
    starts = np.r_[0, np.flatnonzero(np.diff(codes_k)) + 1] if len(codes_k) else np.array([], int)
    pos = np.arange(len(codes_k)) - np.repeat(starts, np.diff(np.r_[starts, len(codes_k)]))
    m = int(pos.max()) + 1 if len(pos) else 1
    T = _pad(codes_k, pos, n, m, time_all[keep], np.nan)
    DV = _pad(codes_k, pos, n, m, dv_all[keep], np.nan)
    ROW = _pad(codes_k, pos, n, m, row_all[keep], np.nan)
    CENS = _pad(codes_k, pos, n, m, obs["CENS"].to_numpy(dtype=float)[keep], np.nan)
    LLOQ = _pad(codes_k, pos, n, m, obs["LLOQ"].to_numpy(dtype=float)[keep], np.nan)

    # ---------------------------------------------------------------- BLQ by position
    present = np.isfinite(T)
    is_blq = present & ((CENS == 1) | (DV == 0))
    quant = present & ~is_blq
    any_q = quant.any(axis=1)
    first_q = np.where(any_q, np.argmax(quant, axis=1), m)
    last_q = np.where(any_q, m - 1 - np.argmax(quant[:, ::-1], axis=1), -1)
    col = np.arange(m)[None, :]
    before = is_blq & (col < first_q[:, None])
    after = is_blq & (col > last_q[:, None]) & any_q[:, None]
    between = is_blq & ~before & ~after
    limit = np.where(np.isfinite(LLOQ), LLOQ, np.where(CENS == 1, DV, np.nan))
    C = np.where(quant, DV, np.nan)

    def record(mask: np.ndarray, rule: str, detail: str) -> None:
        r, c = np.nonzero(mask)
        rules.add(r, ROW[r, c], T[r, c], rule, detail)

    if blq.before == "zero":
        C = np.where(before, 0.0, C)
        record(before, "blq_before_first", "BLQ before the first quantifiable sample set to 0")
    else:
        record(before, "blq_before_first", "BLQ before the first quantifiable sample dropped")
    if blq.between == "zero":
        C = np.where(between, 0.0, C)
        record(between, "blq_between", "BLQ between quantifiable samples set to 0")
    elif blq.between in ("half_lloq", "lloq"):
        factor = 0.5 if blq.between == "half_lloq" else 1.0
        known = between & np.isfinite(limit) & (limit > 0)
        C = np.where(known, factor * limit, C)
        what = "half the limit" if factor == 0.5 else "the limit"
        record(known, "blq_between", f"BLQ between quantifiable samples set to {what}")
        record(
            between & ~known,
            "blq_between",
            "BLQ between quantifiable samples dropped: its limit (LLOQ) is unknown",
        )
    else:
        record(between, "blq_between", "BLQ between quantifiable samples dropped")
    if blq.after == "zero":
        C = np.where(after, 0.0, C)
        record(after, "blq_after_last", "BLQ after the last quantifiable sample set to 0")
    elif blq.after == "first_zero":
        first_after = after & (col == (last_q[:, None] + 1))
        # the first BLQ after Tlast is the next present sample after last_q
        C = np.where(first_after, 0.0, C)
        record(first_after, "blq_after_last", "first BLQ after the last quantifiable set to 0")
        record(after & ~first_after, "blq_after_last", "later BLQ after the last dropped")
    else:
        record(after, "blq_after_last", "BLQ after the last quantifiable sample excluded")
    zero_dv = is_blq & (CENS != 1)
    if zero_dv.any():
        record(zero_dv, "dv_zero_as_blq", "DV recorded as 0 treated as BLQ (as PKNCA does)")

    # ---------------------------------------------------------------- C0 at infusion
    if impute_c0:
        has0 = (np.isfinite(C) & (T == 0)).any(axis=1)
        need = ~has0 & np.isfinite(C).any(axis=1)
        T = np.hstack([np.where(need, 0.0, np.nan)[:, None], T])
        C = np.hstack([np.where(need, 0.0, np.nan)[:, None], C])
        ROW = np.hstack([np.full((n, 1), np.nan), ROW])
        r = np.flatnonzero(need)
        rules.add(r, None, np.zeros(len(r)), "c0_imputed", "no sample at TIME 0: C(0)=0 used")

    T, C, count, (ROW,) = _core.compact(T, C, ROW)
    rows_i = np.arange(n)

    # ---------------------------------------------------------------- parameters
    cmax, tmax, imax = _core.peak(T, C)
    tlast, clast, ilast = _core.last_positive(T, C)
    auclast = _core.auc_last(T, C, ilast, method)
    no_q = ilast < 0
    r_noq = _reasons(no_q, "no_quantifiable", "no quantifiable (positive) concentration")

    # lambda_z candidates
    colc = np.arange(T.shape[1])[None, :]
    start = imax[:, None] if lz.allow_tmax else imax[:, None] + 1
    cand = np.isfinite(C) & (C > 0) & (colc >= start) & (colc <= ilast[:, None]) & ~no_q[:, None]
    fixed = np.zeros(n, dtype=bool)
    if lz.manual is not None and len(lz.manual):
        cand, fixed = _apply_manual(lz.manual, keys, T, C, ROW, cand, rules)
    fit = _core.lambda_z(
        T, C, cand, tlast, clast, min_points=lz.min_points, tolerance=lz.tolerance, fixed=fixed
    )
    lam = fit.lambda_z
    too_few = ~no_q & (fit.ncandidates < lz.min_points)
    where = np.where(fixed, "chosen by hand", "after Tmax" if not lz.allow_tmax else "")
    r_few = _reasons(
        too_few,
        "lambda_z_too_few_points",
        [
            f"{k} positive point(s) {w} at or before Tlast; lambda_z needs {lz.min_points}".replace(
                "  ", " "
            )
            for k, w in zip(fit.ncandidates, where, strict=True)
        ],
    )
    notpos = ~no_q & ~too_few & ~np.isfinite(lam)
    r_notpos = _reasons(
        notpos,
        "lambda_z_not_positive",
        "no terminal regression has a negative slope (lambda_z > 0)",
    )
    r_lz = _first_reason(r_noq, r_few, r_notpos)

    with np.errstate(divide="ignore", invalid="ignore"):
        half_life = np.log(2.0) / lam
        aucifo = auclast + clast / lam
        aucifp = auclast + fit.clast_pred / lam
        aucpeo = 100.0 * (aucifo - auclast) / aucifo
        aucpep = 100.0 * (aucifp - auclast) / aucifp

    values: dict[str, Any] = {
        "CMAX": (cmax, r_noq),
        "TMAX": (tmax, r_noq),
        "TLST": (tlast, r_noq),
        "CLST": (clast, r_noq),
        "AUCLST": (auclast, r_noq),
        "LAMZ": (lam, r_lz),
        "LAMZHL": (half_life, r_lz),
        "LAMZNPT": (np.where(np.isfinite(lam), fit.npoints, np.nan), r_lz),
        "LAMZLL": (fit.lower, r_lz),
        "LAMZUL": (fit.upper, r_lz),
        "R2": (fit.r2, r_lz),
        "R2ADJ": (fit.r2adj, r_lz),
        "CLSTP": (fit.clast_pred, r_lz),
        "AUCIFO": (aucifo, r_lz),
        "AUCIFP": (aucifp, r_lz),
        "AUCPEO": (aucpeo, r_lz),
        "AUCPEP": (aucpep, r_lz),
    }

    # ---------------------------------------------------------------- intervals
    first_t = T[:, 0]
    last_t = T[rows_i, np.maximum(count - 1, 0)]
    last_c = C[rows_i, np.maximum(count - 1, 0)]
    # a BLQ sample kept as 0 after Tlast (the samples after Tlast are all zeros)
    zero_tail = (ilast >= 0) & (count - 1 > ilast)
    t_zero = np.where(zero_tail, T[rows_i, np.minimum(ilast + 1, T.shape[1] - 1)], np.nan)
    # no quantifiable sample but BLQ samples kept as 0 (PKNCA: AUC 0)
    all_blq = no_q & (count > 0)
    interval_values = []
    for a, b in intervals:
        fa = _core.auc_at(T, C, count, np.full(n, a), method, lambda_z=lam, extrapolate=extrapolate)
        fb = _core.auc_at(T, C, count, np.full(n, b), method, lambda_z=lam, extrapolate=extrapolate)
        val = fb - fa
        early = ~no_q & (a < first_t)
        r_early = _reasons(
            early,
            "interval_before_first_sample",
            [
                f"interval start {_fmt(a)} {time_unit} is before the first sample at "
                f"{_fmt(t)} {time_unit}"
                for t in first_t
            ],
        )
        beyond = ~no_q & ~early & (b > last_t) & (last_c > 0)
        if extrapolate:
            r_late = _reasons(
                beyond & ~np.isfinite(lam),
                "interval_needs_lambda_z",
                [
                    f"interval end {_fmt(b)} {time_unit} is after Tlast {_fmt(t)} {time_unit}, "
                    "the last sample used (no BLQ sample kept as 0 follows it), and lambda_z is missing: "
                    f"{str(rz)[str(rz).find(']') + 2 :]}"
                    for t, rz in zip(tlast, r_lz, strict=True)
                ],
            )
            used = beyond & np.isfinite(lam)
            rules.add(
                np.flatnonzero(used),
                None,
                np.full(int(used.sum()), b),
                "aucint_extrapolated",
                [
                    f"AUC {_fmt(a)}-{_fmt(b)} {time_unit} extrapolated from Tlast "
                    f"{_fmt(t)} with lambda_z"
                    for t in tlast[used]
                ]
                if used.any()
                else "",
            )
        else:
            r_late = _reasons(
                beyond,
                "interval_after_tlast",
                [
                    f"interval end {_fmt(b)} {time_unit} is after Tlast {_fmt(t)} {time_unit}, "
                    "the last sample used (no BLQ sample kept as 0 follows it), and extrapolation is off"
                    for t in tlast
                ],
            )
        r_noq_int = np.where(all_blq, None, r_noq)
        reason = _first_reason(r_noq_int, r_early, r_late)
        val = np.where(all_blq, 0.0, val)
        with np.errstate(invalid="ignore"):
            after_tlast = b > tlast
        how = np.full(n, None, dtype=object)
        how[~after_tlast & ~no_q] = "interpolated"
        how[after_tlast & zero_tail] = "blq_zero"
        how[after_tlast & ~zero_tail & ~no_q] = "extrapolated_lambda_z"
        how[all_blq] = "all_blq"
        ok = np.equal(reason, None)
        bad = ok & ~np.isfinite(val)
        if bad.any():  # pragma: no cover - a guard against silent gaps
            reason = reason.copy()
            reason[bad] = "[not_computable] value is not finite"
            ok = ok & ~bad
        val = np.where(ok, val, np.nan)
        how = np.where(ok, how, None)
        span = f"AUC {_fmt(a)}-{_fmt(b)} {time_unit}"
        used = ok & (how == "blq_zero")
        rules.add(
            np.flatnonzero(used),
            None,
            np.full(int(used.sum()), b),
            "aucint_blq_zero",
            [
                f"{span}: linear from Clast at Tlast {_fmt(t)} {time_unit} to the BLQ sample "
                f"kept as 0 at {_fmt(z)} {time_unit}" + ("" if b <= z else ", 0 after it")
                for t, z in zip(tlast[used], t_zero[used], strict=True)
            ]
            if used.any()
            else "",
        )
        used = ok & (how == "all_blq")
        rules.add(
            np.flatnonzero(used),
            None,
            np.full(int(used.sum()), b),
            "aucint_all_blq",
            f"{span} is 0: every sample is BLQ, kept as 0 (PKNCA: an all-zero profile has AUC 0)",
        )
        interval_values.append((a, b, val, reason, how))

    # values present without reason must be finite, and vice versa
    for testcd, (v, r) in list(values.items()):
        bad = ~np.isfinite(v) & np.equal(r, None)
        if bad.any():  # pragma: no cover - a guard against silent gaps
            r = r.copy()
            r[bad] = "[not_computable] value is not finite"
            values[testcd] = (v, r)
        values[testcd] = (np.where(np.equal(values[testcd][1], None), v, np.nan), values[testcd][1])

    # ---------------------------------------------------------------- tables
    def unit_of(dvid: str, kind: Any) -> str:
        cu = conc_unit if conc_unit is not None else units.get(dvid, "")
        return unit_for(kind, cu, time_unit)

    dvids = keys["DVID"].to_numpy()
    uniq_dvid = pd.unique(dvids)
    no_method = np.full(n, None, dtype=object)
    parts = []
    wide: dict[str, Any] = {"ID": keys["ID"].to_numpy(), "DVID": dvids}
    wide_units: dict[str, str] = {}  # the wide view's column units (one DVID: its unit)
    wide_text: dict[str, str] = {}
    for p in PARAMETERS:
        unit_map = {d: unit_of(d, p.unit) for d in uniq_dvid}
        unit_col = np.array([unit_map[d] for d in dvids], dtype=object)
        blocks = interval_values if p.interval else [(None, None, *values[p.testcd], no_method)]
        for a, b, v, r, how in blocks:
            parts.append(
                {
                    "ID": keys["ID"].to_numpy(),
                    "DVID": dvids,
                    "PPTESTCD": np.full(n, p.testcd, dtype=object),
                    "PPTEST": np.full(n, p.label, dtype=object),
                    "PPORRES": v.astype(float),
                    "PPORRESU": unit_col,
                    "PPSTINT": np.full(n, None if a is None else _iso(a, time_unit), dtype=object),
                    "PPENINT": np.full(n, None if b is None else _iso(b, time_unit), dtype=object),
                    "REASON": r,
                    "PPANMETH": how,
                    "_p": rows_i,
                }
            )
            name = p.name if a is None else _wide_interval_name(a, b, time_unit)
            wide[name] = v.astype(float)
            spelt = set(unit_map.values())
            wide_units[name] = spelt.pop() if len(spelt) == 1 else "[DVID]"
            wide_text[name] = (
                f"{p.label} ({p.testcd})"
                if a is None
                else f"AUC from {_fmt(a)} to {_fmt(b)} {time_unit} ({p.testcd})"
            )
    long = pd.DataFrame({k: np.concatenate([q[k] for q in parts]) for k in parts[0]})
    long = long.sort_values("_p", kind="stable").drop(columns="_p").reset_index(drop=True)
    long = long[_LONG_COLUMNS]

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
    wide_frame = pd.DataFrame(wide)
    wide_frame.attrs["units"] = wide_units
    wide_frame.attrs["descriptions"] = wide_text
    return NCAResult(
        long=long,
        wide=wide_frame,
        rules=rules.frame(),
        covariates=covariates.assign(ID=covariates["ID"].astype(str)),
        options=options,
    )


def _apply_manual(
    manual: pd.DataFrame,
    keys: pd.DataFrame,
    T: np.ndarray,
    C: np.ndarray,
    ROW: np.ndarray,
    cand: np.ndarray,
    rules: _Rules,
) -> tuple[np.ndarray, np.ndarray]:
    """Apply hand-picked lambda_z points; every unmatched row is reported at once."""
    cand = cand.copy()
    fixed = np.zeros(len(keys), dtype=bool)
    ids = keys["ID"].to_numpy()
    dvids = keys["DVID"].to_numpy()
    include: dict[int, list[int]] = {}
    problems = []
    for i, rec in enumerate(manual.to_dict("records")):
        sid = str(rec["ID"])
        mask = ids == sid
        if "DVID" in rec and rec["DVID"] is not None and rec["DVID"] == rec["DVID"]:
            mask &= dvids == str(rec["DVID"])
        profiles = np.flatnonzero(mask)
        t = float(rec["TIME"])
        hit = None
        for p in profiles:
            cols = np.flatnonzero(np.isclose(T[p], t, rtol=1e-9, atol=1e-12) & (C[p] > 0))
            if len(cols):
                hit = (int(p), int(cols[0]))
                break
        if hit is None:
            problems.append(
                Violation(
                    "lambda_z_manual_unmatched",
                    "a manual lambda_z point is not a positive concentration of that subject",
                    id=sid,
                    rows=(i + 1,),
                    value=f"TIME={t:g}",
                    expected="the TIME of a quantifiable sample of the subject",
                    fix="correct `TIME`/`ID` in the manual table",
                )
            )
            continue
        p, c = hit
        rule = f"lambda_z_manual_{rec['ACTION']}"
        rules.add(np.array([p]), ROW[p, c : c + 1], T[p, c : c + 1], rule, str(rec["REASON"]))
        if rec["ACTION"] == "exclude":
            cand[p, c] = False
        else:
            include.setdefault(p, []).append(c)
    if problems:
        raise SpecError("manual lambda_z selection does not match the data", problems)
    for p, cols in include.items():
        cand[p, :] = False
        cand[p, cols] = True
        fixed[p] = True
    return cand, fixed
