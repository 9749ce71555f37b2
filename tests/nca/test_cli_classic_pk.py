"""``cartpk nca`` on classic PK tables (issue 16, class 9) and its output handling (class 12).

Generated tables in hours with concentrations of exactly 0 before the dose and after the
last measurable sample: the command analyses them as :func:`cartpk.nca` does on the same
DataFrame, labels the times with ``--time-unit``, and the data layer keeps refusing the
zeros for model fits.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cartpk.cli import main
from cartpk.data import read_dataset
from cartpk.errors import DatasetError
from cartpk.noncompartmental import nca

ROOT = Path(__file__).resolve().parents[2]


def classic_table(seed: int) -> pd.DataFrame:
    """A random oral-dose PK table in hours: 0 pre-dose, 0s after the last measurable."""
    rng = np.random.default_rng(seed)
    rows = []
    for sid in range(1, int(rng.integers(1, 5)) + 1):
        ka, ke = rng.uniform(0.8, 2.5), rng.uniform(0.05, 0.3)
        times = np.array([0.0, 0.25, 0.5, 1, 2, 4, 6, 8, 12, 24])
        conc = 10 * ka / (ka - ke) * (np.exp(-ke * times) - np.exp(-ka * times))
        conc = np.round(conc * rng.lognormal(0, 0.05, size=times.size), 3)
        conc[0] = 0.0  # pre-dose
        tail = int(rng.integers(0, 3))
        if tail:
            conc[-tail:] = 0.0  # after the last measurable sample
        rows += [{"ID": sid, "TIME": t, "DV": c} for t, c in zip(times, conc, strict=True)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seed", range(8))
def test_cli_analyses_zero_concentrations_like_the_python_function(tmp_path, capsys, seed):
    table = classic_table(seed)
    data = tmp_path / "pk.csv"
    table.to_csv(data, index=False)
    out = tmp_path / "nca.csv"
    argv = ["nca", str(data), "--out", str(out), "--time-unit", "h", "--interval", "0,12"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    zeros = int((table["DV"] == 0).sum())
    assert f"{zeros} concentration(s) of exactly 0" in err and "Traceback" not in err
    got = pd.read_csv(out, dtype={"ID": str})
    want = nca(table, interval=(0, 12), time_unit="h").long
    key = ["ID", "PPTESTCD"]
    merged = got[[*key, "PPORRES"]].merge(
        want.assign(ID=want["ID"].astype(str))[[*key, "PPORRES"]], on=key, suffixes=("", "_py")
    )
    assert len(merged) == len(want) == len(got)
    np.testing.assert_allclose(
        merged["PPORRES"].astype(float), merged["PPORRES_py"].astype(float), equal_nan=True
    )
    auc = got[got["PPTESTCD"] == "AUCINT"]
    assert set(auc["PPSTINT"]) == {"PT0H"} and set(auc["PPENINT"]) == {"PT12H"}
    assert set(got.loc[got["PPTESTCD"] == "TMAX", "PPORRESU"]) == {"h"}
    # the data layer keeps its rule for model fits: an unmarked 0 on a log-scale endpoint
    with pytest.raises(DatasetError) as no:
        read_dataset(data)
    assert {v.code for v in no.value.violations} == {"dv_nonpositive_log"}


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_negative_concentration_stays_a_violation(tmp_path, capsys, where):
    table = classic_table(1)
    i = {"first": 0, "middle": 4, "last": len(table) - 1}[where]
    table.loc[i, "DV"] = -0.5
    data = tmp_path / "pk.csv"
    table.to_csv(data, index=False)
    assert main(["nca", str(data), "--out", str(tmp_path / "o.csv"), "--time-unit", "h"]) == 2
    err = capsys.readouterr().err
    assert "negative" in err and "Traceback" not in err
    assert not (tmp_path / "o.csv").exists()


def test_default_interval_follows_the_time_unit(tmp_path):
    data = tmp_path / "pk.csv"
    classic_table(2).to_csv(data, index=False)
    assert main(["nca", str(data), "--out", str(tmp_path / "h.csv"), "--time-unit", "h"]) == 0
    assert "AUCINT" not in set(pd.read_csv(tmp_path / "h.csv")["PPTESTCD"])
    assert main(["nca", str(data), "--out", str(tmp_path / "d.csv")]) == 0
    days = pd.read_csv(tmp_path / "d.csv")
    assert set(days.loc[days["PPTESTCD"] == "AUCINT", "PPENINT"]) == {"P28D"}


def test_existing_output_needs_force_and_force_replaces_only_an_nca_table(tmp_path, capsys):
    data = tmp_path / "pk.csv"
    classic_table(3).to_csv(data, index=False)
    out = tmp_path / "nca.csv"
    argv = ["nca", str(data), "--out", str(out), "--time-unit", "h"]
    assert main(argv) == 0
    first = out.read_bytes()
    out.write_bytes(first + b"edited by hand\n")
    assert main(argv) == 2  # never silently overwritten
    assert out.read_bytes().endswith(b"edited by hand\n")
    assert main([*argv, "--force"]) == 0
    assert out.read_bytes() == first
    mine = tmp_path / "mine.csv"
    mine.write_text("a,b\n1,2\n")
    capsys.readouterr()
    assert main(["nca", str(data), "--out", str(mine), "--force"]) == 2
    assert "not an NCA table" in capsys.readouterr().err
    assert mine.read_text() == "a,b\n1,2\n"


@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_output_into_a_closed_pipe_ends_without_traceback(tmp_path, fmt):
    # `cartpk nca ... | head` once head has exited: the reader of stdout is gone
    data = tmp_path / "pk.csv"
    classic_table(4).to_csv(data, index=False)
    cmd = [sys.executable, "-m", "cartpk", "nca", str(data), "--out", str(tmp_path / "o.csv")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            [*cmd, "--time-unit", "h", "--format", fmt],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=env,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    err = proc.stderr.decode()
    assert proc.returncode == 141, err
    assert "Traceback" not in err and "BrokenPipeError" not in err and "Exception" not in err
    assert (tmp_path / "o.csv").is_file()  # the work was done before the output was cut
