"""A folder of specs for `cartpk run` (tests/cli/test_run_demo.py, test_run_final_paths.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import cartpk as ck


def individual_spec_folder(tmp_path: Path) -> Path:
    """``tmp_path/fits`` holding ``a_ind.toml``: a one-start individual fit of ``stein2019``
    to 2 simulated subjects in ``tmp_path/sim.csv``."""
    sim = ck.simulate(ck.load_model("stein2019"), n=2, seed=3, days=[1, 3, 7, 14, 28, 60, 90])
    sim.to_csv(tmp_path / "sim.csv", index=False)
    specs = tmp_path / "fits"
    specs.mkdir()
    (specs / "a_ind.toml").write_text(
        textwrap.dedent(
            """
            model = "stein2019"
            data = "../sim.csv"
            method = "individual"
            seed = 1
            n_starts = 1
            workers = 1
            """
        )
    )
    return specs
