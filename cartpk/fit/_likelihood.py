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
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from cartpk.errors import SpecError, Violation

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.model import ErrorModel

__all__ = ["BLQ_METHODS", "BlqMethod", "check_blq", "log_ndtr", "loglik"]

BlqMethod = Literal["m3", "m4", "m1"]

#: Censoring methods and what they do with a censored record (Beal 2001).
BLQ_METHODS: dict[str, str] = {
    "m3": "censored likelihood: log P(y < LLOQ) for CENS=1, log P(y > limit) for CENS=-1",
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
    near = xp.maximum(a, -math.log(2.0))
    far = xp.minimum(a, -math.log(2.0))
    return xp.where(a > -math.log(2.0), xp.log(-xp.expm1(near)), xp.log1p(-xp.exp(far)))


def _log_diff_ndtr(xp: Any, b: Any, a: Any) -> Any:
    """``log(Phi(b) - Phi(a))`` for ``b > a``, computed in the tail where it is accurate."""
    # upper tail: Phi(b) - Phi(a) = Phi(-a) - Phi(-b); use whichever side is the lower tail
    lower = log_ndtr(xp, b) + _log1mexp(xp, log_ndtr(xp, a) - log_ndtr(xp, b))
    upper = log_ndtr(xp, -a) + _log1mexp(xp, log_ndtr(xp, -b) - log_ndtr(xp, -a))
    return xp.where(a > 0, upper, lower)


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
        Censoring limit per record; used instead of ``dv`` where ``cens != 0``.

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

    ``cens = -1`` uses ``log(1 - Phi(z)) = log Phi(-z)``. For M4 on the linear-scale
    error models every record is conditioned on ``y > 0`` (Beal's M4): each term, censored
    or not, is reduced by ``log Phi(f / SD)``, and a left-censored term becomes
    ``log(Phi(z) - Phi(-f/SD))``.

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
    limit = dv if lloq is None else xp.where(cens_arr != 0, lloq, dv)
    sd = error.sd(xp, pred, sigmas)

    # log-of-zero and 0/0 appear only in branches that `where` discards (e.g. the
    # censored term of a quantified record with dv=0 under log_additive)
    errstate = (
        np.errstate(divide="ignore", invalid="ignore") if numpy_like else contextlib.nullcontext()
    )
    with errstate:
        if error.kind == "log_additive":
            log_f = xp.log(pred)
            log_y = xp.log(dv)
            r = (log_y - log_f) / sd
            quant = -0.5 * r * r - xp.log(sd) - _LOG_SQRT_2PI - log_y
            z = (xp.log(limit) - log_f) / sd
            left = log_ndtr(xp, z)
            right = log_ndtr(xp, -z)
        else:
            r = (dv - pred) / sd
            quant = -0.5 * r * r - xp.log(sd) - _LOG_SQRT_2PI
            z = (limit - pred) / sd
            left = log_ndtr(xp, z)
            right = log_ndtr(xp, -z)
            if method == "m4":
                z0 = -pred / sd
                log_pos = log_ndtr(xp, pred / sd)  # log P(y > 0)
                quant = quant - log_pos
                left = _log_diff_ndtr(xp, z, z0) - log_pos
                right = right - log_pos
        if method == "m1":  # censored records contribute exactly 0
            return xp.where(cens_arr != 0, 0.0, quant)
        out = xp.where(cens_arr == 1, left, xp.where(cens_arr == -1, right, quant))
    return out
