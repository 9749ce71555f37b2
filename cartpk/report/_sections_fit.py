"""Report sections of model fits: estimates, convergence, goodness of fit, individual fits."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cartpk.report._collect import Run
from cartpk.report._common import (
    _STANDARD_KEYS,
    _TRUE,
    _anchor,
    _details,
    _figures,
    _flatten,
    _geo_stats,
    _lookup,
    _range,
    _read,
    _Section,
    _table,
    _units,
)
from cartpk.report._html import (
    banner,
    display_name,
    display_unit,
    esc,
    fmt,
    fmt_pct,
    kv_table,
    table,
    unit_header,
)
from cartpk.report._sections_saem import saem_summary

# default convergence thresholds, used when neither the run's spec nor its table gives one
# (R-hat and bulk ESS as in Vehtari et al. 2021)
RHAT_MAX = 1.01
ESS_MIN = 400.0


# ----------------------------------------------------------------------------- estimates
_ROLE_GROUP = {
    "theta": "Typical values (natural scale)",
    "typical": "Typical values (natural scale)",
    "structural": "Typical values (natural scale)",
    "fixed_effect": "Typical values (natural scale)",
    "covariate": "Covariate effects",
    "cov": "Covariate effects",
    "omega": "Between-subject variability (ω: SD on the estimation scale)",
    "iiv": "Between-subject variability (ω: SD on the estimation scale)",
    "sigma": "Residual error",
    "residual": "Residual error",
    "error": "Residual error",
}


def _param_group(name: str, role: object = None) -> str:
    """Table group of a parameter: from its ``role`` when given, else from its name."""
    if isinstance(role, str) and role.strip().lower() in _ROLE_GROUP:
        return _ROLE_GROUP[role.strip().lower()]
    if name.startswith("omega") or name.startswith("eta"):
        return "Between-subject variability (ω: SD on the estimation scale)"
    if name.startswith("sigma"):
        return "Residual error"
    if name.startswith("cov_"):
        return "Covariate effects"
    if name.startswith("rho") or name.startswith("corr"):
        return "Correlations"
    return "Typical values (natural scale)"


_GROUP_ORDER = [
    "Typical values (natural scale)",
    "Covariate effects",
    "Between-subject variability (ω: SD on the estimation scale)",
    "Correlations",
    "Residual error",
]


#: thresholds of weak identification flagged in the population table
RSE_FLAG_PCT = 50.0
SHRINKAGE_FLAG_PCT = 30.0
WEAK_NOTE = (
    f"Flagged as weakly identified: a posterior interval dominated by its prior "
    f"(<code>prior_dominated</code>), an RSE above {RSE_FLAG_PCT:g} % or an η-shrinkage above "
    f"{SHRINKAGE_FLAG_PCT:g} % (individual estimates then lean on the population). Such a "
    "value reflects the prior or the design more than these data."
)


def weak_parameters(frame: Any) -> dict[str, list[str]]:
    """Parameter -> reasons it is weakly identified (prior-dominated, RSE, shrinkage).

    Parameters
    ----------
    frame : DataFrame
        ``population.csv``: ``parameter`` and any of ``prior_dominated``, ``rse_pct``,
        ``shrinkage_pct``.

    Returns
    -------
    dict
        Only the flagged parameters, in table order.
    """
    import pandas as pd

    out: dict[str, list[str]] = {}
    for _, row in frame.iterrows():
        reasons = []
        if str(row.get("prior_dominated", "")).strip().lower() in _TRUE:
            reasons.append("prior-dominated")
        rse = pd.to_numeric(row.get("rse_pct"), errors="coerce")
        if pd.notna(rse) and rse > RSE_FLAG_PCT:
            reasons.append(f"RSE {rse:.0f} %")
        shr = pd.to_numeric(row.get("shrinkage_pct"), errors="coerce")
        if pd.notna(shr) and shr > SHRINKAGE_FLAG_PCT:
            reasons.append(f"shrinkage {shr:.0f} %")
        if reasons:
            out[str(row["parameter"])] = reasons
    return out


def _population_table(frame: Any) -> str:
    import pandas as pd

    cols = set(frame.columns)
    by_name = {str(r["parameter"]): r for _, r in frame.iterrows()}

    def get(row: Any, col: str) -> Any:
        return row[col] if col in cols else None

    groups: dict[str, list[Any]] = {}
    for _, row in frame.iterrows():
        groups.setdefault(_param_group(str(row["parameter"]), get(row, "role")), []).append(row)
    order = [g for g in _GROUP_ORDER if g in groups] + [g for g in groups if g not in _GROUP_ORDER]
    header = [
        "Parameter",
        "Estimate",
        "Unit",
        "SE",
        "RSE %",
        "95 % interval",
        "BSV CV %",
        "Shrinkage %",
        "Identification",
    ]
    weak = weak_parameters(frame)
    row_cls: list[str] = []
    has_label = "label" in cols
    if has_label:
        header.insert(1, "Description")
    rows: list[list[Any] | str] = []
    cell_cls: dict[tuple[int, int], str] = {}
    for g in order:
        rows.append(g)
        row_cls.append("")
        for row in groups[g]:
            name = str(row["parameter"])
            cv, shr = get(row, "cv_pct"), get(row, "shrinkage_pct")
            omega = by_name.get(f"omega_{name}")
            if omega is not None and g.startswith("Typical"):
                if cv is None or pd.isna(cv):
                    cv = get(omega, "cv_pct")
                if shr is None or pd.isna(shr):
                    shr = get(omega, "shrinkage_pct")
            lo, hi = get(row, "lower"), get(row, "upper")
            missing = lo is None or hi is None or (pd.isna(lo) and pd.isna(hi))
            cells = [
                display_name(name),
                esc(fmt(row["estimate"]))
                + (" <small>(fixed)</small>" if str(get(row, "fixed")).lower() in _TRUE else ""),
                esc(display_unit(get(row, "unit"))),
                esc(fmt(get(row, "se"))),
                esc(fmt_pct(get(row, "rse_pct"))),
                esc("—" if missing else _range(lo, hi)),
                esc(fmt_pct(cv)),
                esc(fmt_pct(shr)),
                esc("weak: " + ", ".join(weak[name])) if name in weak else "",
            ]
            if has_label:
                label = get(row, "label")
                cells.insert(1, esc("" if label is None or pd.isna(label) else label))
            first_num = 2 if has_label else 1
            for j in range(first_num, len(cells) - 1):
                # numbers right-aligned; the unit column ("1", "day") stays left-aligned
                cell_cls[(len(rows), j)] = "unit" if j == first_num + 1 else "num"
            rows.append(cells)
            row_cls.append("warn" if name in weak else "")
    note = f'<p class="note">{WEAK_NOTE}</p>' if weak else ""
    return note + table(
        header,
        rows,
        raw_columns=range(len(header)),
        cell_classes=cell_cls,
        row_classes=row_cls,
    )


_IND_META = {
    "ID",
    "converged",
    "status",
    "message",
    "objective",
    "n_obs",
    "n_censored",
    "n_discarded",
    "n_starts",
    "n_starts_agree",
    "sigma",
    "blq",
    "prior",
}


def _individual_params(frame: Any) -> list[str]:
    """Parameter columns: those with ``<name>_lower`` and ``<name>_upper`` (else numeric)."""
    cols = [str(c) for c in frame.columns]
    params = [c for c in cols if f"{c}_lower" in cols and f"{c}_upper" in cols]
    if params:
        return params
    suffixes = ("_lower", "_upper", "_se", "_identifiable", "_at_bound")
    return [
        c
        for c in cols
        if c not in _IND_META and not c.endswith(suffixes) and frame[c].dtype.kind in "fiu"
    ]


def _converged(frame: Any) -> Any:
    if "converged" not in frame.columns:
        import pandas as pd

        return pd.Series(True, index=frame.index)
    return frame["converged"].astype(str).str.lower().isin(_TRUE)


def _not_identifiable(frame: Any, params: list[str], conv: Any) -> dict[str, tuple[int, int]]:
    """Parameter -> (converged subjects whose fit marks it not identifiable, converged)."""
    out = {}
    for p in params:
        col = f"{p}_identifiable"
        if col in frame.columns:
            flags = frame.loc[conv, col].astype(str).str.strip().str.lower()
            out[p] = (int((~flags.isin(_TRUE)).sum()), int(conv.sum()))
    return out


def _iiv_split(frame: Any, params: list[str], population: Any) -> tuple[list[str], list[str]]:
    """Parameters of empirical Bayes estimates with between-subject variability, and the
    others, each with why: fixed, or no ω in the population table (else: the same value
    in every subject)."""
    fixed: set[str] = set()
    omegas: set[str] | None = None
    if population is not None and "parameter" in population.columns:
        names = [str(n) for n in population["parameter"]]
        omegas = {n[len("omega_") :] for n in names if n.startswith("omega_")}
        if "fixed" in population.columns:
            fixed = {
                str(r["parameter"])
                for _, r in population.iterrows()
                if str(r["fixed"]).strip().lower() in _TRUE
            }
    keep, left = [], []
    for p in params:
        values = frame[p].dropna()
        if p in fixed:
            left.append(f"{p} (fixed)")
        elif omegas is not None and p not in omegas:
            left.append(f"{p} (no between-subject variability in the model)")
        elif omegas is None and values.nunique() <= 1:
            left.append(f"{p} (the same value in every subject)")
        else:
            keep.append(p)
    return keep, left


def _individual_summary(
    frame: Any, units: dict[str, str] | None = None, population: Any = None
) -> tuple[str, list[str]]:
    """Summary over subjects (converged fits) and a per-subject table; failed IDs.

    ``units``: column -> unit (``columns.csv``). ``population``: the run's population
    table; empirical Bayes estimates (no ``converged`` column) are then summarised only
    for the parameters with between-subject variability.
    """
    import pandas as pd

    units = units or {}
    params = _individual_params(frame)
    conv = _converged(frame)
    has_conv = "converged" in frame.columns
    notes = []
    if not has_conv:
        params, left = _iiv_split(frame, params, population)
        if left:
            notes.append(
                "Only parameters with between-subject variability are summarised; left out "
                "(every subject has the typical value, see the population table): "
                + ", ".join(left)
                + "."
            )
    flags = _not_identifiable(frame, params, conv) if has_conv else {}
    rows, row_cls = [], []
    for p in params:
        st = _geo_stats(frame.loc[conv, p]) if conv.any() else _geo_stats([])
        row = [
            display_name(p),
            esc(display_unit(units.get(p)) or "—"),
            esc(fmt(int(st["n"]))),
            esc(fmt(st["geo_mean"])),
            esc(fmt_pct(st["geo_cv_pct"])),
            esc(fmt(st["median"])),
            esc(_range(st["min"], st["max"]) if st["n"] else "—"),
        ]
        bad, of = flags.get(p, (0, 0))
        if flags:
            row.append(esc(f"not identifiable in {bad} of {of}") if bad else "")
        rows.append(row)
        row_cls.append("warn" if bad else "")
    n_label = "n (converged)" if has_conv else "n"
    head = ["Parameter", "Unit", n_label, "Geometric mean", "Geometric CV %", "Median", "Range"]
    if flags:
        head.append("Identification")
        if any(b for b, _ in flags.values()):
            notes.append(
                "Identification: subjects whose fit marks the parameter as not identifiable "
                "(its interval is wide or its estimate is mostly the prior; parameters.csv "
                "says why). Their estimates reflect the prior or the design more than the "
                "subject's data."
            )
    out = "".join(f'<p class="note">{esc(n)}</p>' for n in notes) + table(
        head, rows, raw_columns=range(len(head)), row_classes=row_cls
    )
    # per-subject table: estimate over its 95 % interval; failed fits highlighted
    status_col = "status" in frame.columns
    sub_rows, classes = [], []
    for (_, r), ok in zip(frame.iterrows(), conv, strict=True):
        cells = [esc(r["ID"])]
        if has_conv or status_col:
            st = r.get("status") if status_col else None
            word = (
                str(st)
                if st is not None and not pd.isna(st)
                else ("converged" if ok else "not converged")
            )
            cells.append(esc(word if ok or status_col else "NOT converged"))
        for p in params:
            lo, hi = r.get(f"{p}_lower"), r.get(f"{p}_upper")
            ci = (
                ""
                if lo is None or hi is None
                else f'<br><span class="ci">{esc(fmt(lo))} – {esc(fmt(hi))}</span>'
            )
            ident = r.get(f"{p}_identifiable")
            weak = ident is not None and str(ident).strip().lower() not in _TRUE
            cells.append(esc(fmt(r[p])) + (" <small>(n.i.)</small>" if weak else "") + ci)
        sub_rows.append(cells)
        st = str(r.get("status", "")) if status_col else ""
        classes.append(
            "fail" if not ok else ("warn" if status_col and st not in {"converged", "ok"} else "")
        )
    head = [
        "ID",
        *(["Status"] if (has_conv or status_col) else []),
        *[unit_header(p, units.get(p)) for p in params],
    ]
    cell_cls = {
        (i, j): "num"
        for i in range(len(sub_rows))
        for j in range(len(head) - len(params), len(head))
    }
    per_subject = table(
        head, sub_rows, raw_columns=range(len(head)), row_classes=classes, cell_classes=cell_cls
    )
    if flags:
        per_subject = (
            '<p class="note">n.i.: not identifiable in this subject\'s fit.</p>' + per_subject
        )
    failed = [str(r["ID"]) for (_, r), ok in zip(frame.iterrows(), conv, strict=True) if not ok]
    return out + _details(
        f"Per-subject estimates with 95 % intervals ({len(frame)} subjects)", per_subject
    ), failed


def _estimates_section(runs: list[Run], sec: _Section) -> None:
    for i, run in enumerate(runs):
        pops = run.take_tables("population")
        inds = run.take_tables("individual", "ebe")
        longs = run.take_tables("individual_long")
        if not pops and not inds:
            run.used.difference_update(longs)
            continue
        sec.heading("Parameter estimates", run, _anchor("estimates", i))
        for p in pops:
            frame = _read(p)
            sec.add(
                f'<p class="note">Population estimates from <code>{esc(run.rel(p))}</code>: '
                "typical values back-transformed to the natural scale with their 95 % "
                "interval; between-subject variability as CV % on the typical value's row.</p>"
            )
            sec.add(_population_table(frame))
        for p in inds:
            frame = _read(p)
            if "ID" not in frame.columns:
                run.used.discard(p)
                continue
            pop = run.tables.get("population", [])
            html_, failed = _individual_summary(frame, _units(p), _read(pop[0]) if pop else None)
            also = [run.rel(a) for a, b in run.aliases.items() if b == p]
            same = f" (same as <code>{esc(', '.join(also))}</code>)" if also else ""
            what = (
                "Per-patient estimates"
                if "converged" in frame.columns
                else "Individual (empirical Bayes) estimates"
            )
            sec.add(
                f'<p class="note">{what} from <code>{esc(run.rel(p))}</code>{same}, '
                "summarised over subjects"
                + (" whose fit converged" if "converged" in frame.columns else "")
                + ".</p>"
            )
            if failed:
                sec.add(
                    banner(
                        f"{len(failed)} of {len(frame)} individual fit(s) did not converge: "
                        f"ID {', '.join(failed)}",
                        "fail",
                    )
                )
            sec.add(html_)
        for p in longs:
            frame = _read(p)
            sec.add(
                _details(
                    f"Long parameter table ({len(frame)} rows, {run.rel(p)})",
                    _table(run, p, frame, max_rows=500),
                )
            )


# ----------------------------------------------------------------------------- convergence
def _thresholds(run: Run) -> tuple[float, float]:
    items = _flatten(run.spec) + _flatten(
        {k: v for k, v in run.manifest.items() if k not in _STANDARD_KEYS}
    )
    rhat = _lookup(items, "rhat_max", "r_hat_max", "max_rhat", "rhat")
    ess = _lookup(items, "ess_min", "min_ess", "ess_bulk_min", "ess")
    try:
        rhat_v = float(rhat) if rhat is not None else RHAT_MAX
    except (TypeError, ValueError):
        rhat_v = RHAT_MAX
    try:
        ess_v = float(ess) if ess is not None else ESS_MIN
    except (TypeError, ValueError):
        ess_v = ESS_MIN
    return rhat_v, ess_v


def _fails(col: str, value: Any, rhat_max: float, ess_min: float) -> bool | None:
    """Whether a diagnostic value fails its threshold (``None``: not a checked column)."""
    c = col.lower()
    if isinstance(value, str):
        v = value.strip().lower()
        if c in {"converged", "ok", "pass", "passed"}:
            return v in {"false", "0", "no", "fail", "failed"}
        if c == "status":
            return v not in {"ok", "converged", "pass", "passed", "success"}
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(x):
        return None
    if c in {"r_hat", "rhat", "max_rhat", "rhat_max"}:
        return x > rhat_max
    if c.startswith("ess") or c.endswith("_ess") or c in {"min_ess"}:
        return x < ess_min
    if "diverg" in c:
        return x > 0
    if c in {"converged", "ok", "pass", "passed"}:
        return x == 0
    return None


def _check_summary(frame: Any) -> str:
    """One row per kind of check (long table ``check, parameter, value, threshold, passed``)."""
    import pandas as pd

    # a row fails only when `passed` says so; rows without a threshold (e.g. shrinkage)
    # have an empty `passed` and are informational
    if "passed" in frame.columns:
        verdict = frame["passed"].astype(str).str.strip().str.lower()
        failed = verdict.isin({"false", "0", "no", "fail", "failed"})
        judged = failed | verdict.isin(_TRUE)
    else:
        failed = judged = None
    rows, classes = [], []
    for check, g in frame.groupby("check", sort=False):
        values = pd.to_numeric(g["value"], errors="coerce")
        largest = str(check).lower() in {"rhat", "r_hat", "divergences", "shrinkage"}
        idx = values.idxmax() if largest else values.idxmin()
        n_fail = int(failed.loc[g.index].sum()) if failed is not None else 0
        informational = judged is not None and not bool(judged.loc[g.index].any())
        where = g.loc[idx, "parameter"] if "parameter" in g.columns and not pd.isna(idx) else ""
        where = "" if not isinstance(where, str) and pd.isna(where) else str(where)
        el = g.loc[idx, "element"] if "element" in g.columns and not pd.isna(idx) else ""
        if isinstance(el, str | int | float) and not pd.isna(el) and str(el) != "":
            where = f"{where} [{el}]"
        digits = 5 if str(check).lower() in {"rhat", "r_hat"} else 4
        worst = values.loc[idx] if not pd.isna(idx) else math.nan
        rows.append(
            [
                str(check),
                len(g),
                "— (no threshold)" if informational else n_fail,
                fmt(worst, digits),
                where.strip(),
                g["threshold"].iloc[0],
            ]
        )
        classes.append("fail" if n_fail else "")
    return table(
        ["Check", "Checked", "Failed", "Worst value", "Worst at", "Threshold"],
        rows,
        row_classes=classes,
        caption="Convergence checks by kind",
    )


def _diagnostics_table(frame: Any, rhat_max: float, ess_min: float) -> tuple[str, int]:
    cols = [str(c) for c in frame.columns]
    rows, cell_cls, row_cls = [], {}, []
    n_fail = 0
    for i, (_, r) in enumerate(frame.iterrows()):
        cells = []
        bad_row = False
        for j, c in enumerate(cols):
            v = r[c]
            verdict = _fails(c, v, rhat_max, ess_min)
            # R-hat needs its fifth digit: 1.0104 is not 1.01
            rhat_like = c.lower() in {"r_hat", "rhat"} or str(r.get("check", "")).lower() == "rhat"
            text = esc(fmt(v, 5 if rhat_like and c in {"value", "r_hat", "rhat"} else 4))
            if verdict is True:
                cell_cls[(i, j)] = "fail num"
                text += " ✖"
                bad_row = True
            elif verdict is False:
                cell_cls[(i, j)] = "pass num"
            cells.append(text)
        if bad_row and "value" in cols:  # long format: the value is what missed its threshold
            j = cols.index("value")
            if not cells[j].endswith("✖"):
                cell_cls[(i, j)] = "fail num"
                cells[j] += " ✖"
        n_fail += bad_row
        row_cls.append("fail" if bad_row else "")
        rows.append(cells)
    return table(
        cols, rows, raw_columns=range(len(cols)), cell_classes=cell_cls, row_classes=row_cls
    ), n_fail


def _weak_banner(run: Run) -> str:
    """Converged is not identified: name the weakly identified parameters, if any."""
    pop = run.tables.get("population", [])
    weak = weak_parameters(_read(pop[0])) if pop else {}
    if not weak:
        return ""
    names = "; ".join(f"{k} ({', '.join(v)})" for k, v in weak.items())
    return banner(
        "The sampler converged, but convergence is not identification: "
        f"{len(weak)} parameter(s) are weakly identified by these data: {names}. "
        "See the parameter table.",
        "warn",
    )


def _sampling_line(run: Run) -> str:
    """How a population fit sampled: chains pooled, rounds, why sampling stopped."""
    res = run.manifest.get("results")
    if not isinstance(res, dict) or not res.get("rounds"):
        return ""
    rounds = res["rounds"]
    extra = len(rounds) - 1
    more = (
        f"; {extra} extra round(s) of chains were added while thresholds were missed"
        if extra
        else ""
    )
    resampled = res.get("resampled") or {}
    kernel = (
        f" The random effects of {len(resampled)} subject(s) did not mix under NUTS and were "
        "resampled from their conditional posterior given each draw (subject: acceptance "
        + esc(", ".join(f"{k}: {float(v):.0%}" for k, v in resampled.items()))
        + ")."
        if isinstance(resampled, dict) and resampled
        else ""
    )
    return (
        f"<p>Sampled {esc(str(res.get('chains')))} chains in {len(rounds)} round(s){more}; "
        f"sampling stopped: {esc(str(res.get('sampling_stopped')))}.{kernel}</p>"
    )


def _convergence_section(runs: list[Run], sec: _Section) -> None:
    for i, run in enumerate(runs):
        diags = run.take_tables("diagnostics")
        inds = run.take_tables("individual")
        figs = run.take_figures("convergence")
        saem = saem_summary(run)
        if not (diags or inds or figs or saem):
            continue
        sec.heading("Convergence diagnostics", run, _anchor("convergence", i))
        sec.add(_sampling_line(run))
        sec.add(saem)
        rhat_max, ess_min = _thresholds(run)
        for p in diags:
            frame = _read(p)
            html_, n_fail = _diagnostics_table(frame, rhat_max, ess_min)
            long = "check" in frame.columns and "threshold" in frame.columns
            if n_fail and long:
                sec.add(
                    banner(
                        f"{n_fail} of {len(frame)} convergence checks in {run.rel(p)} missed "
                        "their threshold; marked ✖ below. The fit must not be read as converged.",
                        "fail",
                    )
                )
            elif long:
                sec.add(
                    f'<p><span class="badge">all within thresholds</span> all {len(frame)} '
                    "convergence checks passed (thresholds in the table).</p>"
                )
                sec.add(_weak_banner(run))
            elif n_fail:
                sec.add(
                    banner(
                        f"{n_fail} row(s) of {run.rel(p)} miss the convergence thresholds "
                        f"(R-hat ≤ {fmt(rhat_max)}, ESS ≥ {fmt(ess_min)}, no divergences); "
                        "marked ✖ below.",
                        "fail",
                    )
                )
            else:
                sec.add(
                    f'<p><span class="badge">all within thresholds</span> '
                    f"R-hat ≤ {esc(fmt(rhat_max))}, ESS ≥ {esc(fmt(ess_min))}, no divergent "
                    "transitions.</p>"
                )
            if long:
                sec.add(_check_summary(frame))
                sec.add(_details(f"All {len(frame)} checks ({run.rel(p)})", html_))
            else:
                sec.add(html_)
        for p in inds:
            frame = _read(p)
            conv = _converged(frame)
            n_bad = int((~conv).sum())
            if "status" in frame.columns:
                counts = frame["status"].astype(str).value_counts()
                sec.add(
                    table(
                        ["Fit status", "Subjects"],
                        [[k, int(v)] for k, v in counts.items()],
                        row_classes=[
                            "" if k in {"converged", "ok"} else "fail" for k in counts.index
                        ],
                        caption="Per-subject fit outcomes",
                    )
                )
                odd = frame[~frame["status"].astype(str).isin(["converged", "ok"])]
                if len(odd) and "message" in frame.columns:
                    sec.add(
                        _details(
                            f"Subjects whose fit needs attention ({len(odd)})",
                            table(
                                ["ID", "Status", "Message"],
                                [[r["ID"], r["status"], r["message"]] for _, r in odd.iterrows()],
                            ),
                        )
                    )
            if n_bad:
                ids = ", ".join(frame.loc[~conv, "ID"].astype(str))
                sec.add(
                    banner(
                        f"Individual fits: {n_bad} of {len(frame)} did not converge (ID {ids}).",
                        "fail",
                    )
                )
            else:
                sec.add(
                    f'<p><span class="badge">converged</span> all {len(frame)} individual fits '
                    f"in <code>{esc(run.rel(p))}</code> converged.</p>"
                )
        sec.add(_figures(run, figs))


# ----------------------------------------------------------------------------- figures only
def _figure_section(
    kinds: Sequence[str], title: str, key: str
) -> Callable[[list[Run], _Section], None]:
    def build(runs: list[Run], sec: _Section) -> None:
        for i, run in enumerate(runs):
            figs = run.take_figures(*kinds)
            preds = run.take_tables("predictions") if key == "individual" else []
            vpcs = run.tables.get("vpc_table", []) if key == "gof" else []
            if not figs and not preds and not vpcs:
                continue
            sec.heading(title, run, _anchor(key, i))
            for p in preds:
                sec.add(_predictions_summary(run, p))
            if key == "gof":
                figs, note = _vpc_figures(run, figs)
                sec.add(note)
            # the fit diagnostics are read in detail: full width, one under the other
            sec.add(_figures(run, figs, stack=key == "gof" or len(figs) <= 2))
            for p in run.take_tables("vpc_table") if key == "gof" else []:
                frame = _read(p)
                sec.add(
                    _details(
                        f"VPC table {run.rel(p)} ({len(frame)} rows)",
                        _table(run, p, frame, max_rows=500),
                    )
                )

    return build


def _vpc_figures(run: Run, figs: list[Path]) -> tuple[list[Path], str]:
    """VPC before pcVPC; a pcVPC whose table has the same bytes as the VPC's is not shown
    as a second, different check (prediction correction changed nothing)."""
    tables = [*run.tables.get("vpc_table", []), *run.aliases]
    pc = {p.stem for p in tables if "pcvpc" in p.stem.lower()}
    same = []
    for a, b in run.aliases.items():
        stems = {a.stem.lower(), b.stem.lower()}
        if any("pcvpc" in t for t in stems) and any("vpc" in t and "pcvpc" not in t for t in stems):
            same.append((a, b))
    order = sorted(figs, key=lambda f: (1 if "pcvpc" in f.stem.lower() else 0, f.name))
    if not same:
        note = (
            '<p class="note">pcVPC: prediction-corrected VPC (observed and simulated values '
            "scaled by the bin's median population prediction over each record's), shown "
            "after the VPC.</p>"
            if pc
            else ""
        )
        return order, note
    a, b = same[0]
    pc_stems = {t.stem for t in (a, b) if "pcvpc" in t.stem.lower()}
    kept = [f for f in order if f.stem not in pc_stems]
    dropped = [run.rel(f) for f in order if f.stem in pc_stems]
    note = (
        f'<p class="note"><code>{esc(run.rel(a))}</code> holds the same bytes as '
        f"<code>{esc(run.rel(b))}</code>: prediction correction changed nothing here (every "
        "subject has the same population prediction in each bin), so the prediction-corrected "
        "VPC is the VPC and is shown once"
        + (f"; <code>{esc(', '.join(dropped))}</code> is not shown" if dropped else "")
        + ".</p>"
    )
    return kept, note


def _predictions_summary(run: Run, path: Path) -> str:
    frame = _read(path)
    cens = frame["CENS"] if "CENS" in frame.columns else None
    n_cens = int((cens == 1).sum()) if cens is not None else 0
    pairs: list[tuple[str, object]] = [
        ("Table", run.rel(path)),
        ("Subjects", int(frame["ID"].nunique())),
        ("Observations", len(frame)),
        ("Censored (BLQ)", n_cens),
    ]
    if "IWRES" in frame.columns:
        w = frame["IWRES"] if cens is None else frame.loc[cens != 1, "IWRES"]
        w = w.dropna()  # censored rows have no residual; counted above
        if len(w):
            pairs += [
                ("IWRES mean (quantified)", float(w.mean())),
                ("IWRES SD (quantified)", float(w.std(ddof=1)) if len(w) > 1 else math.nan),
            ]
    return kv_table(pairs)
