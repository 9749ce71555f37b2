"""``cartpk run``: the nested runs' manifests and logs name the folder that exists once the
run has finished, never its deleted temporary folder (new-user walk)."""

from __future__ import annotations

import textwrap

import cartpk as ck
from cartpk.cli import main


def test_nested_manifests_and_logs_name_the_final_folder(tmp_path, capsys):
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
            n_jobs = 1
            """
        )
    )
    out = tmp_path / "runs"
    main(["run", str(specs), "--out", str(out)])
    capsys.readouterr()
    texts = [p.read_text() for p in [*out.rglob("manifest.json"), *out.glob("*.log")]]
    assert len(texts) >= 3  # the run's manifest, the spec's, the spec's log
    assert not [t for t in texts if ".tmp-" in t]
    nested = (out / "a_ind" / "manifest.json").read_text()
    assert str((out / "a_ind").resolve()) in nested
