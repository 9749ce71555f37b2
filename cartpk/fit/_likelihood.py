"""Censored observation log-likelihood, generic over the array namespace.

One function, :func:`loglik`, is the likelihood of every cartpk engine: the per-subject
lmfit fitter calls it with ``xp=numpy``, the PyMC population fitter with
``xp=pytensor.tensor``. It evaluates the residual-error model of a declaration
(:class:`cartpk.model.ErrorModel`) and the censoring method (``blq``) elementwise and never
sees model equations: ``pred`` is the prediction the caller computed from the declaration.

Numerically it works with ``log Phi`` (``log_ndtr``) throughout, so contributions stay
finite and differentiable far in the tails (``z = -30`` gives ``-454.3``, not ``-inf``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from cartpk.errors import SpecError, Violation

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.model import ErrorModel

__all__ = ["BLQ_METHODS", "BlqMethod", "censoring_interval", "check_blq", "log_ndtr", "loglik"]

BlqMethod = Literal["m3", "m4", "m1"]

#: Censoring methods and what they do with a censored record (Beal 2001).
BLQ_METHODS: dict[str, str] = {
    "m3": "censored likelihood: log P(y < DV) for CENS=1, log P(y > DV) for CENS=-1, "
    "log P(LIMIT < y < DV) or log P(DV < y < LIMIT) where LIMIT gives the other bound",
    "m4": "M3 conditioned on y > 0 (identical to M3 for log_additive error)",
    "m1": "censored records discarded (contribute 0; reported as excluded)",
}

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT2 = math.sqrt(2.0)


def check_blq(blq: str) -> BlqMethod:
    """Return ``blq`` lower-cased if it names a censoring method, else raise.

    Raises
    ------
    SpecError
        ``blq_method`` when ``blq`` is not one of ``"m3"``, ``"m4"``, ``"m1"``.

    Examples
    --------
    >>> check_blq("M3")
    'm3'
    """
    key = str(blq).lower()
    if key not in BLQ_METHODS:
        raise SpecError(
            f"Unknown censoring method `blq={blq!r}`.",
            [
                Violation(
                    "blq_method",
                    "`blq` must name a supported censoring method",
                    value=repr(blq),
                    expected="one of " + ", ".join(repr(k) for k in BLQ_METHODS),
                    fix='use blq="m3" (the censored likelihood) unless you have a reason not to',
                )
            ],
        )
    return key  # type: ignore[return-value]


def _is_numpy(xp: Any) -> bool:
    return getattr(xp, "__name__", "") == "numpy"


def _is_jax(xp: Any) -> bool:
    return getattr(xp, "__name__", "").startswith("jax")


def log_ndtr(xp: Any, z: Any) -> Any:
    """``log Phi(z)``, the log standard-normal CDF, stable in both tails.

    Parameters
    ----------
    xp : module
        Array namespace: ``numpy`` (uses :func:`scipy.special.log_ndtr`), ``jax.numpy``
        (``jax.scipy.special.log_ndtr``) or ``pytensor.tensor``.
    z : array
        Standardised value.

    Notes
    -----
    For ``pytensor`` (and any namespace with ``erfcx``, ``where``, ``log1p``, ``erfc``)::

        z < -1:  log Phi(z) = log(erfcx(-z / sqrt 2) / 2) - z^2 / 2
        z >= -1: log Phi(z) = log1p(-erfc(z / sqrt 2) / 2)

    Each branch is evaluated on its argument clamped to its own domain, so the branch not
    taken is finite and so is its gradient (a plain ``switch`` would give ``0 * nan``).

    Examples
    --------
    >>> import numpy as np
    >>> round(float(log_ndtr(np, np.float64(-30.0))), 2)
    -454.32
    """
    if _is_numpy(xp):
        from scipy.special import log_ndtr as _log_ndtr

        return _log_ndtr(z)
    if _is_jax(xp):  # pragma: no cover - exercised only where jax is installed
        from jax.scipy.special import log_ndtr as _jlog_ndtr

        return _jlog_ndtr(z)
    lo = xp.minimum(z, -1.0)
    hi = xp.maximum(z, -1.0)
    tail = xp.log(xp.erfcx(-lo / _SQRT2) / 2.0) - lo * lo / 2.0
    body = xp.log1p(-xp.erfc(hi / _SQRT2) / 2.0)
    return xp.where(z < -1.0, tail, body)


def _log1mexp(xp: Any, x: Any) -> Any:
    """``log(1 - exp(x))`` for ``x <= 0`` (Maechler 2012), branches clamped."""
    a = xp.minimum(x, -1e-300)  # keep both branches finite when x == 0
    is_near = a > -math.log(2.0)
    # each branch sees its own argument, or a constant inside its domain where not taken
    # (not min/max clamps: at a tie JAX splits the gradient between the two arguments)
    near = xp.where(is_near, a, -0.5)
    far = xp.where(is_near, -1.0, a)
    return xp.where(is_near, xp.log(-xp.expm1(near)), xp.log1p(-xp.exp(far)))


def _log_diff_ndtr(xp: Any, b: Any, a: Any) -> Any:
    """``log(Phi(b) - Phi(a))`` for ``b > a``, computed in the tail where it is accurate."""
    # upper tail: Phi(b) - Phi(a) = Phi(-a) - Phi(-b); use whichever side is the lower tail
    lower = log_ndtr(xp, b) + _log1mexp(xp, log_ndtr(xp, a) - log_ndtr(xp, b))
    upper = log_ndtr(xp, -a) + _log1mexp(xp, log_ndtr(xp, -b) - log_ndtr(xp, -a))
    return xp.where(a > 0, upper, lower)


def censoring_interval(dv: Any, cens: Any, limit: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of each record's value under the nlmixr2/Monolix ``CENS``/``LIMIT`` convention.

    Parameters
    ----------
    dv : array
        ``DV``: the measurement, or for a censored record the limit it was censored at.
    cens : array of int
        ``0`` quantified, ``1`` below ``DV``, ``-1`` above ``DV``.
    limit : array, optional
        ``LIMIT``: the other bound of a censored record's interval; NaN (or an infinity on
        the open side) where there is none. Ignored where ``cens == 0``.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``lower, upper`` per record: ``(DV, DV)`` quantified; ``(LIMIT or -inf, DV)`` for
        ``CENS=1``; ``(DV, LIMIT or +inf)`` for ``CENS=-1``.

    Examples
    --------
    >>> lo, hi = censoring_interval([5.0, 50.0, 50.0, 900.0], [0, 1, 1, -1],
    ...                             [np.nan, np.nan, 10.0, 2000.0])
    >>> lo.tolist(), hi.tolist()
    ([5.0, -inf, 10.0, 900.0], [5.0, 50.0, 50.0, 2000.0])
    """
    dv = np.asarray(dv, dtype=float)
    c = np.broadcast_to(np.asarray(cens), dv.shape)
    lim = np.full(dv.shape, np.nan) if limit is None else np.asarray(limit, dtype=float)
    lim = np.broadcast_to(lim, dv.shape)
    has_lo = (c == 1) & np.isfinite(lim) & (lim < dv)
    has_hi = (c == -1) & np.isfinite(lim) & (lim > dv)
    lower = np.where(c == 1, np.where(has_lo, lim, -np.inf), dv)
    upper = np.where(c == -1, np.where(has_hi, lim, np.inf), dv)
    return lower, upper


