"""Report sections of studies: simulation-estimation (``cartpk sse``) and bootstrap."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cartpk.report._collect import Run
from cartpk.report._common import _anchor, _read, _Section
from cartpk.report._html import display_name, display_unit, esc, fmt, fmt_pct, table


def _model_units(run: Run) -> dict[str, str]:
    """Parameter -> declared unit of the study's model (``{}`` when it cannot be loaded)."""
    name = run.spec.get("model")
    if not isinstance(name, str) or not name.strip():
        return {}
    try:
        from cartpk.model._catalogue import load_model

        model = load_model(name.strip())
        return {str(t.name): str(t.unit) for t in model.thetas.values()}
    except Exception:  # noqa: BLE001 - a model the catalogue cannot load leaves units blank
        return {}


def _param_units(run: Run, frame: Any, path: Path) -> dict[str, str]:
    """Parameter -> unit: the table's own ``unit`` column, else the study's model."""
    units = _model_units(run)
    if {"parameter", "unit"} <= set(frame.columns):
        for p, u in frame[["parameter", "unit"]].itertuples(index=False):
            if isinstance(u, str) and u.strip():
                units[str(p)] = u
    return units


def _unit_cell(units: dict[str, str], name: object) -> str:
    return esc(display_unit(units.get(str(name))) or "—")


SSE_NOTE = (
    "Simulation-estimation: each replicate simulates a trial from the model's declared "
    "values and fits it with the study's estimator. Bias, RMSE and the mean estimate are in "
    "the parameter's unit; relative bias, relative RMSE and the median absolute relative "
    "error are % of the true value; coverage is the % of the intervals (their number in "
    "brackets) that hold the true value; convergence is over replicates × subjects; identified is the mean share of "
    "converged fits that identify the parameter. Rows of level “individual” compare each "
    "subject's estimate with that subject's simulated value."
)


def _sse_table(frame: Any, units: dict[str, str]) -> str:
    rows: list[list[Any]] = []
    for _, r in frame.iterrows():
        rows.append(
            [
                display_name(r["parameter"]),
                esc(r.get("level", "")),
                _unit_cell(units, r["parameter"]),
                esc(fmt(r.get("true"))),
                esc(f"{fmt(r.get('n'))} / {fmt(r.get('n_converged'))}"),
                esc(fmt(r.get("mean_estimate"))),
                esc(fmt(r.get("bias"))),
                esc(fmt_pct(r.get("rel_bias_pct"))),
                esc(fmt(r.get("rmse"))),
                esc(fmt_pct(r.get("rel_rmse_pct"))),
                esc(fmt_pct(r.get("median_abs_rel_error_pct"))),
                esc(f"{fmt_pct(r.get('coverage_pct'))} ({fmt(r.get('n_ci'))})"),
                esc(fmt_pct(r.get("convergence_pct"))),
                esc(fmt_pct(r.get("identified_pct"))),
            ]
        )
    head = [
        "Parameter",
        "Level",
        "Unit",
        "True",
        "n used / converged",
        "Mean estimate",
        "Bias",
        "Rel. bias %",
        "RMSE",
        "Rel. RMSE %",
        "Median |rel. error| %",
        "Coverage % (intervals)",
        "Convergence %",
        "Identified %",
    ]
    cells = {(i, j): "num" for i in range(len(rows)) for j in range(3, len(head))}
    return table(
        head,
        rows,
        raw_columns=range(len(head)),
        cell_classes=cells,
        caption="Bias, precision and coverage per parameter (summary.csv)",
    )


def _bootstrap_table(frame: Any, units: dict[str, str]) -> tuple[str, str]:
    """The bootstrap's intervals table and the interval's level as text."""
    import pandas as pd

    levels = pd.to_numeric(frame.get("level"), errors="coerce").dropna().unique()
    level = f"{100 * float(levels[0]):g} %" if len(levels) == 1 else ""
    rows = []
    for _, r in frame.iterrows():
        rows.append(
            [
                display_name(r["parameter"]),
                _unit_cell(units, r["parameter"]),
                esc(fmt(r["estimate"])),
                esc(f"{fmt(r['lower'])} – {fmt(r['upper'])}"),
                esc(fmt(r.get("boot_median"))),
                esc(fmt(r.get("boot_se"))),
                esc(f"{fmt(r.get('n_ok'))} / {fmt(r.get('n'))}"),
            ]
        )
    head = [
        "Parameter",
        "Unit",
        "Estimate (original data)",
        f"{level} percentile interval".strip(),
        "Bootstrap median",
        "Bootstrap SE",
        "Samples converged / run",
    ]
    cells = {(i, j): "num" for i in range(len(rows)) for j in range(2, len(head))}
    return table(head, rows, raw_columns=range(len(head)), cell_classes=cells), level


def _status_counts(frame: Any, rel: str) -> str:
    counts = frame["status"].astype(str).value_counts()
    rows = [[k, int(v)] for k, v in counts.items()]
    return table(
        ["Replicate outcome", "Replicates"],
        rows,
        row_classes=["" if k == "ok" else "fail" for k in counts.index],
        caption=f"Outcome of each replicate ({rel})",
    )


def _study_section(runs: list[Run], sec: _Section) -> None:
    for i, run in enumerate(runs):
        sse = run.take_tables("sse_summary")
        boots = run.take_tables("bootstrap")
        if not (sse or boots):
            continue
        reps = run.take_tables("study_replicates")
        status = run.take_tables("study_status")
        kind = "Bootstrap" if boots and not sse else "Simulation-estimation (SSE)"
        sec.heading(kind, run, _anchor("study", i))
        for p in sse:
            frame = _read(p)
            units = _param_units(run, frame, p)
            spec = run.spec
            sec.add(
                f'<p class="note">{esc(SSE_NOTE)} Study: '
                f"{esc(fmt(spec.get('n_replicates')))} replicates of "
                f"{esc(fmt(spec.get('n_subjects')))} subjects, model "
                f"<code>{esc(spec.get('model', '—'))}</code>.</p>"
            )
            sec.add(_sse_table(frame, units))
        for p in boots:
            frame = _read(p)
            html_, level = _bootstrap_table(frame, _param_units(run, frame, p))
            n = frame["n"].max() if "n" in frame.columns else None
            sec.add(
                f'<p class="note">Nonparametric bootstrap ({esc(fmt(n))} samples of the '
                "subjects, drawn with replacement; <code>"
                f"{esc(run.rel(p))}</code>): the estimate on the original data, the "
                f"{esc(level)} percentile interval and the standard deviation (bootstrap SE) "
                "of the converged samples' estimates. These are not model-based standard "
                "errors.</p>"
            )
            sec.add(html_)
        for p in status:
            frame = _read(p)
            sec.add(_status_counts(frame, run.rel(p)))
        for p in reps:
            with p.open(encoding="utf-8") as fh:
                n_rows = sum(1 for _ in fh) - 1
            sec.add(
                f'<p class="note">Every replicate\'s estimates: <code>{esc(run.rel(p))}</code>'
                f" ({n_rows} rows, not shown).</p>"
            )
