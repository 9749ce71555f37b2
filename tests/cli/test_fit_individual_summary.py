"""``cartpk fit`` (per-patient) says what it is doing and ends with what came out: subjects
converged, statuses, the parameters the data do not identify, where the files are."""

from __future__ import annotations

import cartpk as ck
from cartpk.cli import main


def test_individual_fit_prints_a_start_line_and_a_summary(tmp_path, capsys):
    table = ck.simulate(ck.load_model("stein2019"), n=2, seed=3, lloq=50)  # days 7-90
    table.to_csv(tmp_path / "sim.csv", index=False)
    spec = tmp_path / "ind.toml"
    spec.write_text(
        'model = "stein2019"\ndata = "sim.csv"\nmethod = "individual"\nseed = 1\nn_starts = 1\n'
    )
    main(["fit", str(spec), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert "cartpk: per-patient fits of stein2019 on 2 subjects (BLQ: m3) ..." in err
    assert "/2 subjects converged" in err
    # days 7-90 cannot identify foldx and beta: said by name with the count of subjects
    assert "not identifiable by the data in some subjects: " in err and "foldx (" in err
    assert "individual.csv, parameters.csv and individual_fits.png in the run folder" in err


def test_quiet_individual_fit_prints_no_progress_lines(tmp_path, capsys):
    table = ck.simulate(ck.load_model("stein2019"), n=2, seed=3, lloq=50)
    table.to_csv(tmp_path / "sim.csv", index=False)
    spec = tmp_path / "ind.toml"
    spec.write_text(
        'model = "stein2019"\ndata = "sim.csv"\nmethod = "individual"\nseed = 1\nn_starts = 1\n'
    )
    main(["fit", str(spec), "--out", str(tmp_path / "run"), "--quiet"])
    assert "cartpk: per-patient" not in capsys.readouterr().err
