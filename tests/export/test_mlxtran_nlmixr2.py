"""Mlxtran and nlmixr2 exports: every catalogue model, golden files for Stein 2019 (closed form
and ODE), and the golden text checked, not only frozen: its numbers parsed back and its
statements run by a small interpreter against cartpk's own predictions and ODE right-hand
sides (there is no Monolix or R here)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cartpk
from cartpk.export._mlxtran import to_mlxtran
from cartpk.export._nlmixr2 import to_nlmixr2
from cartpk.model import load_model
from cartpk.model._catalogue import catalogue_names

GOLDEN = Path(__file__).parent / "golden"
WRITERS = {"mlxtran": to_mlxtran, "nlmixr2.R": to_nlmixr2}
TIMES = np.array([0.0, 0.5, 1.0, 3.0, 7.0, 9.0, 9.3, 9.6, 14.0, 28.0, 60.0, 180.0, 365.0])


def _text(writer: str, name: str) -> str:
    """The export with the version number as written in the golden files."""
    text = WRITERS[writer](load_model(name))
    return text.replace(f"cartpk {cartpk.__version__} from", "cartpk <version> from")


@pytest.mark.parametrize("name", catalogue_names())
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_every_catalogue_model_exports(writer, name):
    text = WRITERS[writer](load_model(name))
    model = load_model(name)
    for dv in model.outputs:
        assert re.search(rf"^\s*{dv} (=|~) ", text, re.M), dv  # every output is modelled
    if writer == "mlxtran":
        inputs = re.search(r"^input = \{(.*)\}$", text, re.M).group(1).split(", ")
        assert len(inputs) == len(set(inputs)) >= len(model.thetas)
    else:
        assert text.count("ini({") == 1 and text.count("model({") == 1
        assert text.count("{") == text.count("}")  # balanced blocks


@pytest.mark.parametrize("name", ["stein2019", "stein2019_ode"])
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_golden_files(writer, name):
    """Hand-checked files (docs/export.md says what was checked); regenerate only on purpose."""
    golden = (GOLDEN / f"{name}.{writer}").read_text()
    assert _text(writer, name) == golden


# ---------------------------------------------------------------------------------------
# a small interpreter of both languages' statements (the subset the writers emit)

_FUNCS = {
    "exp": math.exp,
    "log": math.log,
    "sqrt": math.sqrt,
    "abs": abs,
    "min": min,
    "max": max,
    "tanh": math.tanh,
    "expit": lambda x: 1.0 / (1.0 + math.exp(-x)),
    "logit": lambda p: math.log(p / (1.0 - p)),
    "fixed": lambda x: x,
}


def _py(expr: str, lang: str) -> str:
    """An R or Mlxtran expression as Python."""
    expr = expr.replace("^", "**").replace("eta.", "eta_")
    if lang == "r":
        expr = expr.replace("&&", " and ").replace("||", " or ")
        expr = re.sub(r"!(?!=)", " not ", expr)
    else:
        expr = expr.replace("&", " and ").replace("|", " or ").replace("~=", "!=")
        expr = re.sub(r"~", " not ", expr)
    return expr


def _run(lines: list[str], env: dict[str, float], lang: str) -> dict[str, float]:
    """Run assignments and if blocks; ``d/dt(x)``, ``x(0)``, ``f(x)`` become ``ddt_x``,
    ``x_0``, ``F_x``."""
    ns = dict(_FUNCS)
    stack: list[list[bool]] = []  # per open block: [this branch runs, a branch ran]

    def live() -> bool:
        return all(b[0] for b in stack)

    def ev(e: str) -> float:
        return eval(_py(e, lang), ns, env)  # noqa: S307 - the test's own golden text

    for raw in lines:
        line = raw.split("#")[0] if lang == "r" else raw.split(";")[0]
        line = line.strip()
        if not line or line.startswith(("cmt(", "odeType", "description", "reference")):
            continue
        if lang == "r":
            m_if = re.match(r"^if \((.*)\) \{$", line)
            m_elif = re.match(r"^\} else if \((.*)\) \{$", line)
            is_else, is_end = line == "} else {", line == "}"
        else:
            m_if = re.match(r"^if (.*)$", line)
            m_elif = re.match(r"^elseif (.*)$", line)
            is_else, is_end = line == "else", line == "end"
        if m_if:
            run = live() and bool(ev(m_if.group(1)))
            stack.append([run, run])
        elif m_elif:
            run = not stack[-1][1] and all(b[0] for b in stack[:-1]) and bool(ev(m_elif.group(1)))
            stack[-1] = [run, stack[-1][1] or run]
        elif is_else:
            stack[-1] = [not stack[-1][1], True]
        elif is_end:
            stack.pop()
        elif live() and " ~ " not in line:
            target, expr = re.split(r" <- | = ", line, maxsplit=1)
            target = re.sub(r"^d/dt\((\w+)\)$", r"ddt_\1", target)
            target = re.sub(r"^(\w+)\(0\)$", r"\1_0", target)
            target = re.sub(r"^f\((\w+)\)$", r"F_\1", target)
            env[target.replace("eta.", "eta_")] = ev(expr.split(";")[0])
    assert not stack
    return env


def _block(text: str, start: str, end: str) -> list[str]:
    return text[text.index(start) + len(start) : text.index(end, text.index(start))].splitlines()


def _etas(model, rng) -> dict[str, float]:
    return {k: float(rng.normal(0, 0.5)) for k in model.iiv.sd}


# ---------------------------------------------------------------------------------------
# semantic checks of the golden files


@pytest.mark.parametrize("name", ["stein2019", "stein2019_ode", "stein2019_covariates"])
def test_nlmixr2_ini_values_are_the_declaration(name):
    """Thetas (on their scale), eta variances (SD**2) and sigmas parsed back from the text."""
    model = load_model(name)
    text = to_nlmixr2(model)
    env = _run(_block(text, "ini({", "})"), {}, "r")
    for t in model.thetas.values():
        prefix = {"log": "l", "logit": "logit", None: "t"}[t.transform]
        back = {"log": math.exp, "logit": _FUNCS["expit"], None: float}[t.transform]
        assert back(env[prefix + t.name]) == pytest.approx(t.value, rel=1e-14), t.name
        line = next(x for x in text.splitlines() if x.strip().startswith(prefix + t.name))
        assert ("fixed(" in line) == t.fixed and f"[{t.unit}]" in line and t.label in line
    variances = dict(re.findall(r"^\s+eta\.(\w+) ~ ([0-9.e+-]+)", text, re.M))
    assert {k: float(v) for k, v in variances.items()} == pytest.approx(
        {k: sd**2 for k, sd in model.iiv.sd.items()}, rel=1e-14
    )
    for em in model.error.values():
        for sigma, value in em.sigmas:
            assert env[sigma] == value


@pytest.mark.parametrize("name", ["stein2019", "stein2019_covariates", "stein2019_smooth"])
def test_closed_form_text_computes_cartpk_predictions(name, rng):
    """The nlmixr2 model block (with its ini) and the Mlxtran EQUATION block, run on a time
    grid with random etas, give cartpk's predictions to 1e-8 relative."""
    model = load_model(name)
    eta = _etas(model, rng)
    covs = {"DOSE": 1e8, "TARGET": "MUC1"} if model.covariate_columns else {}
    typical = {c: 0.3 for eff in model.covariates for c in eff.coefficients}
    indiv = model.individual_parameters(
        typical=typical or None,
        eta={k: np.array([v]) for k, v in eta.items()},
        covariates={k: np.array([v]) for k, v in covs.items()} or None,
    )
    params = {k: float(np.asarray(v).ravel()[0]) for k, v in indiv.items()}
    want = model.evaluate(np, TIMES, params)["QPCR"]
    r_text = to_nlmixr2(model)
    ini = _run(_block(r_text, "ini({", "})"), {}, "r") | typical
    codes = {"MUC1": 3}  # the declared levels' position: the coding export-data writes
    mlx_lines = _block(to_mlxtran(model), "EQUATION:", "DEFINITION:")
    for k, t in enumerate(TIMES):
        env = dict(ini) | {f"eta_{p}": v for p, v in eta.items()} | {"t": float(t)}
        env |= {"DOSE": covs.get("DOSE"), "TARGET": codes.get(covs.get("TARGET", ""))}
        r = _run(_block(r_text, "model({", "# residual error"), env, "r")
        for p, v in params.items():
            assert r[p] == pytest.approx(v, rel=1e-12), p
        assert r["QPCR"] == pytest.approx(want[k], rel=1e-8), (t, "nlmixr2")
        m = _run(mlx_lines, dict(params) | {"t": float(t)}, "mlx")
        assert m["QPCR_pred"] == pytest.approx(want[k], rel=1e-8), (t, "mlxtran")


