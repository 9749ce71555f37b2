"""The validated :class:`Dataset` and its typed views."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cartpk.data._endpoints import Endpoint

__all__ = ["CANONICAL", "Dataset"]

#: standard columns, in canonical order (covariates follow)
CANONICAL = ("ID", "TIME", "DV", "EVID", "AMT", "MDV", "CENS", "LLOQ", "LIMIT", "DVID", "OCC")


@dataclass(frozen=True)
class Dataset:
    """A validated CAR-T long table with typed views.

    Build it with :func:`cartpk.read_dataset`. All views are new DataFrames (changing them
    does not change the dataset).

    Attributes
    ----------
    table : pandas.DataFrame
        Every used record: ``ROW`` (1-based data-record number in the input), the
        canonical columns ``ID, TIME, DV, EVID, AMT, MDV, CENS, LLOQ, LIMIT, DVID, OCC`` and
        the covariates. ``ID`` is text; ``TIME`` is days since infusion; ``LIMIT`` is the
        other bound of a censored record (nlmixr2/Monolix), NaN where there is none.
    endpoints : dict of str to Endpoint
        Unit, scale and label of every DVID in the input.
    exclusions : pandas.DataFrame
        Records not used, with ``ROW, ID, code, reason``.
    conversions : pandas.DataFrame
        Changes made while reading (``ROW, ID, code, message``).
    baseline_covariates, time_varying_covariates : list of str
        Covariate columns by kind.
    source : str
        File name (or ``"table"``).
    subjects : list of str
        Subject IDs in input order.
    """

    table: pd.DataFrame
    endpoints: dict[str, Endpoint]
    exclusions: pd.DataFrame
    conversions: pd.DataFrame
    baseline_covariates: list[str] = field(default_factory=list)
    time_varying_covariates: list[str] = field(default_factory=list)
    source: str = "table"
    subjects: list[str] = field(default_factory=list)

    # ---- views -------------------------------------------------------------
    def _obs_mask(self) -> pd.Series:
        t = self.table
        grade = t["DVID"].map(lambda d: self.endpoints[d].scale == "grade")
        return (t["EVID"] == 0) & (t["MDV"] == 0) & ~grade

    def observations(self, dvid: str | None = None) -> pd.DataFrame:
        """Observation records of continuous endpoints.

        Parameters
        ----------
        dvid : str, optional
            Keep only this endpoint.

        Returns
        -------
        pandas.DataFrame
            ``ROW, ID, TIME, DV, CENS, LLOQ, LIMIT, DVID, OCC`` sorted by subject (input order),
            DVID and TIME.
        """
        t = self.table.loc[self._obs_mask()]
        if dvid is not None:
            if dvid not in self.endpoints:
                from cartpk.errors import DatasetError, Violation

                raise DatasetError(
                    f"no endpoint `{dvid}` in {self.source}",
                    [
                        Violation(
                            "dvid_unknown",
                            f"`DVID` {dvid!r} is not in the data",
                            expected="one of " + ", ".join(sorted(self.endpoints)),
                            fix="choose one of the DVIDs present in the data",
                        )
                    ],
                )
            t = t.loc[t["DVID"] == dvid]
        cols = ["ROW", "ID", "TIME", "DV", "CENS", "LLOQ", "LIMIT", "DVID", "OCC"]
        if "LIMIT" not in t.columns:  # a table built without the reader
            t = t.assign(LIMIT=np.nan)
        return self._sorted(t[cols], ["DVID", "TIME"])

    def _sorted(self, t: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        order = {sid: k for k, sid in enumerate(self.subjects)}
        out = t.assign(_o=t["ID"].map(order)).sort_values(["_o", *keys], kind="stable")
        return out.drop(columns="_o").reset_index(drop=True)

    @property
    def doses(self) -> pd.DataFrame:
        """Dose records: ``ROW, ID, TIME, AMT``."""
        t = self.table.loc[self.table["EVID"] == 1, ["ROW", "ID", "TIME", "AMT"]]
        return t.reset_index(drop=True)

    @property
    def covariates(self) -> pd.DataFrame:
        """Baseline covariates, one row per subject: ``ID`` + covariate columns."""
        cols = ["ID", *self.baseline_covariates]
        out = self.table[cols].drop_duplicates("ID").set_index("ID")
        return out.reindex(self.subjects).reset_index()

    @property
    def time_varying(self) -> pd.DataFrame:
        """Time-varying covariates: ``ROW, ID, TIME`` + covariate columns."""
        cols = ["ROW", "ID", "TIME", *self.time_varying_covariates]
        return self.table[cols].reset_index(drop=True)

    @property
    def events(self) -> pd.DataFrame:
        """Graded events (CTCAE v4.0 terms, CRS): ``ROW, ID, TIME, EVENT, GRADE``."""
        t = self.table
        grade = t["DVID"].map(lambda d: self.endpoints[d].scale == "grade")
        ev = t.loc[grade & (t["EVID"] == 0) & (t["MDV"] == 0), ["ROW", "ID", "TIME", "DVID", "DV"]]
        ev = ev.rename(columns={"DVID": "EVENT", "DV": "GRADE"})
        ev["GRADE"] = ev["GRADE"].astype(int)
        return ev.reset_index(drop=True)

    @property
    def dvids(self) -> list[str]:
        """DVIDs of continuous endpoints with at least one observation."""
        return list(pd.unique(self.observations()["DVID"]))

    # ---- summary -----------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """A summary for people and for JSON output.

        Returns
        -------
        dict
            ``source``, ``subjects``, ``records``, ``observations`` per DVID (``n``,
            ``blq``, ``unit``), ``blq_fraction`` per DVID and nominal day (TIME rounded to
            the day, or ``NTIME``/``NOMTIME`` when present), ``doses``, ``events`` per
            term, ``exclusions`` (row, ID, reason) and ``conversions``.
        """
        obs = self.observations()
        nom_col = next((c for c in ("NTIME", "NOMTIME", "NTPD") if c in self.table.columns), None)
        if nom_col is not None:
            nominal = pd.to_numeric(
                self.table.set_index("ROW").loc[obs["ROW"], nom_col], errors="coerce"
            ).to_numpy()
        else:
            nominal = np.round(obs["TIME"].to_numpy())
        obs = obs.assign(NOMINAL=nominal)
        per_dvid: dict[str, Any] = {}
        blq: dict[str, Any] = {}
        for d, g in obs.groupby("DVID", sort=False):
            per_dvid[str(d)] = {
                "n": int(len(g)),
                "blq": int((g["CENS"] == 1).sum()),
                "subjects": int(g["ID"].nunique()),
                "unit": self.endpoints[str(d)].unit,
            }
            frac = g.groupby("NOMINAL")["CENS"].apply(lambda c: float((c == 1).mean()))
            blq[str(d)] = {f"{k:g}": round(v, 4) for k, v in frac.items()}
        ev = self.events
        events = {
            str(k): {"subjects": int(g["ID"].nunique()), "max_grade": int(g["GRADE"].max())}
            for k, g in ev.groupby("EVENT", sort=False)
        }
        return {
            "source": self.source,
            "subjects": len(self.subjects),
            "records": int(len(self.table) + len(self.exclusions)),
            "observations": per_dvid,
            "blq_fraction": blq,
            "doses": int(len(self.doses)),
            "events": events,
            "covariates": {
                "baseline": list(self.baseline_covariates),
                "time_varying": list(self.time_varying_covariates),
            },
            "exclusions": self.exclusions.to_dict("records"),
            "conversions": self.conversions.to_dict("records"),
        }
