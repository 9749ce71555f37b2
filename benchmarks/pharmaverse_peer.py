"""Peer check: cartpk's CDISC conversion, RECIST 1.1 and NCA against the pharmaverse.

The pharmaverse publishes SDTM test data (``pharmaversesdtm``) and the ADaM datasets
admiral and admiralonco derive from them (``pharmaverseadam``). This script converts the
SDTM tumour datasets with :func:`cartpk.cdisc._lesions.sdtm_lesions` (the ADaM ones with
``adam_lesions``), derives RECIST 1.1 responses with :func:`cartpk.response.recist` and
compares them per visit with RS ``OVRLRESP`` and ADRS ``OVR``, and per subject with ADRS
``BOR``/``CBOR``; it converts PC with :func:`cartpk.cdisc.read_sdtm`, runs
:func:`cartpk.nca` and compares Cmax, Tmax, AUClast, lambda_z and half-life with PP and
ADPP. Every disagreement gets a class from :data:`CLASSES`; ``docs/cdisc_peer_check.md``
explains them with examples.

Data sets (``LAYOUT``): ``sdtm`` holds the RECIST test set ``tu/tr/rs_onco_recist`` (8
subjects, the input of admiralonco's ADRS and ADTR templates) with DM, EX, PC, PP, DS, AE;
``sdtm_onco`` holds the random test set ``tu/tr/rs_onco`` (254 subjects, 3 evaluators);
``adam`` holds ADSL, ADRS, ADTR, ADPC, ADPP.

Run::

    python benchmarks/pharmaverse_peer.py                  # the full data, from the mirrors
    python benchmarks/pharmaverse_peer.py --extracts tests/cdisc/data/pharmaverse

The mirrors are bare git repositories (``--sdtm-repo``, ``--adam-repo``); their ``.rda``
files are copied into a temporary folder (nothing is written into this repository).
``tests/cdisc/test_pharmaverse_peer.py`` runs the same comparison on the committed extracts.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cartpk.cdisc import Domain, read_domains
from cartpk.cdisc._lesions import adam_lesions, sdtm_lesions
from cartpk.cdisc._log import ConversionLog
from cartpk.cdisc._time import FirstDose, days_since_first_dose
from cartpk.noncompartmental import LambdaZ, nca
from cartpk.response import recist

SDTM_REPO = Path("/work/.mirror/pharmaverse+pharmaversesdtm/repo")
ADAM_REPO = Path("/work/.mirror/pharmaverse+pharmaverseadam/repo")
#: folder -> {file stem: dataset of the pharmaverse package}
LAYOUT: dict[str, dict[str, str]] = {
    "sdtm": {
        "dm": "dm", "ex": "ex", "pc": "pc", "pp": "pp", "ds": "ds", "ae": "ae",
        "tu": "tu_onco_recist", "tr": "tr_onco_recist", "rs": "rs_onco_recist",
    },
    "sdtm_onco": {"dm": "dm", "ex": "ex", "tu": "tu_onco", "tr": "tr_onco", "rs": "rs_onco"},
    "adam": {
        "adsl": "adsl", "adrs": "adrs_onco", "adtr": "adtr_onco", "adpc": "adpc", "adpp": "adpp",
    },
}  # fmt: skip
READERS = ("INVESTIGATOR", "RADIOLOGIST 1", "RADIOLOGIST 2")
REL_TOL = 1e-6  # numbers agree when |cartpk - peer| <= REL_TOL * |peer|

#: class of every comparison outcome -> what it means (docs/cdisc_peer_check.md)
CLASSES: dict[str, str] = {
    "agree": "same value",
    "partial_date": "the peer assessment has a partial date (YYYY-MM) and no study day: "
    "cartpk does not impute it, so its TR records are not used (conversion.csv) and there "
    "is no cartpk assessment; admiral imputes the day",
    "rs_check": "the rs_onco generator left the visit unresolved (OVRLRESP 'CHECK')",
    "duplicate_visit": "two scans months apart share VISITNUM 9.2 (a generator artefact): "
    "rs_onco derives the non-target response per visit number, so the first scan's record "
    "lacks it (OVRLRESP 'CHECK'); cartpk keeps the two scans as two assessments",
    "adtr_targets_only": "ADTR holds target lesions only (admiralonco's ad_adtr keeps "
    "TRGRPID TARGET): a subject with non-target disease only has no ADTR record, so no "
    "cartpk assessment from ADaM",
    "missing_target": "a target lesion was not evaluated: RECIST 1.1 makes the visit NE "
    "(PD if the others alone progress), the rs_onco generator sums the lesions measured",
    "sum_differs": "the sums differ: the rs_onco generator redraws each lesion's location "
    "at every visit, so a lymph node of TU is measured as non-nodal later (LPERP = 0.9 x "
    "DIAMETER) or another lesion as a node (LDIAM = 1.1 x DIAMETER); cartpk takes the "
    "measurement RECIST asks for the lesion TU identifies (node: LPERP, other: LDIAM), the "
    "generator's sum (SUMDIAM) the DIAMETER",
    "nadir": "cartpk's PD is >= 20 % and >= 5 mm over the nadir (RECIST 1.1 4.3.1); the "
    "rs_onco generator compares with baseline only",
    "pd_5mm": "the rs_onco generator calls PD at >= 20 % over baseline without RECIST's "
    "absolute 5 mm increase",
    "nodal_cr": "cartpk's target CR allows lymph nodes < 10 mm short axis (RECIST 1.1 4.3.1); "
    "the rs_onco generator needs a sum of 0 mm",
    "nominal_time": "PP uses nominal sample times (PCTPTNUM, 0.08 h for the 5-minute sample, "
    "pre-dose set to 0); cartpk the actual times of PCDTC (5 min = 0.0833 h)",
    "lambda_z_points": "PP regresses on every quantifiable sample from Tmax on (Tmax "
    "included); cartpk picks the best adjusted R^2 of >= 3 points after Tmax",
    "ln2_0693": "PP's half-life is 0.693 / lambda_z, cartpk's ln 2 / lambda_z",
    "aucall_is_aucinf": "PP's AUCALL is AUClast + Clast / lambda_z (an AUCINF obs, not the "
    "CDISC AUCALL); compared with cartpk's AUCIFO",
}
_UNEXPLAINED = "unexplained"


# --- data ------------------------------------------------------------------------------
def materialise(dest: Path, sdtm_repo: Path = SDTM_REPO, adam_repo: Path = ADAM_REPO) -> Path:
    """Copy the datasets of :data:`LAYOUT` out of the mirrors as ``.rda`` files."""
    for folder, files in LAYOUT.items():
        repo = adam_repo if folder == "adam" else sdtm_repo
        (dest / folder).mkdir(parents=True, exist_ok=True)
        for stem, source in files.items():
            blob = subprocess.run(
                ["git", "-C", str(repo), "show", f"HEAD:data/{source}.rda"],
                check=True,
                capture_output=True,
            ).stdout
            (dest / folder / f"{stem}.rda").write_bytes(blob)
    return dest


def first_exposure(domains: dict[str, Domain]) -> FirstDose:
    """Each subject's first EX record, placebo included (ADSL's TRTSDT)."""
    ex = domains["EX"].frame
    return FirstDose.from_records(ex["USUBJID"].astype(str), ex.get("EXSTDTC"), ex.get("EXSTDY"))


def adsl_first(adsl: pd.DataFrame) -> FirstDose:
    """ADSL's TRTSDTM (else TRTSDT) as each subject's first dose."""
    col = "TRTSDTM" if "TRTSDTM" in adsl.columns else "TRTSDT"
    return FirstDose.from_records(adsl["USUBJID"].astype(str), _iso(adsl[col]), None)


def _iso(s: pd.Series) -> pd.Series:
    def one(v: object) -> object:
        if isinstance(v, pd.Timestamp):
            return v.strftime("%Y-%m-%d") if v == v.normalize() else v.isoformat()
        return v.isoformat() if hasattr(v, "isoformat") else v

    return s.map(one).astype(object)


def deaths_from_dm(dm: pd.DataFrame, first: FirstDose) -> pd.Series:
    """Day of death since first dose by USUBJID (DM DTHDTC)."""
    ids = dm["USUBJID"].astype(str)
    dtc = dm["DTHDTC"] if "DTHDTC" in dm.columns else pd.Series(np.nan, index=dm.index)
    day, _ = days_since_first_dose(ids, dtc, None, first)
    return pd.Series(day.to_numpy(), index=ids.to_numpy()).dropna()


@dataclass
class Tumour:
    """A converted tumour data set and cartpk's responses."""

    lesions: pd.DataFrame
    conversion: pd.DataFrame
    timepoints: pd.DataFrame  # post-baseline, with VISIT
    bor: pd.DataFrame
    warnings: list[str]
    baseline_sod: dict[str, float]


