"""Benchmark of the population fit: gradient cost and ESS per second, as ratios (same run).

Measures, on data simulated from ``stein2019_smooth`` on the trial design (days 7-90, LLOQ 50):

1. **Gradient cost, generated vs hand-written.** One log-density + gradient evaluation of the
   PyMC model that :func:`cartpk.fit.population_model` generates from the declaration, against a
   hand-written PyMC model of the same equations, priors and censored likelihood (the
   baseline below; cartpk itself never hand-writes equations). Both are compiled with the
   same pytensor backend (numba, as nutpie uses; and the C backend, as ``pm.sample`` uses).
   Target (issue 6): generated / hand-written <= 1.2.
2. **ESS per second, nutpie vs PyMC's NUTS.** The same generated model (random effects on
   ``--iiv``, default cmax and alpha, which the design identifies) sampled by
   :func:`cartpk.fit_population` with ``sampler="nutpie"`` and ``sampler="pymc"``: the
   smallest bulk ESS over the population parameters divided by the wall time (with and
   without compilation). Reported as the ratio nutpie / pymc.

3. **Target (a) of issue 6: 90 subjects on the trial design** (qPCR days 7-90 only, LLOQ 120:
   ~17 % BLQ; the known truth of ``tests/fit/test_population_trial_design.py``: Stein 2019's
   expansion, a faster contraction and persistence, IIV on cmax and alpha). Wall time of
   :func:`cartpk.fit_population` *including* model building, numba compilation and the
   tables, with its convergence numbers (R-hat over every parameter and random effect, bulk
   ESS, divergences); target R-hat <= 1.01, ESS >= 400, 0 divergences in <= 30 s on 2
   cores. ``priors="literature"`` and ``init="declared"`` (chains start at the declared
   values: with the default jitter they start between other sampling days and stay there,
   R-hat 1.5-2.4). Variants: 2 or 4 chains, nutpie's ``low_rank_modified_mass_matrix``
   (not an option of ``fit_population``: sampled here from :func:`cartpk.fit.population_model`
   with the same starts), and PyMC's NUTS (``sampler="pymc"``): ESS per second as ratios.
4. **pm.ode baseline.** The same population model with the ODE form of Stein 2019
   (``models/stein2019_ode.py``: effector and memory pools) solved by ``pymc.ode``
   (``scipy.integrate.odeint`` with forward sensitivities, one ``DifferentialEquation`` per
   subject), written below as a hand-written baseline. The switch at ``tmax`` is the smooth
   gate of ``stein2019_smooth`` on the rates (``g = sigmoid((t - tmax) / 0.25)``: ``dE/dt =
   ((1 - g) rho - g alpha) E``, ``dM/dt = g fb (alpha - beta) E - beta M``), so both forms
   are differentiable; the two differ near ``tmax`` only (their log-densities are compared).
   pm.ode cannot sample 90 subjects in minutes (about 35 ms per subject per gradient), so:

   * **per-gradient cost** on a subset of ``--ode-subjects`` subjects (default 10): pm.ode
     against the generated closed form, numba (nutpie's backend) and C (``pm.sample``'s);
   * **ESS per second** on ``--ode-sample-subjects`` (default 10) subjects: cartpk's ODE
     (``stein2019_ode``, JAX engine) and the closed form sampled by ``pm.sample`` with the
     same settings and starts (``--ode-tune``/``--ode-draws``, default 500/500, 2 chains),
     plus nutpie on the closed form. pm.ode cannot sample that in minutes, so it runs a
     bounded ``pm.sample`` (``--ode-pm-iters`` iterations per chain, tree depth <= 5) that
     measures its cost per gradient while sampling; its ESS per second is *estimated* as
     the ESS per gradient of the same posterior (from cartpk's ODE run: same NUTS, same
     model, an ODE solved to rtol 1e-11) divided by that cost.

6. **Compile time and wall time to an ESS target, generated vs hand-written (issue 17 item
   2).** In one run, on ``--compile-subjects`` subjects (default 60, the ``--design`` days) of
   ``stein2019_smooth`` with the random effects of ``--iiv``: the generated model
   (:func:`cartpk.fit.population_model`, compiled by cartpk's compile path
   :func:`cartpk.fit._compiled.compile_model` into an empty compile cache, then again from the
   cache) and the hand-written baseline above (``nutpie.compile_pymc_model``), both sampled
   by nutpie with the same settings and seed until the smallest bulk ESS over ``mu_*``,
   ``omega_*`` and ``sigma`` reaches ``--ess-target`` (default 400; more draws, at most three
   attempts, every attempt's time counted). Prints compile seconds and the ratios of the
   total wall times (compile + sampling to the target) generated / hand-written, with a
   cold and with a warm compile cache. Target: compile <= 10 s, ratio <= 1.5.

7. **The JAX ODE gradient as the population grows (issue 17 item 4).** Per log-density +
   gradient of ``stein2019_ode`` (JAX engine; declared DOP853 rtol 1e-11 and a sampling
   tolerance rtol 1e-8) over the generated closed form (numba) on 1-300 subjects
   (``--scale-subjects``), and each one's marginal cost per subject. Target: within 20x.

8. **One compiled model for every data set of a design (issue 17 item 2).** ``fit_population``
   (nutpie) puts a closed-form model's records in data containers, so the compile cache
   keys a model by the data's shapes, not their values. On ``--compile-subjects`` subjects
   of the ``--design``, two data seeds: compile seconds with data inputs for the first data
   set (empty cache: a miss) and for the second (a hit), against constants for the second
   (a miss: the former behaviour of every new data set); and the cost of one call of
   nutpie's log-density + gradient callback, data inputs over constants (the compiled code
   reads the arrays instead of embedding them). Targets: a new data set of the same design
   compiles in <= 1 s; the callback ratio <= 1.1.

Run ``python benchmarks/bench_population.py`` (``--quick`` for a smaller run; ``--parts`` to
choose among ``grad,sampling,trial,ode``; the pm.ode part takes several minutes). Absolute
times depend on the machine and its load; compare the ratios.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import time
import warnings
from collections.abc import Iterator

import numpy as np
from _bench_args import bench_parser

DESIGNS = {
    "trial": (7.0, 14.0, 21.0, 28.0, 60.0, 90.0),  # the originating trial's qPCR days
    "rich": (2.0, 4.0, 7.0, 10.0, 14.0, 21.0, 28.0, 60.0, 90.0),  # with two pre-peak samples
}


def _data(n: int, seed: int, iiv: list[str] | None = None, design: str = "trial"):
    import cartpk as ck

    model = ck.load_model("stein2019_smooth")
    if iiv is not None:
        model = model.with_iiv(drop=[p for p in model.iiv.names if p not in iiv])
    sim = ck.simulate(model, n=n, seed=seed, lloq=50, days=DESIGNS[design])
    return model, ck.read_dataset(sim)


def _hand_written(model, data, *, cartpk_loglik: bool = False):
    """Baseline: the Stein smooth-gate model with M3 written by hand in PyMC.

    ``cartpk_loglik=True`` keeps the hand-written equations but uses
    :func:`cartpk.fit.loglik` for the observations, to attribute the cost difference.
    """
    import pymc as pm
    import pytensor.tensor as pt

    from cartpk.fit.population import population_priors

    pr = population_priors(model).set_index("parameter")
    obs = data.observations("QPCR")
    ids = data.subjects
    idx = obs["ID"].map({s: i for i, s in enumerate(ids)}).to_numpy()
    t = obs["TIME"].to_numpy(float)
    logy = np.log(obs["DV"].to_numpy(float))
    cens = obs["CENS"].to_numpy() == 1
    gate = 0.25
    with pm.Model(coords={"subject": ids}) as m:
        ind = {}
        for p in ("foldx", "tmax", "cmax", "alpha", "fb", "beta"):
            mu = pm.Normal(f"mu_{p}", pr.loc[f"mu_{p}", "loc"], pr.loc[f"mu_{p}", "scale"])
            if p not in model.iiv.names:  # a typical value without a random effect
                h = mu + np.zeros(len(idx))
                ind[p] = pt.sigmoid(h) if p == "fb" else pt.exp(h)
                continue
            om = pm.HalfNormal(f"omega_{p}", pr.loc[f"omega_{p}", "scale"])
            z = pm.Normal(f"z_{p}", 0, 1, dims="subject")
            h = (mu + om * z)[idx]
            ind[p] = pt.sigmoid(h) if p == "fb" else pt.exp(h)
        sigma = pm.HalfNormal("sigma", pr.loc["sigma", "scale"])
        g = pt.sigmoid((t - ind["tmax"]) / gate)
        tau = t - ind["tmax"]
        log_up = pt.log(ind["cmax"]) + pt.log(ind["foldx"]) * (t / ind["tmax"] - 1)
        log_down = pt.log(ind["cmax"]) + pt.logaddexp(
            pt.log1p(-ind["fb"]) - ind["alpha"] * tau, pt.log(ind["fb"]) - ind["beta"] * tau
        )
        logf = (1 - g) * log_up + g * log_down
        if cartpk_loglik:
            from cartpk.fit import loglik

            ll = loglik(
                pt,
                np.exp(logy),
                pt.exp(logf),
                cens.astype(int),
                model.error["QPCR"],
                {"sigma": sigma},
            )
            pm.Potential("loglik_QPCR", ll.sum())
            return m
        zq = (logy - logf) / sigma
        ll = pt.switch(
            cens,
            pm.logcdf(pm.Normal.dist(0.0, 1.0), zq),
            -0.5 * zq**2 - pt.log(sigma) - 0.5 * math.log(2 * math.pi) - logy,
        )
        pm.Potential("loglik_QPCR", ll.sum())
    return m


def _grad_times(
    models: dict[str, object], mode: str, repeat: int = 200, rounds: int = 15
) -> dict[str, float]:
    """Seconds per log-density + gradient evaluation of each model.

    Rounds alternate between the models and the fastest round counts, so that a busy
    machine slows every model alike and the ratios stay meaningful.
    """
    funcs, points = {}, {}
    for name, pmm in models.items():
        f = pmm.logp_dlogp_function(ravel_inputs=True, mode=mode)
        f.set_extra_values({})
        x = np.concatenate([np.ravel(v) for v in pmm.initial_point().values()])
        points[name] = x + np.random.default_rng(0).normal(0, 0.1, x.size)
        f(points[name])
        funcs[name] = f
    best = {name: math.inf for name in models}
    for _ in range(rounds):
        for name, f in funcs.items():
            x = points[name]
            t0 = time.perf_counter()
            for _ in range(repeat):
                f(x)
            best[name] = min(best[name], (time.perf_counter() - t0) / repeat)
    return best


def _grad_times_fresh(
    models: dict[str, object], mode: str, repeat: int = 20, rounds: int = 3
) -> dict[str, float]:
    """As :func:`_grad_times`, but every call at a new point: the ODE Op caches the last
    point's solution (a forward pass and its gradient share one integration), so repeated
    calls at one point would time a cache hit."""
    funcs, points = {}, {}
    for name, pmm in models.items():
        f = pmm.logp_dlogp_function(ravel_inputs=True, mode=mode)
        f.set_extra_values({})
        x = np.concatenate([np.ravel(v) for v in pmm.initial_point().values()])
        rng = np.random.default_rng(0)
        points[name] = [x + rng.normal(0, 0.1, x.size) for _ in range(repeat * rounds + 1)]
        f(points[name][-1])
        funcs[name] = f
    best = {name: math.inf for name in models}
    for r in range(rounds):
        for name, f in funcs.items():
            pts = points[name][r * repeat : (r + 1) * repeat]
            t0 = time.perf_counter()
            for x in pts:
                f(x)
            best[name] = min(best[name], (time.perf_counter() - t0) / repeat)
    return best


def _ess_per_s(fit) -> dict[str, float]:
    t = fit.diagnostics
    names = [n for n in fit.idata.posterior.data_vars if not str(n).startswith("eta_")]
    ess = t.loc[(t.check == "ess_bulk") & t.parameter.isin(names), "value"].min()
    s = fit.summary
    total = s["compile_s"] + s["sample_s"]
    return {
        "ess_bulk_min": float(ess),
        "compile_s": s["compile_s"],
        "sample_s": s["sample_s"],
        "ess_per_s_sampling": float(ess / s["sample_s"]),
        "ess_per_s_total": float(ess / total),
        "rhat_max": s["rhat_max"],
        "divergences": s["divergences"],
    }


# -- target (a): the trial design ------------------------------------------------------
# the known truth of tests/fit/test_population_trial_design.py (see its docstring)
TRIAL_TRUTH = dict(foldx=3900.0, tmax=9.3, cmax=24000.0, alpha=0.25, fb=0.02, beta=0.02)
TRIAL_IIV = {"cmax": 0.81, "alpha": 0.5}
TRIAL_LLOQ = 120.0
TRIAL_GUESS = {k: 1.5 * v for k, v in TRIAL_TRUTH.items()}  # the declared values fitted


def _trial_data(n: int, seed: int = 0):
    """(fitted declaration, data): ``n`` subjects on the trial design, the known truth."""
    import cartpk as ck

    drop = ["foldx", "tmax", "fb", "beta"]
    base = ck.load_model("stein2019_smooth")
    truth = base.with_iiv(drop=drop, sd=TRIAL_IIV).with_ini(**TRIAL_TRUTH)
    sim = ck.simulate(truth, n=n, seed=seed, lloq=TRIAL_LLOQ, days=DESIGNS["trial"])
    return base.with_iiv(drop=drop).with_ini(**TRIAL_GUESS), ck.read_dataset(sim)


def _fit_record(fit, wall: float) -> dict[str, object]:
    s = fit.summary
    table = fit.parameters.set_index("parameter")
    ess = _ess_per_s(fit)
    return {
        "wall_s_including_compilation": round(wall, 2),
        "compile_s": s["compile_s"],
        "sample_s": s["sample_s"],
        "rhat_max": round(s["rhat_max"], 4),
        "ess_bulk_min": round(s["ess_bulk_min"], 1),  # every parameter and random effect
        "ess_bulk_min_population": round(ess["ess_bulk_min"], 1),
        "ess_tail_min": round(s["ess_tail_min"], 1),
        "divergences": s["divergences"],
        "converged": s["converged"],
        "ess_per_s_sampling": round(ess["ess_per_s_sampling"], 2),
        "ess_per_s_total": round(ess["ess_per_s_total"], 2),
        "error_pct": {
            k: round(100 * (table.loc[k, "estimate"] / v - 1), 1) for k, v in TRIAL_TRUTH.items()
        },
        "prior_width_ratio": {k: round(table.loc[k, "prior_width_ratio"], 3) for k in TRIAL_TRUTH},
    }


def _kept(pmm) -> list[str]:
    """The variables a trace keeps: every free variable and deterministic but the
    standardized random-effect innovations ``z_*``."""
    return [v.name for v in [*pmm.free_RVs, *pmm.deterministics] if not v.name.startswith("z_")]


def _nutpie_compiled(model, data):
    """nutpie's own compile of :func:`cartpk.fit.population_model` (literature priors), the
    innovations ``z_*`` jittered at the start and left out of the trace: (kept, compiled)."""
    import nutpie

    import cartpk as ck

    pmm = ck.fit.population_model(model, data, priors="literature")
    keep = _kept(pmm)
    jitter = {v for v in pmm.free_RVs if v.name.startswith("z_")}
    return keep, nutpie.compile_pymc_model(pmm, var_names=keep, jitter_rvs=jitter)


def _nutpie_sample(compiled, *, chains, tune, draws, seed, save_warmup=False, **options):
    """``nutpie.sample`` without a progress bar, the chains on at most 2 cores."""
    import nutpie

    return nutpie.sample(
        compiled,
        draws=draws,
        tune=tune,
        chains=chains,
        cores=min(chains, 2),
        seed=seed,
        progress_bar=False,
        save_warmup=save_warmup,
        **options,
    )


def _nutpie_direct(model, data, *, chains, tune, draws, seed, low_rank):
    """nutpie on :func:`cartpk.fit.population_model` with ``fit_population``'s declared starts,
    for nutpie options ``fit_population`` does not expose; tables by ``from_idata``."""
    import nutpie  # noqa: F401 (imported before the compile is timed, as before)

    from cartpk.fit.population import PopulationFit

    t0 = time.perf_counter()
    keep, compiled = _nutpie_compiled(model, data)
    t1 = time.perf_counter()
    idata = _nutpie_sample(
        compiled,
        chains=chains,
        tune=tune,
        draws=draws,
        seed=seed,
        target_accept=0.9,
        low_rank_modified_mass_matrix=low_rank,
    )
    t2 = time.perf_counter()
    idata.posterior = idata.posterior.drop_vars(
        [v for v in idata.posterior.data_vars if v not in keep]
    )
    fit = PopulationFit.from_idata(model, data, idata, priors="literature")
    fit.summary.update(compile_s=round(t1 - t0, 2), sample_s=round(t2 - t1, 2))
    return fit, time.perf_counter() - t0


def bench_trial(args) -> dict[str, object]:
    """Target (a): ``--trial-subjects`` subjects on the trial design, timed end to end."""
    import cartpk as ck

    model, data = _trial_data(args.trial_subjects, seed=args.trial_seed)
    obs = data.observations("QPCR")
    out: dict[str, object] = {
        "subjects": args.trial_subjects,
        "records": len(obs),
        "blq_fraction": round(float(obs["CENS"].mean()), 3),
    }
    runs = {}

    def timed_fit(label, chains, tune, draws, **options):
        t0 = time.perf_counter()
        fit = ck.fit_population(
            model,
            data,
            priors="literature",
            init="declared",
            chains=chains,
            tune=tune,
            draws=draws,
            workers=2,
            seed=1,
            target_accept=0.9,
            extend=0,  # the same work per variant: ESS per second compares samplers
            **options,
        )
        runs[label] = {
            "chains": chains,
            "tune": tune,
            "draws": draws,
            **_fit_record(fit, time.perf_counter() - t0),
        }

    timed_fit("nutpie_2_chains", 2, args.trial_tune, args.trial_draws)
    timed_fit("nutpie_4_chains", 4, args.trial_tune, args.trial_draws // 2)
    fit, wall = _nutpie_direct(
        model, data, chains=2, tune=args.trial_tune, draws=args.trial_draws, seed=1, low_rank=True
    )
    runs["nutpie_2_chains_low_rank"] = {
        "chains": 2,
        "tune": args.trial_tune,
        "draws": args.trial_draws,
        **_fit_record(fit, wall),
    }
    timed_fit("pymc_2_chains", 2, args.trial_tune, args.trial_draws, sampler="pymc")
    out["runs"] = runs
    for kind in ("sampling", "total"):
        out[f"ess_per_s_ratio_nutpie_over_pymc_{kind}"] = round(
            runs["nutpie_2_chains"][f"ess_per_s_{kind}"]
            / runs["pymc_2_chains"][f"ess_per_s_{kind}"],
            2,
        )
    return out


# -- the pm.ode baseline ------------------------------------------------------------------
GATE = 0.25  # day: the smooth gate of stein2019_smooth


def _ode_rhs(y, t, p):
    """Stein 2019 ODE (models/stein2019_ode.py) with the smooth gate on the rates."""
    import pymc as pm
    import pytensor.tensor as pt

    foldx, tmax, alpha, fb, beta = p[0], p[1], p[2], p[3], p[4]
    g = pm.math.sigmoid((t - tmax) / GATE)
    rho = pt.log(foldx) / tmax
    return [((1 - g) * rho - g * alpha) * y[0], g * fb * (alpha - beta) * y[0] - beta * y[1]]


def _pm_ode_model(model, data):
    """Baseline: the generated model's priors, IIV and M3 likelihood, predictions by pm.ode."""
    import pymc as pm
    import pytensor.tensor as pt
    from pymc.ode import DifferentialEquation

    from cartpk.fit import loglik
    from cartpk.fit.population import population_priors

    pr = population_priors(model, "literature").set_index("parameter")
    obs = data.observations("QPCR")
    days = np.unique(obs["TIME"].to_numpy(float))
    ode = DifferentialEquation(func=_ode_rhs, times=days, n_states=2, n_theta=5, t0=0)
    with pm.Model(coords={"subject": data.subjects}) as m:
        mu = {
            p: pm.Normal(f"mu_{p}", pr.loc[f"mu_{p}", "loc"], pr.loc[f"mu_{p}", "scale"])
            for p in ("foldx", "tmax", "cmax", "alpha", "fb", "beta")
        }
        eta = {}
        for p in TRIAL_IIV:
            om = pm.HalfNormal(f"omega_{p}", pr.loc[f"omega_{p}", "scale"])
            eta[p] = om * pm.Normal(f"z_{p}", 0.0, 1.0, dims="subject")
        sigma = pm.HalfNormal("sigma", pr.loc["sigma", "scale"])
        foldx, tmax, beta = pt.exp(mu["foldx"]), pt.exp(mu["tmax"]), pt.exp(mu["beta"])
        fb = pm.math.sigmoid(mu["fb"])
        preds = []
        for i, sid in enumerate(data.subjects):
            cmax = pt.exp(mu["cmax"] + eta["cmax"][i])
            alpha = pt.exp(mu["alpha"] + eta["alpha"][i])
            sol = ode(y0=[cmax / foldx, 0.0 * cmax], theta=[foldx, tmax, alpha, fb, beta])
            col = np.searchsorted(days, obs.loc[obs["ID"] == sid, "TIME"].to_numpy(float))
            preds.append((sol[:, 0] + sol[:, 1])[col])
        ll = loglik(
            pt,
            obs["DV"].to_numpy(float),
            pt.concatenate(preds),
            obs["CENS"].to_numpy(int),
            model.error["QPCR"],
            {"sigma": sigma},
            blq="m3",
            lloq=obs["LLOQ"].to_numpy(float),
        )
        pm.Potential("loglik_QPCR", ll.sum())
    return m


