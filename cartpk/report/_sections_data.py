"""Report sections about the runs themselves: overview, data, methods, other outputs, manifests."""

from __future__ import annotations

import datetime as _dt
import json
import math
from pathlib import Path
from typing import Any

from cartpk.report._collect import Run
from cartpk.report._common import (
    _STANDARD_KEYS,
    _anchor,
    _details,
    _figures,
    _flatten,
    _lookup,
    _read,
    _Section,
    _status_banner,
    _table,
    _text,
    _when,
)
from cartpk.report._html import (
    banner,
    display_name,
    display_unit,
    esc,
    fmt,
    fmt_pct,
    frame_table,
    kv_table,
    table,
)

_BLQ = {
    "m1": "M1: observations below the LLOQ are discarded",
    "m2": "M2: observations below the LLOQ are discarded and the likelihood is conditioned "
    "on values above the LLOQ",
    "m3": "M3: each BLQ observation enters the likelihood as the probability of a value "
    "below the LLOQ (Beal 2001)",
    "m4": "M4: as M3, conditioned on the value being positive (Beal 2001)",
    "m5": "M5: BLQ observations replaced by LLOQ/2",
    "m6": "M6: first BLQ observation of a run replaced by LLOQ/2, the rest discarded",
    "m7": "M7: BLQ observations replaced by 0",
}


# ----------------------------------------------------------------------------- overview
def _overview(runs: list[Run]) -> str:
    rows = []
    row_classes = []
    for i, run in enumerate(runs):
        badge = (
            f'<span class="badge">{esc(run.status)}</span>'
            if run.ok
            else f'<span class="badge bad">⚠ {esc(run.status)}</span>'
        )
        rows.append(
            [
                f'<a href="#{_anchor("manifest", i)}">{esc(run.name)}</a>',
                f"<code>{esc(run.command)}</code>",
                badge,
                esc(fmt(run.manifest.get("seed"))),
                esc(_when(run.manifest.get("finished"))),
            ]
        )
        row_classes.append("" if run.ok else "fail")
    out = [
        table(
            ["Run", "Command", "Status", "Seed", "Finished"],
            rows,
            raw_columns=range(5),
            row_classes=row_classes,
        )
    ]
    for run in runs:
        if not run.ok:
            out.append(_status_banner(run))
        for w in run.manifest.get("warnings") or []:
            text = (
                f"[{w.get('code', 'warning')}] {w.get('message', '')}"
                if isinstance(w, dict)
                else str(w)
            )
            out.append(banner(f"{run.name}: {text}", "warn"))
    return "".join(out)


# ----------------------------------------------------------------------------- data
def _data_section(runs: list[Run], sec: _Section) -> None:
    for i, run in enumerate(runs):
        summary_json = next((p for p in run.other if p.name.endswith("summary.json")), None)
        summary_txt = next((p for p in run.other if p.name.endswith("summary.txt")), None)
        excl = run.take_tables("exclusions")
        conv = run.take_tables("conversions")
        figs = run.take_figures("data")
        if not (summary_json or summary_txt or excl or conv or figs):
            continue
        sec.heading("Data summary", run, _anchor("data", i))
        summary: dict[str, Any] | None = None
        if summary_json is not None:
            try:
                loaded = json.loads(summary_json.read_text(encoding="utf-8"))
                summary = loaded if isinstance(loaded, dict) else None
            except (OSError, json.JSONDecodeError):
                summary = None
        if summary is not None:
            sec.add(_data_summary(summary))
        elif summary_txt is not None:
            sec.add(f"<pre>{esc(summary_txt.read_text(encoding='utf-8'))}</pre>")
        sec.add("<h4>Excluded records</h4>")
        if excl:
            for p in excl:
                frame = _read(p)
                if len(frame):
                    sec.add(
                        f"<p>{len(frame)} record(s) not used, each with its reason "
                        f"(<code>{esc(run.rel(p))}</code>):</p>"
                    )
                    sec.add(_table(run, p, frame))
                else:
                    sec.add("<p>No records were excluded.</p>")
        elif summary is not None and isinstance(summary.get("exclusions"), list):
            rows = summary["exclusions"]
            if rows:
                cols = list(rows[0].keys())
                sec.add(table(cols, [[r.get(c) for c in cols] for r in rows]))
            else:
                sec.add("<p>No records were excluded.</p>")
        else:
            sec.add('<p class="note">No exclusion list in this run folder.</p>')
        conversions = [_read(p) for p in conv]
        if conversions and any(len(f) for f in conversions):
            sec.add("<h4>Recorded conversions of the input</h4>")
            for frame in conversions:
                sec.add(frame_table(frame))
        elif summary is not None and summary.get("conversions"):
            rows = summary["conversions"]
            cols = list(rows[0].keys())
            sec.add("<h4>Recorded conversions of the input</h4>")
            sec.add(table(cols, [[r.get(c) for c in cols] for r in rows]))
        sec.add(_figures(run, figs))