def derive(lesions: pd.DataFrame) -> tuple[object, list[str]]:
    """cartpk recist with its warnings collected (codes)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = recist(lesions)
    return result, sorted({getattr(w.message, "code", "") for w in caught})


def _visit_of_days(
    lesions: pd.DataFrame, conversion: pd.DataFrame, source: Domain, col: str
) -> pd.Series:
    """(ID, DAY) -> the visit of the source records of those lesion rows."""
    used = conversion[(conversion["DOMAIN"] == source.name) & (conversion["USED"] == "Y")]
    rows = used["TABLE_ROW"].astype(int).to_numpy() - 1
    visits = source.frame[col].iloc[used["SOURCE_ROW"].astype(int).to_numpy() - 1]
    frame = pd.DataFrame(
        {
            "ID": lesions["ID"].iloc[rows].to_numpy(),
            "DAY": lesions["DAY"].iloc[rows].to_numpy(),
            "VISIT": visits.astype(str).to_numpy(),
        }
    )
    return frame.groupby(["ID", "DAY"])["VISIT"].first()


def tumour(domains: dict[str, Domain], kind: str, evaluator: str = "INVESTIGATOR") -> Tumour:
    """Convert (``kind`` 'sdtm' or 'adam'), derive, and attach each assessment's visit."""
    log = ConversionLog()
    if kind == "sdtm":
        first = first_exposure(domains)
        deaths = deaths_from_dm(domains["DM"].frame, first)
        parts = {k: domains[k] for k in ("TU", "TR", "RS") if k in domains}
        lesions = sdtm_lesions(parts, first, deaths, log, evaluator=evaluator)
        source, col = domains["TR"], "VISITNUM"
    else:
        first = adsl_first(domains["ADSL"].frame)
        parts = {k: domains[k] for k in ("ADTR", "ADRS") if k in domains}
        lesions = adam_lesions(parts, first, pd.Series(dtype=float), log)
        source, col = domains["ADTR"], "AVISIT"
    missing = log.missing(parts.values())
    if missing:  # every source record must have its row in conversion.csv
        raise AssertionError(f"records without a conversion row: {missing[:10]}")
    conversion = log.frame()
    result, codes = derive(lesions)
    tp = result.timepoints
    base = tp[tp["DAY"] <= 0].groupby("ID")["SOD"].first().to_dict()
    tp = tp[tp["DAY"] > 0].copy()
    visit = _visit_of_days(lesions, conversion, source, col)
    tp["VISIT"] = [vkey(visit.get((i, d), "")) for i, d in zip(tp["ID"], tp["DAY"], strict=True)]
    return Tumour(lesions, conversion, tp.reset_index(drop=True), result.bor, codes, base)


