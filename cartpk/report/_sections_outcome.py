"""Report sections of exposure and response: NCA and model-based exposure, RECIST, E-R."""

from __future__ import annotations

import math
from typing import Any

from cartpk.er._run import REPORT_COLUMNS
from cartpk.noncompartmental._nca_steps import LONG_COLUMNS
from cartpk.report._collect import Run
from cartpk.report._common import (
    _anchor,
    _details,
    _figures,
    _geo_stats,
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
    frame_table,
    table,
)

# ----------------------------------------------------------------------------- exposure
_NCA_STD = set(LONG_COLUMNS)


#: NCA parameters summarised by median and range only: counts, window bounds, fit quality
#: and times read off the sampling grid (a geometric mean of these means nothing)
NCA_NO_GEO = frozenset({"LAMZNPT", "LAMZLL", "LAMZUL", "R2", "R2ADJ", "TMAX", "TLST"})
_NCA_STATS = {"n", "n_missing", "geo_mean", "geo_cv_pct", "mean", "sd", "median", "min", "max"}


def _nca_stats_table(rows: list[dict[str, Any]], keys: list[str]) -> str:
    """The NCA summary: geometric statistics where they mean something, median and range
    for every parameter; groups where a parameter has no value at all are named once."""
    shown, empty = [], {}
    for r in rows:
        if not r["n"]:
            group = " ".join(str(r["keys"][k]) for k in keys) or str(r["DVID"])
            empty.setdefault(group, []).append(str(r["PPTESTCD"]))
            continue
        geo = str(r["PPTESTCD"]).upper() not in NCA_NO_GEO
        shown.append(
            [
                *[r["keys"][k] for k in keys],
                r["DVID"],
                r["PPTESTCD"],
                display_unit(r["unit"]) or "—",
                r["interval"],
                int(r["n"]),
                int(r["n_missing"]),
                r["geo_mean"] if geo else "—",
                fmt_pct(r["geo_cv_pct"]) if geo else "—",
                r["median"],
                _range(r["min"], r["max"]),
            ]
        )
    header = [
        *keys,
        "DVID",
        "PPTESTCD",
        "Unit",
        "Interval",
        "n",
        "n missing",
        "Geometric mean",
        "Geometric CV %",
        "Median",
        "Range (min – max)",
    ]
    note = (
        '<p class="note">Geometric mean and CV only for positive, ratio-scale parameters; '
        f"{', '.join(sorted(NCA_NO_GEO))} (counts, λz window bounds, fit quality, sampling "
        "times) are given as median and range.</p>"
    )
    out = note + table(header, shown)
    for group, codes in empty.items():
        out += (
            f'<p class="note">{esc(group)}: no subject has a value of {esc(", ".join(codes))} '
            "(reasons in the long NCA table); left out above.</p>"
        )
    return out


def _count(value: Any) -> int:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return 0
    return int(x) if math.isfinite(x) else 0


def _nca_summary_table(frame: Any) -> str:
    """``nca_summary.csv`` (one row per group and parameter) as the NCA summary."""
    keys = [c for c in frame.columns if c not in _NCA_STD and c not in _NCA_STATS]
    rows = []
    for _, r in frame.iterrows():
        st, en = r.get("PPSTINT"), r.get("PPENINT")
        interval = "–".join(str(x) for x in (st, en) if isinstance(x, str) and x)
        rows.append(
            {
                "keys": {k: r[k] for k in keys},
                "DVID": r.get("DVID", ""),
                "PPTESTCD": r.get("PPTESTCD", ""),
                "unit": r.get("PPORRESU"),
                "interval": interval,
                **{c: r.get(c) for c in ("geo_mean", "geo_cv_pct", "median", "min", "max")},
                "n": _count(r.get("n")),
                "n_missing": _count(r.get("n_missing")),
            }
        )
    return _nca_stats_table(rows, keys)


