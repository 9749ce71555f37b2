"""HTML building blocks of the report: escaping, numbers, tables, figures, the stylesheet.

Every piece of text that reaches the page goes through :func:`esc` (``html.escape``);
functions here return HTML fragments as strings. No JavaScript and no network references:
figures are embedded as base64 ``data:`` URIs and the stylesheet is inline.
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cartpk.data._endpoints import display_unit

__all__ = [
    "CSS",
    "banner",
    "display_name",
    "display_unit",
    "esc",
    "figure",
    "fmt",
    "fmt_pct",
    "kv_table",
    "table",
]

_GREEK = {
    "omega": "ω",
    "sigma": "σ",
    "eta": "η",
    "theta": "θ",
    "rho": "ρ",
    "kappa": "κ",
}
# role prefixes only: `alpha` and `beta` are Stein's rate constants and keep their names
_GREEK_RE = re.compile(r"^(omega|sigma|eta|theta|rho|kappa)(?=_|$)")


def esc(value: object) -> str:
    """Text escaped for HTML (quotes included)."""
    return html.escape("" if value is None else str(value), quote=True)


def display_name(name: object) -> str:
    """Display form of a parameter name, escaped: ``omega_cmax`` -> ``ω_cmax``.

    The identifier itself is kept in the ``title`` attribute so the page can be searched
    for the name used in the CSV files.

    Examples
    --------
    >>> display_name("omega_cmax")
    '<span class="pname" title="omega_cmax">ω_cmax</span>'
    >>> display_name("beta")
    '<span class="pname" title="beta">beta</span>'
    """
    raw = "" if name is None else str(name)
    shown = _GREEK_RE.sub(lambda m: _GREEK[m.group(1)], raw)
    return f'<span class="pname" title="{esc(raw)}">{esc(shown)}</span>'


def _is_missing(x: object) -> bool:
    """True for ``None``, NaN, ``pd.NA`` and ``NaT`` scalars."""
    if x is None:
        return True
    if isinstance(x, float):
        return math.isnan(x)
    import pandas as pd

    if pd.api.types.is_scalar(x):
        return bool(pd.isna(x))
    return False


def fmt(x: object, digits: int = 4) -> str:
    """A value as display text (not escaped): numbers to ``digits`` significant figures.

    Missing values become an em dash; very large or small magnitudes use ``e`` notation.

    Examples
    --------
    >>> fmt(24000.0), fmt(0.0079), fmt(1.5), fmt(float("nan")), fmt(1.2345e7), fmt(True)
    ('24000', '0.0079', '1.5', '—', '1.23e+07', 'yes')
    """
    if _is_missing(x):
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "no"
    try:
        import numpy as np

        if isinstance(x, np.bool_):
            return "yes" if bool(x) else "no"
        if isinstance(x, np.integer):
            return str(int(x))
        if isinstance(x, np.floating):
            x = float(x)
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        if math.isinf(x):
            return "∞" if x > 0 else "−∞"
        if x == 0:
            return "0"
        mag = abs(x)
        if mag >= 1e6 or mag < 1e-3:
            return f"{x:.{max(digits - 2, 1)}e}"
        decimals = max(0, digits - 1 - math.floor(math.log10(mag)))
        text = f"{x:.{decimals}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text
    return str(x)


def fmt_pct(x: object, decimals: int = 1) -> str:
    """A percentage to ``decimals`` decimals (no % sign); em dash when missing.

    Examples
    --------
    >>> fmt_pct(12.345), fmt_pct(None)
    ('12.3', '—')
    """
    if _is_missing(x):
        return "—"
    try:
        value = float(x)  # type: ignore[arg-type]
        if abs(value) >= 1e5:  # a CV of 10^5 % is a symptom to show, not to read digits of
            return fmt(value, 3)
        return f"{value:.{decimals}f}"
    except (TypeError, ValueError):
        return str(x)


_NUMERIC_TEXT = re.compile(
    r"^\s*[−+-]?\d[\d.,]*(e[+-]?\d+)?%?(\s*–\s*[−+-]?\d[\d.,]*(e[+-]?\d+)?)?\s*$"
)


def _cell(value: object, *, raw: bool = False, cls: str = "") -> str:
    text = str(value) if raw else esc(fmt(value))
    numeric = (not raw and _is_number(value)) or (
        isinstance(value, str) and bool(_NUMERIC_TEXT.match(value))
    )
    if not cls and numeric:
        cls = "num"
    attr = f' class="{cls}"' if cls else ""
    return f"<td{attr}>{text}</td>"


def _is_number(value: object) -> bool:
    if isinstance(value, bool) or _is_missing(value):
        return False
    try:
        import numpy as np

        return isinstance(value, int | float | np.integer | np.floating)
    except ImportError:  # pragma: no cover
        return isinstance(value, int | float)


def table(
    columns: Sequence[str],
    rows: Iterable[Sequence[object] | str],
    *,
    raw_columns: Iterable[int] = (),
    row_classes: Sequence[str] | None = None,
    cell_classes: Mapping[tuple[int, int], str] | None = None,
    caption: str | None = None,
    css: str = "data",
) -> str:
    """An HTML table.

    Parameters
    ----------
    columns : sequence of str
        Header texts (escaped).
    rows : iterable of sequences or str
        Cell values; formatted with :func:`fmt` and escaped, except in ``raw_columns``.
        A string row is a group heading spanning all columns.
    raw_columns : iterable of int
        Column positions whose cells are already HTML (built with :func:`esc`).
    row_classes : sequence of str, optional
        CSS class of each row (``"fail"`` highlights a row).
    cell_classes : mapping, optional
        ``(row, column) -> CSS class`` for single cells.
    caption : str, optional
        Caption text (escaped).
    css : str
        CSS class of the table.
    """
    raw = set(raw_columns)
    cells = dict(cell_classes or {})
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = []
    for i, row in enumerate(rows):
        rc = row_classes[i] if row_classes is not None and i < len(row_classes) else ""
        if isinstance(row, str):  # a group heading spanning the table
            cls = f"group {rc}".strip()
            body.append(f'<tr class="{cls}"><td colspan="{len(columns)}">{esc(row)}</td></tr>')
            continue
        tds = "".join(_cell(v, raw=j in raw, cls=cells.get((i, j), "")) for j, v in enumerate(row))
        attr = f' class="{rc}"' if rc else ""
        body.append(f"<tr{attr}>{tds}</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (
        f'<div class="tablewrap"><table class="{css}">{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


#: width of the report's content column (px) that a table must fit without a scroll bar
#: at a 1,400-px window; and the estimated width of one character of table text (0.9rem)
TABLE_WIDTH_PX = 1080
_CHAR_PX = 7.6
_CELL_PAD_PX = 22  # 10 px padding each side, plus borders
_TEXT_CELL_PX = 320  # wrapping text cells are counted at most this wide


def _column_px(name: str, values: Sequence[object]) -> float:
    """Estimated rendered width of a column: its header (never wrapped) or its widest
    cell (numbers never wrap; text wraps, so it counts at most ``_TEXT_CELL_PX``)."""
    head = len(name) * _CHAR_PX
    widest = 0.0
    for v in values:
        text = fmt(v) if not isinstance(v, str) else v
        w = len(text) * _CHAR_PX
        widest = max(widest, w if _is_number(v) else min(w, _TEXT_CELL_PX))
    return max(head, widest) + _CELL_PAD_PX


#: columns that hold a unit per row (shown in their display spelling, ``µg``)
UNIT_COLUMNS = frozenset({"unit", "PPORRESU", "PPSTRESU", "UNIT"})


def unit_header(column: str, unit: object) -> str:
    """A column header with its unit: ``cmax (copies/µg)``; the bare name when the column
    is not a quantity (``""``), dimensionless (``"1"``) or has a unit per row (``[unit]``).

    Examples
    --------
    >>> unit_header("cmax", "copies/ug"), unit_header("n", "1"), unit_header("v", "[unit]")
    ('cmax (copies/µg)', 'n', 'v')
    """
    text = display_unit(unit).strip()
    if not text or text == "1" or text.startswith("["):
        return column
    return f"{column} ({text})"


def frame_table(
    frame: Any,
    *,
    caption: str | None = None,
    max_rows: int | None = None,
    units: Mapping[str, str] | None = None,
) -> str:
    """A pandas DataFrame as an HTML table (every cell escaped).

    Columns are shown from the left while they fit :data:`TABLE_WIDTH_PX` (a 1,400-px
    window, no horizontal scroll bar); a note then names the columns left out, which the
    table's CSV file holds. ``units`` (column -> unit, as in ``columns.csv``) puts each
    column's unit in its header (:func:`unit_header`); unit columns (``unit``,
    ``PPORRESU``) show the display spelling (``µg``).
    """
    shown = frame if max_rows is None else frame.head(max_rows)
    names = [str(c) for c in frame.columns]
    fix = [j for j, c in enumerate(names) if c in UNIT_COLUMNS]
    if fix:
        shown = shown.copy()
        for j in fix:
            shown.isetitem(j, [display_unit(v) or "—" for v in shown.iloc[:, j]])
    columns = [unit_header(c, (units or {}).get(c)) for c in names]
    keep, used = [], 0.0
    for j, c in enumerate(columns):
        w = _column_px(c, list(shown.iloc[:, j]))
        if keep and used + w > TABLE_WIDTH_PX:
            break
        keep.append(j)
        used += w
    rows = [[r[j] for j in keep] for r in shown.itertuples(index=False, name=None)]
    out = table([columns[j] for j in keep], rows, caption=caption)
    notes = []
    if len(keep) < len(columns):
        rest = columns[len(keep) :]
        named = ", ".join(rest[:12]) + (f" and {len(rest) - 12} more" if len(rest) > 12 else "")
        notes.append(
            f"First {len(keep)} of {len(columns)} columns shown (to fit the page); not shown: "
            f"{named}. Every column is in the CSV file."
        )
    if max_rows is not None and len(frame) > max_rows:
        notes.append(f"First {max_rows} of {len(frame)} rows shown.")
    if notes:
        out += f'<p class="note">{esc(" ".join(notes))}</p>'
    return out


def kv_table(pairs: Iterable[tuple[str, object]], *, raw: bool = False) -> str:
    """A two-column key/value table; values escaped unless ``raw``."""
    rows = []
    for k, v in pairs:
        value = v if raw else esc(fmt(v) if not isinstance(v, str) else v)
        rows.append(f"<tr><th>{esc(k)}</th><td>{value}</td></tr>")
    return f'<div class="tablewrap"><table class="kv"><tbody>{"".join(rows)}</tbody></table></div>'


def banner(text: str, level: str = "warn") -> str:
    """A visible warning (``level`` ``"warn"`` or ``"fail"``); ``text`` is escaped."""
    icon = "⚠" if level == "warn" else "✖"
    return f'<div class="banner {esc(level)}" role="alert"><b>{icon}</b> {esc(text)}</div>'


_SIGNATURES = {
    "png": (b"\x89PNG\r\n\x1a\n", "image/png"),
    "jpg": (b"\xff\xd8\xff", "image/jpeg"),
    "jpeg": (b"\xff\xd8\xff", "image/jpeg"),
    "gif": (b"GIF8", "image/gif"),
}


def figure(path: Path, caption: str, *, wide: bool = False) -> str:
    """A figure file embedded as a base64 ``data:`` URI with an escaped caption.

    A file that is not a valid image of its type is not embedded (it would show as a
    broken image); a warning says so instead.
    """
    ext = path.suffix.lower().lstrip(".")
    data = path.read_bytes()
    if ext == "svg":
        ok, mime = b"<svg" in data[:4096], "image/svg+xml"
    else:
        sig, mime = _SIGNATURES.get(ext, (b"", ""))
        ok = bool(sig) and data.startswith(sig) and len(data) > len(sig) + 16
    if not ok:
        return banner(f"{path.name}: not a valid {ext.upper()} file; figure not shown", "fail")
    uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    cls = "fig wide" if wide else "fig"
    return (
        f'<figure class="{cls}"><img src="{uri}" alt="{esc(caption)}" loading="eager">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


CSS = """
:root { --ink:#1d2733; --muted:#5b6776; --line:#d8dee6; --band:#12395f; --accent:#1f6fb2;
        --warn-bg:#fff4d6; --warn-line:#e0a100; --fail-bg:#fde8e8; --fail-line:#c62828;
        --ok:#2e7d32; --zebra:#f6f8fa; }
* { box-sizing: border-box; }
html { font-size: 15px; }
body { margin:0; color:var(--ink); background:#eef1f5;
       font-family: "Segoe UI", "Helvetica Neue", Helvetica, Arial, "Liberation Sans",
                    "DejaVu Sans", sans-serif; line-height:1.45; }
header.top { background:var(--band); color:#fff; padding:28px 40px 22px; }
header.top h1 { margin:0 0 4px; font-size:1.9rem; font-weight:600; letter-spacing:.01em; }
header.top .sub { color:#c9d8e8; font-size:.95rem; }
header.top .runs { margin-top:12px; display:flex; flex-wrap:wrap; gap:8px; }
header.top .chip { background:rgba(255,255,255,.12); border:1px solid rgba(255,255,255,.25);
       border-radius:14px; padding:2px 12px; font-size:.85rem; }
header.top .chip.bad { background:#e0a100; color:#1d2733; border-color:#e0a100; font-weight:600; }
main { max-width:1180px; margin:0 auto; padding:24px 32px 60px; background:#fff;
       box-shadow:0 0 0 1px var(--line); }
nav.toc { border:1px solid var(--line); border-radius:6px; padding:10px 20px 12px;
          background:var(--zebra); margin:8px 0 24px; }
nav.toc h2 { font-size:1rem; margin:4px 0 6px; border:0; padding:0; }
nav.toc ol { margin:0; padding-left:22px; columns:2; column-gap:40px; }
nav.toc li { margin:2px 0; }
nav.toc ol ol { columns:1; padding-left:18px; font-size:.9rem; }
a { color:var(--accent); text-decoration:none; } a:hover { text-decoration:underline; }
h2 { font-size:1.45rem; margin:36px 0 12px; padding-bottom:6px; border-bottom:2px solid var(--band);
     color:var(--band); }
h3 { font-size:1.12rem; margin:24px 0 8px; color:var(--ink); }
h3 .run { font-weight:400; color:var(--muted); font-size:.9rem; margin-left:6px; }
h4 { font-size:1rem; margin:16px 0 6px; color:var(--muted); }
p { margin:6px 0 10px; } .note { color:var(--muted); font-size:.88rem; }
.statement { background:var(--zebra); border-left:4px solid var(--accent); padding:10px 14px;
             margin:8px 0 12px; }
code, pre, .mono { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size:.85rem; }
pre { background:var(--zebra); border:1px solid var(--line); padding:10px; overflow-x:auto;
      white-space:pre-wrap; word-break:break-word; }
.tablewrap { overflow-x:auto; margin:8px 0 14px; }
table { border-collapse:collapse; font-size:.9rem; }
table.data { min-width:40%; }
table.data caption { caption-side:top; text-align:left; font-weight:600; padding:4px 0; }
table.data th { background:#e9eef4; text-align:left; font-weight:600; padding:6px 10px;
                border-bottom:2px solid #b9c4d0; white-space:nowrap; }
table.data td { padding:5px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
table.data tbody tr:nth-child(even) { background:var(--zebra); }
table.data td.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
table.data tr.group td { background:#dde6ef; font-weight:600; color:var(--band); }
table.data tr.fail td, table.data td.fail { background:var(--fail-bg); color:#8e1b1b; }
table.data tr.warn td { background:var(--warn-bg); }
table.data .ci { color:var(--muted); font-size:.8rem; }
table.data tr.group.fail td { background:#f6d0d0; color:#8e1b1b; }
table.data td.fail { font-weight:600; }
table.data td.pass { color:var(--ok); }
table.kv th { text-align:left; padding:3px 14px 3px 0; color:var(--muted); font-weight:600;
              vertical-align:top; white-space:nowrap; }
table.kv td { padding:3px 0; word-break:break-word; }
table.versions td { padding:2px 18px 2px 0; font-size:.85rem; }
table.versions td.k { color:var(--muted); }
.banner { border:1px solid var(--warn-line); background:var(--warn-bg); border-left:6px solid
          var(--warn-line); padding:10px 14px; margin:10px 0; border-radius:4px; }
.banner.fail { border-color:var(--fail-line); background:var(--fail-bg); }
.badge { display:inline-block; white-space:nowrap; border-radius:10px; padding:0 9px; font-size:.8rem; font-weight:600;
         background:#e3f1e4; color:var(--ok); }
.badge.bad { background:var(--fail-bg); color:var(--fail-line); }
.figs { display:grid; grid-template-columns:repeat(auto-fill, minmax(440px, 1fr)); gap:16px; }
figure.fig { margin:10px 0; padding:8px; border:1px solid var(--line); border-radius:4px;
             background:#fff; text-align:center; }
figure.fig img { max-width:100%; height:auto; display:block; margin:0 auto; }
figure.fig.wide img { max-width:min(100%, 920px); }
figure.fig figcaption { font-size:.85rem; color:var(--muted); margin-top:6px; }
details { margin:8px 0 12px; } details > summary { cursor:pointer; color:var(--accent); }
footer { text-align:center; color:var(--muted); font-size:.8rem; padding:16px; }
@media print { body { background:#fff; } main { box-shadow:none; max-width:none; }
  details { display:block; } .figs { display:block; } h2 { break-after:avoid; }
  figure.fig { break-inside:avoid; } }
"""