def test_ode_text_has_cartpk_rhs_initial_and_solution(rng):
    """stein2019_ode: the texts' d/dt, initial values and observation equal the declaration's
    at random states and times; integrating the nlmixr2 text reproduces cartpk's solution."""
    from scipy.integrate import solve_ivp

    model = load_model("stein2019_ode")
    cls = type(model)
    params = {k: float(v) for k, v in model.typical().items()}
    r_text, m_text = to_nlmixr2(model), to_mlxtran(model)
    ini = _run(_block(r_text, "ini({", "})"), {}, "r")
    zero = {f"eta_{p}": 0.0 for p in model.iiv.sd}
    for t in [0.0, 4.0, 9.29, 9.31, 30.0, 200.0]:
        y = {"effector": float(rng.uniform(1, 1e4)), "memory": float(rng.uniform(0, 1e3))}
        want = cls.rhs(np, t, y, **{k: params[k] for k in ("foldx", "tmax", "alpha", "fb", "beta")})
        r = _run(_block(r_text, "model({", "# residual error"), ini | zero | y | {"t": t}, "r")
        m = _run(_block(m_text, "EQUATION:", "DEFINITION:"), params | y | {"t": t}, "mlx")
        for s in ("effector", "memory"):
            assert r[f"ddt_{s}"] == pytest.approx(float(want[s]), rel=1e-12, abs=1e-12)
            assert m[f"ddt_{s}"] == pytest.approx(float(want[s]), rel=1e-12, abs=1e-12)
        assert r["QPCR"] == m["QPCR_pred"] == y["effector"] + y["memory"]
    init = cls.initial(np, cmax=params["cmax"], foldx=params["foldx"])
    assert r["effector_0"] == pytest.approx(init["effector"], rel=1e-14) == m["effector_0"]
    assert "memory_0" not in r and "memory_0" not in m  # 0: the tools' default
    assert r["F_effector"] == 0  # the dose record (CMT 1) enters no state

    def rhs(t: float, y: np.ndarray) -> list[float]:
        env = ini | zero | {"t": t, "effector": y[0], "memory": y[1]}
        out = _run(_block(r_text, "model({", "# residual error"), env, "r")
        return [out["ddt_effector"], out["ddt_memory"]]

    grid = TIMES[TIMES > 0]
    y0 = [r["effector_0"], 0.0]
    sol = solve_ivp(rhs, (0, params["tmax"]), y0, rtol=1e-11, atol=1e-12, method="DOP853")
    after = solve_ivp(
        rhs, (params["tmax"], grid[-1]), sol.y[:, -1], rtol=1e-11, atol=1e-12,
        method="DOP853", dense_output=True,
    )  # fmt: skip
    late = grid[grid > params["tmax"]]
    got = after.sol(late).sum(axis=0)
    want = model.evaluate(np, late, params)["QPCR"]
    assert np.allclose(got, want, rtol=1e-6)


