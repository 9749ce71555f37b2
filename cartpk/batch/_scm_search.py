"""The step-wise covariate search itself (PsN's SCM), apart from how its fits are run.

Forward inclusion from the base model, then backward elimination from the forward model.
Each step asks an ``evaluate`` callable for the fits of its models (by the set of
candidates included; a model fitted at an earlier step is not fitted again) and decides on
their -2LL (OFV):

* forward: every remaining candidate added to the current model; a candidate is
  significant when its fit converged and ``OFV(current) - OFV(with it)`` exceeds the
  chi-square quantile of ``1 - forward_p`` on its degrees of freedom (its coefficients);
  the most significant (smallest p-value; with equal df the largest dOFV drop) is added;
* backward: every included candidate removed in turn; a candidate is removable when the
  reduced fit converged and the OFV rises by less than the ``1 - backward_p`` quantile;
  the least significant (largest p-value) is removed.

A failed or non-converged fit is recorded and never chosen. -2LL is importance-sampled:
a dOFV within two Monte-Carlo SEs of its threshold is noted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cartpk.errors import FitError, Violation

__all__ = ["FitRecord", "Search", "fit_key", "run_search", "threshold"]

#: columns of ``scm_steps.csv``
STEP_COLUMNS = [
    "step",
    "direction",
    "candidate",
    "parameter",
    "covariate",
    "df",
    "ofv",
    "dofv",
    "p_value",
    "converged",
    "chosen",
    "threshold",
    "dofv_mc_se",
    "reference_ofv",
    "fit",
    "note",
]


def fit_key(included: Sequence[int]) -> str:
    """Task name of the model with the candidates ``included`` (0-based positions).

    Examples
    --------
    >>> fit_key(()), fit_key((2, 0))
    ('fit_base', 'fit_01-03')
    """
    if not included:
        return "fit_base"
    return "fit_" + "-".join(f"{i + 1:02d}" for i in sorted(included))


def threshold(p: float, df: int) -> float:
    """The dOFV a likelihood-ratio test on ``df`` degrees of freedom needs at level ``p``.

    Examples
    --------
    >>> round(threshold(0.05, 1), 2), round(threshold(0.01, 1), 2)
    (3.84, 6.63)
    """
    from scipy.stats import chi2

    return float(chi2.isf(p, df))


@dataclass(frozen=True)
class FitRecord:
    """The outcome of one fit of the search.

    Attributes
    ----------
    key : str
        Its task name (:func:`fit_key`).
    included : tuple of int
        Positions of the candidates in the model.
    ran : bool
        Whether the fit finished (``False``: it raised; ``message`` says what).
    ofv, mc_se : float
        -2LL and its Monte-Carlo SE.
    converged : bool
        The fit's verdict (:attr:`cartpk.fit.saem.SaemFit.converged`).
    message : str
        Why it failed or did not converge (empty otherwise).
    result : mapping
        The stored task result (parameters table, summary numbers).
    """

    key: str
    included: tuple[int, ...]
    ran: bool
    ofv: float = math.nan
    mc_se: float = math.nan
    converged: bool = False
    message: str = ""
    result: Mapping[str, Any] = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        """Ran, converged and has a finite -2LL: it may be chosen."""
        return self.ran and self.converged and math.isfinite(self.ofv)


#: ``evaluate(step label, {key: included})`` -> ``{key: FitRecord}``
Evaluate = Callable[[str, Mapping[str, tuple[int, ...]]], Mapping[str, FitRecord]]


@dataclass
class Search:
    """The course of a search: its rows and models.

    Attributes
    ----------
    rows : list of dict
        One per fit and step (:data:`STEP_COLUMNS`); step 0 is the base model.
    records : dict
        Every fit by key.
    forward, final : tuple of int
        Candidates in the forward model and in the final model.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    records: dict[str, FitRecord] = field(default_factory=dict)
    forward: tuple[int, ...] = ()
    final: tuple[int, ...] = ()


def _note(rec: FitRecord, ref: FitRecord, gap: float, mc: float) -> str:
    """What to mind about one fit's row (``gap``: distance of the statistic from its
    threshold; ``mc``: the dOFV's Monte-Carlo SE)."""
    if not rec.ran:
        return f"fit failed ({rec.message}); not chosen"
    notes = []
    if not rec.converged:
        notes.append(f"not converged ({rec.message}); not chosen")
    if not ref.converged:
        notes.append("the reference model did not converge")
    if math.isfinite(gap) and math.isfinite(mc) and abs(gap) < 2 * mc:
        notes.append(
            f"dOFV within 2 Monte-Carlo SEs ({2 * mc:.2f}) of its threshold: the decision "
            "may change with more importance samples (raise is_samples)"
        )
    return "; ".join(notes)


def _row(
    step: int, direction: str, cand: Any, rec: FitRecord, ref: FitRecord, p: float
) -> dict[str, Any]:
    """The table row of one fit; ``significant`` says whether the LRT passes."""
    from scipy.stats import chi2

    df = int(cand.df)
    thr = threshold(p, df)
    dofv = rec.ofv - ref.ofv
    stat = -dofv if direction == "forward" else dofv
    p_value = float(chi2.sf(stat, df)) if stat > 0 else (1.0 if stat == stat else math.nan)
    mc = math.hypot(rec.mc_se, ref.mc_se)
    return {
        "step": step,
        "direction": direction,
        "candidate": cand.label,
        "parameter": cand.parameter,
        "covariate": cand.covariate,
        "df": df,
        "ofv": rec.ofv,
        "dofv": dofv,
        "p_value": p_value,
        "converged": rec.converged,
        "chosen": False,
        "threshold": thr,
        "dofv_mc_se": mc,
        "reference_ofv": ref.ofv,
        "fit": rec.key,
        "note": _note(rec, ref, stat - thr, mc),
        "significant": rec.usable and stat > thr,
    }


