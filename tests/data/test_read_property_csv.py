"""Property: broken and valid long tables, as CSV text and DataFrames, give a Dataset that
accounts for every row or one DatasetError - never another exception, never a silent change."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartpk.data import read_dataset
from cartpk.errors import DatasetError

_cells = st.one_of(
    st.sampled_from(["", ".", "NA", "nan", "inf", "1e400", "<50", "BLQ", "-1", "0", "x", "1,5"]),
    st.integers(0, 60).map(str),
    st.sampled_from(["QPCR", "qpcr", "QPRC", "IL6", "CRS"]),
)
_header = st.lists(
    st.sampled_from(["ID", "TIME", "DV", "EVID", "AMT", "MDV", "LLOQ", "DVID", "WT", "AGE", "id"]),
    min_size=1,
    max_size=8,
)
_seps = st.sampled_from([",", ";", "\t"])


@st.composite
def csv_texts(draw):
    header = draw(_header)
    if draw(st.booleans()):
        header = ["ID", "TIME", "DV", *header]
    sep = draw(_seps)
    lines = [sep.join(header)]
    for _ in range(draw(st.integers(0, 8))):
        n = len(header) + draw(st.sampled_from([0, 0, 0, 0, -1, 1]))
        lines.append(sep.join(draw(st.lists(_cells, min_size=max(n, 0), max_size=max(n, 0)))))
        if draw(st.integers(0, 9)) == 0:
            lines.append("")
    return "\n".join(lines) + "\n", draw(st.sampled_from(["utf-8", "utf-16", "cp1252"]))


def _data_rows(text: str) -> int:
    body = text.splitlines()
    first = next(k for k, line in enumerate(body) if line.strip())
    return sum(1 for line in body[first + 1 :] if line.strip(",;\t "))


def _check(source, n_rows: int) -> None:
    try:
        ds = read_dataset(source)
    except DatasetError as err:
        assert err.violations and all(v.code and v.message for v in err.violations)
        return
    assert len(ds.table) + len(ds.exclusions) == n_rows
    ds.summary()


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(csv_texts())
def test_csv_text_gives_dataset_accounting_for_every_row_or_one_dataset_error(case):
    text, encoding = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.csv"
        path.write_bytes(text.encode(encoding, errors="replace"))
        _check(path, _data_rows(text))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_header, st.data())
def test_dataframe_gives_dataset_accounting_for_every_row_or_one_dataset_error(header, data):
    header = list(dict.fromkeys(["ID", "TIME", "DV", *header]))
    n = data.draw(st.integers(0, 8))
    cols = {c: data.draw(st.lists(_cells, min_size=n, max_size=n)) for c in header}
    frame = pd.DataFrame(cols, columns=header, dtype=object)
    _check(frame, n)
    # a valid table read back is unchanged but for recorded conversions
    ok = pd.DataFrame({"ID": ["1"] * (n + 1), "TIME": list(range(n + 1)), "DV": [5.0] * (n + 1)})
    ds = read_dataset(ok)
    assert ds.table["DV"].tolist() == ok["DV"].tolist() and ds.conversions.empty
