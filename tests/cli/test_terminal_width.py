"""Tables printed to the terminal fit 100 columns (full tables go to files)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cartpk.cli import main
from cartpk.cli._common import TERMINAL_WIDTH, terminal_table


def _widest(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


@pytest.mark.parametrize("seed", range(20))
def test_terminal_table_fits_whatever_the_cells(seed):
    rng = np.random.default_rng(seed)
    n_cols = int(rng.integers(1, 9))
    frame = pd.DataFrame(
        {
            f"column_{j}": (
                rng.normal(0, 1e6, 30)
                if j % 2
                else ["x" * int(k) for k in rng.integers(0, 120, 30)]
            )
            for j in range(n_cols)
        }
    )
    text = terminal_table(frame, max_rows=10, file_hint="all.csv")
    assert _widest(text) <= TERMINAL_WIDTH
    assert text.splitlines()[0].split()[0] == "column_0"  # headers kept
    assert text.endswith("... 20 more rows (all in all.csv)")


def test_models_table_fits_and_says_where_the_rest_is(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert _widest(out) <= TERMINAL_WIDTH
    assert "--format csv" in out


def test_nca_prints_a_short_wide_table_and_writes_everything(tmp_path, monkeypatch, capsys):
    import cartpk as ck

    # relative paths: the table's width is the test, not the length of pytest's tmp folder
    monkeypatch.chdir(tmp_path)
    table = ck.simulate(ck.load_model("stein2019"), n=60, seed=2, lloq=50)
    table.to_csv("trial.csv", index=False)
    out = tmp_path / "nca.csv"
    assert main(["nca", "trial.csv", "--out", "nca.csv"]) == 0
    printed = capsys.readouterr().out
    assert _widest(printed) <= TERMINAL_WIDTH
    assert printed.rstrip().endswith("... 40 more rows (all in nca.csv)")
    # the columns' units, display spelling (issue 21)
    assert printed.startswith("units: cmax: copies/µg; tmax, tlast: day; auclast, aucinf_obs")
    assert "lambda_z: 1/day" in printed
    assert pd.read_csv(out)["ID"].nunique() == 60