# --- peer responses ----------------------------------------------------------------------
def rs_visits(rs: pd.DataFrame, first: FirstDose, reader: str) -> pd.DataFrame:
    """RS per visit of one evaluator: ID, DAY (NaN for a partial date), VISIT, DTC and
    the RSTESTCD results (OVRLRESP, TRGRESP, ...) as columns."""
    evid = rs["RSEVALID"].fillna(rs["RSEVAL"]) if "RSEVALID" in rs else rs["RSEVAL"]
    r = rs[evid.astype(str).str.upper() == reader].copy()
    day, _ = days_since_first_dose(
        r["USUBJID"].astype(str), r["RSDTC"], r["RSDY"] if "RSDY" in r else None, first
    )
    r["DAY"] = day.to_numpy()
    r["VISIT"] = r["VISITNUM"].map(vkey)
    keys = ["USUBJID", "VISIT", "RSDTC"]
    wide = r.pivot_table(
        index=keys, columns="RSTESTCD", values="RSSTRESC", aggfunc="first"
    ).reset_index()
    days = r.groupby(keys, dropna=False)["DAY"].first()
    wide["DAY"] = [days.get(tuple(k), np.nan) for k in wide[keys].itertuples(index=False)]
    return wide.rename(columns={"USUBJID": "ID", "RSDTC": "DTC"})


