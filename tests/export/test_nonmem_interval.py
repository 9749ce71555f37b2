"""Interval censoring in the NONMEM export: ``LIMIT``/``LIMFL`` in the data and the stream.

The ``Y`` of a censored record, as Pharmpy reads it from the control stream and SymPy
evaluates it, equals cartpk's own likelihood (``exp(cartpk.fit.loglik)``) of the same record
to 1e-10 relative: below ``LLOQ`` with and without a lower bound, above ``DV`` with and
without an upper bound, on the log scale (log-additive error; a ``LIMIT`` of 0 excludes
nothing there) and on the linear scale (proportional error, where ``LIMIT`` 0 is a bound),
and for a model with outputs on both scales. The records are those of a table exported
with ``cartpk export-data --to nonmem --model`` and read back by Pharmpy's dataset reader
through the exported control stream, so the data and the stream are checked together.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from _export_checks import assignment

import cartpk as ck
from cartpk.cli import main
from cartpk.data import read_dataset
from cartpk.export import to_nonmem
from cartpk.export._dataset import export_dataset, write_dataset
from cartpk.fit import loglik

sympy = pytest.importorskip("sympy")
pytest.importorskip("pharmpy")
#: Pharmpy reading the ODE system of a stream with data whose CMT takes one value
pytestmark = pytest.mark.filterwarnings("ignore:CMT column present with only one value")


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    """Records of written outputs stay in the test's folder."""
    monkeypatch.setenv("CARTPK_CACHE_DIR", str(tmp_path.parent / f"{tmp_path.name}_cache"))


_DOSE = {"EVID": 1, "AMT": 1e8, "MDV": 1, "CENS": 0, "DVID": ""}


def _table(dvid: str, records: list[tuple[float, float, int, float]]) -> pd.DataFrame:
    """One subject: a dose at day 0, then ``(TIME, DV, CENS, LIMIT)`` observations of
    ``dvid`` (a censored record's limit in ``DV``; ``LIMIT`` NaN: no other bound)."""
    rows = [{"ID": 1, "TIME": 0.0, "DV": np.nan, **_DOSE, "LIMIT": np.nan}]
    for time, dv, cens, limit in records:
        obs = {"EVID": 0, "AMT": 0.0, "MDV": 0, "CENS": cens, "DVID": dvid}
        rows.append({"ID": 1, "TIME": time, "DV": dv, **obs, "LIMIT": limit})
    table = pd.DataFrame(rows)
    return table.assign(LLOQ=table["DV"].where(table["CENS"] == 1))


NAN = float("nan")
#: log scale (QPCR): an interval below the LLOQ, LIMIT 0 (no bound on the log scale), BLQ,
#: an interval above, above without a bound, a quantified value
QPCR = [(7, 20, 1, 5), (14, 20, 1, 0), (21, 20, 1, NAN), (28, 5e4, -1, 1e5), (35, 5e4, -1, NAN)]
QPCR += [(42, 900, 0, NAN)]
#: linear scale (SOD, proportional): LIMIT 0 is a bound here
SOD = [(7, 5, 1, 4), (14, 5, 1, 0), (21, 5, 1, NAN), (28, 50, -1, 60), (35, 50, -1, NAN)]
SOD += [(42, 30, 0, NAN)]

CASES = {
    "stein2019": _table("QPCR", QPCR),
    "claret_tgi": _table("SOD", SOD),
    "cartmath_illustration": pd.concat(
        [_table("QPCR", QPCR), _table("SOD", SOD).iloc[1:]], ignore_index=True
    ),
}


def _ipred(dv: float, k: int) -> float:
    """A prediction near the record's limit (moderate z on either side of it)."""
    return dv * (1.3 if k % 2 else 0.85)


def _stream_y(pm, row: dict[str, float], f: float, sigmas: dict[str, float]) -> float:
    """``Y`` of the parsed stream for one data record (Pharmpy's values), ``IPRED = f`` and
    the residual SDs (``$THETA`` named as declared) at ``sigmas`` (else their inits)."""
    values = {sympy.Symbol(k): v for k, v in (pm.parameters.inits | sigmas).items()}
    values |= {sympy.Symbol(k): v for k, v in row.items()}
    values |= {sympy.Symbol("IPRED"): f, sympy.Symbol("EPS_1"): 0.0}
    for name in ("W", "LOGY", "TPRED", "Y"):  # the $ERROR/$PRED chain after IPRED
        if pm.statements.find_assignment(name) is not None:
            value = assignment(pm, name).subs(values)
            values[sympy.Symbol(name)] = float(value.evalf(30))
    return values[sympy.Symbol("Y")]


def _exported(tmp_path, name: str, text: str | None = None):
    """Write the case's data (export-data --model) and the interval stream in a new folder;
    Pharmpy reads the data through the stream. Returns the model, the export, Pharmpy's."""
    from pharmpy.modeling import read_model

    model = ck.load_model(name)
    folder = tmp_path / f"{name}_{len(list(tmp_path.iterdir()))}"
    write_dataset(CASES[name], folder / "data.csv", "nonmem", model=name)
    (folder / "run.ctl").write_text(text or to_nonmem(model, data="data.csv", interval=True))
    out = export_dataset(CASES[name], "nonmem", model=name)
    return model, out, read_model(str(folder / "run.ctl"))