def _data_summary(s: dict[str, Any]) -> str:
    out = [
        kv_table(
            [
                ("Source", str(s.get("source", "—"))),
                ("Subjects", s.get("subjects")),
                ("Records", s.get("records")),
                ("Doses", s.get("doses")),
            ]
        )
    ]
    obs = s.get("observations") or {}
    if isinstance(obs, dict) and obs:
        rows = []
        for dvid, o in obs.items():
            n, blq = o.get("n"), o.get("blq")
            pct = (
                100 * blq / n
                if isinstance(n, int | float) and n and isinstance(blq, int | float)
                else None
            )
            rows.append(
                [dvid, display_unit(o.get("unit")), n, blq, fmt_pct(pct), o.get("subjects")]
            )
        out.append(
            table(
                ["Endpoint (DVID)", "Unit", "Observations", "BLQ", "BLQ %", "Subjects"],
                rows,
                caption="Observations per endpoint",
            )
        )
    blq = s.get("blq_fraction") or {}
    if isinstance(blq, dict) and blq:
        days = sorted(
            {d for fr in blq.values() for d in fr},
            key=lambda d: float(d) if _isfloat(d) else math.inf,
        )
        rows = [
            [dvid, *[fmt_pct(100 * fr[d], 0) if d in fr else "—" for d in days]]
            for dvid, fr in blq.items()
        ]
        out.append(
            table(
                ["DVID", *[f"day {d}" for d in days]],
                rows,
                caption="Fraction below the LLOQ (%) per nominal day",
            )
        )
    ev = s.get("events") or {}
    if isinstance(ev, dict) and ev:
        rows = [[k, v.get("subjects"), v.get("max_grade")] for k, v in ev.items()]
        out.append(table(["Event", "Subjects", "Max grade"], rows, caption="Graded events"))
    cov = s.get("covariates") or {}
    if isinstance(cov, dict) and (cov.get("baseline") or cov.get("time_varying")):
        out.append(
            kv_table(
                [
                    ("Baseline covariates", ", ".join(map(str, cov.get("baseline") or [])) or "—"),
                    (
                        "Time-varying covariates",
                        ", ".join(map(str, cov.get("time_varying") or [])) or "—",
                    ),
                ]
            )
        )
    return "".join(out)