def adrs_visits(adrs: pd.DataFrame, first: FirstDose) -> pd.DataFrame:
    """ADRS OVR records: ID, DAY (from ADT), VISIT (AVISIT), DTC (RSDTC), OVRLRESP."""
    o = adrs[adrs["PARAMCD"] == "OVR"].copy()
    day, _ = days_since_first_dose(o["USUBJID"].astype(str), _iso(o["ADT"]), None, first)
    return pd.DataFrame(
        {
            "ID": o["USUBJID"].astype(str).to_numpy(),
            "DAY": day.to_numpy(),
            "VISIT": o["AVISIT"].map(vkey).to_numpy(),
            "DTC": o["RSDTC"].astype(str).to_numpy(),
            "OVRLRESP": o["AVALC"].to_numpy(),
        }
    )


def vkey(v: object) -> str:
    """A visit as comparable text: numbers as ``%g`` (2.0 and "2" -> "2")."""
    try:
        return f"{float(v):g}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "" if v is None else str(v).strip()


def match(cart: pd.DataFrame, peer: pd.DataFrame, by_visit: bool = False) -> pd.DataFrame:
    """Pair cartpk's assessments with the peer's one to one: by (ID, DAY), then (ID, VISIT)
    for what is left (the other order with ``by_visit``); ``MATCH`` is 'day', 'visit',
    'peer_only' or 'cartpk_only'. Columns get the suffixes ``_C`` and ``_P``."""
    c = cart.add_suffix("_C").rename(columns={"ID_C": "ID"})
    p = peer.add_suffix("_P").rename(columns={"ID_P": "ID"})
    c["CI"], p["PI"] = np.arange(len(c)), np.arange(len(p))
    parts, used_c, used_p = [], set(), set()
    for key in ("VISIT", "DAY") if by_visit else ("DAY", "VISIT"):
        lc = c[~c["CI"].isin(used_c) & c[f"{key}_C"].notna() & (c[f"{key}_C"] != "")]
        lp = p[~p["PI"].isin(used_p) & p[f"{key}_P"].notna() & (p[f"{key}_P"] != "")]
        m = lc.merge(lp, left_on=["ID", f"{key}_C"], right_on=["ID", f"{key}_P"])
        m = m.drop_duplicates("CI").drop_duplicates("PI").assign(MATCH=key.lower())
        used_c |= set(m["CI"])
        used_p |= set(m["PI"])
        parts.append(m)
    parts.append(c[~c["CI"].isin(used_c)].assign(MATCH="cartpk_only"))
    parts.append(p[~p["PI"].isin(used_p)].assign(MATCH="peer_only"))
    return pd.concat(parts, ignore_index=True)


# --- classes of the per-visit comparison ---------------------------------------------------
def _partial(dtc: object) -> bool:
    return isinstance(dtc, str) and 0 < len(dtc) < 10


def _target_class(r: pd.Series, sums: dict[tuple[str, float], float]) -> str | None:
    """Why cartpk's target response differs from the rs_onco generator's, if it does."""
    rule = r.get("TRGRESP_RULE_C")
    if rule in ("trg.ne", "trg.pd_partial"):
        return "missing_target"
    sod, base = r.get("SOD_C"), r.get("BASE_SOD_C")
    peer_sum = sums.get((r["ID"], r.get("DAY_P")))
    peer_base = sums.get((r["ID"], "baseline"))
    if peer_sum is not None and (
        abs(sod - peer_sum) > 1e-6 or (peer_base is not None and abs(base - peer_base) > 1e-6)
    ):
        return "sum_differs"
    if rule == "trg.pd" and r.get("PCHG_BASE_C", math.inf) < 20:
        return "nadir"
    if r.get("TRGRESP_P") == "PD" and r.get("TRGRESP_C") != "PD":
        return "pd_5mm"
    if rule == "trg.cr" and r.get("TRGRESP_P") == "PR":
        return "nodal_cr"
    return None


