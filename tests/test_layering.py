"""Imports point one way along the data flow (STYLE.md 3.2)."""

from __future__ import annotations

import ast
from pathlib import Path

import cartpk

# stage order: a module may import from its own stage, earlier stages and the foundation
STAGES = [
    ("foundation", ["errors", "_deps", "units", "run", "spec"]),
    ("data", ["data", "examples"]),
    ("cdisc", ["cdisc"]),  # SDTM/ADaM in: writes the tables data reads
    # ode: the engines of model declarations; export: its writers for other tools (NONMEM,
    # Monolix, nlmixr2), reached as model.to_nonmem() etc.
    ("model", ["model", "_catalogue", "ode", "export"]),
    ("simulate", ["simulation"]),
    ("fit", ["fit"]),
    ("diagnostics", ["diagnostics"]),
    ("exposure", ["noncompartmental", "nca", "exposure"]),
    ("response", ["response", "er"]),
    ("report", ["report"]),
    ("batch", ["batch"]),
    ("cli", ["cli"]),
]
RANK = {mod: i for i, (_, mods) in enumerate(STAGES) for mod in mods}
# the example generator is a development script that uses the simulator
EXEMPT = {"cartpk/examples/_make.py"}


def _stage(parts: list[str]) -> int | None:
    return RANK.get(parts[1]) if len(parts) > 1 and parts[0] == "cartpk" else None


def test_imports_point_one_way():
    root = Path(cartpk.__file__).parent
    problems = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root.parent)
        if str(rel) in EXEMPT or path.name == "__init__.py" and path.parent == root:
            continue
        mine = _stage(list(rel.with_suffix("").parts))
        if mine is None:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                theirs = _stage(name.split("."))
                if theirs is not None and theirs > mine:
                    problems.append(f"{rel}:{node.lineno} imports {name}")
    assert not problems, "imports against the data flow:\n" + "\n".join(problems)
