"""The conventions a model declaration sets for an exported data set (``--model``).

Read from the traced declaration (:func:`cartpk.export._symbolic.trace`), the form every
model writer translates, so that the data set and the exported model agree:

* ``DVID`` codes: the model's outputs first, numbered 1, 2, ... in declaration order
  (``SymbolicModel.dvid_codes``); categorical covariates coded by position in their
  declared levels (``CovariateInfo.codes``);
* observations of endpoints the model does not predict: ``MDV=1``, ``EXCL`` 4;
* ``CMT``: the dose goes to the compartment of each state the dose enters
  (``SymbolicModel.dose_inputs``; 1 when the equations do not use the dose); an
  observation's ``CMT`` is the state's compartment when the output is one state, else the
  dose compartment. NONMEM and nlmixr2 get one dose record per part of a split dose
  (``AMT = fraction x dose`` at each time of the declaration's ``dosing``); Monolix keeps
  the one record (its model file splits it);
* NONMEM only, matching ``cartpk export --to nonmem``: the control stream's ``$INPUT``
  columns first and in its order (a table with a ``LIMIT`` column: the ``$INPUT`` of
  ``to_nonmem(..., interval=True)``, ending ``LIMIT LIMFL``), ``DV`` of a log-additive output as the natural log of the
  value (the stream compares ``LOG(IPRED)``), ``LLOQ`` on every ``CENS=1`` record equal to
  the limit in ``DV`` (the stream's M3 term reads ``LLOQ``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cartpk.errors import DatasetError, Violation

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.model import Model

__all__ = ["EXCLUSION_CODES", "EXCLUSION_TEXT", "apply_model", "change", "model_facts"]

#: ``EXCL``: why a record is not used (0: used); the reader's exclusion codes, then the export's
EXCLUSION_CODES = {
    "evid_other": 1,  # EVID=2, an other-type event
    "mdv": 2,  # MDV=1 in the input
    "pre_dose": 3,  # an observation before the infusion (set to MDV=1)
    "not_an_output": 4,  # with a model: an endpoint the model does not predict (set to MDV=1)
}
EXCLUSION_TEXT = {
    "evid_other": "EVID=2 (other-type event), not used by cartpk",
    "mdv": "MDV=1 in the input: the DV is not to be used",
    "pre_dose": "pre-dose observation (baseline), not used in kinetic analyses: MDV=1",
    "not_an_output": "observation of an endpoint the model does not predict: MDV=1",
}
NO_MODEL: dict[str, Any] = {
    "name": None,
    "outputs": [],
    "levels": {},
    "columns": [],
    "log_outputs": [],
    "doses": [(1, 0.0, 1.0)],
    "obs_cmt": {},
    "nonmem_columns": [],
    "nonmem_interval_columns": [],
}


def change(row: Any, sid: Any, code: str, message: str) -> dict[str, Any]:
    """One entry of an export's ``changes`` table.

    Parameters
    ----------
    row : int
        The input record number (``ROW``).
    sid : object
        The subject's ID as in the input (``""``: several subjects).
    code, message : str
        What changed: a stable code and a sentence.

    Returns
    -------
    dict
        ``{"ROW", "ID", "code", "message"}``.
    """
    return {"ROW": int(row), "ID": str(sid), "code": code, "message": message}


def model_facts(model: Model | str | None) -> dict[str, Any]:
    """What a declaration sets for its data (module docstring), from its trace.

    Parameters
    ----------
    model : Model, str or None
        A declaration or catalogue name.

    Returns
    -------
    dict
        ``name``, ``outputs`` (declaration order), ``levels`` (categorical column ->
        declared levels), ``columns`` (covariate columns), ``log_outputs`` (log-additive
        error), ``doses`` (``(compartment, time, fraction)`` of every part of the dose),
        ``obs_cmt`` (output -> compartment), ``nonmem_columns`` (the ``$INPUT`` of
        :func:`cartpk.export._nonmem.to_nonmem`), ``nonmem_interval_columns`` (its
        ``$INPUT`` with ``interval=True``). Without a model: :data:`NO_MODEL`.

    Examples
    --------
    >>> f = model_facts("hardiansyah2019")
    >>> f["doses"], f["obs_cmt"]["IL6"]
    ([(2, 0.0, 0.1), (2, 1.0, 0.3), (2, 2.0, 0.6)], 6)
    """
    if model is None:
        return dict(NO_MODEL)
    if isinstance(model, str):
        from cartpk.model import load_model

        model = load_model(model)
    from cartpk.export._nonmem import data_columns
    from cartpk.export._symbolic import trace

    sm = trace(model)
    states = list(sm.states)
    doses = [(d.compartment, t, f) for d in sm.dose_inputs for t, f in d.schedule]
    doses = sorted(doses, key=lambda x: (x[1], x[0])) or [(1, 0.0, 1.0)]
    first = doses[0][0]
    obs_cmt = {
        dv: (states.index(str(e)) + 1 if str(e) in states else first)
        for dv, e in sm.observe.items()
    }
    return {
        "name": sm.name,
        "outputs": list(sm.outputs),
        "levels": {c.column: list(c.levels) for c in sm.covariates if c.kind == "categorical"},
        "columns": list(sm.covariate_symbols),
        "log_outputs": [dv for dv, e in sm.errors.items() if e.scale == "log"],
        "doses": doses,
        "obs_cmt": obs_cmt or {dv: 1 for dv in sm.outputs},
        "nonmem_columns": data_columns(sm),
        "nonmem_interval_columns": data_columns(sm, interval=True),
    }


def _check_columns(rec: pd.DataFrame, facts: Mapping[str, Any]) -> None:
    """Every covariate column of the model is here, with the categorical levels it declares."""
    model, levels = facts["name"], facts["levels"]
    problems = [
        Violation(
            "covariate_column_missing",
            f"the model `{model}` has a covariate effect on `{col}`, not a column here",
            column=col,
            value="columns found: " + ", ".join(map(str, rec.columns)),
            expected=f"a column `{col}`"
            + (f" with levels {list(levels[col])}" if col in levels else ""),
            fix=f"add `{col}` to the data, or export without the model",
        )
        for col in facts["columns"]
        if col not in rec.columns
    ]
    for col, declared in levels.items():
        if col not in rec.columns:
            continue
        bad = rec[col].notna() & ~rec[col].astype(str).isin([str(x) for x in declared])
        if bool(bad.any()):
            problems.append(
                Violation(
                    "covariate_level",
                    f"`{col}` holds levels the model `{model}` does not declare",
                    rows=tuple(int(r) for r in rec.loc[bad, "ROW"]),
                    column=col,
                    value=", ".join(map(repr, pd.unique(rec.loc[bad, col].astype(str)))),
                    expected=f"one of {list(declared)}",
                    fix="correct the values, or export without the model",
                )
            )
    if problems:
        raise DatasetError(f"the data do not match the model `{model}`", problems)


def _split_doses(
    rec: pd.DataFrame, facts: Mapping[str, Any], changes: list[dict[str, Any]]
) -> pd.DataFrame:
    """One dose record per part of the declaration's dose (NONMEM, nlmixr2)."""
    doses = facts["doses"]
    rec = rec.assign(_CMT=float(doses[0][0]), _KEY=rec["ROW"].astype(float))
    if len(doses) == 1 and doses[0][1:] == (0.0, 1.0):
        return rec
    added = []
    for i in rec.index[(rec["EVID"] == 1) & (rec["EXCL"] == 0)]:
        row = rec.loc[i]
        amt = float(row["AMT"])
        for k, (cmt, t, f) in enumerate(doses):
            if k == 0:
                rec.loc[i, ["AMT", "TIME", "_CMT"]] = [f * amt, row["TIME"] + t, float(cmt)]
                continue
            added.append(
                row.to_dict() | {"AMT": f * amt, "TIME": row["TIME"] + t, "_CMT": float(cmt)}
            )
            added[-1]["ROW"] = np.nan  # a record the export adds
        parts = "; ".join(f"{f * amt:g} at day {row['TIME'] + t:g} (CMT {c})" for c, t, f in doses)
        changes.append(
            change(
                row["ROW"],
                row["ID"],
                "dose_split",
                f"dose {amt:g} written as the declaration's parts: {parts}; records after "
                "the first are added (ROW missing)",
            )
        )
    if not added:
        return rec
    return pd.concat([rec, pd.DataFrame(added)], ignore_index=True)