def classify(
    m: pd.DataFrame,
    sums: dict[tuple[str, float], float] | None = None,
    absent: str = _UNEXPLAINED,
) -> pd.DataFrame:
    """Add ``CARTPK``, ``PEER``, ``CLASS`` to a :func:`match` result (OVRLRESP compared);
    ``absent`` is the class of a peer assessment of a subject cartpk has none of."""
    sums = sums or {}
    have = set(m.loc[m["MATCH"] != "peer_only", "ID"])
    dup = m[m["MATCH"] != "peer_only"].groupby(["ID", "VISIT_C"])["DAY_C"].transform("nunique")
    out = []
    for i, r in m.iterrows():
        cart, peer = r.get("OVRLRESP_C"), r.get("OVRLRESP_P")
        if r["MATCH"] == "peer_only":
            if _partial(r.get("DTC_P")):
                cls = "partial_date"
            else:
                cls = absent if r["ID"] not in have else _UNEXPLAINED
        elif r["MATCH"] == "cartpk_only":
            cls = "duplicate_visit" if dup.get(i, 1) > 1 else _UNEXPLAINED
        elif cart == peer:
            cls = "agree"
        elif dup.get(i, 1) > 1:
            cls = "duplicate_visit"
        elif peer == "CHECK":
            cls = "rs_check"
        else:
            cls = _target_class(r, sums) or _UNEXPLAINED
        out.append(cls)
    m = m.assign(CARTPK=m.get("OVRLRESP_C"), PEER=m.get("OVRLRESP_P"), CLASS=out)
    return m


def rs_sums(tr: pd.DataFrame, first: FirstDose, reader: str) -> dict[tuple[str, float], float]:
    """The rs_onco generator's sum of diameters (TR SUMDIAM) by (ID, DAY), and by
    (ID, 'baseline') for VISITNUM 3."""
    evid = tr["TREVALID"].fillna(tr["TREVAL"])
    s = tr[(tr["TRTESTCD"] == "SUMDIAM") & (evid.astype(str).str.upper() == reader)]
    day, _ = days_since_first_dose(s["USUBJID"].astype(str), s["TRDTC"], s.get("TRDY"), first)
    val = pd.to_numeric(s["TRSTRESN"], errors="coerce").to_numpy()
    out: dict[tuple[str, float], float] = {}
    for sid, d, v, vis in zip(s["USUBJID"].astype(str), day, val, s["VISITNUM"], strict=True):
        out[(sid, d)] = v
        if vkey(vis) == "3":
            out[(sid, "baseline")] = v
    return out


def visit_table(
    t: Tumour,
    peer: pd.DataFrame,
    label: str,
    reader: str,
    sums: dict[tuple[str, float], float] | None = None,
    by_visit: bool = False,
    absent: str = _UNEXPLAINED,
) -> pd.DataFrame:
    """Per-visit comparison of one data set and evaluator with one peer."""
    cart = t.timepoints.copy()
    cart["BASE_SOD"] = cart["ID"].map(t.baseline_sod)
    m = classify(match(cart, peer, by_visit=by_visit), sums, absent)
    m.insert(0, "SET", label)
    m.insert(1, "READER", reader)
    cols = ["SET", "READER", "ID", "VISIT_C", "VISIT_P", "DAY_C", "DAY_P", "MATCH",
            "CARTPK", "PEER", "CLASS"]  # fmt: skip
    extra = [c for c in m.columns if c.endswith(("_RULE_C",)) or c in ("PCHG_BASE_C", "SOD_C")]
    return m[cols + extra]


# --- best overall response ----------------------------------------------------------------
def bor_table(
    t: Tumour, adrs: pd.DataFrame, label: str, absent: str = _UNEXPLAINED
) -> pd.DataFrame:
    """cartpk's BOR (unconfirmed) and confirmed BOR against ADRS BOR and CBOR. ADRS subjects
    without tumour data (AVALC MISSING) are left out; one with data that cartpk lacks gets
    the class ``absent``."""
    rows = []
    mine = dict.fromkeys(t.bor["ID"])
    for param, col in (("BOR", "BOR_UNCONFIRMED"), ("CBOR", "BOR_CONFIRMED")):
        p = adrs[adrs["PARAMCD"] == param]
        peer = p.set_index("USUBJID")["AVALC"]
        cart = dict(zip(t.bor["ID"], t.bor[col], strict=True))
        others = [s for s, v in peer.items() if v != "MISSING" and s not in mine]
        for sid in [*mine, *others]:
            value, ref = cart.get(sid), peer.get(sid)
            cls = "agree" if value == ref else (absent if sid not in mine else _UNEXPLAINED)
            rows.append(
                {"SET": label, "ID": sid, "PARAMCD": param, "CARTPK": value, "PEER": ref,
                 "CLASS": cls}
            )  # fmt: skip
    return pd.DataFrame(rows)


