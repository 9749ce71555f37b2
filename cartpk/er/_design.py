"""Per-subject analysis table -> design matrices, with every exclusion recorded.

Also the linear-programming check for (quasi-)complete separation used by the logistic and
ordinal fits (Konis 2007), so that a separated data set is reported as such instead of
producing the huge, meaningless estimates an unpenalised optimiser drifts to.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from cartpk.errors import DatasetError, SpecError, Violation

__all__ = [
    "LOG_BASES",
    "MODELS",
    "LogBase",
    "Model",
    "Prepared",
    "exposure_term",
    "fold_factor",
    "is_separated",
    "prepare",
]

Model = Literal["ordinal", "logistic", "emax", "loglinear", "cox"]
LogBase = Literal["ln", "log10"]
MODELS: tuple[str, ...] = ("ordinal", "logistic", "emax", "loglinear", "cox")
LOG_BASES: tuple[str, ...] = ("ln", "log10")

EXCLUSION_COLUMNS = ["ID", "code", "reason"]


def exposure_term(exposure: str, log: LogBase) -> str:
    """Name of the exposure term: ``log(cmax)`` (natural log) or ``log10(cmax)``."""
    return f"{'log' if log == 'ln' else 'log10'}({exposure})"


def fold_factor(fold: float, log: LogBase) -> float:
    """Change of the log exposure for a ``fold``-fold increase in exposure.

    Examples
    --------
    >>> round(fold_factor(2, "ln"), 6), fold_factor(10, "log10")
    (0.693147, 1.0)
    """
    return math.log(fold) if log == "ln" else math.log10(fold)


@dataclass(frozen=True)
class Prepared:
    """The subjects used by one fit and their design.

    Attributes
    ----------
    data : DataFrame
        ``ID``, the raw endpoint, exposure, event and covariate columns of the used subjects.
    y : ndarray
        Outcome: 0/1 (logistic), category codes 0..K-1 (ordinal), value (emax, loglinear),
        time (cox).
    event : ndarray or None
        Event indicator (cox only).
    conc : ndarray
        Exposure on its natural scale.
    x : ndarray
        Log exposure (base ``log``).
    covariates : DataFrame
        Covariate design: numeric columns as given, categorical ones as 0/1 indicators
        ``NAME[LEVEL]`` against the first level (sorted).
    categories : list
        Ordered outcome categories (ordinal) or ``[0, 1]`` (logistic).
    exclusions : DataFrame
        ``ID, code, reason`` of every subject not used.
    """

    data: pd.DataFrame
    y: np.ndarray
    event: np.ndarray | None
    conc: np.ndarray
    x: np.ndarray
    covariates: pd.DataFrame
    categories: list[object]
    exclusions: pd.DataFrame


def _spec(code: str, message: str, **kw: object) -> SpecError:
    return SpecError(message, [Violation(code, message, **kw)])  # type: ignore[arg-type]


def _check_columns(subjects: pd.DataFrame, needed: dict[str, str | None | Sequence[str]]) -> None:
    columns = [str(c) for c in subjects.columns]
    problems = []
    for key, value in needed.items():
        names = [value] if isinstance(value, str) else list(value or [])
        for name in names:
            if name not in columns:
                problems.append(
                    Violation(
                        "column_unknown",
                        f"`{key}` names column `{name}`, which the subject table lacks",
                        column=name,
                        value=repr(name),
                        expected="one of: " + ", ".join(columns),
                        fix=f"set `{key}` to a column of the subject table",
                    )
                )
    if "ID" not in columns:
        problems.append(
            Violation(
                "missing_column",
                "the subject table has no `ID` column",
                column="ID",
                expected="one row per subject with an `ID` column",
                fix="add the subject identifier as `ID`",
            )
        )
    if problems:
        raise SpecError(f"{len(problems)} problem(s) with the analysis columns", problems)


def prepare(
    subjects: pd.DataFrame,
    endpoint: str,
    *,
    exposure: str,
    model: Model,
    covariates: Sequence[str] = (),
    log: LogBase = "ln",
    event: str | None = None,
    threshold: float | None = None,
) -> Prepared:
    """Check the columns of one analysis and build its design (see :func:`cartpk.fit_er`).

    Raises
    ------
    SpecError
        ``model_unknown``, ``log_unknown``, ``column_unknown``, ``event_missing``,
        ``covariates_unsupported``.
    DatasetError
        ``duplicate_id``, ``endpoint_not_numeric``, ``endpoint_not_binary``,
        ``event_not_binary``.
    """
    _check_analysis(model, log, event, covariates)
    covariates = list(covariates)
    _check_columns(
        subjects,
        {"endpoint": endpoint, "exposure": exposure, "event": event, "covariates": covariates},
    )
    frame = _subject_frame(subjects, [endpoint, exposure, *([event] if event else []), *covariates])
    keep, conc, y, reasons = _usable(frame, endpoint, exposure, model, event, covariates)
    data = frame[keep].reset_index(drop=True)
    y = y[keep]
    conc = conc[keep]
    x = np.log(conc) if log == "ln" else np.log10(conc)
    exclusions = pd.DataFrame(reasons, columns=EXCLUSION_COLUMNS)
    y, categories = _outcome(y, model, endpoint, threshold)
    event_arr = _event_indicator(data, event) if model == "cox" else None
    design = _covariate_design(data, covariates)
    return Prepared(
        data=data,
        y=y,
        event=event_arr,
        conc=conc,
        x=x,
        covariates=design,
        categories=categories,
        exclusions=exclusions,
    )


def _check_analysis(model: str, log: str, event: str | None, covariates: Sequence[str]) -> None:
    """Raise on an unknown model or log base, a Cox model without event, an adjusted Emax."""
    if model not in MODELS:
        raise _spec(
            "model_unknown",
            f"unknown model {model!r}",
            value=repr(model),
            expected="one of: " + ", ".join(MODELS),
            fix="choose one of the listed models",
        )
    if log not in LOG_BASES:
        raise _spec(
            "log_unknown",
            f"unknown log base {log!r}",
            value=repr(log),
            expected="'ln' (natural log) or 'log10'",
            fix="set log = 'ln' or 'log10'",
        )
    if model == "cox" and not event:
        raise _spec(
            "event_missing",
            "a Cox model needs `event`, the column flagging an event (1) or censoring (0)",
            expected="event = 'pfs_event' (for example)",
            fix="name the event column with `event`",
        )
    if model == "emax" and covariates:
        raise _spec(
            "covariates_unsupported",
            "covariates are not supported by the Emax model",
            value=", ".join(covariates),
            expected="covariates = [] for model 'emax'",
            fix="drop the covariates, or use model='loglinear' for an adjusted analysis",
        )


def _subject_frame(subjects: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``ID`` (stripped text) and the analysis ``columns``, once each; duplicated IDs raise."""
    ids = subjects["ID"].astype(str).str.strip()
    dup = ids[ids.duplicated(keep=False)]
    if len(dup):
        rows = tuple(int(i) + 1 for i in np.flatnonzero(ids.duplicated(keep=False)))
        raise DatasetError(
            "the subject table has duplicated IDs",
            [
                Violation(
                    "duplicate_id",
                    "more than one row per subject",
                    rows=rows,
                    column="ID",
                    value=", ".join(sorted(set(dup))),
                    expected="one row per subject",
                    fix="aggregate to one row per subject first",
                )
            ],
        )
    frame = subjects[list(dict.fromkeys(columns))].copy()
    frame.insert(0, "ID", ids.to_numpy())
    return frame.reset_index(drop=True)


