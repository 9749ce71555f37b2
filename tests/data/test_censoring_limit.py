"""nlmixr2/Monolix ``CENS``/``LIMIT`` columns: ``LIMIT`` is the other bound of a censored record.

nlmixr2 (rxode2 "Data for input into nlmixr", CENS/LIMIT columns): ``CENS=1`` the value
is in ``(LIMIT, DV)``, ``CENS=-1`` in ``(DV, LIMIT)``, ``CENS=0`` ignores ``LIMIT``.
Monolix (data set guide, LIMIT column type): a missing ``LIMIT`` means ``-Inf`` for
``CENS=1`` and ``+Inf`` for ``CENS=-1``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cartpk import read_dataset
from cartpk.errors import DatasetError
from cartpk.fit import censoring_interval

NLMIXR2 = """ID,TIME,DV,EVID,AMT,CENS,LIMIT
1,0,.,1,1e8,0,.
1,7,900,0,0,-1,.
1,10,900,0,0,-1,5000
1,14,350,0,0,0,25
1,60,50,0,0,1,0
1,90,50,0,0,1,10
1,120,50,0,0,1,.
2,0,.,1,1e8,0,.
2,7,900,0,0,-1,Inf
2,90,50,0,0,1,-Inf
"""


def test_nlmixr2_table_gives_the_bounds_the_tools_define(tmp_path):
    path = tmp_path / "nlmixr2.csv"
    path.write_text(NLMIXR2)
    obs = read_dataset(path).observations()
    # LIMIT is not read as the LLOQ any more
    assert obs["LLOQ"].isna().all()
    lo, hi = censoring_interval(obs["DV"], obs["CENS"], obs["LIMIT"])
    got = list(zip(obs["ID"], obs["TIME"], lo.tolist(), hi.tolist(), strict=True))
    inf = float("inf")
    assert got == [
        ("1", 7.0, 900.0, inf),  # above the ULOQ, no upper bound (blank)
        ("1", 10.0, 900.0, 5000.0),  # interval (DV, LIMIT)
        ("1", 14.0, 350.0, 350.0),  # quantified: LIMIT ignored
        ("1", 60.0, 0.0, 50.0),  # interval (LIMIT, DV), LIMIT = 0
        ("1", 90.0, 10.0, 50.0),  # interval (LIMIT, DV)
        ("1", 120.0, -inf, 50.0),  # below the LLOQ, no lower bound (blank)
        ("2", 7.0, 900.0, inf),  # +Inf for CENS=-1: no upper bound (Monolix)
        ("2", 90.0, -inf, 50.0),  # -Inf for CENS=1: no lower bound (Monolix)
    ]
    # LIMIT of an uncensored record is not kept (nlmixr2 ignores it)
    assert np.isnan(obs.loc[obs["CENS"] == 0, "LIMIT"]).all()


def test_lloq_and_limit_columns_are_both_read(tmp_path):
    path = tmp_path / "both.csv"
    path.write_text("ID,TIME,DV,CENS,LLOQ,LIMIT\n1,7,400,0,50,.\n1,14,50,1,50,0\n")
    obs = read_dataset(path).observations()
    assert obs["LLOQ"].tolist() == [50.0, 50.0]
    assert obs["LIMIT"].isna().tolist() == [True, False]
    assert obs["LIMIT"].iloc[1] == 0.0
    assert "LIMIT" not in read_dataset(path).baseline_covariates


@pytest.mark.parametrize(
    "rows, bad_rows",
    [
        ("1,14,50,1,60\n1,21,50,1,50\n", (1, 2)),  # CENS=1 needs LIMIT < DV
        ("1,14,900,-1,500\n1,21,900,-1,900\n", (1, 2)),  # CENS=-1 needs LIMIT > DV
        ("1,14,50,1,Inf\n1,21,900,-1,-Inf\n", (1, 2)),  # an infinity on the closed side
    ],
)
def test_limit_on_the_wrong_side_is_a_violation(tmp_path, rows, bad_rows):
    path = tmp_path / "wrong.csv"
    path.write_text("ID,TIME,DV,CENS,LIMIT\n1,7,400,0,.\n" + rows)
    with pytest.raises(DatasetError) as exc:
        read_dataset(path)
    found = [v for v in exc.value.violations if v.code == "limit_wrong_side"]
    assert len(found) == 1
    assert found[0].rows == tuple(r + 1 for r in bad_rows)
    assert "LIMIT" in found[0].expected and "nlmixr2/Monolix" in found[0].expected


def test_limit_text_is_a_violation_naming_the_column():
    table = pd.DataFrame(
        {"ID": [1, 1], "TIME": [7, 14], "DV": [400, 50], "CENS": [0, 1], "LIMIT": [".", "zero"]}
    )
    with pytest.raises(DatasetError) as exc:
        read_dataset(table)
    (v,) = [v for v in exc.value.violations if v.code == "limit_not_numeric"]
    assert v.column == "LIMIT" and v.rows == (2,) and "zero" in str(v.value)


def test_nonmem_style_zero_dv_on_a_blq_record_is_read_at_the_lloq_and_recorded():
    table = pd.DataFrame(
        {"ID": [1, 1], "TIME": [7, 14], "DV": [400, 0], "CENS": [0, 1], "LLOQ": [50, 50]}
    )
    ds = read_dataset(table)
    assert ds.observations()["DV"].tolist() == [400.0, 50.0]
    conv = ds.conversions.set_index("ROW")
    assert conv.loc[2, "code"] == "blq_dv_to_lloq"
    # without an LLOQ the limit is unknown: a violation, not a log(0)
    with pytest.raises(DatasetError) as exc:
        read_dataset(table.drop(columns="LLOQ"))
    assert [v.code for v in exc.value.violations] == ["cens_limit_nonpositive"]
