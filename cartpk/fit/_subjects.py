"""Per-subject inputs of the per-patient fitter: a dataset split into :class:`SubjectData`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from cartpk.errors import SpecError, Violation

if TYPE_CHECKING:  # pragma: no cover
    from cartpk.data import Dataset
    from cartpk.model import Model


@dataclass(frozen=True)
class SubjectData:
    """Observations and covariates of one subject, ready for :func:`fit_subject`.

    Attributes
    ----------
    id : str
        Subject ``ID``.
    time : ndarray
        Days since infusion, one per observation.
    dv : ndarray
        Observations (the limit where censored).
    cens : ndarray of int
        ``0`` quantified, ``1`` below the limit, ``-1`` above it.
    lloq : ndarray
        ``LLOQ`` column (NaN where unknown).
    dvid : ndarray of str
        Data ``DVID`` per observation.
    output : ndarray of str
        Model output (DVID of the declaration) each observation is compared with.
    rows : ndarray of int
        1-based file rows (``ROW``) of the observations.
    covariates : dict
        Baseline covariates of the subject by column name.
    dose : float or None
        ``AMT`` of the first dose record (for models whose equations take ``dose``).
    limit : ndarray or None
        ``LIMIT``, the other bound of censored records (nlmixr2/Monolix): ``y`` in
        ``(LIMIT, DV)`` for ``CENS=1``, ``(DV, LIMIT)`` for ``CENS=-1``; NaN where none.
        ``None``: no record has one.
    """

    id: str
    time: np.ndarray
    dv: np.ndarray
    cens: np.ndarray
    lloq: np.ndarray
    dvid: np.ndarray
    output: np.ndarray
    rows: np.ndarray
    covariates: dict[str, Any] = field(default_factory=dict)
    dose: float | None = None
    limit: np.ndarray | None = None

    @property
    def other_bound(self) -> np.ndarray:
        """``LIMIT`` per observation, NaN where there is none."""
        if self.limit is None:
            return np.full(self.dv.shape, np.nan)
        return np.asarray(self.limit, dtype=float)

    @property
    def n_obs(self) -> int:
        """Number of observations (censored included)."""
        return int(self.time.size)


def _outputs_for(
    model: Model, dataset: Dataset, dvid: str | Sequence[str] | None
) -> dict[str, str]:
    """``{data DVID: model output}``; raise one SpecError listing what is wrong."""
    outputs = list(model.outputs)
    present = sorted(set(dataset.observations()["DVID"].astype(str)))
    if dvid is None:
        wanted = [o for o in outputs if o in present]
        if not wanted:
            raise SpecError(
                f"No observations of `{model.name}`'s outputs in the dataset.",
                [
                    Violation(
                        "dvid_missing",
                        f"the dataset has no DVID among the model's outputs {outputs}",
                        value=repr(present),
                        expected=f"DVID values {outputs}",
                        fix="pass `dvid=` naming the data DVID to fit"
                        + (f" (e.g. dvid={present[0]!r})" if present else ""),
                    )
                ],
            )
        return {o: o for o in wanted}
    names = [dvid] if isinstance(dvid, str) else list(dvid)
    problems = [
        Violation(
            "dvid_unknown",
            f"`dvid` {d!r} has no observations in the dataset",
            value=d,
            expected=f"one of {present}",
            fix="choose a DVID present in the data",
        )
        for d in names
        if d not in present
    ]
    if len(outputs) > 1:
        problems += [
            Violation(
                "dvid_not_output",
                f"`dvid` {d!r} is not an output of `{model.name}`",
                value=d,
                expected=f"one of {outputs}",
                fix="name model outputs; a data DVID maps to a differently named output "
                "only for single-output models",
            )
            for d in names
            if d not in outputs
        ]
    if problems:
        raise SpecError("Invalid `dvid`.", problems)
    return {d: (d if d in outputs else outputs[0]) for d in names}


def check_doses_known(
    model: Model, subjects: Sequence[str], dose: Sequence[float | None], covariates: Sequence[str]
) -> None:
    """Refuse to fit subjects without a dose record when the model uses the dose.

    A declaration whose ``initial`` or ``rhs`` takes ``dose``, or with a ``DOSE`` covariate
    effect the data have no column for, would otherwise be fitted with the declaration's
    ``default_dose`` (a value of the model file, not of the trial) in place of the unknown
    dose: never assumed. ``covariates`` are the dataset's baseline covariate columns.
    """
    from cartpk.ode._request import takes_dose

    missing = [str(s) for s, d in zip(subjects, dose, strict=True) if d is None or d != d]
    if not missing:
        return
    if takes_dose(model):
        why = f"the equations of `{model.name}` take the dose"
    elif "DOSE" in model.covariate_columns and "DOSE" not in covariates:
        why = f"`{model.name}` has a DOSE covariate effect and the data have no DOSE column"
    else:
        return
    shown = ", ".join(missing[:10]) + (
        f" and {len(missing) - 10} more" if len(missing) > 10 else ""
    )
    raise SpecError(
        f"Cannot fit `{model.name}`: {len(missing)} subject(s) have no dose.",
        [
            Violation(
                "dose_missing",
                f"{why}, but these subjects have no dose record (EVID=1)",
                column="AMT",
                value=shown,
                expected="each subject's infusion on an EVID=1 record at TIME 0 with its AMT",
                fix="add the infusion records (EVID=1, TIME 0, AMT = cells infused); the "
                "model's default dose is never put in for a dose the data do not give",
            )
        ],
    )


def subjects_from_dataset(
    model: Model, dataset: Dataset, *, dvid: str | Sequence[str] | None = None
) -> list[SubjectData]:
    """Split a dataset into per-subject inputs of :func:`fit_subject`.

    Parameters
    ----------
    model : Model
        The declaration to be fitted (its outputs and covariate columns).
    dataset : Dataset
        Validated data (:func:`cartpk.read_dataset`).
    dvid : str or sequence of str, optional
        Data DVIDs to fit; default the model's outputs. For a single-output model a data
        DVID with another name is compared with that output.

    Returns
    -------
    list of SubjectData
        One per subject of the dataset, in ``dataset.subjects`` order (subjects without
        observations of these DVIDs included, with zero observations).

    Raises
    ------
    SpecError
        ``dvid_missing``, ``dvid_unknown``, ``dvid_not_output``; ``covariate_missing`` when
        the dataset lacks a covariate the model needs; ``dose_missing`` when the model uses
        the dose and a subject has no dose record (:func:`check_doses_known`).
    """
    mapping = _outputs_for(model, dataset, dvid)
    obs = dataset.observations()
    obs = obs[obs["DVID"].astype(str).isin(list(mapping))]
    dvids = obs["DVID"].astype(str)
    obs = obs.assign(_DVID=dvids, _OUTPUT=dvids.map(mapping))  # once, not per subject
    cov = dataset.covariates
    missing = [c for c in model.covariate_columns if c not in cov.columns]
    if missing:
        raise SpecError(
            f"`{model.name}` needs covariates the dataset does not have.",
            [
                Violation(
                    "covariate_missing",
                    f"covariate column `{c}` is missing",
                    column=c,
                    expected=f"columns {model.covariate_columns}",
                    fix=f"add `{c}` to the data or remove the effect with `with_covariates`",
                )
                for c in missing
            ],
        )
    cov_by_id = {str(r["ID"]): r for r in cov.to_dict("records")}
    doses = dataset.doses.sort_values(["ID", "TIME"], kind="stable").groupby("ID", sort=False)
    dose_by_id = {str(k): float(g["AMT"].iloc[0]) for k, g in doses}
    check_doses_known(
        model,
        [str(s) for s in dataset.subjects],
        [dose_by_id.get(str(s)) for s in dataset.subjects],
        list(cov.columns),
    )
    groups = {str(k): g for k, g in obs.groupby("ID", sort=False)}
    out = []
    for sid in dataset.subjects:
        g = groups.get(str(sid), obs.iloc[0:0])
        row = cov_by_id.get(str(sid), {})
        out.append(
            SubjectData(
                id=str(sid),
                time=g["TIME"].to_numpy(dtype=float),
                dv=g["DV"].to_numpy(dtype=float),
                cens=g["CENS"].to_numpy(dtype=int),
                lloq=g["LLOQ"].to_numpy(dtype=float),
                dvid=g["_DVID"].to_numpy(dtype=object),
                output=g["_OUTPUT"].to_numpy(dtype=object),
                rows=g["ROW"].to_numpy(dtype=int),
                covariates={c: row[c] for c in model.covariate_columns if c in row},
                dose=dose_by_id.get(str(sid)),
                limit=g["LIMIT"].to_numpy(dtype=float) if "LIMIT" in g.columns else None,
            )
        )
    return out