def _usable(
    frame: pd.DataFrame,
    endpoint: str,
    exposure: str,
    model: str,
    event: str | None,
    covariates: Sequence[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[str, str, str]]]:
    """Mask of the subjects a fit can use, exposure and numeric endpoint of all, and the
    ``(ID, code, reason)`` of each one left out (its first reason)."""
    reasons: list[tuple[str, str, str]] = []
    keep = np.ones(len(frame), dtype=bool)

    def drop(mask: np.ndarray, code: str, reason: str) -> None:
        nonlocal keep
        new = mask & keep
        for sid in frame.loc[new, "ID"]:
            reasons.append((sid, code, reason))
        keep = keep & ~mask

    conc = pd.to_numeric(frame[exposure], errors="coerce").to_numpy(dtype=float)
    drop(~np.isfinite(conc), "exposure_missing", f"`{exposure}` is missing or not a number")
    drop(conc <= 0, "exposure_not_positive", f"`{exposure}` <= 0: its log is undefined")
    num_y = _numeric_endpoint(frame[endpoint], endpoint)
    drop(~np.isfinite(num_y), "endpoint_missing", f"`{endpoint}` is missing")
    if model == "loglinear":
        drop(num_y <= 0, "endpoint_not_positive", f"`{endpoint}` <= 0: its log is undefined")
    if model == "cox":
        drop(num_y < 0, "time_negative", f"`{endpoint}` (time) is negative")
        ev = pd.to_numeric(frame[event], errors="coerce").to_numpy(dtype=float)
        drop(~np.isfinite(ev), "event_missing", f"`{event}` is missing or not a number")
    for c in covariates:
        col = frame[c]
        missing = col.isna().to_numpy() | (col.astype(str).str.strip() == "").to_numpy()
        drop(missing, "covariate_missing", f"covariate `{c}` is missing")
    return keep, conc, num_y, reasons


