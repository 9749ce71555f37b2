"""Report lines of a population maximum-likelihood run (``method = "saem"``).

The objective function and its Monte-Carlo error, AIC and BIC, how SAEM ran, and its checks
(Fisher information, drift of the stochastic approximation, search-box edges, poorly
identified parameters), read from the run's ``diagnostics.json``.
"""

from __future__ import annotations

import json
from typing import Any

from cartpk.report._collect import Run
from cartpk.report._html import banner, esc, fmt, kv_table, table

__all__ = ["saem_summary"]


def _diagnostics(run: Run) -> dict[str, Any] | None:
    """The SAEM summary of ``run`` (``diagnostics.json``), or ``None`` for other runs."""
    results = run.manifest.get("results")
    if not isinstance(results, dict) or results.get("method") != "saem":
        return None
    path = run.path / "diagnostics.json"
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _names(values: Any) -> str:
    return ", ".join(str(v) for v in values) if values else "none"


def _ofv(x: Any) -> str:
    """An objective-function value to 2 decimals (differences of a few units matter)."""
    return f"{float(x):.2f}" if isinstance(x, int | float) and not isinstance(x, bool) else fmt(x)


def _objective(d: dict[str, Any]) -> str:
    m2ll, se = d.get("minus2ll"), d.get("minus2ll_mc_se")
    pairs = [
        ("-2LL (importance sampling)", f"{_ofv(m2ll)} (Monte-Carlo SE {_ofv(se)})"),
        ("AIC", _ofv(d.get("aic"))),
        ("BIC (log N subjects)", _ofv(d.get("bic"))),
        ("Estimated parameters", fmt(d.get("n_parameters"))),
        ("Subjects, observations", f"{fmt(d.get('n_subjects'))}, {fmt(d.get('n_observations'))}"),
        (
            "Censored records",
            "in the likelihood (M3)" if d.get("blq") == "m3" else "discarded (M1)",
        ),
        (
            "SAEM",
            f"{fmt(d.get('explore'))} exploratory + {fmt(d.get('smooth'))} smoothing iterations, "
            f"{fmt(d.get('chains'))} chain(s) per subject",
        ),
        (
            "Draws",
            f"{fmt(d.get('is_samples'))} importance samples per subject for -2LL, "
            f"{fmt(d.get('fim_samples'))} for the Fisher information",
        ),
        (
            "Time",
            f"SAEM {fmt(d.get('saem_s'))} s, -2LL {fmt(d.get('loglik_s'))} s, "
            f"standard errors {fmt(d.get('fim_s'))} s",
        ),
    ]
    return kv_table(pairs)


def _checks(d: dict[str, Any]) -> tuple[str, list[str]]:
    """The checks table and the names of the checks that failed."""
    drift, drift_max = d.get("sa_drift"), d.get("sa_drift_max")
    se_max = d.get("identified_se_max")
    rows = [
        (
            "Fisher information positive definite",
            "yes" if d.get("fim_positive_definite") else "no",
            "yes",
            bool(d.get("fim_positive_definite")),
        ),
        (
            "Drift over the smoothing phase (standard errors)",
            fmt(drift),
            f"≤ {fmt(drift_max)}" if drift_max is not None else "—",
            drift is not None and (drift_max is None or float(drift) <= float(drift_max)),
        ),
        (
            "Typical values at the edge of the search box",
            _names(d.get("at_bound")),
            "none",
            not d.get("at_bound"),
        ),
        (
            "Poorly identified (estimation-scale SE above "
            f"{fmt(se_max) if se_max is not None else 1})",
            _names(d.get("poorly_identified")),
            "none (a warning; not part of convergence)",
            not d.get("poorly_identified"),
        ),
    ]
    failed = [name for name, _, _, ok in rows[:3] if not ok]
    html = table(
        ["Check", "Value", "Expected"],
        [[name, value, expected] for name, value, expected, _ in rows],
        row_classes=[
            "" if ok else ("fail" if k < 3 else "warn") for k, (*_, ok) in enumerate(rows)
        ],
        caption="SAEM checks",
    )
    return html, failed


def saem_summary(run: Run) -> str:
    """HTML for a SAEM run: objective function and checks ("" for any other run)."""
    d = _diagnostics(run)
    if d is None:
        return ""
    html, failed = _checks(d)
    parts = []
    if failed or not d.get("converged"):
        parts.append(
            banner(
                "SAEM did not converge (" + (", ".join(failed) or "see the checks") + "): the "
                "estimates, standard errors and -2LL must not be used. "
                + " ".join(str(w) for w in d.get("warnings") or []),
                "fail",
            )
        )
    elif d.get("poorly_identified"):
        suggested = d.get("profile_suggested") or []
        profile = (
            f" Ask for profile-likelihood intervals of {_names(suggested)} (spec `profile`)."
            if suggested
            else ""
        )
        parts.append(
            banner(
                f"{_names(d['poorly_identified'])}: barely determined by these data; their Wald "
                "intervals, and those of the other typical values without IIV, can be too "
                f"narrow.{profile}",
                "warn",
            )
        )
    else:
        parts.append('<p><span class="badge">converged</span> every SAEM check passed.</p>')
    parts.append(f"<p>Population maximum likelihood (SAEM), {esc(run.name)}:</p>")
    parts.append(_objective(d))
    parts.append(html)
    return "".join(parts)
