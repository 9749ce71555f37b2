"""Small SDTM studies with known answers, written to a folder for the conversion tests.

:func:`study` returns the domains of a three-subject CAR-T study (one frame per domain);
:func:`write_study` writes them as CSV (or ``.xpt`` / Dataset-JSON for chosen domains).

The study (``TIME`` = days since the CAR-T infusion of the subject):

* ``S1``: infusion 1e8 cells at 2024-01-10T10:00; qPCR (PC ``CARQPCR``, BLOOD,
  copies/ug) pre-dose (not used), 500 at 1.0 day, ``<BLQ`` (LLOQ 20) at 7.0 days, one
  ``NOT DONE``; LB IL-6 35 pg/mL on 2024-01-11T10:00 (1.0), ``< 2`` (LLOQ 2) on
  2024-01-17T10:00 (7.0), ALT (not in the map: not used); AE CRS grade 2 on 2024-01-12
  (date only: 1.583 days), pyrexia without grade (not used).
* ``S2``: infusion 2e8 cells on 2024-02-01 (study day 1); qPCR by study day only: day -1
  (before the dose, not used), day 8 (7.0 days), day 15 (14.0); IL-6 9 pg/mL on day 4
  (3.0); ICANS grade 3 on 2024-02-05 (4.0); death 2024-03-01 (DS; day 29.0).
* ``S3``: placebo (``EXDOSE`` 0: no dose): its records are not used.
* SV: a domain that is not converted.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["study", "write_study", "write_dataset_json", "write_xpt"]

NA = np.nan


def _frame(domain: str, columns: list[str], rows: list[tuple[object, ...]]) -> pd.DataFrame:
    f = pd.DataFrame(rows, columns=columns)
    f.insert(0, "DOMAIN", domain)
    f.insert(0, "STUDYID", "CART01")
    return f


def study() -> dict[str, pd.DataFrame]:
    """The domains of the three-subject study (fresh frames, free to modify)."""
    dm = _frame(
        "DM",
        ["USUBJID", "AGE", "SEX", "RACE", "ETHNIC", "ACTARMCD", "COUNTRY", "DTHDTC", "DTHFL"],
        [
            ("S1", 61, "F", "WHITE", "NOT HISPANIC OR LATINO", "CART", "USA", NA, NA),
            ("S2", 47, "M", "ASIAN", "NOT HISPANIC OR LATINO", "CART", "JPN", "2024-03-01", "Y"),
            ("S3", 55, "M", "WHITE", "HISPANIC OR LATINO", "PBO", "USA", NA, NA),
        ],
    )
    ex = _frame(
        "EX",
        ["USUBJID", "EXSEQ", "EXTRT", "EXDOSE", "EXDOSU", "EXDOSFRQ", "EXSTDTC", "EXSTDY"],
        [
            ("S1", 1, "CART-19", 1e8, "cells", "ONCE", "2024-01-10T10:00", 1),
            ("S2", 1, "CART-19", 2e8, "cells", "ONCE", "2024-02-01", 1),
            ("S3", 1, "PLACEBO", 0, "cells", "ONCE", "2024-01-20", 1),
        ],
    )
    pc_cols = [
        "USUBJID", "PCSEQ", "PCTESTCD", "PCSPEC", "PCORRES", "PCSTRESC", "PCSTRESN",
        "PCSTRESU", "PCLLOQ", "PCSTAT", "PCDTC", "PCDY",
    ]  # fmt: skip
    pc = _frame(
        "PC",
        pc_cols,
        [
            (
                "S1",
                1,
                "CARQPCR",
                "BLOOD",
                "<BLQ",
                "<BLQ",
                NA,
                "copies/ug",
                20,
                NA,
                "2024-01-10T08:00",
                1,
            ),
            (
                "S1",
                2,
                "CARQPCR",
                "BLOOD",
                "500",
                "500",
                500,
                "copies/ug",
                20,
                NA,
                "2024-01-11T10:00",
                2,
            ),
            (
                "S1",
                3,
                "CARQPCR",
                "BLOOD",
                "<BLQ",
                "<BLQ",
                0,
                "copies/ug",
                20,
                NA,
                "2024-01-17T10:00",
                8,
            ),
            ("S1", 4, "CARQPCR", "BLOOD", NA, NA, NA, NA, 20, "NOT DONE", "2024-01-24T10:00", 15),
            ("S2", 1, "CARQPCR", "BLOOD", "<BLQ", "<BLQ", NA, "copies/ug", 20, NA, NA, -1),
            ("S2", 2, "CARQPCR", "BLOOD", "1200", "1200", 1200, "copies/ug", 20, NA, NA, 8),
            ("S2", 3, "CARQPCR", "BLOOD", "300", "300", 300, "copies/ug", 20, NA, NA, 15),
            ("S3", 1, "CARQPCR", "BLOOD", "<BLQ", "<BLQ", NA, "copies/ug", 20, NA, "2024-01-21", 2),
        ],  # fmt: skip
    )
    lb_cols = [
        "USUBJID", "LBSEQ", "LBTESTCD", "LBSPEC", "LBORRES", "LBSTRESC", "LBSTRESN",
        "LBSTRESU", "LBLLOQ", "LBDTC", "LBDY",
    ]  # fmt: skip
    lb = _frame(
        "LB",
        lb_cols,
        [
            ("S1", 1, "IL6", "SERUM", "35", "35", 35, "pg/mL", 2, "2024-01-11T10:00", 2),
            ("S1", 2, "IL6", "SERUM", "< 2", "< 2", NA, "pg/mL", 2, "2024-01-17T10:00", 8),
            ("S1", 3, "ALT", "SERUM", "30", "30", 30, "U/L", NA, "2024-01-11T10:00", 2),
            ("S2", 1, "IL6", "SERUM", "9", "9", 9, "pg/mL", 2, NA, 4),
        ],
    )
    ae = _frame(
        "AE",
        ["USUBJID", "AESEQ", "AETERM", "AEDECOD", "AESEV", "AETOXGR", "AESTDTC", "AESTDY"],
        [
            ("S1", 1, "CRS", "Cytokine release syndrome", "MODERATE", "2", "2024-01-12", 3),
            ("S1", 2, "FEVER", "Pyrexia", "MILD", NA, "2024-01-11", 2),
            (
                "S2",
                1,
                "ICANS",
                "Immune effector cell-associated neurotoxicity syndrome",
                "SEVERE",
                "3",
                "2024-02-05",
                5,
            ),
        ],  # fmt: skip
    )
    ds = _frame(
        "DS",
        ["USUBJID", "DSSEQ", "DSDECOD", "DSSTDTC", "DSSTDY"],
        [
            ("S1", 1, "COMPLETED", "2024-06-01", 144),
            ("S2", 1, "DEATH", "2024-03-01", 30),
        ],
    )
    sv = _frame("SV", ["USUBJID", "VISITNUM"], [("S1", 1), ("S2", 1)])
    return {"DM": dm, "EX": ex, "PC": pc, "LB": lb, "AE": ae, "DS": ds, "SV": sv}


def write_xpt(frame: pd.DataFrame, path: Path, name: str) -> Path:
    """Write a SAS transport (XPORT v5) file with pyreadstat."""
    import pyreadstat

    out = frame.copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].map(lambda v: "" if v is None or v is NA else str(v))
    pyreadstat.write_xport(out, str(path), table_name=name, file_format_version=5)
    return path


def write_dataset_json(frame: pd.DataFrame, path: Path, name: str) -> Path:
    """Write a CDISC Dataset-JSON 1.1 file (``columns``, ``rows``)."""

    def cell(v: object) -> object:
        if isinstance(v, float) and np.isnan(v):
            return None
        return v.item() if isinstance(v, np.generic) else v

    columns = [
        {
            "itemOID": f"IT.{name}.{c}",
            "name": c,
            "label": c,
            "dataType": "double" if pd.api.types.is_numeric_dtype(frame[c]) else "string",
        }
        for c in frame.columns
    ]
    doc = {
        "datasetJSONCreationDateTime": "2026-01-01T00:00:00",
        "datasetJSONVersion": "1.1.0",
        "itemGroupOID": f"IG.{name}",
        "name": name,
        "label": name,
        "records": len(frame),
        "columns": columns,
        "rows": [[cell(v) for v in r] for r in frame.itertuples(index=False)],
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def write_study(
    folder: Path,
    domains: dict[str, pd.DataFrame] | None = None,
    *,
    formats: dict[str, str] | None = None,
) -> Path:
    """Write ``domains`` (default :func:`study`) to ``folder``: ``<name>.csv`` unless
    ``formats`` gives ``"xpt"`` or ``"json"`` for a domain; returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in (study() if domains is None else domains).items():
        kind = (formats or {}).get(name, "csv")
        path = folder / f"{name.lower()}.{kind}"
        if kind == "xpt":
            write_xpt(frame, path, name)
        elif kind == "json":
            write_dataset_json(frame, path, name)
        else:
            frame.to_csv(path, index=False)
    return folder
