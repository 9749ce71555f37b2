"""Every status in cartpk is an :class:`cartpk.errors.Outcome`: a stable code with its remedy."""

from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path

import pandas as pd
import pytest

import cartpk
from cartpk.batch._runner import TaskStatus
from cartpk.er import ERStatus
from cartpk.er._status import FAILED
from cartpk.errors import Outcome
from cartpk.fit import FitStatus, PopulationStatus
from cartpk.ode import OdeStatus

STATUSES = [FitStatus, OdeStatus, ERStatus, TaskStatus, PopulationStatus]
_ENUM_BASES = {"Enum", "StrEnum", "IntEnum", "Flag", "IntFlag"}


def _base_name(node: ast.expr) -> str:
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")


def _status_classes() -> list[tuple[str, str]]:
    """``(module, class)`` of every enum, and every class named ``*Status``, in cartpk."""
    root = Path(cartpk.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        module = ".".join(path.relative_to(root.parent).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef) or node.name == "Outcome":
                continue
            if node.name.endswith("Status") or {_base_name(b) for b in node.bases} & _ENUM_BASES:
                found.append((module.removesuffix(".__init__"), node.name))
    return found


def test_every_status_enum_in_cartpk_derives_from_the_base():
    found = _status_classes()
    assert {name for _, name in found} >= {c.__name__ for c in STATUSES}
    for module, name in found:
        cls = getattr(importlib.import_module(module), name)
        assert issubclass(cls, Outcome), f"{module}.{name} is not an Outcome"


@pytest.mark.parametrize("status", STATUSES, ids=lambda c: c.__name__)
def test_members_carry_a_code_and_every_non_ok_member_a_remedy(status: type[Outcome]):
    values = [m.value for m in status]
    assert len(values) == len(set(values))
    assert any(m.ok for m in status) and not all(m.ok for m in status)
    for m in status:
        assert isinstance(m, str) and m == m.value == str(m) == f"{m}" == m.name
        assert m.description
        if m.ok:
            assert m.remedy == ""
        else:
            assert m.remedy == m.description and m.remedy.strip()
        assert status(m.value) is m


def test_known_codes_and_texts_are_unchanged():
    assert [m.value for m in ERStatus] == [
        "ok",
        "separation_firth",
        "separation",
        "no_plateau",
        "not_converged",
        "too_few",
        "failed",
    ]
    assert sorted(FAILED) == ["failed", "not_converged", "separation", "too_few"]
    assert ERStatus.no_plateau.remedy.startswith("The observed exposures never reach the Emax")
    assert ERStatus.ok.description.startswith("The fit converged; estimates are maximum-")
    # individual.csv writes the code (formerly ``.name``) and the message text
    assert [m.value for m in FitStatus] == [
        "converged",
        "at_bound",
        "not_converged",
        "underdetermined",
        "all_censored",
        "no_observations",
        "nonfinite",
    ]
    assert FitStatus.converged.message == "converged: the best start met the optimizer's tolerance"
    assert FitStatus.at_bound.message.endswith("fix the parameter, or widen `bounds`")
    assert FitStatus.converged.is_converged and FitStatus.at_bound.is_converged
    assert not FitStatus.not_converged.is_converged
    assert [m.value for m in OdeStatus] == ["success", "solver_failed", "nonfinite"]
    assert OdeStatus.success.description == "The integration succeeded."
    assert OdeStatus.nonfinite.remedy.endswith("or tighten `atol`.")
    assert [m.value for m in TaskStatus] == ["ok", "error"]


def test_a_member_is_its_code_in_csv_json_and_comparisons():
    assert ERStatus.ok.ok and not ERStatus.failed.ok  # a member named ``ok`` keeps ``.ok``
    assert FitStatus.converged == "converged" and ERStatus("too_few") is ERStatus.too_few
    frame = pd.DataFrame({"status": [TaskStatus.ok, TaskStatus.error]})
    assert frame.to_csv(index=False) == "status\nok\nerror\n"
    assert int((frame["status"] != "ok").sum()) == 1
    assert json.dumps({"status": ERStatus.separation}) == '{"status": "separation"}'