# --- NCA ------------------------------------------------------------------------------------
PP_TESTS = ("CMAX", "TMAX", "CLST", "AUCLST", "LAMZ", "LAMZHL", "LAMZNPT", "AUCALL")
CARTPK_OF = {"AUCALL": "AUCIFO"}  # PP's AUCALL is AUClast + Clast/lambda_z
NCA_CLASS = {
    "AUCLST": ("nominal_time",),
    "LAMZ": ("lambda_z_points",),
    "LAMZNPT": ("lambda_z_points",),
    "LAMZHL": ("lambda_z_points", "ln2_0693"),
    "AUCALL": ("aucall_is_aucinf", "nominal_time", "lambda_z_points"),
}


def pp_plasma(pp: pd.DataFrame) -> pd.DataFrame:
    """PP plasma parameters, one value per subject and test (PP repeats AUCALL and CLST
    four times with the same value; the first is taken)."""
    p = pp[(pp["PPSPEC"] == "PLASMA") & pp["PPTESTCD"].isin(PP_TESTS)]
    first = p.groupby(["USUBJID", "PPTESTCD"], sort=False)["PPSTRESN"].first()
    return first.astype(float).rename("PEER").reset_index()


def _nca_long(data: pd.DataFrame, lambda_z: LambdaZ | None = None) -> pd.DataFrame:
    res = nca(data, time_unit="h", interval=None, lambda_z=lambda_z)
    long = res.long[["ID", "PPTESTCD", "PPORRES"]].copy()
    long["PPORRES"] = pd.to_numeric(long["PPORRES"], errors="coerce")
    return long


def _compare_nca(cart: pd.DataFrame, peer: pd.DataFrame, label: str) -> pd.DataFrame:
    peer = peer.assign(CTEST=peer["PPTESTCD"].map(lambda t: CARTPK_OF.get(t, t)))
    m = peer.merge(
        cart.rename(columns={"ID": "USUBJID", "PPTESTCD": "CTEST", "PPORRES": "CARTPK"}),
        on=["USUBJID", "CTEST"],
        how="left",
    )
    rel = (m["CARTPK"] - m["PEER"]).abs() / m["PEER"].abs()
    ok = rel <= REL_TOL
    m["REL_DIFF"] = rel
    m["CLASS"] = [
        "agree" if a else "+".join(NCA_CLASS.get(t, (_UNEXPLAINED,)))
        for a, t in zip(ok, m["PPTESTCD"], strict=True)
    ]
    m.insert(0, "SET", label)
    return m.drop(columns="CTEST")


def nca_input_actual(trial: pd.DataFrame, dvid: str) -> pd.DataFrame:
    """read_sdtm's observations of ``dvid`` with TIME in hours."""
    o = trial[(trial["DVID"] == dvid) & (trial["EVID"] == 0)]
    return pd.DataFrame(
        {
            "ID": o["ID"].astype(str),
            "TIME": o["TIME"].astype(float) * 24.0,
            "DV": o["DV"].astype(float),
            "CENS": o["CENS"].astype(int),
            "LLOQ": o["LLOQ"].astype(float),
        }
    )


def nca_input_nominal(pc: pd.DataFrame, subjects: set[str]) -> pd.DataFrame:
    """PC plasma on PP's terms: nominal time PCTPTNUM, the pre-dose sample left out (PP
    sets it to 0 at time 0, as cartpk's C0 imputation does), BLQ censored at PCLLOQ."""
    p = pc[(pc["PCSPEC"] == "PLASMA") & pc["USUBJID"].astype(str).isin(subjects)]
    p = p[pd.to_numeric(p["PCTPTNUM"]) >= 0]
    conc = pd.to_numeric(p["PCSTRESN"], errors="coerce")
    lloq = pd.to_numeric(p["PCLLOQ"], errors="coerce")
    return pd.DataFrame(
        {
            "ID": p["USUBJID"].astype(str),
            "TIME": pd.to_numeric(p["PCTPTNUM"]).astype(float),
            "DV": conc.where(conc.notna(), lloq),
            "CENS": conc.isna().astype(int),
            "LLOQ": lloq,
        }
    )


def pp_points(data: pd.DataFrame) -> LambdaZ:
    """PP's lambda_z points: every quantifiable sample from Tmax on, Tmax included."""
    rows = []
    for sid, g in data.groupby("ID"):
        q = g[g["CENS"] == 0]
        tmax = q.loc[q["DV"].idxmax(), "TIME"]
        for t in q.loc[q["TIME"] >= tmax, "TIME"]:
            rows.append({"ID": sid, "TIME": t, "ACTION": "include", "REASON": "PP's rule"})
    return LambdaZ(manual=pd.DataFrame(rows), allow_tmax=True)