def _nonmem_values(
    rec: pd.DataFrame, facts: Mapping[str, Any], changes: list[dict[str, Any]]
) -> None:
    """``LLOQ`` = the limit on ``CENS=1`` records; ``DV`` of log-additive outputs as log(DV)."""
    cens = (rec["EVID"] == 0) & (rec["CENS"] == 1) & rec["DVID"].isin(facts["outputs"])
    differ = cens & ~(rec["LLOQ"] == rec["DV"])
    for _, row in rec.loc[differ].iterrows():
        old, dv = row["LLOQ"], row["DV"]
        r, sid = row["ROW"], row["ID"]
        was = "missing" if pd.isna(old) else f"{old:g}"
        message = f"LLOQ {was} -> {dv:g}: the limit of the censored record (its DV)"
        changes.append(change(r, sid, "lloq_set", message))
    rec.loc[differ, "LLOQ"] = rec.loc[differ, "DV"]
    for dv in facts["log_outputs"]:
        hit = (rec["EVID"] == 0) & (rec["DVID"] == dv) & rec["DV"].notna()
        bad = hit & (rec["DV"] <= 0)
        if bool((bad & (rec["MDV"] == 0)).any()):
            raise DatasetError(
                f"`{dv}` has values <= 0 that a log-additive model cannot take",
                [
                    Violation(
                        "dv_not_positive",
                        f"`DV` <= 0 on observations of `{dv}` (log-additive error)",
                        rows=tuple(int(r) for r in rec.loc[bad & (rec["MDV"] == 0), "ROW"]),
                        column="DV",
                        expected="DV > 0 (or CENS=1 with DV the limit)",
                        fix="censor the values at the assay limit (CENS=1), or correct them",
                    )
                ],
            )
        rec.loc[hit & ~bad, "DV"] = np.log(rec.loc[hit & ~bad, "DV"].astype(float))
        rec.loc[bad, "DV"] = np.nan
        if bool(hit.any()):
            first = rec.loc[hit].iloc[0]
            changes.append(
                change(
                    first["ROW"],
                    "",
                    "dv_log",
                    f"DV of the {int(hit.sum())} {dv} records written as its natural log "
                    "(log-additive error; the control stream compares LOG(IPRED)); LLOQ "
                    "stays on the natural scale",
                )
            )