def _eq(xp: Any, a: Any, value: int) -> Any:
    """``a == value`` elementwise (PyTensor variables compare with ``eq``; data stay NumPy)."""
    return xp.eq(a, value) if hasattr(a, "type") and hasattr(xp, "eq") else a == value


def _other_bound(xp: Any, limit: Any, cens: Any, dv: Any, log_scale: bool) -> tuple[Any, Any]:
    """Where the other bound applies (``LIMIT`` finite, on the open side of ``DV``; for a
    log-scale error a lower bound only if positive) and a finite stand-in value elsewhere."""
    if hasattr(limit, "type") or _is_jax(xp):  # symbolic: elementwise in xp
        has = xp.isfinite(limit) & ~_eq(xp, cens, 0)
        has = has & xp.where(_eq(xp, cens, 1), limit < dv, limit > dv)
        if log_scale:
            has = has & (limit > 0)
        return has, xp.where(has, limit, dv)
    lim = np.asarray(limit, dtype=float)
    c = np.asarray(cens)
    d = np.asarray(dv, dtype=float) if not hasattr(dv, "type") else None
    with np.errstate(invalid="ignore"):
        has = np.isfinite(lim) & (c != 0)
        if d is not None:
            has &= np.where(c == 1, lim < d, lim > d)
        if log_scale:
            has &= lim > 0
    if d is None:  # pragma: no cover - dv is data in every engine
        return has, xp.where(has, np.where(has, lim, 1.0), dv)
    return has, np.where(has, lim, d)


