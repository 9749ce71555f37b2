"""The estimation scales of a parameter (``theta(transform=...)``) as one object each.

A :class:`Transform` maps a natural value ``v`` to its estimation scale ``h(v)`` and back,
for any array namespace ``xp`` (NumPy, ``pytensor.tensor``, ``jax.numpy``), gives the
derivative ``dv/dh`` the delta method needs, and the natural range the scale implies. Every
engine (model evaluation, per-patient fits, the generated population model) uses these, so
``log``, ``logit`` and the identity are written once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["TRANSFORMS", "Transform", "transform_of"]


@dataclass(frozen=True)
class Transform:
    """One estimation scale.

    Attributes
    ----------
    name : str or None
        ``"log"``, ``"logit"`` or ``None`` (identity).
    forward : callable
        ``forward(xp, v) -> h``: natural value to estimation scale.
    backward : callable
        ``backward(xp, h) -> v``: estimation scale to natural value.
    dnat_dh : callable
        ``dnat_dh(v) -> dv/dh`` at natural value ``v`` (NumPy).
    natural_range : tuple of float
        The natural values the scale can represent (open interval ends).

    Examples
    --------
    >>> import numpy as np
    >>> t = transform_of("logit")
    >>> float(t.backward(np, t.forward(np, 0.2))), float(t.dnat_dh(0.2))
    (0.2, 0.16000000000000003)
    """

    name: str | None
    forward: Callable[[Any, Any], Any]
    backward: Callable[[Any, Any], Any]
    dnat_dh: Callable[[Any], Any]
    natural_range: tuple[float, float]


TRANSFORMS: dict[str | None, Transform] = {
    "log": Transform(
        "log",
        forward=lambda xp, v: xp.log(v),
        backward=lambda xp, h: xp.exp(h),
        dnat_dh=lambda v: v,
        natural_range=(0.0, math.inf),
    ),
    "logit": Transform(
        "logit",
        forward=lambda xp, v: xp.log(v) - xp.log1p(-v),
        backward=lambda xp, h: 1.0 / (1.0 + xp.exp(-h)),
        dnat_dh=lambda v: v * (1.0 - v),
        natural_range=(0.0, 1.0),
    ),
    None: Transform(
        None,
        forward=lambda xp, v: v,
        backward=lambda xp, h: h,
        dnat_dh=lambda v: 1.0,
        natural_range=(-math.inf, math.inf),
    ),
}


def transform_of(name: str | None) -> Transform:
    """The :class:`Transform` called ``name`` (``"log"``, ``"logit"`` or ``None``).

    Raises
    ------
    KeyError
        For any other name (declarations are checked at class creation, so a model never
        holds one).
    """
    return TRANSFORMS[name]
