"""The NCA registry computes: each parameter declares what it depends on and how it is
computed, the graph is checked (declared, acyclic), and a missing dependency makes its
dependents missing with a reason naming it (cartpk.noncompartmental._registry)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cartpk as ck
from cartpk.noncompartmental import _calc
from cartpk.noncompartmental._nca_rules import _reasons
from cartpk.noncompartmental._nca_steps import _evaluate
from cartpk.noncompartmental._registry import (
    INPUTS,
    ORDER,
    PARAMETERS,
    QUANTITIES,
    Parameter,
    Quantity,
    dependency_order,
    missing_with,
)

LAMBDA_Z_DEPENDENTS = {
    "LAMZHL",
    "LAMZNPT",
    "LAMZLL",
    "LAMZUL",
    "R2",
    "R2ADJ",
    "CLSTP",
    "AUCIFO",
    "AUCIFP",
    "AUCPEO",
    "AUCPEP",
}


def _row(res, testcd, sid):
    row = res.long[(res.long.ID == sid) & (res.long.PPTESTCD == testcd)]
    assert len(row) == 1
    return row.iloc[0]


def test_registry_graph_is_declared_acyclic_and_ordered():
    declared = set(INPUTS) | {e.key for e in QUANTITIES + PARAMETERS}
    for entry in QUANTITIES + PARAMETERS:
        assert entry.compute is not None, entry.key
        assert set(entry.depends) <= declared, entry.key
    # every entry comes after what it depends on
    seen = set(INPUTS)
    for entry in ORDER:
        assert seen.issuperset(entry.depends), entry.key
        seen.add(entry.key)
    assert len(ORDER) == len(QUANTITIES) + len(PARAMETERS)
    # quantities are internal: they depend on no parameter, so they are never missing
    params = {p.testcd for p in PARAMETERS}
    assert not any(set(q.depends) & params for q in QUANTITIES)


def _fake(testcd, depends, compute=None):
    return Parameter(testcd, testcd.lower(), testcd, "conc", depends=depends, compute=compute)


def test_dependency_order_rejects_cycles_undeclared_and_duplicate_entries():
    with pytest.raises(ValueError, match=r"dependency cycle among A <- B, B <- A"):
        dependency_order([_fake("A", ("B",)), _fake("B", ("A",))], ["conc"])
    with pytest.raises(ValueError, match=r"A depends on undeclared 'NOPE'"):
        dependency_order([_fake("A", ("conc", "NOPE"))], ["conc"])
    with pytest.raises(ValueError, match=r"'A' is declared twice"):
        dependency_order([_fake("A", ()), _fake("A", ())], [])
    with pytest.raises(ValueError, match=r"'conc' is both a basic input and an entry"):
        dependency_order([_fake("conc", ())], ["conc"])
    # stable: the listed order wherever dependencies allow
    order = dependency_order([_fake("C", ("B",)), _fake("A", ()), _fake("B", ("A",))], [])
    assert [e.key for e in order] == ["A", "B", "C"]


def test_missing_with_follows_propagating_dependencies_only():
    assert {p.testcd for p in PARAMETERS if "LAMZ" in missing_with(p.testcd)} == (
        LAMBDA_Z_DEPENDENTS
    )
    assert {p.testcd for p in PARAMETERS if p.needs_lambda_z} == LAMBDA_Z_DEPENDENTS | {"LAMZ"}
    # the interval AUC reads lambda_z only to extrapolate: it decides itself
    assert missing_with("AUCINT") == set()
    assert missing_with("CMAX") == set()


def test_engine_gives_a_dependent_the_missing_dependency_reason_naming_it():
    # a toy registry: X has its own reason in profile 1, Y = 2 X, Z = Y + X in profile 0
    def x(v):
        return np.array([1.0, np.nan, 3.0]), _reasons(
            np.array([False, True, False]), "x_bad", "no X here"
        )

    def z(v):
        return v["Y"] + v["base"], _reasons(np.array([True, False, False]), "z_bad", "own")

    order = dependency_order(
        [
            Quantity("base", ("time",), lambda v: v["time"]),
            _fake("X", ("time",), x),
            _fake("Y", ("X",), lambda v: 2 * v["X"]),
            _fake("Z", ("Y", "base"), z),
        ],
        ["time"],
    )
    out = _evaluate({"time": np.array([10.0, 20.0, 30.0])}, order)
    assert out["X"][1].tolist() == [None, "[x_bad] no X here", None]
    y, ry = out["Y"]
    assert y[0] == 2.0 and np.isnan(y[1]) and y[2] == 6.0
    assert ry.tolist() == [None, "[x_bad] X is missing: no X here", None]
    z_, rz = out["Z"]
    # its own reason where the dependencies are there; the root dependency named otherwise
    assert np.isnan(z_[:2]).all() and z_[2] == 36.0
    assert rz.tolist() == ["[z_bad] own", "[x_bad] X is missing: no X here", None]


def test_too_few_points_for_lambda_z_make_every_dependent_missing_naming_lamz():
    # subject 1: 2 points after Tmax (lambda_z needs 3); subject 2: a clean decline
    df = pd.DataFrame(
        {
            "ID": ["1"] * 3 + ["2"] * 5,
            "TIME": [1.0, 2, 4, 1, 2, 4, 8, 16],
            "DV": [10.0, 5, 2, 10, 8, 4, 2, 1],
        }
    )
    res = ck.nca(df, interval=None)
    lamz = _row(res, "LAMZ", "1")
    assert np.isnan(lamz.PPORRES)
    assert lamz.REASON == (
        "[lambda_z_too_few_points] 2 positive point(s) after Tmax at or before Tlast; "
        "lambda_z needs 3"
    )
    for testcd in LAMBDA_Z_DEPENDENTS:
        row = _row(res, testcd, "1")
        assert np.isnan(row.PPORRES), testcd
        assert row.REASON == (
            "[lambda_z_too_few_points] LAMZ is missing: 2 positive point(s) after Tmax at "
            "or before Tlast; lambda_z needs 3"
        ), testcd
    # what does not depend on lambda_z is there
    for testcd in ("CMAX", "TMAX", "TLST", "CLST", "AUCLST"):
        row = _row(res, testcd, "1")
        assert np.isfinite(row.PPORRES) and pd.isna(row.REASON), testcd
    # subject 2: every value present, computed from its dependencies
    w = res.wide.set_index("ID").loc["2"]
    assert pd.isna(_row(res, "LAMZ", "2").REASON)
    assert w.half_life == pytest.approx(np.log(2) / w.lambda_z, rel=1e-15)
    assert w.aucinf_obs == pytest.approx(w.auclast + w.clast / w.lambda_z, rel=1e-15)
    assert w.aucinf_pred == pytest.approx(w.auclast + w.clast_pred / w.lambda_z, rel=1e-15)
    assert w.aucpext_obs == pytest.approx(
        100 * (w.aucinf_obs - w.auclast) / w.aucinf_obs, rel=1e-12
    )


def test_no_quantifiable_sample_names_the_parameter_where_it_arose():
    df = pd.DataFrame({"ID": "1", "TIME": [1.0, 2, 4], "DV": [0.0, 0, 0]})
    res = ck.nca(df, interval=None)
    text = "no quantifiable (positive) concentration"
    for testcd in ("CMAX", "TMAX", "TLST", "CLST", "AUCLST"):
        assert _row(res, testcd, "1").REASON == f"[no_quantifiable] {text}"
    # lambda_z is fitted up to Tlast; its dependents name the root (TLST), not LAMZ
    assert _row(res, "LAMZ", "1").REASON == f"[no_quantifiable] TLST is missing: {text}"
    assert _row(res, "LAMZHL", "1").REASON == f"[no_quantifiable] TLST is missing: {text}"
    assert _row(res, "AUCIFO", "1").REASON == f"[no_quantifiable] AUCLST is missing: {text}"
    assert res.long.loc[res.long.REASON.notna(), "PPORRES"].isna().all()
    assert res.long.REASON.notna().sum() == len(PARAMETERS) - 1  # no AUCINT row


def test_compute_functions_are_documented():
    for entry in QUANTITIES + PARAMETERS:
        assert entry.compute.__doc__, entry.key
    assert _calc.aucinf("CLST").__doc__ == "AUCLST + CLST / LAMZ."