def _isfloat(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# ----------------------------------------------------------------------------- methods
def _analysis_kind(run: Run) -> str:
    cmd = run.manifest.get("command")
    words = cmd if isinstance(cmd, list) else str(cmd or "").split()
    for w in words[1:3]:
        if isinstance(w, str) and w in {
            "fit",
            "nca",
            "recist",
            "er",
            "demo",
            "validate",
            "run",
            "simulate",
        }:
            return w
    return "analysis"


def _has_results(run: Run) -> bool:
    analytic = {
        "nca",
        "nca_summary",
        "er",
        "timepoints",
        "bor",
        "predictions",
        "individual",
        "population",
        "diagnostics",
        "exposure",
    }
    return (
        bool(analytic & set(run.tables))
        or bool(run.spec)
        or any(k not in _STANDARD_KEYS for k in run.manifest)
    )


def _model_provenance(model: str) -> str:
    """One sentence: how a catalogue model's blocks were checked ("" when not in it)."""
    from cartpk.errors import ModelError
    from cartpk.model._catalogue import catalogue_names, catalogue_provenance

    name = model.strip()
    try:
        if name not in catalogue_names():
            return ""
        blocks = catalogue_provenance(name)
    except ModelError:  # no catalogue in this installation, or a broken catalogue file
        return ""
    if not blocks:
        return ""
    levels = ", ".join(f"{b} {v['level']}" for b, v in blocks.items())
    return (
        f"Model provenance ({esc(name)}): {esc(levels)} (verified: checked against the "
        "publication; transcribed: from an independent transcription; assumed: "
        "placeholder; sources: <code>cartpk models --format json</code>)."
    )


def _methods_section(runs: list[Run], sec: _Section) -> None:
    for i, run in enumerate(runs):
        if not _has_results(run):
            continue
        sec.heading("Model and method", run, _anchor("methods", i))
        extras = {k: v for k, v in run.manifest.items() if k not in _STANDARD_KEYS}
        items = _flatten(run.spec) + _flatten(extras)
        model = _lookup(items, "model", "model_name")
        method = _lookup(items, "method")
        engine = _lookup(items, "engine", "backend", "sampler", "nuts_sampler", "optimizer")
        blq = _lookup(items, "blq", "censoring", "blq_method", "cens_method")
        error = _lookup(items, "error", "error_model", "residual_error")
        data = _lookup(items, "data", "dataset")
        sentences = []
        kind = _analysis_kind(run)
        what = {
            "fit": "Model fit",
            "nca": "Non-compartmental analysis",
            "recist": "RECIST 1.1 response assessment",
            "er": "Exposure–response analysis",
            "demo": "End-to-end demonstration run",
            "validate": "Data validation",
        }.get(kind, "Analysis")
        s = what
        if model is not None:
            s += f" of model <code>{esc(_text(model))}</code>"
        if data is not None:
            s += f" to data <code>{esc(_text(data))}</code>"
        if method is not None:
            s += f", method <b>{esc(_text(method))}</b>"
        if engine is not None:
            s += f", engine <b>{esc(_text(engine))}</b>"
        sentences.append(s + ".")
        if model is not None and (prov := _model_provenance(_text(model))):
            sentences.append(prov)
        if blq is not None:
            desc = _BLQ.get(str(blq).lower(), str(blq))
            sentences.append(f"Censored (BLQ) observations: {esc(desc)}.")
        if error is not None:
            sentences.append(f"Residual error: {esc(_text(error))}.")
        sampler = [
            (n, _lookup(items, n))
            for n in ("chains", "draws", "tune", "warmup", "target_accept", "cores")
        ]
        sampler = [(n, v) for n, v in sampler if v is not None]
        if sampler:
            sentences.append(
                "Sampler: " + esc(", ".join(f"{n} {_text(v)}" for n, v in sampler)) + "."
            )
        settings = run.manifest.get("settings")
        if isinstance(settings, dict) and settings:
            sentences.append("Settings: " + esc(_text(settings).replace("=", " ")) + ".")
        seed = run.manifest.get("seed")
        if seed is not None:
            sentences.append(f"Master seed {esc(fmt(seed))}.")
        sec.add('<div class="statement">' + " ".join(sentences) + "</div>")
        for key, value in run.spec.items():
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                cols = list(dict.fromkeys(k for v in value for k in v))
                sec.add(f"<h4>{esc(key.replace('_', ' ').capitalize())} ({len(value)})</h4>")
                sec.add(table(cols, [[_text(v[c]) if c in v else "" for c in cols] for v in value]))
        priors = _lookup(items, "priors", "prior")
        if isinstance(priors, str | int | float) and not isinstance(priors, bool):
            sec.add(f"<p>Priors: <b>{esc(_text(priors))}</b>.</p>")
            priors_items: list[tuple[str, Any]] = []
        elif priors is None:
            priors_items = [
                (k, v) for k, v in items if ".priors." in f".{k}." or k.startswith("priors.")
            ]
        else:
            priors_items = _flatten(priors) if isinstance(priors, dict) else [("priors", priors)]
        for p in run.take_tables("priors"):
            frame = _read(p)
            sec.add(f"<h4>Priors (<code>{esc(run.rel(p))}</code>)</h4>")
            rows = [
                [
                    display_name(r["parameter"]),
                    *[esc(fmt(r[c])) for c in frame.columns if c != "parameter"],
                ]
                for _, r in frame.iterrows()
            ]
            sec.add(
                table(
                    ["parameter", *[c for c in frame.columns if c != "parameter"]],
                    rows,
                    raw_columns=range(len(frame.columns)),
                )
            )
        if priors_items:
            sec.add("<h4>Priors</h4>")
            sec.add(
                table(
                    ["Parameter", "Prior"],
                    [
                        [display_name(k.split(".")[-1] if "." in k else k), esc(_text(v))]
                        for k, v in priors_items
                    ],
                    raw_columns=(0, 1),
                )
            )
        if items:
            sec.add(
                _details(
                    "All settings of this run (specification and manifest entries)",
                    kv_table([(k, esc(_text(v))) for k, v in items], raw=True),
                )
            )


# ----------------------------------------------------------------------------- other
def _other_section(runs: list[Run], sec: _Section) -> None:
    for i, run in enumerate(runs):
        tables = [p for ps in run.tables.values() for p in ps if p not in run.used]
        figs = [p for ps in run.figures.values() for p in ps if p not in run.used]
        files = [p for p in run.other if not p.name.endswith(("summary.json", "summary.txt"))]
        if not (tables or figs or files):
            continue
        sec.heading("Other outputs", run, _anchor("other", i))
        for p in tables:
            frame = _read(p)
            sec.add(
                _details(f"{run.rel(p)} ({len(frame)} rows)", _table(run, p, frame, max_rows=200))
            )
        sec.add(_figures(run, figs))
        if len(files) > 25:  # e.g. a study's task records: one row per folder
            by_dir: dict[str, list[Path]] = {}
            for p in files:
                by_dir.setdefault(p.parent.relative_to(run.path).as_posix() or ".", []).append(p)
            rows = [
                [f"{d}/ ({len(ps)} files)", f"{sum(p.stat().st_size for p in ps):,} bytes"]
                for d, ps in by_dir.items()
            ]
            sec.add(table(["Files (not shown)", "Size"], rows))
        elif files:
            rows = [[run.rel(p), f"{p.stat().st_size:,} bytes"] for p in files]
            sec.add(table(["File (not shown)", "Size"], rows))


# ----------------------------------------------------------------------------- manifests
def _duration(m: dict[str, Any]) -> str:
    try:
        a = _dt.datetime.fromisoformat(str(m["started"]))
        b = _dt.datetime.fromisoformat(str(m["finished"]))
    except (KeyError, ValueError):
        return "—"
    return f"{(b - a).total_seconds():.0f} s"


def _versions_grid(versions: dict[str, Any], per_row: int = 4) -> str:
    cells = [
        f'<td class="k">{esc(k)}</td><td>{esc(v if v is not None else "not installed")}</td>'
        for k, v in versions.items()
    ]
    rows = ["".join(cells[i : i + per_row]) for i in range(0, len(cells), per_row)]
    body = "".join(f"<tr>{r}</tr>" for r in rows)
    return f'<div class="tablewrap"><table class="versions"><tbody>{body}</tbody></table></div>'


def _manifest_section(runs: list[Run], sec: _Section) -> None:
    for i, run in enumerate(runs):
        m = run.manifest
        sec.heading("Run manifest", run, _anchor("manifest", i))
        status = (
            f'<span class="badge">{esc(run.status)}</span>'
            if run.ok
            else f'<span class="badge bad">⚠ {esc(run.status)}</span>'
        )
        sec.add(
            kv_table(
                [
                    ("Folder", esc(str(m.get("folder") or run.path))),
                    ("Status", status),
                    ("Command", f"<code>{esc(run.command)}</code>"),
                    ("Seed", esc(fmt(m.get("seed")))),
                    ("Started", esc(_when(m.get("started")))),
                    ("Finished", esc(_when(m.get("finished")))),
                    ("Duration", esc(_duration(m))),
                    ("Platform", esc(m.get("platform") or "—")),
                ],
                raw=True,
            )
        )
        versions = m.get("versions") or {}
        if isinstance(versions, dict) and versions:
            sec.add("<h4>Versions</h4>" + _versions_grid(versions))
        inputs = m.get("inputs") or {}
        if isinstance(inputs, dict) and inputs:
            rows = [[esc(k), f'<span class="mono">{esc(v)}</span>'] for k, v in inputs.items()]
            sec.add(table(["Input file", "SHA-256"], rows, raw_columns=(0, 1), caption="Inputs"))
        else:
            sec.add('<p class="note">No input files recorded.</p>')
        if run.spec:
            sec.add("<h4>Specification</h4>")
            sec.add(f"<pre>{esc(json.dumps(run.spec, indent=2, default=str))}</pre>")
        files = m.get("files") or []
        if files:
            # presence is what is on disk, not what the report chose to show
            same = {run.rel(a): run.rel(b) for a, b in run.aliases.items()}
            on_disk = {str(f) for f in files if (run.path / str(f)).is_file()}
            rows = [
                [
                    f,
                    ("yes" + (f" (same bytes as {same[f]})" if f in same else ""))
                    if f in on_disk
                    else "MISSING",
                ]
                for f in files
            ]
            classes = ["" if f in on_disk else "fail" for f in files]
            sec.add(
                _details(
                    f"Files listed in the manifest ({len(files)})",
                    table(["File", "Present"], rows, row_classes=classes),
                )
            )
        extras = {k: v for k, v in m.items() if k not in _STANDARD_KEYS}
        if extras:
            sec.add(
                _details(
                    "Other manifest entries",
                    f"<pre>{esc(json.dumps(extras, indent=2, default=str))}</pre>",
                )
            )
