"""``cartpk run``: the nested runs' manifests and logs name the folder that exists once the
run has finished, never its deleted temporary folder (new-user walk)."""

from __future__ import annotations

from _run_specs import individual_spec_folder

from cartpk.cli import main


def test_nested_manifests_and_logs_name_the_final_folder(tmp_path, capsys):
    specs = individual_spec_folder(tmp_path)
    out = tmp_path / "runs"
    main(["run", str(specs), "--out", str(out)])
    capsys.readouterr()
    texts = [p.read_text() for p in [*out.rglob("manifest.json"), *out.glob("*.log")]]
    assert len(texts) >= 3  # the run's manifest, the spec's, the spec's log
    assert not [t for t in texts if ".tmp-" in t]
    nested = (out / "a_ind" / "manifest.json").read_text()
    assert str((out / "a_ind").resolve()) in nested
