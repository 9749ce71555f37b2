"""The steps of observed NCA on a table, in order: the records as padded per-profile arrays
(samples not used recorded), the BLQ rules by position, C0 at infusion, the parameters
computed by walking the registry in dependency order (:func:`_evaluate`; how each is
computed is in :mod:`._calc`), and the long and wide tables.
:func:`cartpk.noncompartmental._nca._compute` runs them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cartpk.noncompartmental._calc import Deps, _with_reasons
from cartpk.noncompartmental._nca_rules import (
    _fmt,
    _iso,
    _pad,
    _Rules,
    _wide_interval_name,
)
from cartpk.noncompartmental._options import BLQRules
from cartpk.noncompartmental._registry import ORDER, PARAMETERS, Parameter, Quantity, unit_for

__all__ = ["LONG_COLUMNS"]

#: the columns of NCA's CDISC long table (``nca.csv``), in order
LONG_COLUMNS = [
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

# ----------------------------------------------------------------------------- profiles


def _profiles(obs: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """Records sorted by profile (subjects in file order, then DVID) and time; profile codes."""
    obs = obs.assign(ID=obs["ID"].astype(str), DVID=obs["DVID"].astype(str))
    # profiles in order of first appearance of the subject (file order), then DVID
    obs = obs.assign(_order=pd.factorize(obs["ID"])[0])
    obs = obs.sort_values(["_order", "DVID", "TIME"], kind="stable").drop(columns="_order")
    key = obs["ID"].to_numpy(dtype=object) + "\x00" + obs["DVID"].to_numpy(dtype=object)
    codes, _ = pd.factorize(key, sort=False)
    first = np.unique(codes, return_index=True)[1]
    keys = pd.DataFrame({"ID": obs["ID"].to_numpy()[first], "DVID": obs["DVID"].to_numpy()[first]})
    return obs, codes, keys


def _sample_grid(
    obs: pd.DataFrame, codes: np.ndarray, n: int, rules: _Rules
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Padded (profile x sample) ``TIME, DV, ROW, CENS, LLOQ`` of the samples used."""
    time_all = obs["TIME"].to_numpy(dtype=float)
    dv_all = obs["DV"].to_numpy(dtype=float)
    row_all = pd.to_numeric(obs["ROW"], errors="coerce").to_numpy(dtype=float)
    keep = _usable_samples(codes, time_all, dv_all, row_all, rules)
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
    return T, DV, ROW, CENS, LLOQ


def _usable_samples(
    codes: np.ndarray, time: np.ndarray, dv: np.ndarray, row: np.ndarray, rules: _Rules
) -> np.ndarray:
    """Mask of the records that enter a profile; those before infusion or without DV recorded."""
    predose = time < 0
    rules.add(
        codes[predose],
        row[predose],
        time[predose],
        "predose_excluded",
        "sample before TIME 0 (infusion) not used",
    )
    nodv = ~predose & np.isnan(dv)
    rules.add(codes[nodv], row[nodv], time[nodv], "dv_missing", "DV is empty; sample not used")
    return ~(predose | nodv)


# ----------------------------------------------------------------------------- BLQ


Record = Callable[[np.ndarray, str, str], None]


def _recorder(rules: _Rules, ROW: np.ndarray, T: np.ndarray) -> Record:
    """A function recording a rule for every sample in a (profile x sample) mask."""

    def record(mask: np.ndarray, rule: str, detail: str) -> None:
        r, c = np.nonzero(mask)
        rules.add(r, ROW[r, c], T[r, c], rule, detail)

    return record


def _zeroed(C: np.ndarray, mask: np.ndarray, record: Record, rule: str, detail: str) -> np.ndarray:
    """``C`` with the samples in ``mask`` set to 0, recorded as ``rule``."""
    record(mask, rule, detail)
    return np.where(mask, 0.0, C)


