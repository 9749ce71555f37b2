"""Property-based fuzzing: validation never fails with anything but DatasetError."""

from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartpk.data import read_dataset
from cartpk.errors import DatasetError

_cell = st.one_of(
    st.sampled_from(["", ".", "NA", "BLQ", "<50", "< 2.5", "1,250", "x", "-1", "0", "inf", "nan"]),
    st.integers(-5, 200).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=4),
)
_cols = ["ID", "TIME", "DV", "EVID", "AMT", "MDV", "CENS", "LLOQ", "DVID", "OCC", "WT", "TARGET"]


@st.composite
def tables(draw):
    cols = draw(st.lists(st.sampled_from(_cols), min_size=1, max_size=len(_cols), unique=True))
    if draw(st.booleans()):
        cols = list(dict.fromkeys(["ID", "TIME", "DV", *cols]))
    n = draw(st.integers(0, 12))
    data = {}
    for c in cols:
        if c == "ID":
            data[c] = draw(st.lists(st.sampled_from(["1", "2", "3", ""]), min_size=n, max_size=n))
        elif c == "EVID":
            data[c] = draw(
                st.lists(st.sampled_from(["0", "1", "2", "4", ""]), min_size=n, max_size=n)
            )
        elif c == "DVID":
            data[c] = draw(
                st.lists(
                    st.sampled_from(["QPCR", "IL6", "CRS", "AE_X", "", "7"]), min_size=n, max_size=n
                )
            )
        else:
            data[c] = draw(st.lists(_cell, min_size=n, max_size=n))
    return pd.DataFrame(data, columns=cols, dtype=object)


@st.composite
def valid_tables(draw):
    n_sub = draw(st.integers(1, 4))
    rows = []
    for i in range(n_sub):
        times = sorted(draw(st.lists(st.floats(0.1, 365), min_size=1, max_size=6, unique=True)))
        lloq = draw(st.sampled_from([10.0, 20.0, 50.0]))
        rows.append(
            {"ID": i + 1, "TIME": 0.0, "DV": None, "EVID": 1, "AMT": 1e8, "CENS": 0, "LLOQ": None}
        )
        for t in times:
            v = draw(st.floats(1e-3, 1e5))
            cens = int(v < lloq)
            rows.append(
                {
                    "ID": i + 1,
                    "TIME": t,
                    "DV": lloq if cens else v,
                    "EVID": 0,
                    "AMT": None,
                    "CENS": cens,
                    "LLOQ": lloq,
                }
            )
    return pd.DataFrame(rows)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_read_dataset_random_tables_raise_only_dataset_error(table):
    try:
        ds = read_dataset(table)
    except DatasetError as err:
        assert err.violations
        for v in err.violations:
            assert v.code and v.message
    else:
        ds.summary()
        assert len(ds.table) + len(ds.exclusions) == len(table)


@settings(max_examples=60, deadline=None)
@given(valid_tables(), st.randoms(use_true_random=False))
def test_read_dataset_valid_tables_load_and_corruption_is_named(table, rnd):
    ds = read_dataset(table)
    assert len(ds.observations()) == int((table["EVID"] == 0).sum())
    # corrupt one observation's DV: the error names that row
    obs_rows = [i for i in range(len(table)) if table["EVID"].iat[i] == 0]
    i = rnd.choice(obs_rows)
    bad = table.astype(object).copy()
    bad.iat[i, bad.columns.get_loc("DV")] = "12 copies"
    try:
        read_dataset(bad)
    except DatasetError as err:
        assert any(i + 1 in v.rows for v in err.violations)
    else:  # pragma: no cover - must not happen
        raise AssertionError("corrupted table was accepted")