def _compare(tmp_path, name: str, text: str | None = None, sigmas=None) -> tuple[float, int]:
    """Largest relative difference of the stream's ``Y`` and cartpk's likelihood over the
    censored records of the case (residual SDs ``sigmas``, else the declared); and how many
    censored records there were."""
    sigmas = sigmas or {}
    model, out, pm = _exported(tmp_path, name, text)
    back = pm.dataset
    records = read_dataset(CASES[name]).table.set_index("ROW")
    worst, n = 0.0, 0
    for k in np.flatnonzero((back["CENS"] != 0).to_numpy()):
        row = {c: float(back[c].iat[k]) for c in back.columns}
        rec = records.loc[int(out["ROW"].iat[k])]
        f = _ipred(float(rec["DV"]), k)
        got = _stream_y(pm, row, f, sigmas)
        error = model.error[rec["DVID"]]
        mine = {n: sigmas.get(n, v) for n, v in error.sigmas}
        ll = loglik(np, [rec["DV"]], [f], [rec["CENS"]], error, mine, limit=[rec["LIMIT"]])
        want = math.exp(float(ll[0]))
        worst, n = max(worst, abs(got - want) / want), n + 1
    return worst, n


#: claret_tgi's declared SD (10 % of f) puts y < 0 at z = -10: a wider one (70 %) makes
#: its LIMIT 0 record's lower bound count (P(y < 0) = 0.077)
WIDE = {"sigma": 0.7}


@pytest.mark.parametrize(
    ("name", "sigmas"),
    [
        ("stein2019", None),
        ("claret_tgi", None),
        ("claret_tgi", WIDE),
        ("cartmath_illustration", None),
    ],
)
def test_censored_y_is_cartpks_likelihood(tmp_path, name, sigmas):
    worst, n = _compare(tmp_path, name, sigmas=sigmas)
    assert n == {"cartmath_illustration": 10}.get(name, 5)
    assert worst < 1e-10


@pytest.mark.parametrize(
    ("name", "old", "new"),
    [
        (  # the upper bound of a log-scale record not logged
            "stein2019",
            "PHI((LOG(LIMIT) - LOG(IPRED))/W) - PHI((DV",
            "PHI((LIMIT - LOG(IPRED))/W) - PHI((DV",
        ),
        (  # LIMIT 0 on the log scale taken as a bound: LOG(0)
            "stein2019",
            "CENS.EQ.1.AND.LIMFL.EQ.1.AND.LIMIT.GT.0",
            "CENS.EQ.1.AND.LIMFL.EQ.1",
        ),
        (  # LIMIT 0 on the linear scale ignored
            "claret_tgi",
            "(CENS.EQ.1.AND.LIMFL.EQ.1)",
            "(CENS.EQ.1.AND.LIMFL.EQ.1.AND.LIMIT.GT.0)",
        ),
    ],
)
def test_the_comparison_detects_a_wrong_interval_term(tmp_path, name, old, new):
    text = to_nonmem(ck.load_model(name), data="data.csv", interval=True)
    assert old in text
    try:
        worst, _ = _compare(tmp_path, name, text.replace(old, new), sigmas=WIDE)
    except TypeError:  # LOG(0) for LIMIT 0: the record cannot be evaluated
        worst = math.inf
    assert worst > 1e-2


def test_stream_and_data_have_the_same_columns(tmp_path):
    """$INPUT of the interval stream = the first columns of the --model data, in order;
    Pharmpy reads every value back ("." is 0: LIMFL says which LIMIT is a bound)."""
    for name in CASES:
        model, out, pm = _exported(tmp_path, name)
        text = to_nonmem(model, interval=True)
        columns = text.split("$INPUT ")[1].split("\n")[0].split()
        assert columns[-2:] == ["LIMIT", "LIMFL"]
        assert list(pm.dataset.columns) == columns == list(out.columns[: len(columns)])
        for c in columns:
            want = np.nan_to_num(out[c].to_numpy(dtype=float), nan=0.0)
            assert np.array_equal(pm.dataset[c].to_numpy(dtype=float), want), (name, c)
        flagged = out.loc[out["LIMFL"] == 1, "LIMIT"]
        assert flagged.notna().all() and out.loc[out["LIMFL"] == 0, "LIMIT"].isna().all()
        assert "LIMIT" not in to_nonmem(model)  # without interval: as before


def test_cli_export_reads_limfl_from_the_data_file(tmp_path, capsys):
    model = ck.load_model("stein2019")
    CASES["stein2019"].to_csv(tmp_path / "trial.csv", index=False)
    data = ["export-data", str(tmp_path / "trial.csv"), "--to", "nonmem", "--model", "stein2019"]
    assert main([*data, "--out", str(tmp_path / "run1.csv")]) == 0
    assert main(["export", "stein2019", "--to", "nonmem", "--out", str(tmp_path / "run1.ctl")]) == 0
    assert (tmp_path / "run1.ctl").read_text() == to_nonmem(model, data="run1.csv", interval=True)
    assert "interval censoring: $INPUT ends with LIMIT LIMFL" in capsys.readouterr().out
    # no LIMIT in the data, or no data file yet: the stream without interval censoring
    CASES["stein2019"].drop(columns="LIMIT").to_csv(tmp_path / "plain.csv", index=False)
    assert (
        main([*data[:1], str(tmp_path / "plain.csv"), *data[2:], "--out", str(tmp_path / "p.csv")])
        == 0
    )
    for ctl in ("p.ctl", "none.ctl"):
        assert main(["export", "stein2019", "--to", "nonmem", "--out", str(tmp_path / ctl)]) == 0
        assert (tmp_path / ctl).read_text() == to_nonmem(model, data=ctl.replace("ctl", "csv"))
