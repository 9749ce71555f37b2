"""Write the pharmaverse extracts of this folder from the two mirrored repositories.

Run from the repository root (needs pyreadr and git)::

    python tests/cdisc/data/pharmaverse/extract.py \\
        --sdtm-repo /work/.mirror/pharmaverse+pharmaversesdtm/repo \\
        --adam-repo /work/.mirror/pharmaverse+pharmaverseadam/repo

Each dataset is read from ``data/<name>.rda`` at the repository's ``HEAD`` (``git show``),
restricted to the subjects named in :data:`FILES` and written as CSV (dates as ISO 8601
text, missing values blank). To keep the extracts small, the tumour datasets of ``sdtm``
keep the investigator's and RADIOLOGIST 1's records (not RADIOLOGIST 2's), those of
``sdtm_onco`` the investigator's only, and the ADaM datasets other than ADSL leave out the
ADSL variables merged into them (ADSL has them). ``README.md`` says where each file comes
from.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import tempfile
from pathlib import Path

import pandas as pd

HERE = Path(__file__).parent
#: the 8 subjects of the RECIST test set (tu/tr/rs_onco_recist, the input of ADRS and ADTR)
RECIST = (
    "01-701-1015", "01-701-1028", "01-701-1034", "01-701-1097", "01-701-1115",
    "01-701-1118", "01-701-1130", "01-701-1133",
)  # fmt: skip
#: subjects of the random set (tu/tr/rs_onco): lesion sums that differ (1015), PD from the
#: nadir (1097), two scans sharing VISITNUM 9.2 (1143), a target not evaluated and an
#: unequivocal new lesion (1431), a death (1211)
ONCO = ("01-701-1015", "01-701-1097", "01-711-1143", "01-705-1431", "01-701-1211")
#: PK: two subjects on xanomeline (PP records) and one on placebo (every sample BLQ)
PK = ("01-701-1015", "01-701-1028", "01-701-1034")
#: folder -> {file stem: (dataset, subjects)}
FILES = {
    "sdtm": {
        "dm": ("dm", RECIST), "ex": ("ex", RECIST), "ds": ("ds", RECIST),
        "ae": ("ae", RECIST), "pc": ("pc", PK), "pp": ("pp", PK),
        "tu": ("tu_onco_recist", RECIST), "tr": ("tr_onco_recist", RECIST),
        "rs": ("rs_onco_recist", RECIST),
    },
    "sdtm_onco": {
        "dm": ("dm", ONCO), "ex": ("ex", ONCO), "tu": ("tu_onco", ONCO),
        "tr": ("tr_onco", ONCO), "rs": ("rs_onco", ONCO),
    },
    "adam": {
        "adsl": ("adsl", RECIST), "adrs": ("adrs_onco", RECIST), "adtr": ("adtr_onco", RECIST),
        "adpc": ("adpc", PK), "adpp": ("adpp", PK),
    },
}  # fmt: skip
ONCO_EVAL = {"tu": "TUEVAL", "tr": "TREVAL", "rs": "RSEVAL"}
#: the RECIST set keeps the investigator and the first independent radiologist
RECIST_EVALID = {"tu": "TUEVALID", "tr": "TREVALID", "rs": "RSEVALID"}


def read_rda(repo: Path, name: str) -> pd.DataFrame:
    """``data/<name>.rda`` of the repository's HEAD as a DataFrame."""
    import pyreadr

    blob = subprocess.run(
        ["git", "-C", str(repo), "show", f"HEAD:data/{name}.rda"], check=True, capture_output=True
    ).stdout
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.rda"
        path.write_bytes(blob)
        return next(iter(pyreadr.read_r(str(path)).values()))


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Datetimes as ISO 8601 text (``YYYY-MM-DDThh:mm:ss``), dates as ``YYYY-MM-DD``."""
    out = frame.copy()
    for c in out.columns:
        s = out[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            out[c] = s.dt.strftime("%Y-%m-%dT%H:%M:%S").where(s.notna(), "")
        elif s.dtype == object:
            out[c] = s.map(lambda v: v.isoformat() if hasattr(v, "isoformat") else v)
    return out


def extract(sdtm_repo: Path, adam_repo: Path, dest: Path = HERE) -> dict[str, int]:
    """Write every extract; the size in bytes of each file written."""
    sizes: dict[str, int] = {}
    adsl_cols: set[str] = set()
    for folder, files in FILES.items():
        repo = adam_repo if folder == "adam" else sdtm_repo
        (dest / folder).mkdir(parents=True, exist_ok=True)
        for stem, (name, subjects) in files.items():
            f = read_rda(repo, name)
            f = f[f["USUBJID"].isin(subjects)]
            if folder == "sdtm_onco" and stem in ONCO_EVAL:
                f = f[f[ONCO_EVAL[stem]] == "INVESTIGATOR"]
            if folder == "sdtm" and stem in RECIST_EVALID:
                f = f[f[RECIST_EVALID[stem]].fillna("") != "RADIOLOGIST 2"]
            if stem == "adsl":
                adsl_cols = set(f.columns) - {"STUDYID", "USUBJID"}
            elif folder == "adam":
                f = f[[c for c in f.columns if c not in adsl_cols]]
            buf = io.StringIO()
            _as_text(f).to_csv(buf, index=False, lineterminator="\n")
            path = dest / folder / f"{stem}.csv"
            path.write_text(buf.getvalue(), encoding="utf-8")
            sizes[f"{folder}/{stem}.csv"] = path.stat().st_size
    return sizes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sdtm-repo", type=Path, required=True)
    ap.add_argument("--adam-repo", type=Path, required=True)
    args = ap.parse_args()
    sizes = extract(args.sdtm_repo, args.adam_repo)
    for name, size in sizes.items():
        print(f"{name:24s} {size:8d}")
    print(f"{'total':24s} {sum(sizes.values()):8d}")


if __name__ == "__main__":
    main()