def _subset(data, n: int):
    import cartpk as ck

    keep = set(data.subjects[:n])
    return ck.read_dataset(data.table.loc[data.table["ID"].isin(keep)].drop(columns="ROW"))


def _pm_sample(pmm, *, chains, tune, draws, seed, max_treedepth=10, mp_ctx=None):
    """``pm.sample`` from the declared values with the innovations jittered (as
    ``init="declared"``); returns (idata, seconds, gradient evaluations)."""
    import pymc as pm

    rng = np.random.default_rng(seed)
    point = pmm.initial_point()
    z = [k for k in point if k.startswith("z_")]
    initvals = [
        {k: point[k] + rng.uniform(-1, 1, np.shape(point[k])) for k in z} for _ in range(chains)
    ]
    with pmm:
        t0 = time.perf_counter()
        idata = pm.sample(
            draws=draws,
            tune=tune,
            chains=chains,
            cores=min(chains, 2),
            random_seed=seed,
            init="adapt_diag",
            initvals=initvals,
            target_accept=0.9,
            progressbar=False,
            compute_convergence_checks=False,
            discard_tuned_samples=False,
            max_treedepth=max_treedepth,
            mp_ctx=mp_ctx,
        )
        wall = time.perf_counter() - t0
    steps = int(idata.warmup_sample_stats["n_steps"].sum() + idata.sample_stats["n_steps"].sum())
    return idata, wall, steps