def _numeric_endpoint(raw_y: pd.Series, endpoint: str) -> np.ndarray:
    """The endpoint as floats (booleans as 0/1, empty cells NaN); text raises."""
    if pd.api.types.is_bool_dtype(raw_y):
        return raw_y.astype(float).to_numpy()
    num_y = pd.to_numeric(raw_y, errors="coerce").to_numpy(dtype=float)
    text = ~np.isfinite(num_y) & raw_y.notna().to_numpy()
    if text.any():
        values = ", ".join(sorted({str(v) for v in raw_y[text]})[:10])
        raise DatasetError(
            f"`{endpoint}` is not numeric",
            [
                Violation(
                    "endpoint_not_numeric",
                    f"the endpoint `{endpoint}` holds text",
                    rows=tuple(int(i) + 1 for i in np.flatnonzero(text)),
                    column=endpoint,
                    value=values,
                    expected="numbers (grades, 0/1, values or times)",
                    fix="code the endpoint numerically (e.g. `orr` = 1 for CR/PR, not `bor`)",
                )
            ],
        )
    return num_y


def _outcome(
    y: np.ndarray, model: str, endpoint: str, threshold: float | None
) -> tuple[np.ndarray, list[object]]:
    """The outcome as the model takes it and its categories: 0/1 (logistic, checked), codes
    0..K-1 (ordinal), else unchanged with no categories."""
    if model == "logistic":
        if threshold is not None:
            y = (y >= threshold).astype(float)
        bad = ~np.isin(y, (0.0, 1.0))
        if bad.any():
            vals = ", ".join(sorted({f"{v:g}" for v in y[bad]}))
            raise DatasetError(
                f"`{endpoint}` is not binary",
                [
                    Violation(
                        "endpoint_not_binary",
                        f"logistic regression needs `{endpoint}` coded 0/1",
                        column=endpoint,
                        value=vals,
                        expected="0 (no) or 1 (yes)",
                        fix="give `threshold` (e.g. 3 for grade >= 3) or use model='ordinal'",
                    )
                ],
            )
        return y, [0, 1]
    if model == "ordinal":
        levels = np.unique(y)
        categories: list[object] = [int(v) if float(v).is_integer() else float(v) for v in levels]
        return np.searchsorted(levels, y).astype(float), categories
    return y, []