def nca_tables(sdtm: dict[str, Domain], adam: dict[str, Domain]) -> dict[str, pd.DataFrame]:
    """cartpk NCA of the converted PC against PP (and ADPP), as converted (actual times,
    cartpk's lambda_z rule) and on PP's terms (nominal times, PP's points)."""
    from cartpk.cdisc import read_sdtm

    conv = read_sdtm({k: sdtm[k] for k in ("DM", "EX", "PC") if k in sdtm})
    peer = pp_plasma(sdtm["PP"].frame)
    actual = _compare_nca(
        _nca_long(nca_input_actual(conv.trial, "XAN_PLASMA")), peer, "PC -> cartpk NCA vs PP"
    )
    nominal_data = nca_input_nominal(sdtm["PC"].frame, set(peer["USUBJID"]))
    nominal = _compare_nca(
        _nca_long(nominal_data, pp_points(nominal_data)), peer, "same, PP's times and points"
    )
    half = nominal["PPTESTCD"] == "LAMZHL"
    scaled = nominal.loc[half, "CARTPK"] * 0.693 / math.log(2)
    nominal.loc[half, "REL_DIFF"] = (scaled - nominal.loc[half, "PEER"]).abs() / nominal.loc[
        half, "PEER"
    ]
    nominal.loc[half & (nominal["REL_DIFF"] <= REL_TOL), "CLASS"] = "ln2_0693"
    adpp = adam.get("ADPP")
    same = pd.DataFrame()
    if adpp is not None:
        a = adpp.frame
        a = a[(a["PPSPEC"] == "PLASMA") & a["PARAMCD"].isin(PP_TESTS)]
        a = a.groupby(["USUBJID", "PARAMCD"], sort=False)["AVAL"].first().astype(float)
        joined = peer.set_index(["USUBJID", "PPTESTCD"])["PEER"]
        same = pd.DataFrame({"ADPP": a, "PP": joined.reindex(a.index)}).reset_index()
    log = conv.conversion
    pc_log = log[log["DOMAIN"] == "PC"]
    return {"actual": actual, "nominal": nominal, "adpp": same, "pc_log": pc_log}


# --- the whole comparison -------------------------------------------------------------------
RS_RECIST = "SDTM TU/TR (onco_recist) -> cartpk vs RS OVRLRESP"
ADRS_SDTM = "SDTM TU/TR (onco_recist) -> cartpk vs ADRS OVR"
ADRS_ADTR = "ADaM ADTR -> cartpk vs ADRS OVR"
RS_ONCO = "SDTM TU/TR (onco) -> cartpk vs RS OVRLRESP"


@dataclass
class Peer:
    """Every comparison: per visit, per subject (BOR) and per PK parameter."""

    visits: pd.DataFrame
    bor: pd.DataFrame
    nca: dict[str, pd.DataFrame]
    conversions: dict[str, pd.DataFrame]
    warnings: dict[str, list[str]]


def readers(tr: pd.DataFrame) -> list[str]:
    """The evaluators of a TR dataset, in :data:`READERS` order."""
    evid = tr["TREVALID"].fillna(tr["TREVAL"]) if "TREVALID" in tr else tr["TREVAL"]
    present = set(evid.astype(str).str.upper())
    return [r for r in READERS if r in present]