def _min_ess(idata) -> float:
    import arviz as az

    names = [v for v in idata.posterior.data_vars if not str(v).startswith("z_")]
    ess = az.ess(idata, var_names=names, method="bulk")
    return float(min(float(ess[v].min()) for v in ess.data_vars))


def _sampling_record(wall, steps, ess, *, wall_digits, ess_per_s_digits) -> dict[str, object]:
    """Seconds, gradients (leapfrog steps) and smallest bulk ESS of one sampling run, with
    the costs per gradient and the ESS per second and per 1,000 gradients."""
    return {
        "sample_s": round(wall, wall_digits),
        "gradients": steps,
        "ms_per_gradient": round(1e3 * wall / steps, 4),
        "ess_bulk_min": round(ess, 1),
        "ess_per_s": round(ess / wall, ess_per_s_digits),
        "ess_per_1000_gradients": round(1e3 * ess / steps, 2),
    }


def bench_ode(args) -> dict[str, object]:
    """pm.ode against the generated closed form: per-gradient cost and ESS per second."""
    import cartpk as ck

    model, data = _trial_data(args.trial_subjects, seed=args.trial_seed)
    out: dict[str, object] = {}
    sub = _subset(data, args.ode_subjects)
    t0 = time.perf_counter()
    ode_m = _pm_ode_model(model, sub)
    out["pm_ode_build_s"] = round(time.perf_counter() - t0, 2)
    gen = ck.fit.population_model(model, sub, priors="literature")
    # same point, same value variables (order checked): the two log-densities
    names = list(gen.initial_point())
    assert names == list(ode_m.initial_point()), (names, list(ode_m.initial_point()))
    t_gen = _grad_times({"gen": gen}, "NUMBA")["gen"]
    t_gen_c = _grad_times({"gen": gen}, "FAST_RUN")["gen"]
    t_ode = _grad_times_fresh({"ode": ode_m}, "FAST_RUN", repeat=2, rounds=3)["ode"]
    # cartpk's own ODE form (models/stein2019_ode.py, switch at tmax as an integration
    # bound) through the generated population model and the PyTensor Op, both engines
    ode_decl = ck.load_model("stein2019_ode").with_iiv(drop=["foldx", "tmax", "fb", "beta"])
    ode_decl = ode_decl.with_ini(**TRIAL_GUESS)
    engines = {
        e: ck.fit.population_model(ode_decl, sub, priors="literature", ode_engine=e)
        for e in ("jax", "scipy")
    }
    t_eng = _grad_times_fresh({"jax": engines["jax"]}, "FAST_RUN", repeat=50, rounds=3)
    t_eng.update(_grad_times_fresh({"scipy": engines["scipy"]}, "FAST_RUN", repeat=3, rounds=2))
    out["per_gradient"] = {
        "subjects": args.ode_subjects,
        "pm_ode_ms": round(t_ode * 1e3, 2),
        "cartpk_ode_jax_ms": round(t_eng["jax"] * 1e3, 4),
        "cartpk_ode_scipy_ms": round(t_eng["scipy"] * 1e3, 2),
        "closed_form_numba_ms": round(t_gen * 1e3, 5),
        "closed_form_c_ms": round(t_gen_c * 1e3, 5),
        "ratio_pm_ode_over_cartpk_ode_jax": round(t_ode / t_eng["jax"], 1),
        "ratio_pm_ode_over_cartpk_ode_scipy": round(t_ode / t_eng["scipy"], 1),
        "ratio_cartpk_ode_jax_over_closed_form_numba": round(t_eng["jax"] / t_gen, 1),
        "ratio_cartpk_ode_jax_over_closed_form_c": round(t_eng["jax"] / t_gen_c, 1),
        "ratio_pm_ode_over_closed_form_numba": round(t_ode / t_gen),
        "ratio_pm_ode_over_closed_form_c": round(t_ode / t_gen_c),
    }
    print(json.dumps({"per_gradient": out["per_gradient"]}, indent=2), flush=True)
    # ESS per second on a smaller subset, same sampler (pm.sample) and settings. pm.ode
    # cannot sample even that in minutes (its warm-up reaches deep trees at ~35 ms per
    # subject-gradient), so it samples a bounded run (--ode-pm-iters iterations, tree
    # depth <= 5) that measures its cost per gradient *while sampling*; its ESS per second
    # is then ESS per gradient of the same posterior (measured with cartpk's ODE, which
    # samples it to convergence with the same NUTS) / pm.ode's seconds per gradient.
    small = _subset(data, args.ode_sample_subjects)
    kw = dict(chains=2, tune=args.ode_tune, draws=args.ode_draws, seed=1)
    res = {}
    for label, pmm in (
        (
            "cartpk_ode_jax_pm_sample",
            ck.fit.population_model(ode_decl, small, priors="literature", ode_engine="jax"),
        ),
        ("closed_form_pm_sample", ck.fit.population_model(model, small, priors="literature")),
    ):
        # JAX runs threads: chains in forked processes would deadlock (as fit_population)
        idata, wall, steps = _pm_sample(pmm, **kw, mp_ctx="spawn")
        ess = _min_ess(idata)
        res[label] = _sampling_record(wall, steps, ess, wall_digits=2, ess_per_s_digits=3)
    half = max(args.ode_pm_iters // 2, 1)
    _, wall, steps = _pm_sample(
        _pm_ode_model(model, small), chains=2, tune=half, draws=half, seed=1, max_treedepth=5
    )
    jx = res["cartpk_ode_jax_pm_sample"]
    ode = {
        "sample_s": round(wall, 2),
        "gradients": steps,
        "iterations_per_chain": 2 * half,
        "ms_per_gradient": round(1e3 * wall / steps, 3),
    }
    ode["ess_per_s_estimated"] = round(jx["ess_per_1000_gradients"] / ode["ms_per_gradient"], 4)
    res["pm_ode_pm_sample_bounded"] = ode
    _, compiled = _nutpie_compiled(model, small)
    t0 = time.perf_counter()
    idata = _nutpie_sample(
        compiled,
        chains=2,
        tune=args.ode_tune,
        draws=args.ode_draws,
        seed=1,
        target_accept=0.9,
        save_warmup=True,
    )
    wall = time.perf_counter() - t0
    steps = int(idata.warmup_sample_stats["n_steps"].sum() + idata.sample_stats["n_steps"].sum())
    ess = _min_ess(idata)
    res["closed_form_nutpie"] = _sampling_record(
        wall, steps, ess, wall_digits=3, ess_per_s_digits=2
    )
    res["subjects"], res["chains"], res["tune"], res["draws"] = (
        args.ode_sample_subjects,
        2,
        args.ode_tune,
        args.ode_draws,
    )
    cf = res["closed_form_pm_sample"]
    res["ess_per_s_ratio_cartpk_ode_jax_over_pm_ode"] = round(
        jx["ess_per_s"] / ode["ess_per_s_estimated"], 1
    )
    res["ess_per_s_ratio_closed_form_pm_sample_over_pm_ode"] = round(
        cf["ess_per_s"] / ode["ess_per_s_estimated"]
    )
    res["ess_per_s_ratio_closed_form_nutpie_over_pm_ode"] = round(
        res["closed_form_nutpie"]["ess_per_s"] / ode["ess_per_s_estimated"]
    )
    res["sampling_ms_per_gradient_ratio_pm_ode_over_cartpk_ode_jax"] = round(
        ode["ms_per_gradient"] / jx["ms_per_gradient"], 1
    )
    res["sampling_ms_per_gradient_ratio_pm_ode_over_closed_form_pm_sample"] = round(
        ode["ms_per_gradient"] / cf["ms_per_gradient"]
    )
    out["sampling"] = res
    return out


def bench_ode_scale(args) -> dict[str, object]:
    """Part 7: the JAX ODE gradient against the closed form as the population grows.

    Per log-density + gradient (a new point each call) of the population model of
    ``stein2019_ode`` (JAX engine) at the declared tolerance (DOP853, rtol 1e-11) and at a
    sampling tolerance (rtol 1e-8), against the generated closed form (numba), on the first
    ``n`` subjects of the trial design for each ``n`` of ``--scale-subjects``: the ratio, and
    the marginal cost per subject of each (slope between the smallest and largest ``n``).
    """
    import cartpk as ck
    from cartpk.model._catalogue import _model_class

    class Sampling(_model_class("stein2019_ode")):
        name = "stein2019_ode_rtol8"
        solver = {"method": "DOP853", "rtol": 1e-8, "atol": 1e-10}

    sizes = [int(v) for v in args.scale_subjects.split(",")]
    model, data = _trial_data(max(sizes), seed=args.trial_seed)
    drop = ["foldx", "tmax", "fb", "beta"]
    rows = []
    for n in sizes:
        sub = _subset(data, n)
        gen = ck.fit.population_model(model, sub, priors="literature")
        row: dict[str, object] = {"subjects": n}
        t_cf = _grad_times({"cf": gen}, "NUMBA", repeat=100, rounds=5)["cf"]
        row["closed_form_ms"] = round(t_cf * 1e3, 4)
        for label, decl in (("declared", ck.load_model("stein2019_ode")), ("rtol8", Sampling())):
            decl = decl.with_iiv(drop=drop).with_ini(**TRIAL_GUESS)
            pmj = ck.fit.population_model(decl, sub, priors="literature", ode_engine="jax")
            t = _grad_times_fresh({"j": pmj}, "FAST_RUN", repeat=20, rounds=3)["j"]
            row[f"ode_{label}_ms"] = round(t * 1e3, 3)
            row[f"ratio_ode_{label}_over_closed_form"] = round(t / t_cf, 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
    lo, hi = rows[0], rows[-1]
    span = hi["subjects"] - lo["subjects"]
    marginal = (
        {
            key: round(1e3 * (hi[key] - lo[key]) / span, 2)  # microseconds per subject
            for key in ("closed_form_ms", "ode_declared_ms", "ode_rtol8_ms")
        }
        if span
        else {}
    )
    return {"rows": rows, "marginal_us_per_subject": marginal}


# -- the mechanistic model against pm.ode (issue 7) ---------------------------------------
MECH_EST = ("rho", "eps", "mu", "gamma", "tumour0")  # fits/long/cartmath_joint.toml
MECH_TRUTH_QPCR = 151515.0 / 5e9  # models/cartmath_illustration.py: qpcr_per_cell


def _paixao_rhs(y, t, p):
    """pm.ode form of ``models/cartmath_illustration.py`` (the baseline: pm.ode cannot take cartpk's
    declaration; every other rate is fixed at the example's truth)."""
    from cartpk.examples._make import MECH_TRUTH as T

    rho, eps, mu, gamma = p[0], p[1], p[2], p[3]
    cd, ct, cm, cn, tum = y[0], y[1], y[2], y[3], y[4]
    recall = T["theta"] * tum * cm
    exhaust = T["lam"] * tum * ct
    return [
        -T["eta"] * cd,
        T["eta"] * cd + (T["phi"] - rho) * ct + recall - T["alpha"] * tum * ct - exhaust,
        eps * ct - recall - mu * cm,
        exhaust - T["mu_n"] * cn,
        T["r"] * tum * (1.0 - T["b"] * tum) - gamma * ct * tum,
    ]


def _mech_models(data, engine_of: str):
    """The same joint log-likelihood (qPCR M3 + SOD) of per-subject log-parameters, with the
    predictions from pm.ode (``"pm_ode"``) or from cartpk's Op (``"jax"``/``"scipy"``)."""
    import pandas as pd
    import pymc as pm
    import pytensor.tensor as pt
    from pymc.ode import DifferentialEquation

    import cartpk as ck
    from cartpk.examples._make import MECH_FIXED, MECH_SIGMA, MECH_TRUTH
    from cartpk.fit import loglik

    model = (
        ck.load_model("cartmath_illustration").with_ini(**MECH_TRUTH, **MECH_SIGMA).fix(*MECH_FIXED)
    )
    obs = data.table.query("EVID == 0")
    doses = data.table.query("EVID == 1").groupby("ID")["AMT"].first()
    ids = data.subjects
    with pm.Model() as m:
        lp = {
            k: pm.Normal(f"log_{k}", np.log(MECH_TRUTH[k]), 0.5, shape=len(ids)) for k in MECH_EST
        }
        nat = {k: pt.exp(v) for k, v in lp.items()}
        preds = {"QPCR": [], "SOD": []}
        if engine_of == "pm_ode":
            for i, sid in enumerate(ids):
                rows = obs[obs["ID"] == sid]
                days = np.unique(rows["TIME"].to_numpy(float))
                later = days[days > 0]
                ode = DifferentialEquation(
                    func=_paixao_rhs, times=later, n_states=5, n_theta=4, t0=0
                )
                y0 = [
                    pt.as_tensor(float(doses[sid])),
                    0.0 * nat["rho"][i],
                    0.0 * nat["rho"][i],
                    0.0 * nat["rho"][i],
                    nat["tumour0"][i],
                ]
                sol = ode(
                    y0=y0, theta=[nat["rho"][i], nat["eps"][i], nat["mu"][i], nat["gamma"][i]]
                )
                states = (
                    pt.concatenate([pt.stack(y0)[None, :], sol], axis=0) if days[0] == 0 else sol
                )
                for dv in ("QPCR", "SOD"):
                    r = rows[rows["DVID"] == dv]
                    col = np.searchsorted(days, r["TIME"].to_numpy(float))
                    ys = states[col]
                    if dv == "QPCR":
                        preds[dv].append(MECH_TRUTH_QPCR * ys[:, :4].sum(axis=1))
                    else:
                        vol = pt.maximum(ys[:, 4] / 1e9, 1e-30)
                        preds[dv].append(10.0 * (6.0 * vol / np.pi) ** (1.0 / 3.0))
            pred = {dv: pt.concatenate(v) for dv, v in preds.items()}
            # records in subject order, as built above
            order = {
                dv: pd.concat([obs[(obs["DVID"] == dv) & (obs["ID"] == sid)] for sid in ids])
                for dv in ("QPCR", "SOD")
            }
        else:
            order = {dv: obs[obs["DVID"] == dv] for dv in ("QPCR", "SOD")}
            pred = {}
            for dv, r in order.items():
                pos = {sid: i for i, sid in enumerate(ids)}
                subj = np.array([pos[x] for x in r["ID"]])
                grid = np.array(
                    [np.sort(obs.loc[obs["ID"] == sid, "TIME"].to_numpy(float)) for sid in ids]
                )
                out = model.evaluate(
                    pt,
                    grid,
                    {k: v for k, v in nat.items()},
                    dose=doses.loc[ids].to_numpy(float),
                    engine=engine_of,
                    method="Tsit5" if engine_of == "jax" else None,
                )
                col = [
                    int(np.searchsorted(grid[j], t))
                    for j, t in zip(subj, r["TIME"].to_numpy(float), strict=True)
                ]
                pred[dv] = out[dv][subj, col]
        for dv, r in order.items():
            ll = loglik(
                pt,
                r["DV"].to_numpy(float),
                pred[dv],
                r["CENS"].to_numpy(int),
                model.error[dv],
                blq="m3",
                lloq=r["LLOQ"].to_numpy(float),
            )
            pm.Potential(f"ll_{dv}", ll.sum())
    return m


def bench_mech(args) -> dict[str, object]:
    """Per-gradient cost of the Paixao joint log-likelihood: pm.ode vs cartpk (40 subjects)."""
    import cartpk as ck
    from cartpk.examples import _make

    full = ck.read_dataset(_make.make_mechanistic())
    sub = _subset(full, args.mech_pm_subjects)
    out: dict[str, object] = {
        "subjects": len(full.subjects),
        "pm_ode_subjects": args.mech_pm_subjects,
    }
    models = {"pm_ode": _mech_models(sub, "pm_ode"), "jax_sub": _mech_models(sub, "jax")}
    # the two log-densities agree (same equations; pm.ode's odeint at its default tolerance)
    f = {k: m.compile_logp() for k, m in models.items()}
    pt0 = models["jax_sub"].initial_point()
    out["logp_pm_ode"], out["logp_cartpk"] = float(f["pm_ode"](pt0)), float(f["jax_sub"](pt0))
    t_sub = _grad_times_fresh(models, "FAST_RUN", repeat=3, rounds=2)
    big = {"jax": _mech_models(full, "jax"), "scipy": _mech_models(full, "scipy")}
    t_big = _grad_times_fresh({"jax": big["jax"]}, "FAST_RUN", repeat=20, rounds=3)
    t_big.update(_grad_times_fresh({"scipy": big["scipy"]}, "FAST_RUN", repeat=2, rounds=2))
    per_subject = t_sub["pm_ode"] / args.mech_pm_subjects
    pm_ode_40 = per_subject * len(full.subjects)  # pm.ode: one solve per subject, linear
    out.update(
        {
            "pm_ode_ms_subset": round(1e3 * t_sub["pm_ode"], 1),
            "cartpk_jax_ms_subset": round(1e3 * t_sub["jax_sub"], 2),
            "pm_ode_ms_40_scaled_linearly": round(1e3 * pm_ode_40, 0),
            "cartpk_jax_ms_40": round(1e3 * t_big["jax"], 2),
            "cartpk_scipy_bdf_ms_40": round(1e3 * t_big["scipy"], 1),
            "ratio_pm_ode_over_cartpk_jax_40": round(pm_ode_40 / t_big["jax"], 0),
            "ratio_pm_ode_over_cartpk_jax_subset": round(t_sub["pm_ode"] / t_sub["jax_sub"], 0),
        }
    )
    print(json.dumps({"mech": out}, indent=2), flush=True)
    return out


def _population_ess(idata) -> float:
    import arviz as az

    names = [v for v in idata.posterior.data_vars if str(v).startswith(("mu_", "omega_", "sigma"))]
    ess = az.ess(idata, var_names=names, method="bulk")
    return float(min(float(ess[v].min()) for v in names))


def _sample_to_ess(compiled, *, target, chains, tune, draws, seed) -> dict[str, object]:
    """nutpie until the smallest population bulk ESS reaches ``target`` (<= 3 attempts)."""
    wall, attempts = 0.0, []
    for _ in range(3):
        t0 = time.perf_counter()
        idata = _nutpie_sample(compiled, chains=chains, tune=tune, draws=draws, seed=seed)
        wall += time.perf_counter() - t0
        ess = _population_ess(idata)
        divergences = int(idata.sample_stats["diverging"].sum())
        attempts.append(
            {
                "draws": draws,
                "sample_s": round(time.perf_counter() - t0, 2),
                "ess_bulk_min": round(ess, 1),
                "divergences": divergences,
            }
        )
        if ess >= target:
            break
        draws = int(math.ceil(draws * 1.2 * target / max(ess, 1.0)))
    return {"sample_s": round(wall, 2), "reached": ess >= target, "attempts": attempts}


@contextlib.contextmanager
def _empty_compile_cache() -> Iterator[None]:
    """``CARTPK_CACHE_DIR`` set to a new temporary folder inside the block, restored after."""
    before = os.environ.get("CARTPK_CACHE_DIR")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["CARTPK_CACHE_DIR"] = cache
        try:
            yield
        finally:
            if before is None:
                os.environ.pop("CARTPK_CACHE_DIR", None)
            else:
                os.environ["CARTPK_CACHE_DIR"] = before


def bench_compile(args) -> dict[str, object]:
    """Part 6: compile seconds and wall time to an ESS target, generated / hand-written."""
    import nutpie

    import cartpk as ck
    from cartpk.fit._compiled import compile_model

    model, data = _data(args.compile_subjects, seed=3, iiv=args.iiv.split(","), design=args.design)
    kw = dict(
        target=args.ess_target,
        chains=args.chains,
        tune=args.compile_tune,
        draws=args.compile_draws,
        seed=1,
    )
    out: dict[str, object] = {"subjects": args.compile_subjects, "ess_target": args.ess_target}
    gen: dict[str, object] = {}
    with _empty_compile_cache():  # a first run, then the same model from the cache
        for attempt in ("cold", "cached"):
            t0 = time.perf_counter()
            pmm = ck.fit.population_model(model, data)
            compiled, info = compile_model(pmm, var_names=_kept(pmm))
            gen[f"compile_s_{attempt}"] = round(time.perf_counter() - t0, 2)
            gen[f"cache_{attempt}"] = info.cache
    gen.update(_sample_to_ess(compiled, **kw))
    t0 = time.perf_counter()
    hand_pmm = _hand_written(model, data)
    keep = [v.name for v in hand_pmm.free_RVs if not v.name.startswith("z_")]
    hand_compiled = nutpie.compile_pymc_model(hand_pmm, var_names=keep)
    hand: dict[str, object] = {"compile_s": round(time.perf_counter() - t0, 2)}
    hand.update(_sample_to_ess(hand_compiled, **kw))
    out["generated"], out["hand_written"] = gen, hand
    hand_total = float(hand["compile_s"]) + float(hand["sample_s"])
    for attempt in ("cold", "cached"):
        total = float(gen[f"compile_s_{attempt}"]) + float(gen["sample_s"])
        out[f"wall_ratio_generated_over_hand_{attempt}_cache"] = round(total / hand_total, 3)
    out["sampling_ratio_generated_over_hand"] = round(
        float(gen["sample_s"]) / float(hand["sample_s"]), 3
    )
    return out


def _callback_us(compiled, x: np.ndarray, calls: int) -> float:
    """Microseconds per call of nutpie's C log-density + gradient callback at ``x``."""
    import ctypes

    fn = compiled.compiled_logp_func.ctypes
    grad, lp = np.zeros_like(x), np.zeros(())
    args = (
        ctypes.c_uint64(x.size),
        x.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        grad.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        lp.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        ctypes.c_void_p(compiled.user_data.ctypes.data),
    )
    assert fn(*args) == 0
    t0 = time.perf_counter()
    for _ in range(calls):
        fn(*args)
    return (time.perf_counter() - t0) / calls * 1e6


def bench_reuse(args) -> dict[str, object]:
    """Part 8: compile seconds for a new data set of one design, data inputs vs constants,
    and the callback cost ratio."""
    from cartpk.fit._compiled import compile_model
    from cartpk.fit._population_graph import _build

    iiv = args.iiv.split(",")
    model, first = _data(args.compile_subjects, seed=11, iiv=iiv, design=args.design)
    _, second = _data(args.compile_subjects, seed=12, iiv=iiv, design=args.design)
    out: dict[str, object] = {"subjects": args.compile_subjects, "design": args.design}
    compiled = {}
    with _empty_compile_cache():
        for label, data, inputs in (
            ("inputs_first_data", first, True),
            ("inputs_new_data", second, True),
            ("constants_new_data", second, False),
        ):
            t0 = time.perf_counter()
            pmm, _ = _build(model, data, dvid=None, blq="m3", priors=None, data_inputs=inputs)
            compiled[label], info = compile_model(pmm, var_names=_kept(pmm))
            out[f"compile_s_{label}"] = round(time.perf_counter() - t0, 2)
            out[f"cache_{label}"] = info.cache
    x = np.random.default_rng(0).normal(0.0, 0.1, compiled["inputs_new_data"].n_dim)
    best = {"inputs_new_data": math.inf, "constants_new_data": math.inf}
    for _ in range(5):  # interleaved, best of five: load on a shared machine only adds time
        for label in best:
            best[label] = min(best[label], _callback_us(compiled[label], x, 2000))
    out["callback_us"] = {k: round(v, 1) for k, v in best.items()}
    out["compile_ratio_new_data_inputs_over_constants"] = round(
        out["compile_s_inputs_new_data"] / out["compile_s_constants_new_data"], 3
    )
    out["callback_ratio_inputs_over_constants"] = round(
        best["inputs_new_data"] / best["constants_new_data"], 3
    )
    return out


def main() -> None:
    ap = bench_parser(__doc__, subjects=90, grad_subjects=90, draws=1000, tune=1000, chains=4)
    ap.add_argument("--quick", action="store_true", help="20 subjects, 300 draws, 2 chains")
    ap.add_argument("--skip-sampling", action="store_true")
    ap.add_argument(
        "--design",
        choices=sorted(DESIGNS),
        default="rich",
        help="sampling days of the sampled data (trial: days 7-90 leave foldx/tmax "
        "multimodal, so ESS is not comparable)",
    )
    ap.add_argument(
        "--iiv",
        default="cmax,alpha",
        help="random effects of the sampled model (the trial design identifies these)",
    )
    ap.add_argument(
        "--parts",
        default="grad,sampling,trial,ode",
        help="comma-separated: grad, sampling (parts 1-2), trial (3), ode (4), mech (5), "
        "compile (6), odescale (7), reuse (8)",
    )
    ap.add_argument("--scale-subjects", default="1,10,40,100,300", help="part 7's sizes")
    ap.add_argument("--compile-subjects", type=int, default=60, help="part 6's data")
    ap.add_argument("--compile-tune", type=int, default=500)
    ap.add_argument("--compile-draws", type=int, default=500, help="first attempt, per chain")
    ap.add_argument("--ess-target", type=float, default=400.0, help="part 6's ESS target")
    ap.add_argument("--trial-subjects", type=int, default=90)
    ap.add_argument("--trial-seed", type=int, default=0, help="data seed of the trial design")
    ap.add_argument("--trial-tune", type=int, default=500)
    ap.add_argument("--trial-draws", type=int, default=2000, help="per chain (4-chain run: half)")
    ap.add_argument("--ode-subjects", type=int, default=10, help="pm.ode gradient-cost subset")
    ap.add_argument("--ode-sample-subjects", type=int, default=10, help="ESS-per-second subset")
    ap.add_argument("--ode-tune", type=int, default=500)
    ap.add_argument("--ode-draws", type=int, default=500)
    ap.add_argument(
        "--ode-pm-iters",
        type=int,
        default=6,
        help="iterations per chain of the bounded pm.ode sampling run",
    )
    ap.add_argument(
        "--mech-pm-subjects",
        type=int,
        default=2,
        help="pm.ode subset of the mechanistic per-gradient comparison",
    )
    args = ap.parse_args()
    if args.quick:
        args.subjects, args.grad_subjects, args.draws, args.tune, args.chains = 20, 20, 300, 300, 2
    parts = set(args.parts.split(","))
    if args.skip_sampling:
        parts.discard("sampling")
    warnings.simplefilter("ignore")
    import cartpk as ck

    out: dict[str, object] = {"loadavg": os.getloadavg()}
    if "grad" in parts:
        model, data = _data(args.grad_subjects, seed=1)
        gen = ck.fit.population_model(model, data)
        hand = _hand_written(model, data)
        hand_ll = _hand_written(model, data, cartpk_loglik=True)
        for mode in ("NUMBA", "FAST_RUN"):
            t = _grad_times({"generated": gen, "hand": hand, "hand_ll": hand_ll}, mode)
            out[f"grad_ms_generated_{mode}"] = t["generated"] * 1e3
            out[f"grad_ms_hand_{mode}"] = t["hand"] * 1e3
            out[f"grad_ms_hand_with_cartpk_loglik_{mode}"] = t["hand_ll"] * 1e3
            out[f"grad_ratio_generated_over_hand_{mode}"] = t["generated"] / t["hand"]
            out[f"grad_ratio_generated_over_hand_with_cartpk_loglik_{mode}"] = (
                t["generated"] / t["hand_ll"]
            )
    if "sampling" in parts:
        model, data = _data(args.subjects, seed=2, iiv=args.iiv.split(","), design=args.design)
        kw = dict(
            draws=args.draws,
            tune=args.tune,
            chains=args.chains,
            seed=1,
            target_accept=0.9,
            extend=0,
        )
        res = {}
        for sampler in ("nutpie", "pymc"):
            fit = ck.fit_population(model, data, sampler=sampler, **kw)
            res[sampler] = _ess_per_s(fit)
        out["sampling"] = res
        for kind in ("sampling", "total"):
            out[f"ess_per_s_ratio_nutpie_over_pymc_{kind}"] = (
                res["nutpie"][f"ess_per_s_{kind}"] / res["pymc"][f"ess_per_s_{kind}"]
            )
    if "trial" in parts:
        out["trial"] = bench_trial(args)
        print(json.dumps({"trial": out["trial"]}, indent=2), flush=True)
    if "ode" in parts:
        out["ode"] = bench_ode(args)
    if "mech" in parts:
        out["mech"] = bench_mech(args)
    if "compile" in parts:
        out["compile"] = bench_compile(args)
        print(json.dumps({"compile": out["compile"]}, indent=2), flush=True)
    if "reuse" in parts:
        out["reuse"] = bench_reuse(args)
        print(json.dumps({"reuse": out["reuse"]}, indent=2), flush=True)
    if "odescale" in parts:
        out["odescale"] = bench_ode_scale(args)
        print(json.dumps({"odescale": out["odescale"]}, indent=2), flush=True)
    out["settings"] = vars(args)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
