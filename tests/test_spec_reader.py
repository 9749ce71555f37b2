"""Spec errors never end in a traceback (issue 16, class 5): one reader for every spec kind.

Property: for each kind of specification (fit individual / population, E-R, SSE, E-R
chain SSE, bootstrap), TOML text made from a shipped or minimal spec by setting a key to a
value of any type, adding an unknown key, deleting a key, or re-encoding the file reads as
a valid spec object or raises one ``SpecError``, never another exception; the command then
exits 2 with no traceback. Class tests: the issue's examples for every kind and key type.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import string
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartpk.batch import load_spec
from cartpk.cli import main
from cartpk.er import read_er_spec
from cartpk.errors import SpecError
from cartpk.fit._spec import METHOD_OPTIONS, parse_fit_spec, read_fit_spec

REPO = Path(__file__).resolve().parents[1]
FITS = REPO / "fits"

BOOTSTRAP = 'model = "stein2019"\ndata = "example:trial.csv"\nseed = 1\nn_bootstrap = 20\n'
#: kind -> (base spec text, reader, command, nested table whose keys are mutated)
KINDS: dict[str, tuple[str, Callable[[Path], Any], str, str | None]] = {
    "fit_individual": (
        (FITS / "stein2019_individual.toml").read_text(),
        read_fit_spec,
        "fit",
        "ini",
    ),
    "fit_population": (
        (FITS / "stein2019_bayes.toml").read_text(),
        read_fit_spec,
        "fit",
        "options",
    ),
    "er": ((FITS / "er_example.toml").read_text(), read_er_spec, "er", "analysis"),
    "sse": (
        (FITS / "long" / "stein2019_sse_seed.toml").read_text(),
        lambda p: load_spec(p, kind="sse"),
        "sse",
        "estimator",
    ),
    "er_chain": (
        (FITS / "long" / "er_chain_sse.toml").read_text(),
        lambda p: load_spec(p, kind="sse"),
        "sse",
        "fit",
    ),
    "bootstrap": (BOOTSTRAP, lambda p: load_spec(p, kind="bootstrap"), "bootstrap", None),
}


# ---------------------------------------------------------------------------------------
# a small TOML writer (the property builds specs as mappings, then writes them)


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_scalar(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_scalar(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))  # pragma: no cover


def to_toml(spec: dict[str, Any]) -> str:
    """TOML text of a mapping: scalars first, then [tables] and [[arrays of tables]]."""
    top, tables = [], []
    for k, v in spec.items():
        key = json.dumps(k)
        if isinstance(v, dict):
            body = "".join(f"{json.dumps(a)} = {_scalar(b)}\n" for a, b in v.items())
            tables.append(f"[{key}]\n{body}")
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for item in v:
                body = "".join(f"{json.dumps(a)} = {_scalar(b)}\n" for a, b in item.items())
                tables.append(f"[[{key}]]\n{body}")
        else:
            top.append(f"{key} = {_scalar(v)}\n")
    return "".join(top) + "\n".join(tables)


_scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, 1, 2, -3, 5]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.5, -0.1]),
    st.text(max_size=6),
    st.sampled_from(["m3", "individual", "population", "tmax>2", "example:trial.csv", "none"]),
)
_values = st.one_of(
    _scalars,
    st.lists(_scalars, max_size=3),
    st.dictionaries(st.text(string.ascii_lowercase, min_size=1, max_size=5), _scalars, max_size=2),
)


def _keys(kind: str, base: dict[str, Any]) -> list[str]:
    from cartpk.batch._spec import KEYS
    from cartpk.fit._spec import TOP_KEYS

    known = set(base) | set(TOP_KEYS) | {k for rules in METHOD_OPTIONS.values() for k in rules}
    known |= {k for rules in KEYS.values() for k in rules} | {"level", "log", "landmark"}
    return sorted(known)


@st.composite
def _broken(draw: Any, kind: str) -> bytes:
    """A spec of ``kind`` with one to three changes, as the bytes of a file."""
    text, _, _, nested = KINDS[kind]
    spec = tomllib.loads(text)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["set", "set", "unknown", "delete", "nested"]))
        if op == "set":
            spec[draw(st.sampled_from(_keys(kind, spec)))] = draw(_values)
        elif op == "unknown":
            spec[draw(st.text(string.ascii_lowercase + "_", min_size=1, max_size=8))] = draw(
                _values
            )
        elif op == "delete" and spec:
            spec.pop(draw(st.sampled_from(sorted(spec))))
        elif nested is not None:
            table = spec.get(nested)
            target = table[0] if isinstance(table, list) and table else table
            if isinstance(target, dict):
                names = sorted(set(target) | {"chains", "level", "blq", "n_starts", "cmax"})
                target[draw(st.sampled_from(names))] = draw(_values)
    encoding = draw(st.sampled_from(["utf-8"] * 6 + ["latin-1", "utf-16", "utf-8-sig"]))
    body = to_toml(spec)
    if encoding == "latin-1":
        body = "# café\n" + body
    return body.encode(encoding, errors="replace")


def _read_or_spec_error(kind: str, data: bytes, folder: Path) -> SpecError | None:
    path = folder / "spec.toml"
    path.write_bytes(data)
    try:
        KINDS[kind][1](path)
    except SpecError as err:
        assert err.violations, "a SpecError lists its problems"
        return err
    return None


@pytest.mark.parametrize("kind", sorted(KINDS))
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_a_broken_spec_is_a_spec_error_or_valid_never_a_crash(kind, data):
    spec = data.draw(_broken(kind))
    with tempfile.TemporaryDirectory() as tmp:
        err = _read_or_spec_error(kind, spec, Path(tmp))
        if err is not None and data.draw(st.integers(0, 4)) == 0:
            # the command line stops at the same error: exit 2, no traceback, nothing run
            buf = io.StringIO()
            out = Path(tmp) / "out"
            with contextlib.redirect_stderr(buf), contextlib.redirect_stdout(io.StringIO()):
                code = main([KINDS[kind][2], str(Path(tmp) / "spec.toml"), "--out", str(out)])
            assert code == 2 and "Traceback" not in buf.getvalue()
            assert not (out / "manifest.json").exists()


# ---------------------------------------------------------------------------------------
# the class, example by example


def _spec_error(kind: str, text: str | bytes, tmp_path: Path) -> SpecError:
    data = text.encode() if isinstance(text, str) else text
    err = _read_or_spec_error(kind, data, tmp_path)
    assert err is not None, f"accepted: {text!r}"
    return err


def _with(kind: str, line: str, table: str | None = None) -> str:
    """The base spec of ``kind`` with ``line`` added at the top (or in ``[table]``)."""
    text = KINDS[kind][0]
    if table is None:
        return line + "\n" + text
    return text.replace(f"[{table}]\n", f"[{table}]\n{line}\n", 1)


CASES = [
    ("fit_individual", 'method = ["individual"]', None, "method"),
    ("fit_individual", 'bounds = "tmax>2"', None, "bounds"),
    ("fit_individual", "bounds = { tmax = [20.0, 2.0] }", None, "bounds"),
    ("fit_individual", "bounds = { nope = [1.0, 2.0] }", None, "bounds"),
    ("fit_individual", "level = 2.5", None, "level"),
    ("fit_individual", "n_starts = 0", None, "n_starts"),
    ("fit_individual", "seed = -1", None, "seed"),
    ("fit_individual", 'fix = "cmax"', None, "fix"),
    ("fit_individual", 'cmax = "big"', "ini", "ini.cmax"),
    ("fit_individual", "cmaxx = 1.0", "ini", "ini.cmaxx"),
    ("fit_population", "chains = 0", "options", "options.chains"),
    ("fit_population", "target_accept = 1.5", "options", "options.target_accept"),
    ("fit_population", "vpc_replicates = -3", "options", "options.vpc_replicates"),
    ("fit_population", "draws = 2.5", "options", "options.draws"),
    ("fit_population", 'centered = "gamma"', "options", "options.centered"),
    ("er", "level = 2.5", None, "level"),
    ("er", "seed = -3", None, "seed"),
    ("sse", "n_replicates = 0", None, "n_replicates"),
    ("sse", "seed = -3", None, "seed"),
    ("sse", "lloq = -1.0", None, "lloq"),
    ("sse", "level = 2.5", "estimator", "estimator.level"),
    ("sse", "n_starts = 0", "estimator", "estimator.n_starts"),
    ("er_chain", "level = 2.5", None, "level"),
    ("er_chain", "chains = 0", "fit", "chains"),
    ("bootstrap", "level = 2.5", None, "level"),
    ("bootstrap", "n_bootstrap = 1", None, "n_bootstrap"),
    ("bootstrap", "seed = -3", None, "seed"),
]


def _dedupe(kind: str, line: str, table: str | None) -> str:
    """The base spec of ``kind`` with ``line`` first (in ``[table]``), its own line of the
    key removed (a TOML file may not repeat a key)."""
    key = line.split("=")[0].strip()
    lines = KINDS[kind][0].splitlines()
    current = None
    kept = []
    for ln in lines:
        if ln.startswith("["):
            current = ln.split("#")[0].strip("[] ")
            kept.append(ln)
            if current == table:
                kept.append(line)  # the bad line, first in its table
            continue
        if current == table and ln.split("=")[0].strip() == key:
            continue
        kept.append(ln)
    return (line + "\n" if table is None else "") + "\n".join(kept) + "\n"


@pytest.mark.parametrize(("kind", "line", "table", "key"), CASES)
def test_each_bad_key_is_named_with_its_line_and_raw_text(tmp_path, kind, line, table, key):
    text = _dedupe(kind, line, table)
    err = _spec_error(kind, text, tmp_path)
    named = [v for v in err.violations if v.column == key or key in v.message]
    assert named, [v.format() for v in err.violations]
    lines = text.splitlines()
    n = lines.index(line) + 1
    assert any(f"spec.toml, line {n}: {line}" in str(v.value) for v in named), [
        v.value for v in named
    ]


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("encoding", ["latin-1", "utf-16", "cp1252"])
def test_a_spec_not_in_utf8_is_one_spec_error_naming_the_encoding(tmp_path, kind, encoding):
    text = "# Stein et al. — café\n" + KINDS[kind][0]
    err = _spec_error(kind, text.encode(encoding, errors="replace"), tmp_path)
    assert err.code == "spec_encoding" and "UTF-8" in str(err)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_spec_that_is_not_toml_names_its_line(tmp_path, kind):
    err = _spec_error(kind, KINDS[kind][0] + "\nthis is = = not toml\n", tmp_path)
    assert err.code == "spec_unreadable" and "not toml" in str(err)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_shipped_base_specs_are_valid(tmp_path, kind):
    assert _read_or_spec_error(kind, KINDS[kind][0].encode(), tmp_path) is None


def test_cli_exit_2_without_traceback_for_every_command(tmp_path, capsys):
    for kind, (_text, _, command, _) in KINDS.items():
        spec = tmp_path / f"{kind}.toml"
        spec.write_text(_dedupe(kind, "seed = -1", None))
        for argv in ([command, str(spec)], ["run", str(spec)]):
            assert main([*argv, "--out", str(tmp_path / f"out_{kind}")]) == 2
            err = capsys.readouterr().err
            assert "Traceback" not in err and "`seed`" in err and "line 1: seed = -1" in err


def test_run_lists_every_specs_problems_before_running_any(tmp_path, capsys, monkeypatch):
    good = tmp_path / "a.toml"
    good.write_text(KINDS["bootstrap"][0])
    bad1 = tmp_path / "b.toml"
    bad1.write_text(_with("fit_individual", "level = 2.5"))
    bad2 = tmp_path / "c.toml"
    bad2.write_bytes(("# é\n" + KINDS["er"][0]).encode("latin-1"))
    monkeypatch.setattr("cartpk.cli.main", lambda argv: 0)  # the valid spec "runs"
    assert main(["run", str(tmp_path), "--out", str(tmp_path / "out"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "b.toml, line 1: level = 2.5" in err and "c.toml is not UTF-8" in err
    assert err.index("c.toml is not UTF-8") < err.index("run folder:")
    rows = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert list(rows["status"]) == ["ok", "invalid", "invalid"]


def test_fit_and_fit_many_read_the_same_keys_the_same_way(tmp_path):
    """``[ini]``, ``fix`` and options mean the same in ``cartpk fit`` and ``fit_many``."""
    from cartpk.batch._fit_many import run_individual_spec

    raw = tomllib.loads(KINDS["fit_individual"][0])
    raw["fix"] = ["beta"]
    spec = parse_fit_spec(raw, method="individual")
    assert spec.ini["cmax"] == 455.0 and spec.fix == ("beta",)
    bad = {**raw, "level": 2.5, "n_startz": 2}
    (tmp_path / "bad.toml").write_text(to_toml(bad))
    with pytest.raises(SpecError) as by_cli:
        read_fit_spec(tmp_path / "bad.toml")
    with pytest.raises(SpecError) as by_batch:
        run_individual_spec(bad, tmp_path / "out")
    codes = sorted((v.code, v.column) for v in by_cli.value.violations)
    assert codes == sorted((v.code, v.column) for v in by_batch.value.violations)
    assert ("spec_unknown_key", "n_startz") in codes and not (tmp_path / "out").exists()