def _event_indicator(data: pd.DataFrame, event: str | None) -> np.ndarray:
    """The Cox event column as 0/1 floats; any other value raises ``event_not_binary``."""
    event_arr = pd.to_numeric(data[event], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isin(event_arr, (0.0, 1.0))
    if bad.any():
        raise DatasetError(
            f"`{event}` is not an event indicator",
            [
                Violation(
                    "event_not_binary",
                    f"`{event}` must be 1 (event) or 0 (censored)",
                    column=str(event),
                    value=", ".join(sorted({f"{v:g}" for v in event_arr[bad]})),
                    expected="0 or 1",
                    fix="recode the event column as 1 = event, 0 = censored",
                )
            ],
        )
    return event_arr


def _covariate_design(data: pd.DataFrame, covariates: Sequence[str]) -> pd.DataFrame:
    """Numeric covariates as they are; anything else as indicators against the first level."""
    parts: dict[str, np.ndarray] = {}
    for c in covariates:
        col = data[c]
        if pd.api.types.is_bool_dtype(col):
            parts[c] = col.astype(float).to_numpy()
            continue
        num = pd.to_numeric(col, errors="coerce")
        if num.notna().all():
            parts[c] = num.to_numpy(dtype=float)
            continue
        levels = sorted({str(v).strip() for v in col})
        for lev in levels[1:]:
            parts[f"{c}[{lev}]"] = (col.astype(str).str.strip() == lev).to_numpy(dtype=float)
    return pd.DataFrame(parts, index=data.index)


def is_separated(x: np.ndarray, codes: np.ndarray, *, tol: float = 1e-7) -> bool:
    """Whether ordered outcomes are (quasi-)completely separated by the predictors.

    Parameters
    ----------
    x : ndarray, shape (n, p)
        Predictors without an intercept column.
    codes : ndarray, shape (n,)
        Outcome categories coded 0..K-1 (K = 2 for a binary outcome).
    tol : float, default 1e-7
        An optimum above this counts as separation.

    Returns
    -------
    bool
        True when a direction ``(beta, theta)`` exists along which the cumulative-logit
        (for K = 2: logistic) likelihood never decreases and increases for some subject,
        i.e. when the maximum-likelihood estimate does not exist.

    Notes
    -----
    The linear programme (Konis 2007, ``safeBinaryRegression``; extended to cumulative
    cut points) maximises ``sum_i,k s_ik`` with ``s_ik = sign_ik (x_i beta - theta_k) >= 0``
    where ``sign_ik = +1`` when ``y_i > k`` and ``-1`` otherwise, ordered cut points
    ``theta_1 <= ... <= theta_{K-1}`` and all variables in ``[-1, 1]``. Predictors are
    standardised first so that ``tol`` is scale-free. A positive optimum is a recession
    direction of the log-likelihood: separation.

    References
    ----------
    Konis K. Linear programming algorithms for detecting separated data in binary
    logistic regression models. DPhil thesis, University of Oxford, 2007.
    Albert A, Anderson JA. On the existence of maximum likelihood estimates in logistic
    regression models. Biometrika 1984;71:1-10.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1.0], [2.0], [3.0], [4.0]])
    >>> is_separated(x, np.array([0, 0, 1, 1])), is_separated(x, np.array([0, 1, 0, 1]))
    (True, False)
    """
    from scipy.optimize import linprog

    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    codes = np.asarray(codes).astype(int)
    n, p = x.shape
    k = int(codes.max()) if n else 0
    if n == 0 or k < 1:
        return False
    sd = x.std(axis=0)
    xs = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    # rows: one per subject and cut point; columns: beta (p), theta (k)
    a_rows = []
    for cut in range(k):
        sign = np.where(codes > cut, 1.0, -1.0)
        block = np.zeros((n, p + k))
        block[:, :p] = sign[:, None] * xs
        block[:, p + cut] = -sign
        a_rows.append(block)
    a = np.vstack(a_rows)
    # s = a @ z >= 0  ->  -a @ z <= 0; ordered cut points theta_c - theta_{c+1} <= 0
    order = np.zeros((max(k - 1, 0), p + k))
    for c in range(k - 1):
        order[c, p + c] = 1.0
        order[c, p + c + 1] = -1.0
    a_ub = np.vstack([-a, order]) if k > 1 else -a
    b_ub = np.zeros(a_ub.shape[0])
    res = linprog(
        -a.sum(axis=0), A_ub=a_ub, b_ub=b_ub, bounds=[(-1.0, 1.0)] * (p + k), method="highs"
    )
    if res.status != 0:  # pragma: no cover - bounded, feasible (z = 0) by construction
        return False
    return bool(-res.fun > tol * a.shape[0])
