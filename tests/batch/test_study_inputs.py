"""Batch studies record the SHA-256 of every input file and refuse to resume after a change.

Issue 16, class 11: a bootstrap resumed after its data file was edited mixed samples of
two datasets. The class: every file a study reads (data, imported estimator source) is an
input of ``study.json``; the spec file's digest goes into the manifest; a rerun after an
input changed is ``input_changed`` (exit 2 from the CLI), ``--force`` starts afresh.
"""

from __future__ import annotations

import json
from pathlib import Path

import batch_helpers as bh
import pytest

import cartpk as ck
from cartpk.batch._runner import StudyFolder, code_inputs
from cartpk.cli import main
from cartpk.errors import SpecError
from cartpk.run import sha256_file

KINDS = ("sse", "bootstrap", "er_chain")


def _files(tmp_path: Path, n: int) -> list[Path]:
    out = []
    for k in range(n):
        p = tmp_path / f"input{k}.csv"
        p.write_text(f"ID,TIME,DV\n1,{k + 1},100\n")
        out.append(p)
    return out


def _change(files: list[Path], how: str) -> list[Path]:
    """Change the inputs of a study in one of the ways a resume must notice."""
    if how == "edit_one_byte":
        files[0].write_text(files[0].read_text().replace("100", "101"))
        return files
    if how == "replace_whole_file":
        files[-1].write_text("ID,TIME,DV\n9,9,9\n")
        return files
    if how == "another_input_added":
        extra = files[0].parent / "extra.csv"
        extra.write_text("ID,TIME,DV\n2,2,2\n")
        return [*files, extra]
    if how == "an_input_dropped":
        return files[:-1]
    raise AssertionError(how)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "how", ["edit_one_byte", "replace_whole_file", "another_input_added", "an_input_dropped"]
)
def test_study_refuses_to_resume_when_an_input_changed(tmp_path, kind, how):
    files = _files(tmp_path, 2)
    spec = {"model": "m", "seed": 1}
    out = tmp_path / "study"
    first = StudyFolder(out, kind=kind, spec=spec, seed=1, inputs=files)
    first.task_path(0).write_text("{}")
    stored = json.loads((out / "study.json").read_text())["inputs"]
    assert stored == {str(p.resolve()): sha256_file(p) for p in files}
    # unchanged inputs: the same study resumes
    StudyFolder(out, kind=kind, spec=spec, seed=1, inputs=files)
    changed = _change(files, how)
    with pytest.raises(SpecError) as err:
        StudyFolder(out, kind=kind, spec=spec, seed=1, inputs=changed)
    assert err.value.code == "input_changed"
    assert "--force" in str(err.value) and "changed" in str(err.value)
    assert first.task_path(0).is_file()  # nothing was touched
    # --force discards the old study and records the new digests
    fresh = StudyFolder(out, kind=kind, spec=spec, seed=1, inputs=changed, force=True)
    assert not fresh.task_path(0).exists()
    again = json.loads((out / "study.json").read_text())["inputs"]
    assert again == {str(p.resolve()): sha256_file(p) for p in changed}


@pytest.mark.parametrize("kind", KINDS)
def test_manifest_records_inputs_and_spec_file(tmp_path, kind):
    files = _files(tmp_path, 1)
    spec_file = tmp_path / "study.toml"
    spec_file.write_text("seed = 1\n")
    folder = StudyFolder(
        tmp_path / "s", kind=kind, spec={"x": 1}, seed=1, inputs=files, spec_file=spec_file
    )
    folder.finish(status="ok", counts={"total": 0}, files=[])
    m = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert m["inputs"] == {
        str(files[0].resolve()): sha256_file(files[0]),
        str(spec_file.resolve()): sha256_file(spec_file),
    }
    # the spec file's digest is recorded, not enforced: its settings are compared through
    # the study's identity, and the extent (number of replicates) may grow
    spec_file.write_text("seed = 1\nn_replicates = 10\n")
    StudyFolder(tmp_path / "s", kind=kind, spec={"x": 1}, seed=1, inputs=files)


def test_code_inputs_is_the_source_of_user_code_not_cartpk(tmp_path):
    assert code_inputs(bh.observed_peak) == [str(Path(bh.__file__).resolve())]
    assert code_inputs(bh.SlowPeak(0.0)) == [str(Path(bh.__file__).resolve())]
    from cartpk.batch import IndividualFitEstimator

    assert code_inputs(IndividualFitEstimator()) == []


def test_force_never_discards_a_folder_that_is_not_a_study(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="--force refused"):
        StudyFolder(out, kind="sse", spec={}, seed=1, force=True)
    StudyFolder(tmp_path / "s", kind="sse", spec={}, seed=1)
    (tmp_path / "s" / "notes.txt").write_text("precious too")
    with pytest.raises(FileExistsError, match="did not write"):
        StudyFolder(tmp_path / "s", kind="sse", spec={}, seed=1, force=True)
    assert (out / "notes.txt").read_text() == "precious"
    assert (tmp_path / "s" / "notes.txt").is_file()


def test_bootstrap_resumed_after_data_edit_is_refused(tmp_path, client, capsys):
    table = ck.simulate(ck.load_model("stein2019"), n=6, seed=3, lloq=50.0)
    data = tmp_path / "data.csv"
    table.to_csv(data, index=False)
    spec = tmp_path / "boot.toml"
    spec.write_text(
        'model = "stein2019"\ndata = "data.csv"\nseed = 5\n\n'
        '[estimator]\nkind = "import"\ntarget = "batch_helpers:observed_peak"\n'
    )
    out = tmp_path / "study"
    ck.bootstrap(spec, 2, seed=5, out=out, client=client, quiet=True)
    m = json.loads((out / "manifest.json").read_text())
    assert m["inputs"][str(data.resolve())] == sha256_file(data)
    assert m["inputs"][str(spec.resolve())] == sha256_file(spec)
    assert str(Path(bh.__file__).resolve()) in m["inputs"]
    tasks = sorted(p.name for p in (out / "tasks").iterdir())

    obs = table.index[table["EVID"] == 0][0]
    table.loc[obs, "DV"] = float(table.loc[obs, "DV"]) * 2 + 1
    table.to_csv(data, index=False)
    with pytest.raises(SpecError) as err:
        ck.bootstrap(spec, 3, seed=5, out=out, client=client, quiet=True)
    assert err.value.code == "input_changed"
    assert sorted(p.name for p in (out / "tasks").iterdir()) == tasks  # nothing mixed in
    # the command line: exit 2, a clear message, no traceback, before any cluster starts
    capsys.readouterr()
    assert main(["bootstrap", str(spec), "-n", "3", "--out", str(out), "--quiet"]) == 2
    errtext = capsys.readouterr().err
    assert "input_changed" in errtext and "--force" in errtext and "Traceback" not in errtext
    # --force starts afresh from the new data
    ck.bootstrap(spec, 2, seed=5, out=out, client=client, quiet=True, force=True)
    m = json.loads((out / "manifest.json").read_text())
    assert m["inputs"][str(data.resolve())] == sha256_file(data)