def _nca_summary_from_long(frame: Any) -> str:
    import pandas as pd

    keys = [
        c
        for c in frame.columns
        if c not in _NCA_STD
        and c != "ROW"
        and frame.groupby("ID")[c].nunique(dropna=False).max() == 1
    ]
    by = [
        *keys,
        *[
            c
            for c in ("DVID", "PPTESTCD", "PPTEST", "PPORRESU", "PPSTINT", "PPENINT")
            if c in frame.columns
        ],
    ]
    rows = []
    values = pd.to_numeric(frame["PPORRES"], errors="coerce")
    frame = frame.assign(_v=values)
    for key, g in frame.groupby(by, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        kd = dict(zip(by, key, strict=True))
        st = _geo_stats(g["_v"])
        interval = ""
        if "PPSTINT" in kd or "PPENINT" in kd:
            interval = f"{kd.get('PPSTINT', '')}–{kd.get('PPENINT', '')}".strip("–")
        rows.append(
            {
                "keys": {k: kd[k] for k in keys},
                "DVID": kd.get("DVID", ""),
                "PPTESTCD": kd.get("PPTESTCD", ""),
                "unit": kd.get("PPORRESU"),
                "interval": interval,
                **st,
                "n_missing": int(g["_v"].isna().sum()),
            }
        )
    return _nca_stats_table(rows, keys)


def _nca_wide(frame: Any) -> str:
    import pandas as pd

    values = pd.to_numeric(frame["PPORRES"], errors="coerce")
    idx = ["ID", "DVID"] if "DVID" in frame.columns else ["ID"]
    wide = frame.assign(_v=values).pivot_table(
        index=idx, columns="PPTESTCD", values="_v", aggfunc="first", dropna=False, sort=False
    )
    wide = wide.reset_index()
    wide.columns = [str(c) for c in wide.columns]
    units: dict[str, str] = {}
    if "PPORRESU" in frame.columns:
        for code, unit in frame[["PPTESTCD", "PPORRESU"]].itertuples(index=False):
            if isinstance(unit, str) and unit.strip():
                units.setdefault(str(code), unit)
    return frame_table(wide, units=units)


#: units of exposure metrics that do not depend on the endpoint's concentration unit
_TIME_METRICS = {"tmax": "day", "time_above_lloq": "day", "tlast": "day", "thalf": "day"}


def _metric_units(frames: list[Any]) -> dict[str, str]:
    """metric -> unit from every long exposure table with a ``unit`` column."""
    units: dict[str, str] = dict(_TIME_METRICS)
    for f in frames:
        if {"metric", "unit"} <= set(f.columns):
            for m, u in f.drop_duplicates("metric")[["metric", "unit"]].itertuples(index=False):
                if isinstance(u, str) and u.strip():
                    units[str(m)] = u
    return units


def _exposure_summary(frame: Any, sec: _Section, units: dict[str, str]) -> list[list[Any]]:
    """Rows of geometric statistics over subjects, one per exposure metric (and DVID)."""
    import pandas as pd

    if {"metric", "value", "ID"} <= set(frame.columns):  # long layout -> one column per metric
        idx = [c for c in ("ID", "draw", "DVID") if c in frame.columns]
        frame = frame.pivot_table(
            index=idx, columns="metric", values="value", aggfunc="first", sort=False
        ).reset_index()
        frame.columns = [str(c) for c in frame.columns]
    skip = {"ID", "draw", "DVID", "start", "end"}
    num = [
        c
        for c in frame.columns
        if c not in skip and frame[c].dtype.kind in "fiu" and not c.endswith(("_lower", "_upper"))
    ]
    if "draw" in frame.columns and "ID" in frame.columns:
        keys = ["ID", *(["DVID"] if "DVID" in frame.columns else [])]
        frame = frame.groupby(keys, sort=False)[num].median().reset_index()
        sec.add(
            '<p class="note">Posterior draws: each subject is represented by the median '
            "over draws, then summarised over subjects.</p>"
        )
    groups = frame.groupby("DVID", sort=False) if "DVID" in frame.columns else [("", frame)]
    rows: list[list[Any]] = []
    for dvid, g in groups:
        for c in num:
            st = _geo_stats(pd.to_numeric(g[c], errors="coerce"))
            label = display_name(c) + (f" <small>({esc(dvid)})</small>" if dvid else "")
            rows.append(
                [
                    label,
                    esc(display_unit(units.get(c, "")) or "—"),
                    int(st["n"]),
                    st["geo_mean"],
                    fmt_pct(st["geo_cv_pct"]),
                    st["median"],
                    _range(st["min"], st["max"]) if st["n"] else "—",
                ]
            )
    return rows


def _exposure_compare(frame: Any, rel: str, col_units: dict[str, str] | None = None) -> str:
    """The model-vs-NCA agreement table as written: one row per metric, nothing pooled."""
    head = f"<h4>Model-based vs NCA exposure, per metric (<code>{esc(rel)}</code>)</h4>"
    note = (
        '<p class="note">Per metric over the subjects with both values: <code>gmr</code> is '
        "the geometric mean ratio model / NCA with its interval, <code>r2_log</code> and "
        "<code>slope_log</code> the regression of ln(model) on ln(NCA); a metric with fewer "
        "than 3 pairs has no statistics and says why in <code>reason</code>.</p>"
    )
    return head + note + frame_table(frame, units=col_units)


def _exposure_pairs(
    frame: Any, rel: str, units: dict[str, str], col_units: dict[str, str] | None = None
) -> str:
    """Per-metric geometric means of the paired subjects (metrics never pooled)."""
    import pandas as pd

    rows = []
    for metric, g in frame.groupby("metric", sort=False):
        used = g[g["used"].astype(str).str.lower().isin({"true", "1"})]
        model = _geo_stats(pd.to_numeric(used["model"], errors="coerce"))
        nca = _geo_stats(pd.to_numeric(used["nca"], errors="coerce"))
        rows.append(
            [
                display_name(metric),
                esc(display_unit(units.get(str(metric), "")) or "—"),
                int(len(used)),
                int(len(g) - len(used)),
                model["geo_mean"],
                nca["geo_mean"],
            ]
        )
    head = f"<h4>Paired subjects, per metric (<code>{esc(rel)}</code>)</h4>"
    body = table(
        [
            "Metric",
            "Unit",
            "Pairs used",
            "Not used",
            "Geometric mean, model",
            "Geometric mean, NCA",
        ],
        rows,
        raw_columns=(0, 1),
    )
    return (
        head
        + body
        + _details(f"All pairs ({len(frame)})", frame_table(frame, max_rows=500, units=col_units))
    )


def _exposure_section(runs: list[Run], sec: _Section) -> None:
    for i, run in enumerate(runs):
        ncas = run.take_tables("nca")
        sums = run.take_tables("nca_summary")
        expo = run.take_tables("exposure")
        figs = run.take_figures("nca") + run.take_figures("exposure")
        cmp_tables = run.tables.get("exposure_compare", []) + run.tables.get("exposure_pairs", [])
        if not (ncas or sums or expo or figs or cmp_tables):
            continue
        sec.heading("Exposure", run, _anchor("exposure", i))
        if expo and (source := _exposure_source(run)):
            sec.add(f'<p class="statement">Model-based exposure source: {esc(source)}.</p>')
        for p in sums:
            sec.add(f"<h4>NCA summary (<code>{esc(run.rel(p))}</code>)</h4>")
            sec.add(_nca_summary_table(_read(p)))
        for p in ncas:
            frame = _read(p)
            if not sums:
                sec.add(f"<h4>NCA summary by group (<code>{esc(run.rel(p))}</code>)</h4>")
                sec.add(
                    '<p class="note">Geometric statistics need positive values; values '
                    "missing with a reason are counted in “n missing”.</p>"
                )
                sec.add(_nca_summary_from_long(frame))
            if "REASON" in frame.columns:
                miss = frame[
                    frame["REASON"].notna() & (frame["REASON"].astype(str).str.strip() != "")
                ]
                if len(miss):
                    cols = [c for c in ("ID", "DVID", "PPTESTCD", "REASON") if c in miss.columns]
                    sec.add(
                        _details(
                            f"Parameters not computed, with reasons ({len(miss)})",
                            frame_table(miss[cols]),
                        )
                    )
            if "ID" in frame.columns:
                sec.add(
                    _details(
                        f"Per-subject NCA parameters ({frame['ID'].nunique()} subjects)",
                        _nca_wide(frame),
                    )
                )
        frames = [_read(p) for p in expo]
        units = _metric_units(frames)
        # a wide and a long table of the same exposure: summarise the wide one only
        wide = [f for f in frames if not {"metric", "value"} <= set(f.columns)]
        for k, (p, frame) in enumerate(zip(expo, frames, strict=True)):
            sec.add(f"<h4>Model-based exposure (<code>{esc(run.rel(p))}</code>)</h4>")
            summarise = frame is wide[0] if wide else k == 0
            rows = _exposure_summary(frame, sec, units) if summarise else []
            if rows:
                sec.add(
                    table(
                        [
                            "Quantity",
                            "Unit",
                            "n",
                            "Geometric mean",
                            "Geometric CV %",
                            "Median",
                            "Range",
                        ],
                        rows,
                        raw_columns=(0, 1),
                        caption="Over subjects, one value per subject",
                    )
                )
            elif not summarise:
                sec.add('<p class="note">The same exposure as above, one row per metric.</p>')
            sec.add(_details(f"All rows ({len(frame)})", _table(run, p, frame, max_rows=500)))
        for p in run.take_tables("exposure_compare"):
            sec.add(_exposure_compare(_read(p), run.rel(p), _units(p)))
        for p in run.take_tables("exposure_pairs"):
            sec.add(_exposure_pairs(_read(p), run.rel(p), units, _units(p)))
        if ncas or sums:
            for p in run.take_tables("rules"):
                frame = _read(p)
                sec.add(
                    _details(
                        f"NCA derivation rules ({len(frame)} rows, {run.rel(p)})",
                        _table(run, p, frame, max_rows=500),
                    )
                )
        sec.add(_figures(run, figs))


def _exposure_source(run: Run) -> str | None:
    """Where a run's model-based exposure comes from, as its manifest records it."""
    res = run.manifest.get("results")
    if isinstance(res, dict) and isinstance(res.get("source"), str):
        return f"model-based, from {res['source']}"
    er = run.manifest.get("er")
    expo = er.get("exposure") if isinstance(er, dict) else None
    if not isinstance(expo, dict):
        return None
    kind = str(expo.get("source", ""))
    if kind == "model":
        fit = str(expo.get("fit", "")).replace("\\", "/").rstrip("/").split("/")[-1]
        parts = [f"model-based, {expo.get('method') or 'from a model fit'}"]
        if fit:
            parts.append(f"from the population fit {fit}")
        if expo.get("model"):
            parts.append(f"model {expo['model']}")
        return ", ".join(parts)
    return _SOURCE_TEXT.get(kind, kind) or None


# ----------------------------------------------------------------------------- RECIST
_BOR_ORDER = ["CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE"]


def _recist_section(runs: list[Run], sec: _Section) -> None:
    for i, run in enumerate(runs):
        bors = run.take_tables("bor")
        tps = run.take_tables("timepoints")
        # waterfall first, then spider, then anything else, as in a response report
        figs = sorted(
            run.take_figures("recist"),
            key=lambda p: (
                0 if "waterfall" in p.stem.lower() else 1 if "spider" in p.stem.lower() else 2,
                p.name,
            ),
        )
        if not (bors or tps or figs):
            continue
        sec.heading("Tumour response (RECIST 1.1)", run, _anchor("recist", i))
        for p in bors:
            frame = _read(p)
            cols = [c for c in ("BOR_CONFIRMED", "BOR_UNCONFIRMED") if c in frame.columns]
            cats = [c for c in _BOR_ORDER if any((frame[k].astype(str) == c).any() for k in cols)]
            cats += sorted({str(v) for k in cols for v in frame[k].dropna()} - set(cats))
            n = len(frame)
            rows = []
            for cat in cats:
                row: list[Any] = [cat]
                for k in cols:
                    m = int((frame[k].astype(str) == cat).sum())
                    row += [m, fmt_pct(100 * m / n if n else math.nan)]
                rows.append(row)
            for label, members in (
                ("ORR (CR + PR)", {"CR", "PR"}),
                ("DCR (CR + PR + SD)", {"CR", "PR", "SD", "NON-CR/NON-PD"}),
            ):
                row = [label]
                for k in cols:
                    m = int(frame[k].astype(str).isin(members).sum())
                    row += [m, fmt_pct(100 * m / n if n else math.nan)]
                rows.append(row)
            header = ["Best overall response"]
            for k in cols:
                word = "confirmed" if k == "BOR_CONFIRMED" else "unconfirmed"
                header += [f"n ({word})", f"% ({word})"]
            sec.add(table(header, rows, caption=f"Best overall response, {n} subjects"))
            sec.add(_details(f"BOR per subject ({n})", _table(run, p, frame)))
        sec.add(_figures(run, figs, stack=True))
        for p in [*tps, *(run.take_tables("rules") if bors or tps else [])]:
            frame = _read(p)
            sec.add(
                _details(
                    f"{'Derivation rules' if 'RULE' in frame.columns else 'Assessments per time point'}"
                    f" ({len(frame)} rows, {run.rel(p)})",
                    _table(run, p, frame),
                )
            )


# ----------------------------------------------------------------------------- E-R
# columns the E-R section lays out itself: those `cartpk er` writes (one definition)
_ER_SHOWN = set(REPORT_COLUMNS)
_SOURCE_TEXT = {
    "model": "model-based exposure",
    "nca": "NCA exposure",
    "subjects": "exposure from the subject table",
}
#: why model-based and NCA-based slopes differ (shown when a run has both)
ER_SOURCES_NOTE = (
    "Each analysis is shown twice: on model-based exposure (each subject's posterior mean "
    "log exposure from the population fit) and on NCA exposure read off the sampled "
    "profile. With sparse sampling (first qPCR sample on day 7, after most peaks, and "
    "late samples below the LLOQ) observed Cmax and AUC are the true exposure plus a "
    "large measurement error, and such an error pulls every exposure slope towards zero "
    "(errors-in-variables attenuation): NCA-based effects look weaker than they are. The "
    "model-based exposure keeps the slopes unbiased (checked by simulation with known "
    "truth, docs/er_exposure.md); where the two rows differ, the model-based row is the "
    "estimate to report."
)


def _ratio_text(r: Any, fold: str) -> str:
    import pandas as pd

    v = r.get(f"or_per_{fold}")
    if v is None or pd.isna(v):
        return "—"
    lo, hi = r.get(f"or_per_{fold}_lower"), r.get(f"or_per_{fold}_upper")
    ci = "" if lo is None or hi is None or pd.isna(lo) else f" ({fmt(lo, 3)}–{fmt(hi, 3)})"
    return f"{fmt(v, 3)}{ci}"


def _term_per(term: object, units: dict[str, str]) -> str:
    """What one unit of an E-R term is: ``ln(cmax)`` (e-fold), a covariate in its unit."""
    import re

    text = "" if term is None else str(term)
    m = re.fullmatch(r"(log|ln|log10)\((\w+)\)", text)
    if m:
        return "per e-fold increase" if m.group(1) != "log10" else "per 10-fold increase"
    if text not in units:
        return ""
    unit = display_unit(units[text]).strip()
    if unit and not unit.startswith("[") and unit != "1":
        return f"per 1 {unit}"
    if unit == "1":
        return "per 1 (dimensionless)"
    return f"per 1 {text} unit (as in the data file)"


def _er_table(frame: Any, units: dict[str, str] | None = None) -> str:
    """Estimates grouped by analysis (endpoint ~ exposure, model), one row per term;
    ``units`` (column -> unit of the subject table) says what one unit of a term is."""
    import pandas as pd

    units = units or {}

    def text(v: Any) -> str:
        return "" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)

    extra = [c for c in frame.columns if c not in _ER_SHOWN]
    header = [
        "Term",
        "Estimate",
        "Effect",
        "95 % interval",
        "Per 2-fold increase (95 % CI)",
        "Per 10-fold increase (95 % CI)",
        "p",
        *extra,
    ]
    keys = [
        c
        for c in ("analysis", "endpoint", "exposure", "model", "exposure_source")
        if c in frame.columns
    ]
    rows: list[list[Any] | str] = []
    classes: list[str] = []
    notes: list[str] = []
    groups = frame.groupby(keys, sort=False, dropna=False) if keys else [((), frame)]
    for key, g in groups:
        kd = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        first = g.iloc[0]
        status = text(first.get("status")) or "ok"
        head = f"{text(kd.get('endpoint'))} ~ {text(kd.get('exposure'))}"
        if kd.get("model") is not None:
            head += f" · {text(kd['model'])}"
        source = text(kd.get("exposure_source"))
        if source:
            head += f" · {_SOURCE_TEXT.get(source, source)}"
        if text(first.get("scale")):
            head += f" (estimates on the {text(first['scale'])} scale)"
        if text(first.get("n")):
            head += f" · n {fmt(first['n'])}"
            if text(first.get("n_events")):
                head += f", {fmt(first['n_events'])} events"
        head += f" · status {status}"
        rows.append(head)
        classes.append("" if status == "ok" else "fail")
        if status != "ok" and text(first.get("message")):
            notes.append(f"{head}: {text(first['message'])}")
        for _, r in g.iterrows():
            lo, hi = r.get("lower"), r.get("upper")
            word = text(r.get("ratio"))
            r2, r10 = _ratio_text(r, "2fold"), _ratio_text(r, "10fold")
            rows.append(
                [
                    display_name(r.get("term")),
                    r.get("estimate"),
                    _term_per(r.get("term"), units),
                    "—" if lo is None or pd.isna(lo) else _range(lo, hi),
                    r2 if r2 == "—" else f"{word} {r2}".strip(),
                    r10 if r10 == "—" else f"{word} {r10}".strip(),
                    fmt(r.get("p_value"), 3),
                    *[r[c] for c in extra],
                ]
            )
            classes.append("")
    # the term is HTML from display_name (escaped there); table() escapes every other cell
    out = table(header, rows, raw_columns=(0,), row_classes=classes)
    if notes:
        out += "<ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>"
    return out