def _all_failed(label: str, recs: Sequence[FitRecord]) -> FitError:
    first = recs[0]
    return FitError(
        f"Every fit of the covariate search's {label} failed.",
        [
            Violation(
                "scm_step_failed",
                f"{len(recs)} of {len(recs)} fits raised; {first.key}: {first.message}",
                fix="check that the base model fits these data (cartpk fit with method = "
                '"saem"), then rerun with --force',
            )
        ],
    )


def _evaluate(
    evaluate: Evaluate, search: Search, label: str, todo: Mapping[str, tuple[int, ...]]
) -> None:
    """Fit what ``todo`` lists; ``FitError`` when every candidate fit of the step (the
    base model's fit aside) failed."""
    got = evaluate(label, todo)
    search.records.update(got)
    judged = [got[k] for k in todo if k != fit_key(())] or [got[k] for k in todo]
    if not any(r.ran for r in judged):
        raise _all_failed(label, judged)


def _forward(
    evaluate: Evaluate, search: Search, candidates: Sequence[Any], p: float, say: Any
) -> int:
    """Forward inclusion; returns the last step number."""
    current: tuple[int, ...] = ()
    step = 0
    while len(current) < len(candidates):
        step += 1
        left = [i for i in range(len(candidates)) if i not in current]
        todo = {fit_key((*current, i)): tuple(sorted((*current, i))) for i in left}
        if step == 1:
            todo = {fit_key(()): (), **todo}
        _evaluate(evaluate, search, f"forward step {step}", todo)
        ref = search.records[fit_key(current)]
        if step == 1:
            if not ref.ran:
                raise _all_failed("base model", [ref])
            search.rows.append(_base_row(ref))
        rows = [
            _row(step, "forward", candidates[i], search.records[fit_key((*current, i))], ref, p)
            for i in left
        ]
        search.rows += rows
        best = _pick(rows, lambda r: (r["p_value"], r["dofv"]))
        if best is None:
            say(f"forward step {step}: no significant candidate; forward inclusion ends")
            break
        best["chosen"] = True
        current = tuple(sorted((*current, left[rows.index(best)])))
        say(_chosen_line(best, "added"))
    search.forward = current
    return step


def _backward(
    evaluate: Evaluate,
    search: Search,
    candidates: Sequence[Any],
    p: float,
    step: int,
    say: Any,
) -> None:
    """Backward elimination from :attr:`Search.forward`."""
    current = search.forward
    while current:
        step += 1
        reduced = {i: tuple(j for j in current if j != i) for i in current}
        todo = {fit_key(r): r for r in reduced.values()}
        _evaluate(evaluate, search, f"backward step {step}", todo)
        ref = search.records[fit_key(current)]
        rows = []
        for i in current:
            rec = search.records[fit_key(reduced[i])]
            row = _row(step, "backward", candidates[i], rec, ref, p)
            row["significant"] = rec.usable and not row["significant"]  # removable
            rows.append(row)
        search.rows += rows
        worst = _pick(rows, lambda r: (-r["p_value"], r["dofv"]))
        if worst is None:
            say(f"backward step {step}: every effect stays significant; the search ends")
            break
        worst["chosen"] = True
        current = tuple(j for j in current if j != current[rows.index(worst)])
        say(_chosen_line(worst, "removed"))
    search.final = current


def _pick(rows: list[dict[str, Any]], order: Callable[[dict[str, Any]], Any]) -> Any:
    eligible = [r for r in rows if r["significant"]]
    return min(eligible, key=order) if eligible else None


def _chosen_line(row: Mapping[str, Any], verb: str) -> str:
    return (
        f"{row['direction']} step {row['step']}: {verb} {row['candidate']} "
        f"(dOFV {row['dofv']:+.2f}, p = {row['p_value']:.2g}, threshold {row['threshold']:.2f})"
    )


def _base_row(rec: FitRecord) -> dict[str, Any]:
    return {
        **dict.fromkeys(STEP_COLUMNS, math.nan),
        "step": 0,
        "direction": "base",
        "candidate": "",
        "parameter": "",
        "covariate": "",
        "df": 0,
        "ofv": rec.ofv,
        "converged": rec.converged,
        "chosen": True,
        "dofv_mc_se": rec.mc_se,
        "fit": rec.key,
        "note": _note(rec, rec, math.nan, math.nan),
        "significant": False,
    }


def run_search(
    evaluate: Evaluate,
    candidates: Sequence[Any],
    *,
    forward_p: float = 0.05,
    backward_p: float = 0.01,
    say: Callable[[str], None] = lambda _: None,
) -> Search:
    """Forward inclusion, then backward elimination (see the module notes).

    Parameters
    ----------
    evaluate : callable
        ``evaluate(label, {key: included}) -> {key: FitRecord}`` for at least the keys
        asked (a key fitted before may be returned from storage).
    candidates : sequence
        Objects with ``label``, ``parameter``, ``covariate`` and ``df``
        (:class:`cartpk.batch._scm_spec.Candidate`).
    forward_p, backward_p : float
        Levels of the forward and backward likelihood-ratio tests.
    say : callable, optional
        Receives one line per decision.

    Returns
    -------
    Search

    Raises
    ------
    FitError
        ``scm_step_failed``: every fit of a step (the base model's included) raised.
    """
    search = Search()
    step = _forward(evaluate, search, candidates, forward_p, say)
    _backward(evaluate, search, candidates, backward_p, step, say)
    for row in search.rows:
        row.pop("significant", None)
    return search