def run(root: Path) -> Peer:
    """Compare on the folders ``root/sdtm``, ``root/sdtm_onco`` and ``root/adam``."""
    sdtm = read_domains(root / "sdtm")
    onco = read_domains(root / "sdtm_onco")
    adam = read_domains(root / "adam")
    adrs = adam["ADRS"].frame
    adrs_ovr = adrs_visits(adrs, adsl_first(adam["ADSL"].frame))
    first = first_exposure(sdtm)
    visits, bors, convs, warns = [], [], {}, {}
    for reader in readers(sdtm["TR"].frame):
        t = tumour(sdtm, "sdtm", reader)
        convs[f"recist {reader}"], warns[f"recist {reader}"] = t.conversion, t.warnings
        visits.append(visit_table(t, rs_visits(sdtm["RS"].frame, first, reader), RS_RECIST, reader))
        if reader == "INVESTIGATOR":
            visits.append(visit_table(t, adrs_ovr, ADRS_SDTM, reader))
            bors.append(bor_table(t, adrs, "SDTM TU/TR (onco_recist) -> cartpk vs ADRS"))
    ta = tumour(adam, "adam")
    convs["adtr"], warns["adtr"] = ta.conversion, ta.warnings
    absent = "adtr_targets_only"
    visits.append(
        visit_table(ta, adrs_ovr, ADRS_ADTR, "INVESTIGATOR", by_visit=True, absent=absent)
    )
    bors.append(bor_table(ta, adrs, "ADaM ADTR -> cartpk vs ADRS", absent=absent))
    first_onco = first_exposure(onco)
    for reader in readers(onco["TR"].frame):
        t = tumour(onco, "sdtm", reader)
        convs[f"onco {reader}"], warns[f"onco {reader}"] = t.conversion, t.warnings
        peer = rs_visits(onco["RS"].frame, first_onco, reader)
        sums = rs_sums(onco["TR"].frame, first_onco, reader)
        visits.append(visit_table(t, peer, RS_ONCO, reader, sums=sums))
    return Peer(
        visits=pd.concat(visits, ignore_index=True),
        bor=pd.concat(bors, ignore_index=True),
        nca=nca_tables(sdtm, adam),
        conversions=convs,
        warnings=warns,
    )


def counts(peer: Peer) -> dict[str, pd.DataFrame]:
    """Agreement counts: per visit by set, evaluator and class; BOR by set, parameter and
    class; NCA by parameter and class (as converted, and on PP's terms)."""
    v = peer.visits.groupby(["SET", "READER", "CLASS"], sort=False).size().rename("N")
    b = peer.bor.groupby(["SET", "PARAMCD", "CLASS"], sort=False).size().rename("N")
    n = {
        k: peer.nca[k].groupby(["PPTESTCD", "CLASS"], sort=False).size().rename("N")
        for k in ("actual", "nominal")
    }
    return {
        "visits": v.reset_index(),
        "bor": b.reset_index(),
        "nca_actual": n["actual"].reset_index(),
        "nca_nominal": n["nominal"].reset_index(),
    }


def report(peer: Peer) -> str:
    """The counts and every disagreement's class, with examples, as text."""
    c = counts(peer)
    out = ["Per-visit overall response (OVRLRESP / OVR):", c["visits"].to_string(index=False)]
    out += ["", "Best overall response:", c["bor"].to_string(index=False)]
    out += ["", "NCA as converted (actual times, cartpk's lambda_z rule) vs PP:"]
    out += [c["nca_actual"].to_string(index=False)]
    out += ["", "NCA on PP's terms (nominal times, PP's lambda_z points; LAMZHL x 0.693/ln 2):"]
    out += [c["nca_nominal"].to_string(index=False)]
    adpp = peer.nca["adpp"]
    if len(adpp):
        same = int((adpp["ADPP"] - adpp["PP"]).abs().le(1e-12).sum())
        out += ["", f"ADPP AVAL equal to PP PPSTRESN: {same} of {len(adpp)} values"]
    pc = peer.nca["pc_log"]
    out += ["", "PC records (read_sdtm):", pc.groupby("USED").size().to_string()]
    out += ["", "Examples of each disagreement class (per visit):"]
    d = peer.visits[peer.visits["CLASS"] != "agree"]
    for cls, g in d.groupby("CLASS", sort=False):
        out += [f"  {cls}: {len(g)} - {CLASSES.get(cls, 'NOT EXPLAINED')}"]
        cols = ["SET", "READER", "ID", "VISIT_C", "VISIT_P", "DAY_C", "DAY_P", "CARTPK", "PEER"]
        cols += [x for x in ("PCHG_BASE_C", "SOD_C", "TRGRESP_RULE_C") if x in g.columns]
        out += [g[cols].head(3).to_string(index=False)]
    for k, w in peer.warnings.items():
        out += [f"lesion table warnings ({k}): {', '.join(w) or 'none'}"]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sdtm-repo", type=Path, default=SDTM_REPO)
    ap.add_argument("--adam-repo", type=Path, default=ADAM_REPO)
    ap.add_argument("--extracts", type=Path, help="folder with sdtm/, sdtm_onco/, adam/")
    args = ap.parse_args(argv)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_rows", 500)
    if args.extracts is not None:
        print(report(run(args.extracts)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        root = materialise(Path(tmp), args.sdtm_repo, args.adam_repo)
        print(report(run(root)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
