"""Helpers of observed NCA: interval names (ISO 8601 durations, wide column suffixes), the
collector of rule records (which rule changed or excluded which record), and per-subject
reason arrays of parameters reported missing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__: list[str] = []

# time unit -> (ISO 8601 duration prefix, designator, suffix of wide column names)
_TIME_UNITS: dict[str, tuple[str, str, str]] = {
    "day": ("P", "D", "d"),
    "d": ("P", "D", "d"),
    "week": ("P", "W", "w"),
    "h": ("PT", "H", "h"),
    "hour": ("PT", "H", "h"),
    "hr": ("PT", "H", "h"),
    "min": ("PT", "M", "min"),
}

_RULE_COLUMNS = ["ID", "DVID", "ROW", "TIME", "RULE", "DETAIL"]


def _fmt(x: float) -> str:
    return f"{x:g}"


def _iso(x: float, time_unit: str) -> str:
    prefix, designator, _ = _TIME_UNITS[time_unit]
    return f"{prefix}{_fmt(x)}{designator}"


def _wide_interval_name(a: float, b: float, time_unit: str) -> str:
    suffix = _TIME_UNITS[time_unit][2]
    part = "_".join(_fmt(v).replace(".", "p").replace("-", "m") for v in (a, b))
    return f"auc_{part}{suffix}"


class _Rules:
    """Accumulates applied rules as column arrays (cheap for 10^5 samples)."""

    def __init__(self, keys: pd.DataFrame) -> None:
        self.keys = keys  # profile index -> ID, DVID
        self.parts: list[dict[str, Any]] = []

    def add(
        self,
        profile: np.ndarray,
        row: np.ndarray | None,
        time: np.ndarray,
        rule: str,
        detail: str | np.ndarray,
    ) -> None:
        if len(profile) == 0:
            return
        n = len(profile)
        self.parts.append(
            {
                "profile": np.asarray(profile),
                "ROW": np.full(n, np.nan) if row is None else np.asarray(row, dtype=float),
                "TIME": np.asarray(time, dtype=float),
                "RULE": np.full(n, rule, dtype=object),
                "DETAIL": np.broadcast_to(np.asarray(detail, dtype=object), (n,)),
            }
        )

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            out = pd.DataFrame({c: pd.Series(dtype=object) for c in _RULE_COLUMNS})
            out["ROW"] = out["ROW"].astype("Int64")
            out["TIME"] = out["TIME"].astype(float)
            return out
        cat = {k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]}
        prof = cat.pop("profile")
        out = pd.DataFrame(
            {
                "ID": self.keys["ID"].to_numpy()[prof],
                "DVID": self.keys["DVID"].to_numpy()[prof],
                **cat,
            }
        )
        out["ROW"] = out["ROW"].astype("Int64")  # NaN (profile-level rule) -> <NA>
        out["_p"] = prof
        out = out.sort_values(["_p", "TIME"], kind="stable").drop(columns="_p")
        return out[_RULE_COLUMNS].reset_index(drop=True)


def _pad(
    codes: np.ndarray, pos: np.ndarray, n: int, m: int, values: np.ndarray, fill: float
) -> np.ndarray:
    out = np.full((n, m), fill, dtype=float)
    out[codes, pos] = values
    return out


def _reasons(mask: np.ndarray, code: str, message: str | Sequence[str]) -> np.ndarray:
    """Object array of "[code] message" where ``mask``, else None."""
    out = np.full(mask.shape, None, dtype=object)
    idx = np.flatnonzero(mask)
    if isinstance(message, str):
        out[idx] = f"[{code}] {message}"
    else:
        msgs = np.asarray(message, dtype=object)
        out[idx] = [f"[{code}] {msgs[i]}" for i in idx]
    return out


def _first_reason(*arrays: np.ndarray) -> np.ndarray:
    out = arrays[0].copy()
    for a in arrays[1:]:
        empty = np.equal(out, None)
        out[empty] = a[empty]
    return out