def _blq_positions(
    T: np.ndarray, DV: np.ndarray, CENS: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Masks ``is_blq, quant, before, between, after`` (BLQ relative to the quantifiable
    samples) and each profile's last quantifiable column (-1 when none)."""
    m = T.shape[1]
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
    return is_blq, quant, before, between, after, last_q


def _apply_blq(
    T: np.ndarray,
    DV: np.ndarray,
    ROW: np.ndarray,
    CENS: np.ndarray,
    LLOQ: np.ndarray,
    blq: BLQRules,
    rules: _Rules,
) -> np.ndarray:
    """Concentrations after the BLQ rules by position (``NaN``: not used), each recorded."""
    is_blq, quant, before, between, after, last_q = _blq_positions(T, DV, CENS)
    limit = np.where(np.isfinite(LLOQ), LLOQ, np.where(CENS == 1, DV, np.nan))
    C = np.where(quant, DV, np.nan)
    record = _recorder(rules, ROW, T)
    for position, mask in (("before", before), ("between", between), ("after", after)):
        rule = getattr(blq, position)
        C = _blq_rule(C, mask, position, rule, record, limit=limit, last_q=last_q)
    zero_dv = is_blq & (CENS != 1)
    if zero_dv.any():
        record(zero_dv, "dv_zero_as_blq", "DV recorded as 0 treated as BLQ (as PKNCA does)")
    return C


#: each BLQ position's recorded rule, the samples it concerns and what "drop" is called
_BLQ_POSITIONS = {
    "before": ("blq_before_first", "BLQ before the first quantifiable sample", "dropped"),
    "between": ("blq_between", "BLQ between quantifiable samples", "dropped"),
    "after": ("blq_after_last", "BLQ after the last quantifiable sample", "excluded"),
}


def _blq_rule(
    C: np.ndarray,
    mask: np.ndarray,
    position: str,
    rule: str,
    record: Record,
    *,
    limit: np.ndarray,
    last_q: np.ndarray,
) -> np.ndarray:
    """Apply the :class:`BLQRules` ``rule`` of ``position`` to the BLQ samples in ``mask``.

    ``"zero"`` and ``"drop"`` work alike at every position; ``limit`` (each sample's limit)
    serves ``"half_lloq"``/``"lloq"`` and ``last_q`` (each profile's last quantifiable
    column) ``"first_zero"``.
    """
    code, samples, dropped = _BLQ_POSITIONS[position]
    if rule == "zero":
        return _zeroed(C, mask, record, code, f"{samples} set to 0")
    if rule in ("half_lloq", "lloq"):
        return _blq_at_limit(C, mask, limit, 0.5 if rule == "half_lloq" else 1.0, record)
    if rule == "first_zero":
        return _blq_first_zero(C, mask, last_q, record)
    record(mask, code, f"{samples} {dropped}")
    return C


def _blq_at_limit(
    C: np.ndarray, between: np.ndarray, limit: np.ndarray, factor: float, record: Record
) -> np.ndarray:
    """BLQ samples between quantifiable ones set to ``factor`` times their limit, if known."""
    known = between & np.isfinite(limit) & (limit > 0)
    C = np.where(known, factor * limit, C)
    what = "half the limit" if factor == 0.5 else "the limit"
    record(known, "blq_between", f"BLQ between quantifiable samples set to {what}")
    record(
        between & ~known,
        "blq_between",
        "BLQ between quantifiable samples dropped: its limit (LLOQ) is unknown",
    )
    return C


def _blq_first_zero(
    C: np.ndarray, after: np.ndarray, last_q: np.ndarray, record: Record
) -> np.ndarray:
    """The first BLQ sample after the last quantifiable one set to 0, the later ones dropped."""
    col = np.arange(C.shape[1])[None, :]
    # the first BLQ after Tlast is the next present sample after last_q
    first_after = after & (col == (last_q[:, None] + 1))
    C = _zeroed(
        C,
        first_after,
        record,
        "blq_after_last",
        "first BLQ after the last quantifiable set to 0",
    )
    record(after & ~first_after, "blq_after_last", "later BLQ after the last dropped")
    return C


def _impute_c0(
    T: np.ndarray, C: np.ndarray, ROW: np.ndarray, rules: _Rules
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prepend ``C(0) = 0`` to each profile with data but no sample at ``TIME`` 0."""
    n = T.shape[0]
    has0 = (np.isfinite(C) & (T == 0)).any(axis=1)
    need = ~has0 & np.isfinite(C).any(axis=1)
    T = np.hstack([np.where(need, 0.0, np.nan)[:, None], T])
    C = np.hstack([np.where(need, 0.0, np.nan)[:, None], C])
    ROW = np.hstack([np.full((n, 1), np.nan), ROW])
    r = np.flatnonzero(need)
    rules.add(r, None, np.zeros(len(r)), "c0_imputed", "no sample at TIME 0: C(0)=0 used")
    return T, C, ROW


# ----------------------------------------------------------------------------- parameters


@dataclass
class _Missing:
    """Reasons of missing parameter values so far: ``reasons`` as each parameter where a
    reason arose gave it, and ``origin``, that parameter's ``PPTESTCD``."""

    reasons: dict[str, np.ndarray] = field(default_factory=dict)
    origin: dict[str, np.ndarray] = field(default_factory=dict)

    def inherit(self, depends: tuple[str, ...], n: int) -> tuple[np.ndarray, np.ndarray]:
        """The first reason among the parameters in ``depends`` (in that order)."""
        reason = np.full(n, None, dtype=object)
        origin = np.full(n, None, dtype=object)
        for d in depends:
            if d in self.reasons:
                take = np.equal(reason, None) & ~np.equal(self.reasons[d], None)
                reason[take] = self.reasons[d][take]
                origin[take] = self.origin[d][take]
        return reason, origin

    def explained(self, testcd: str) -> np.ndarray:
        """Reasons of ``testcd`` for the long table: one inherited from a dependency names
        it, ``"[code] LAMZ is missing: message"``."""
        reason, origin = self.reasons[testcd], self.origin[testcd]
        out = reason.copy()
        memo: dict[tuple[str, str], str] = {}
        for i in np.flatnonzero(~np.equal(reason, None) & (origin != testcd)):
            key = (reason[i], origin[i])
            if key not in memo:
                j = key[0].find("]")
                memo[key] = f"{key[0][: j + 1]} {key[1]} is missing: {key[0][j + 2 :]}"
            out[i] = memo[key]
        return out


def _evaluate(
    inputs: Mapping[str, Any], order: tuple[Quantity | Parameter, ...] = ORDER
) -> dict[str, Any]:
    """Every parameter of the registry, computed in dependency order from ``inputs`` (the
    basic inputs of :data:`cartpk.noncompartmental._registry.INPUTS`).

    Returns
    -------
    dict
        ``PPTESTCD -> (values, reasons)``; an interval parameter -> what its ``compute``
        returns (a list of :data:`IntervalValues`). A value is ``NaN`` exactly where its
        reason is set; a parameter with a missing dependency (``propagate=True``) has the
        dependency's reason, naming the parameter where the reason arose.
    """
    values: dict[str, Any] = dict(inputs)
    missing = _Missing()
    for entry in order:
        deps = Deps(
            {d: values[d] for d in entry.depends},
            {d: missing.reasons[d] for d in entry.depends if d in missing.reasons},
        )
        out = entry.compute(deps)  # type: ignore[misc]
        if isinstance(entry, Quantity) or entry.interval:
            values[entry.key] = out
            continue
        value, own = out if isinstance(out, tuple) else (out, None)
        if entry.propagate:
            reason, origin = missing.inherit(entry.depends, len(value))
        else:
            reason, origin = np.full((2, len(value)), None, dtype=object)
        if own is not None:
            take = np.equal(reason, None) & ~np.equal(own, None)
            reason[take], origin[take] = own[take], entry.key
        value, reason = _with_reasons(value, reason)
        origin[np.equal(origin, None) & ~np.equal(reason, None)] = entry.key
        values[entry.key] = value
        missing.reasons[entry.key], missing.origin[entry.key] = reason, origin
    return {
        p.testcd: values[p.testcd]
        if p.interval
        else (values[p.testcd], missing.explained(p.testcd))
        for p in order
        if isinstance(p, Parameter)
    }


# ----------------------------------------------------------------------------- tables


def _tables(
    keys: pd.DataFrame,
    values: Mapping[str, Any],
    *,
    units: Mapping[str, str],
    conc_unit: str | None,
    time_unit: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The long (CDISC) table and the wide one (units and descriptions in its ``attrs``).

    ``values`` maps each ``PPTESTCD`` to ``(values, reasons)``, an interval parameter to a
    list of :data:`IntervalValues`, as :func:`_evaluate` returns them.
    """
    n = len(keys)
    dvids = keys["DVID"].to_numpy()
    uniq_dvid = pd.unique(dvids)
    no_method = np.full(n, None, dtype=object)
    parts = []
    wide: dict[str, Any] = {"ID": keys["ID"].to_numpy(), "DVID": dvids}
    wide_units: dict[str, str] = {}  # the wide view's column units (one DVID: its unit)
    wide_text: dict[str, str] = {}
    for p in PARAMETERS:
        unit_map = {
            d: unit_for(p.unit, units.get(d, "") if conc_unit is None else conc_unit, time_unit)
            for d in uniq_dvid
        }
        unit_col = np.array([unit_map[d] for d in dvids], dtype=object)
        blocks = values[p.testcd] if p.interval else [(None, None, *values[p.testcd], no_method)]
        for a, b, v, r, how in blocks:
            parts.append(_long_part(keys, p, a, b, v, r, how, unit_col, time_unit))
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
    wide_frame = pd.DataFrame(wide)
    wide_frame.attrs["units"] = wide_units
    wide_frame.attrs["descriptions"] = wide_text
    return long[LONG_COLUMNS], wide_frame


def _long_part(
    keys: pd.DataFrame,
    p: Parameter,
    a: float | None,
    b: float | None,
    v: np.ndarray,
    r: np.ndarray,
    how: np.ndarray,
    unit_col: np.ndarray,
    time_unit: str,
) -> dict[str, np.ndarray]:
    """The long table's columns for one parameter (one interval) of every profile."""
    n = len(keys)
    return {
        "ID": keys["ID"].to_numpy(),
        "DVID": keys["DVID"].to_numpy(),
        "PPTESTCD": np.full(n, p.testcd, dtype=object),
        "PPTEST": np.full(n, p.label, dtype=object),
        "PPORRES": v.astype(float),
        "PPORRESU": unit_col,
        "PPSTINT": np.full(n, None if a is None else _iso(a, time_unit), dtype=object),
        "PPENINT": np.full(n, None if b is None else _iso(b, time_unit), dtype=object),
        "REASON": r,
        "PPANMETH": how,
        "_p": np.arange(n),
    }