def apply_model(
    rec: pd.DataFrame, facts: Mapping[str, Any], to: str, changes: list[dict[str, Any]]
) -> pd.DataFrame:
    """The records as the model's data: checks, ``MDV``/``EXCL``, doses, NONMEM values.

    Parameters
    ----------
    rec : pandas.DataFrame
        Every record (``ROW, ID, TIME, DV, EVID, AMT, MDV, CENS, LLOQ, DVID, EXCL``, ...).
    facts : mapping
        :func:`model_facts` of the model (:data:`NO_MODEL` without one).
    to : str
        The tool.
    changes : list of dict
        Receives every change made (:func:`change`).

    Returns
    -------
    pandas.DataFrame
        The records, with ``_CMT`` (the dose records' compartment) and ``_KEY`` (the order
        of records at the same time: the input's, an added dose part after its record).

    Raises
    ------
    DatasetError
        ``covariate_column_missing``, ``covariate_level``; NONMEM: ``dv_not_positive``.
    """
    if facts["name"] is None:
        return rec.assign(_CMT=1.0, _KEY=rec["ROW"].astype(float))
    _check_columns(rec, facts)
    other = (rec["EVID"] == 0) & (rec["EXCL"] == 0) & ~rec["DVID"].isin(facts["outputs"])
    note = "MDV 0 -> 1: " + EXCLUSION_TEXT["not_an_output"]
    for r, sid in zip(rec.loc[other, "ROW"], rec.loc[other, "ID"], strict=True):
        changes.append(change(r, sid, "mdv_set", note))
    rec.loc[other, "EXCL"] = EXCLUSION_CODES["not_an_output"]
    rec.loc[other, "MDV"] = 1
    if to == "monolix":  # the model file splits the dose (ADM 1)
        return rec.assign(_CMT=1.0, _KEY=rec["ROW"].astype(float))
    rec = _split_doses(rec, facts, changes)
    if to == "nonmem":
        _nonmem_values(rec, facts, changes)
    return rec