def _er_section(runs: list[Run], sec: _Section) -> None:
    for i, run in enumerate(runs):
        ers = run.take_tables("er")
        figs = run.take_figures("er")
        extras = run.take_tables("er_extra")
        if not (ers or figs):
            run.used.difference_update(extras)
            continue
        sec.heading("Exposure–response", run, _anchor("er", i))
        if source := _exposure_source(run):
            others = {
                o.name: t
                for o in runs
                if o is not run and o.tables.get("exposure") and (t := _exposure_source(o))
            }
            differ = {k: v for k, v in others.items() if v != source}
            extra = "".join(
                f" This is not the model-based exposure of run {k} ({v})."
                for k, v in differ.items()
            )
            sec.add(f'<p class="statement">Exposure source: {esc(source)}.{esc(extra)}</p>')
        info = run.manifest.get("er")
        fits = info.get("fits") if isinstance(info, dict) else None
        if isinstance(fits, list) and fits and all(isinstance(f, dict) for f in fits):
            bad = [f for f in fits if str(f.get("status", "ok")) != "ok"]
            for f in bad:
                sec.add(
                    banner(
                        f"{f.get('endpoint')} ~ {f.get('exposure')} ({f.get('model')}): status "
                        f"“{f.get('status')}”. {f.get('remedy') or ''}".strip(),
                        "warn",
                    )
                )
        for p in ers:
            frame = _read(p)
            sec.add(
                f'<p class="note">Estimates from <code>{esc(run.rel(p))}</code>: exposure '
                "effects per 2-fold and 10-fold increase in exposure, with 95 % intervals.</p>"
            )
            if "exposure_source" in frame.columns and {"model", "nca"} <= set(
                frame["exposure_source"].astype(str)
            ):
                sec.add(f"<p>{esc(ER_SOURCES_NOTE)}</p>")
            subjects = [x for x in extras if x.stem == "er_subjects"]
            sec.add(_er_table(frame, _units(subjects[0]) if subjects else {}))
        sec.add(_figures(run, figs))
        for p in extras:
            frame = _read(p)
            label = run.rel(p)
            if "reason" in frame.columns:
                summary = (
                    f"Subjects excluded from an analysis, with reasons ({len(frame)}, {label})"
                )
            else:
                summary = f"{label} ({len(frame)} rows)"
            sec.add(_details(summary, _table(run, p, frame, max_rows=200)))