def test_mlxtran_population_table_and_inputs():
    """The commented population table: distributions, typical values, omega as SD."""
    model = load_model("stein2019_covariates")
    text = to_mlxtran(model)
    inputs = re.search(r"^input = \{(.*)\}$", text, re.M).group(1).split(", ")
    assert inputs == [*model.thetas, "a"]  # structural parameters, then Monolix's `a`
    rows = dict(
        (m[0], m[1:])
        for m in re.findall(r"^; (\w+) \| (\w+)[^|]* \| ([0-9.e+-]+)[^|]*\| ([0-9.e+-]+|-)", text, re.M)
    )  # fmt: skip
    dist = {"log": "lognormal", "logit": "logitnormal", None: "normal"}
    for name, t in model.thetas.items():
        d, typical, omega = rows[name]
        assert d == dist[t.transform] and float(typical) == t.value
        sd = model.iiv.sd.get(name)
        assert (omega == "-") if sd is None else float(omega) == pytest.approx(sd, rel=1e-5)
    assert "errorModel=constant(a)" in text and "distribution=lognormal" in text
    assert "log(DOSE/30000000)" in text and "reference GD2" in text


def test_nlmixr2_data_codes_match_the_model(tmp_path):
    """export-data --to nlmixr2 --model codes TARGET as the model text compares it."""
    from cartpk.export._dataset import export_dataset

    trial = Path(cartpk.__file__).parent / "examples" / "trial.csv"
    out = export_dataset(trial, "nlmixr2", model="stein2019_covariates")
    codes = out.attrs["codes"]
    table = dict(zip(codes["VALUE"], codes["CODE"], strict=True))
    text = to_nlmixr2(load_model("stein2019_covariates"))
    for level, code in table.items():
        if level != "GD2":
            assert f"cov_cmax_target_{level.lower()}*(TARGET == {code})" in text
    raw = pd.read_csv(trial).set_index(np.arange(1, 822))["TARGET"]
    assert (out["TARGET"].to_numpy() == raw.loc[out["ROW"].astype(int)].map(table)).all()


@pytest.mark.parametrize(
    ("writer", "old", "new"),
    [
        ("nlmixr2", "exp(-beta*", "exp(-alpha*"),  # one term with the wrong rate
        ("mlxtran", "(1 - fb)", "(1 - 2*fb)"),
        ("nlmixr2", "lcmax + eta.cmax", "lcmax + eta.tmax"),  # the wrong random effect
    ],
)
def test_the_checks_detect_a_wrong_text(monkeypatch, rng, writer, old, new):
    """The interpreter checks fail on a text with one change (they test, not only run)."""
    module = __import__(__name__, fromlist=["_"])
    real = {"nlmixr2": to_nlmixr2, "mlxtran": to_mlxtran}[writer]
    assert old in real(load_model("stein2019"))
    monkeypatch.setattr(module, f"to_{writer}", lambda m: real(m).replace(old, new))
    with pytest.raises(AssertionError):
        test_closed_form_text_computes_cartpk_predictions("stein2019", rng)


def test_the_ode_check_detects_a_wrong_rhs(monkeypatch, rng):
    module = __import__(__name__, fromlist=["_"])
    real = to_nlmixr2
    old, new = "effector*fb*(alpha - beta)", "effector*fb*alpha"  # the memory inflow
    monkeypatch.setattr(module, "to_nlmixr2", lambda m: real(m).replace(old, new))
    with pytest.raises(AssertionError):
        test_ode_text_has_cartpk_rhs_initial_and_solution(rng)
