"""Benchmark of the population fit: gradient cost and ESS per second, as ratios (same run).

Measures, on data simulated from ``stein2019_smooth`` on the trial design (days 7-90, LLOQ 50):

1. **Gradient cost, generated vs hand-written.** One log-density + gradient evaluation of the
   PyMC model that :func:`cartpk.population_model` generates from the declaration, against a
   hand-written PyMC model of the same equations, priors and censored likelihood (the
   baseline below; cartpk itself never hand-writes equations). Both are compiled with the
   same pytensor backend (numba, as nutpie uses; and the C backend, as ``pm.sample`` uses).
   Target (issue 6): generated / hand-written <= 1.2.
2. **ESS per second, nutpie vs PyMC's NUTS.** The same generated model (random effects on
   ``--iiv``, default cmax and alpha, which the design identifies) sampled by
   :func:`cartpk.fit_population` with ``sampler="nutpie"`` and ``sampler="pymc"``: the
   smallest bulk ESS over the population parameters divided by the wall time (with and
   without compilation). Reported as the ratio nutpie / pymc.

Run ``python benchmarks/bench_population.py`` (``--quick`` for a smaller run). Absolute times
depend on the machine and its load; compare the ratios.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import warnings

import numpy as np

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

            ll = loglik(pt, np.exp(logy), pt.exp(logf), cens.astype(int), model.error["QPCR"],
                        {"sigma": sigma})
            pm.Potential("loglik_QPCR", ll.sum())
            return m
        zq = (logy - logf) / sigma
        ll = pt.switch(cens, pm.logcdf(pm.Normal.dist(0.0, 1.0), zq),
                       -0.5 * zq**2 - pt.log(sigma) - 0.5 * math.log(2 * math.pi) - logy)
        pm.Potential("loglik_QPCR", ll.sum())
    return m


def _grad_times(models: dict[str, object], mode: str, repeat: int = 200, rounds: int = 15) -> dict[str, float]:
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=90)
    ap.add_argument("--grad-subjects", type=int, default=90)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--quick", action="store_true", help="20 subjects, 300 draws, 2 chains")
    ap.add_argument("--skip-sampling", action="store_true")
    ap.add_argument("--design", choices=sorted(DESIGNS), default="rich",
                    help="sampling days of the sampled data (trial: days 7-90 leave foldx/tmax "
                    "multimodal, so ESS is not comparable)")
    ap.add_argument("--iiv", default="cmax,alpha",
                    help="random effects of the sampled model (the trial design identifies these)")
    args = ap.parse_args()
    if args.quick:
        args.subjects, args.grad_subjects, args.draws, args.tune, args.chains = 20, 20, 300, 300, 2
    warnings.simplefilter("ignore")
    import cartpk as ck

    out: dict[str, object] = {}
    model, data = _data(args.grad_subjects, seed=1)
    gen = ck.population_model(model, data)
    hand = _hand_written(model, data)
    hand_ll = _hand_written(model, data, cartpk_loglik=True)
    for mode in ("NUMBA", "FAST_RUN"):
        t = _grad_times({"generated": gen, "hand": hand, "hand_ll": hand_ll}, mode)
        out[f"grad_ms_generated_{mode}"] = t["generated"] * 1e3
        out[f"grad_ms_hand_{mode}"] = t["hand"] * 1e3
        out[f"grad_ms_hand_with_cartpk_loglik_{mode}"] = t["hand_ll"] * 1e3
        out[f"grad_ratio_generated_over_hand_{mode}"] = t["generated"] / t["hand"]
        out[f"grad_ratio_generated_over_hand_with_cartpk_loglik_{mode}"] = t["generated"] / t["hand_ll"]
    if not args.skip_sampling:
        model, data = _data(args.subjects, seed=2, iiv=args.iiv.split(","), design=args.design)
        kw = dict(draws=args.draws, tune=args.tune, chains=args.chains, seed=1, target_accept=0.9)
        res = {}
        for sampler in ("nutpie", "pymc"):
            fit = ck.fit_population(model, data, sampler=sampler, **kw)
            res[sampler] = _ess_per_s(fit)
        out["sampling"] = res
        for kind in ("sampling", "total"):
            out[f"ess_per_s_ratio_nutpie_over_pymc_{kind}"] = (
                res["nutpie"][f"ess_per_s_{kind}"] / res["pymc"][f"ess_per_s_{kind}"]
            )
    out["settings"] = vars(args)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
