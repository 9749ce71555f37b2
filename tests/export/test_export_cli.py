"""``cartpk export MODEL --to nonmem|monolix|nlmixr2 --out FILE``: files, refusals, exit codes."""

from __future__ import annotations

import pytest
from _export_checks import Sine

import cartpk as ck
from cartpk.cli import main
from cartpk.export import to_monolix, to_nlmixr2, to_nonmem
from cartpk.model import list_models

pytest.importorskip("sympy")


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CARTPK_CACHE_DIR", str(tmp_path / "cache"))


def test_nonmem_file_is_the_export_with_its_data_file(tmp_path, capsys):
    out = tmp_path / "stein.ctl"
    assert main(["export", "stein2019", "--to", "nonmem", "--out", str(out)]) == 0
    model = ck.load_model("stein2019")
    assert out.read_text() == to_nonmem(model, data="stein.csv")
    assert "$DATA stein.csv IGNORE=@" in out.read_text()
    assert "stein2019 (closed form) as a NONMEM control stream" in capsys.readouterr().out
    other = tmp_path / "ode.ctl"
    args = ["export", "stein2019_ode", "--to", "nonmem", "--out", str(other)]
    assert main([*args, "--data", "trial_nm.csv"]) == 0
    assert "$DATA trial_nm.csv IGNORE=@" in other.read_text()


@pytest.mark.parametrize(("to", "writer"), [("monolix", to_monolix), ("nlmixr2", to_nlmixr2)])
def test_monolix_and_nlmixr2_files_are_their_writers_text(tmp_path, to, writer):
    out = tmp_path / f"model.{to}"
    assert main(["export", "stein2019_ode", "--to", to, "--out", str(out)]) == 0
    assert out.read_text() == writer(ck.load_model("stein2019_ode"))


def test_every_catalogue_model_exports_to_nonmem(tmp_path):
    for name in list_models()["name"]:
        out = tmp_path / f"{name}.ctl"
        assert main(["export", name, "--to", "nonmem", "--out", str(out)]) == 0
        assert out.read_text().startswith(f"$PROBLEM cartpk {name}")


def test_refuses_to_overwrite_without_force(tmp_path, capsys):
    out = tmp_path / "m.ctl"
    args = ["export", "stein2019", "--to", "nonmem", "--out", str(out)]
    assert main(args) == 0
    first = out.read_text()
    out.write_text(first)  # same bytes: still cartpk's output
    assert main(["export", "stein2019_smooth", "--to", "nonmem", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--force" in err and "Traceback" not in err
    assert out.read_text() == first
    assert main(["export", "stein2019_smooth", "--to", "nonmem", "--out", str(out), "--force"]) == 0
    assert "stein2019_smooth" in out.read_text()


def test_force_does_not_replace_a_users_file(tmp_path, capsys):
    out = tmp_path / "run1.ctl"
    out.write_text("$PROBLEM my own model\n")
    assert main(["export", "stein2019", "--to", "nonmem", "--out", str(out), "--force"]) == 2
    assert out.read_text() == "$PROBLEM my own model\n"
    assert "Traceback" not in capsys.readouterr().err


def test_unknown_model_lists_the_catalogue(tmp_path, capsys):
    out = tmp_path / "x.ctl"
    assert main(["export", "nosuch", "--to", "nonmem", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "unknown_model" in err and "stein2019_ode" in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["--to", "sas"],
        ["--to", "nlmixr2", "--data", "d.csv"],
        ["--to", "nonmem", "--out", "/no/such/folder/m.ctl"],
    ],
)
def test_usage_errors_exit_2(tmp_path, capsys, args):
    if "--out" not in args:
        args = [*args, "--out", str(tmp_path / "m.txt")]
    assert main(["export", "stein2019", *args]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_a_declaration_the_tool_cannot_express_exits_1(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("cartpk.model.load_model", lambda name: Sine())
    out = tmp_path / "sine.ctl"
    assert main(["export", "sine_test", "--to", "nonmem", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "export_unsupported" in err and "xp.sin" in err and "Traceback" not in err
    assert not out.exists()


def test_missing_sympy_is_a_clear_error(tmp_path, capsys, monkeypatch):
    def missing(module, *, purpose=""):
        raise ImportError(f"`{module}` is needed for {purpose} but is not installed")

    monkeypatch.setattr("cartpk.export._symbolic.require", missing)
    out = tmp_path / "m.ctl"
    assert main(["export", "stein2019", "--to", "nonmem", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "missing_dependency" in err and "`sympy` is needed" in err and "Traceback" not in err
    assert not out.exists()


def test_model_methods_are_the_export_functions():
    model = ck.load_model("stein2019_ode")
    assert model.to_nonmem(data="trial_nm.csv") == to_nonmem(model, data="trial_nm.csv")
    assert "$DATA trial_nm.csv" in model.to_nonmem(data="trial_nm.csv")
    assert model.to_nonmem(interval=True) == to_nonmem(model, interval=True)
    assert model.to_monolix() == to_monolix(model)
    assert model.to_nlmixr2() == to_nlmixr2(model)