def _censored_terms_numpy(z: np.ndarray, cens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``log Phi(z)`` where ``cens == 1`` and ``log Phi(-z)`` where ``cens == -1`` (0
    elsewhere): the NumPy path evaluates the normal CDF only on the censored records (the
    same values, elementwise, as on every record)."""
    shape = np.broadcast_shapes(np.shape(z), np.shape(cens))
    zz, cc = np.broadcast_to(z, shape), np.broadcast_to(cens, shape)
    left, right = np.zeros(shape), np.zeros(shape)
    for term, kind, sign in ((left, 1, 1.0), (right, -1, -1.0)):
        at = cc == kind
        if at.any():
            term[at] = log_ndtr(np, sign * zz[at])
    return left, right


def loglik(
    xp: Any,
    dv: Any,
    pred: Any,
    cens: Any,
    error: ErrorModel,
    sigmas: Mapping[str, Any] | None = None,
    *,
    blq: BlqMethod = "m3",
    lloq: Any = None,
    limit: Any = None,
    kinds: Collection[int] | None = None,
) -> Any:
    """Elementwise log-likelihood of observations given predictions, with censoring.

    Parameters
    ----------
    xp : module
        Array namespace: ``numpy``, ``pytensor.tensor`` (or ``jax.numpy``).
    dv : array
        Observations on the natural scale (``DV``). For censored records ``DV`` holds the
        limit (the data-layer convention), unless ``lloq`` is given.
    pred : array
        Model prediction ``f`` on the natural scale, same shape as ``dv`` (or broadcastable).
    cens : array of int
        ``0`` quantified, ``1`` left-censored (below the limit), ``-1`` right-censored
        (above the limit).
    error : ErrorModel
        The declaration's residual-error model (``model.error``).
    sigmas : mapping of str to float or tensor, optional
        Values of the error model's parameters by name (``{"sigma": 0.56}`` or
        ``{"sigma_add": ..., "sigma_prop": ...}``); the declared values by default.
    blq : {"m3", "m4", "m1"}, default "m3"
        Censoring method (Beal 2001): ``"m3"`` censored likelihood; ``"m4"`` the same
        conditioned on ``y > 0`` (identical to M3 for ``log_additive``); ``"m1"`` censored
        records contribute 0 (the caller must report them as discarded).
    lloq : array, optional
        Censoring limit per record; used instead of ``dv`` where ``cens != 0``. Not needed
        for data read by :func:`cartpk.read_dataset`, where ``DV`` holds the limit.
    limit : array, optional
        ``LIMIT``, the *other* bound of a censored record (nlmixr2/Monolix): the lower bound
        of a ``cens = 1`` record (``y`` in ``(LIMIT, DV)``), the upper bound of a
        ``cens = -1`` record (``y`` in ``(DV, LIMIT)``). NaN, or a bound on the wrong side
        of the limit, means none; for ``log_additive`` error a lower bound ``<= 0`` is none
        (``y > 0`` already). Ignored where ``cens == 0``. Data: NumPy arrays or, for
        ``pytensor``, data containers (``pm.Data``), as ``dv`` and ``cens``.
    kinds : collection of int, optional
        The ``CENS`` values the records hold, for a graph whose ``cens`` is an input
        (``pm.Data``) with values unknown while it is built: the terms of values not listed
        are left out of the graph (as a compiler drops them for constant data). Default:
        all of ``0, 1, -1``.

    Returns
    -------
    array
        Log-likelihood per record, in ``xp``'s array type, broadcast shape of the inputs.

    Raises
    ------
    SpecError
        ``blq_method`` for an unknown ``blq``.

    Notes
    -----
    ``SD`` is ``error.sd(xp, f, sigmas)`` on the residual's own scale; ``z = (L - f)/SD``
    with ``L`` the limit (log scale: ``z = (log L - log f)/sigma``).

    ============ ========================================= =============================
    error kind   quantified ``y`` (``cens = 0``)            ``cens = 1`` (M3)
    ============ ========================================= =============================
    log_additive ``log N(log y; log f, sigma) - log y``     ``log Phi(z)``
    additive,    ``log N(y; f, SD)``                         ``log Phi(z)``
    proportional,
    combined
    ============ ========================================= =============================

    ``cens = -1`` uses ``log(1 - Phi(z)) = log Phi(-z)``. With the other bound ``LIMIT``
    (``z_L`` its standardised value) a censored term is the interval probability:
    ``log(Phi(z) - Phi(z_L))`` for ``cens = 1`` and ``log(Phi(z_L) - Phi(z))`` for
    ``cens = -1``, computed in whichever tail is accurate. For M4 on the linear-scale
    error models every record is conditioned on ``y > 0`` (Beal's M4): each term, censored
    or not, is reduced by ``log Phi(f / SD)``, a left-censored term becomes
    ``log(Phi(z) - Phi(max(z_L, -f/SD)))`` and a right-censored one uses
    ``max(z, -f/SD)`` as its lower end.

    **Jacobian convention.** For ``log_additive`` the quantified term is the density of
    ``y`` on the natural scale, ``log N(log y; log f, sigma) - log y``. The ``- log y``
    Jacobian does not depend on the parameters (it changes no estimate), but it keeps
    log-likelihoods, AIC and likelihood-ratio statistics comparable across error models,
    and consistent with the censored terms, which are probabilities on any scale.

    References
    ----------
    Beal SL. Ways to fit a PK model with some data below the quantification limit.
    J Pharmacokinet Pharmacodyn 2001;28:481-504.

    Examples
    --------
    >>> import numpy as np
    >>> from cartpk.model import log_additive
    >>> ll = loglik(np, np.array([100.0, 50.0]), np.array([100.0, 50.0]), np.array([0, 1]),
    ...             log_additive(sigma=0.5))
    >>> np.round(ll, 4)   # log N(0; 0, 0.5) - log 100, and log Phi(0)
    array([-4.831 , -0.6931])
    """
    method = check_blq(blq)
    numpy_like = _is_numpy(xp)
    if numpy_like:
        dv = np.asarray(dv, dtype=float)
        pred = np.asarray(pred, dtype=float)
    symbolic = hasattr(cens, "type") or _is_jax(xp)  # a PyTensor variable or a JAX tracer
    cens_arr = cens if symbolic else np.asarray(cens)
    bound = dv if lloq is None else xp.where(~_eq(xp, cens_arr, 0), lloq, dv)
    if limit is not None and not symbolic and not hasattr(limit, "type"):
        with np.errstate(invalid="ignore"):
            if not np.any(np.isfinite(np.asarray(limit, dtype=float)) & (cens_arr != 0)):
                limit = None  # no censored record has another bound: skip the interval terms
    sd = error.sd(xp, pred, sigmas)
    log_scale = error.kind == "log_additive"
    if limit is not None:
        has_other, other = _other_bound(xp, limit, cens_arr, bound, log_scale)

    # log-of-zero and 0/0 appear only in branches that `where` discards (e.g. the
    # censored term of a quantified record with dv=0 under log_additive)
    errstate = (
        np.errstate(divide="ignore", invalid="ignore") if numpy_like else contextlib.nullcontext()
    )
    with errstate:
        if log_scale:
            log_f = xp.log(pred)
            log_y = xp.log(dv)
            r = (log_y - log_f) / sd
            quant = -0.5 * r * r - xp.log(sd) - _LOG_SQRT_2PI - log_y
            z = (xp.log(bound) - log_f) / sd
            z_other = None if limit is None else (xp.log(other) - log_f) / sd
        else:
            r = (dv - pred) / sd
            quant = -0.5 * r * r - xp.log(sd) - _LOG_SQRT_2PI
            z = (bound - pred) / sd
            z_other = None if limit is None else (other - pred) / sd
        # where a record has no other bound, z_other is replaced by a finite stand-in on
        # the right side of z, so that the branch `where` discards has finite gradients
        if method == "m4" and not log_scale:
            z0 = -pred / sd
            log_pos = log_ndtr(xp, pred / sd)  # log P(y > 0)
            quant = quant - log_pos
            z_l = z0 if z_other is None else xp.where(has_other, xp.maximum(z_other, z0), z0)
            left = _log_diff_ndtr(xp, z, z_l) - log_pos
            z_r = xp.maximum(z, z0)
            right = log_ndtr(xp, -z_r)
            if z_other is not None:
                z_u = xp.where(has_other, z_other, z_r + 1.0)
                right = xp.where(has_other, _log_diff_ndtr(xp, z_u, z_r), right)
            right = right - log_pos
        elif numpy_like and not symbolic and z_other is None:
            left, right = _censored_terms_numpy(z, cens_arr)
        else:
            left = log_ndtr(xp, z)
            right = log_ndtr(xp, -z)
            if z_other is not None:
                z_lo = xp.where(has_other, z_other, z - 1.0)
                z_hi = xp.where(has_other, z_other, z + 1.0)
                left = xp.where(has_other, _log_diff_ndtr(xp, z, z_lo), left)
                right = xp.where(has_other, _log_diff_ndtr(xp, z_hi, z), right)
        if method == "m1":  # censored records contribute exactly 0
            return xp.where(_eq(xp, cens_arr, 0), quant, 0.0)
        out = quant
        if kinds is None or -1 in kinds:
            out = xp.where(_eq(xp, cens_arr, -1), right, out)
        if kinds is None or 1 in kinds:
            out = xp.where(_eq(xp, cens_arr, 1), left, out)
    return out
