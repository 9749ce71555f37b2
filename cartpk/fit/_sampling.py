"""Sampling a generated population model: compile once, then rounds of chains until the
convergence thresholds are met or the budget of rounds is spent.

nutpie cannot resume a chain, so a fit that misses an ESS or R-hat threshold is extended by
*more chains*: each extra round samples ``chains`` new chains from the same starting point
with a seed derived from the fit's seed and the round, and pools them with the chains so
far (``arviz.concat`` along ``chain``). Rank-normalised R-hat and ESS are then computed over
all the chains. The compiled model is reused, so a round costs its warm-up and draws only.

A round is added only when it can help:

* divergent transitions or a low E-BFMI are properties of the posterior geometry and the
  step size, not of the number of draws: no round is added (raise ``target_accept`` or
  reparameterise);
* an R-hat above :data:`RHAT_EXTENDABLE` means chains sit in different regions (modes)
  that more chains do not mix: no round is added;
* an ESS shortfall is extended only when the rounds left could close it, since bulk and
  tail ESS grow in proportion to the number of chains of equal length.

When after a round only some subjects' random effects miss a threshold (every population-level
variable passes), those are resampled from their conditional posterior given each pooled
draw and the checks rerun (:mod:`cartpk.fit._conditional`; ``plan.resampler``): a subject
whose data allow two curve shapes has two separated modes that NUTS crosses rarely, which
no number of chains mixes.

What happened is returned as data (``rounds``: chains, failed checks and seconds of each
round; ``stopped``: why sampling ended) and logged on ``cartpk.fit._sampling`` (the CLI
shows it).
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from cartpk.fit._convergence import ConvergenceThresholds, check_convergence

if TYPE_CHECKING:  # pragma: no cover
    import arviz
    import pandas as pd
    import pymc

    from cartpk.fit._conditional import SubjectResampler

__all__ = [
    "RHAT_EXTENDABLE",
    "SamplingPlan",
    "advice",
    "resample_unmixed",
    "sample_rounds",
    "why_stop",
]

_log = logging.getLogger(__name__)

#: Largest R-hat a further round of chains is sampled for: above it the chains disagree
#: about where the posterior mass is (different local modes), which more chains do not fix.
RHAT_EXTENDABLE = 1.05


@dataclass(frozen=True)
class SamplingPlan:
    """How :func:`sample_rounds` samples: the first round and its extension."""

    sampler: str
    keep: list[str]
    draws: int
    tune: int
    chains: int
    cores: int
    seed: int
    target_accept: float
    progress: bool
    init: str = "jitter"
    spawn: bool = False
    low_rank: bool = False
    extend: int = 0
    thresholds: ConvergenceThresholds = field(default_factory=ConvergenceThresholds)
    resampler: SubjectResampler | None = None

    def round_seed(self, k: int) -> int:
        """The sampler seed of round ``k`` (0: the fit's own seed)."""
        if k == 0:
            return self.seed
        return int(np.random.default_rng([self.seed, k]).integers(2**31 - 1))

    def sample_options(self) -> dict[str, Any]:
        """The keywords ``nutpie.sample`` and ``pymc.sample`` share: ``draws``, ``tune``,
        ``chains``, ``cores`` and ``target_accept``."""
        return {
            "draws": self.draws,
            "tune": self.tune,
            "chains": self.chains,
            "cores": self.cores,
            "target_accept": self.target_accept,
        }


def _innovations(pmm: pymc.Model) -> list[Any]:
    # random-effect innovations z_* (and centred eta_*): the variables init="declared" jitters
    return [v for v in pmm.free_RVs if v.name is not None and v.name.startswith(("z_", "eta_"))]


def _nutpie_runner(pmm: pymc.Model, plan: SamplingPlan) -> Any:
    from cartpk._deps import require
    from cartpk.fit._compiled import compile_model

    nutpie = require("nutpie", purpose="population fits")
    extra: dict[str, Any] = {}
    if plan.init == "declared":
        extra["jitter_rvs"] = set(_innovations(pmm))
    elif plan.init == "ebe":  # every chain at the EBE start (_ebe_starts): no jitter
        extra["jitter_rvs"] = set()
    with warnings.catch_warnings():
        # an ODE model's Op (cartpk.ode._pytensor_op) has no numba implementation: numba
        # calls its `perform` in object mode, which is the intended path (the
        # integration itself is compiled by its engine), so the notice is not shown
        warnings.filterwarnings(
            "ignore", message="Numba will use object mode", category=UserWarning
        )
        # nutpie's compile, reused across runs from cartpk's compile cache where possible
        compiled, compiled_by = compile_model(pmm, var_names=plan.keep, **extra)

    def run(seed: int) -> arviz.InferenceData:
        try:
            idata = nutpie.sample(
                compiled,
                **plan.sample_options(),
                seed=seed,
                progress_bar=plan.progress,
                save_warmup=False,
                **({"low_rank_modified_mass_matrix": True} if plan.low_rank else {}),
            )
        except RuntimeError as err:  # nutpie's own error, with a Rust backtrace
            if "initialization points failed" not in str(err):
                raise
            raise _start_failed(plan) from None
        idata.sample_stats.attrs["compile_cache"] = compiled_by.cache  # hit, miss, off, ...
        return idata

    return run


def _start_failed(plan: SamplingPlan) -> Exception:
    from cartpk.errors import FitError, Violation

    return FitError(
        "No chain could start: the log-density or its gradient is not finite at the "
        "starting point.",
        [
            Violation(
                "sampler_start_failed",
                f"nutpie found no finite log-density and gradient at the starts "
                f"(init={plan.init!r})",
                expected="a finite log-density and gradient at the starting point",
                fix=(
                    "a model with a hard switch (e.g. stein2019) has no usable gradient at "
                    "its switch: fit its smooth variant (load_model('stein2019_smooth')); "
                    "otherwise try init='declared' or tighter priors"
                ),
            )
        ],
    )


def _pymc_runner(pmm: pymc.Model, plan: SamplingPlan) -> Any:
    from cartpk._deps import require

    pm = require("pymc", purpose="population fits")

    def run(seed: int) -> arviz.InferenceData:
        start: dict[str, Any] = {}
        if plan.init == "ebe":  # the model's initial point (set by _ebe_starts), not jittered
            start = dict(init="adapt_diag")
        elif plan.init == "declared":
            # PyMC's default jitters every variable; start from the initial point instead and
            # jitter the innovations as PyMC would (uniform(-1, 1) on the unconstrained scale)
            rng = np.random.default_rng(seed)
            point = pmm.initial_point()
            names = [pmm.rvs_to_values[v].name for v in _innovations(pmm)]
            start = dict(
                init="adapt_diag",
                initvals=[
                    {n: point[n] + rng.uniform(-1.0, 1.0, np.shape(point[n])) for n in names}
                    for _ in range(plan.chains)
                ],
            )
        with pmm:
            return pm.sample(
                **plan.sample_options(),
                random_seed=seed,
                progressbar=plan.progress,
                compute_convergence_checks=False,
                return_inferencedata=True,
                # JAX (the ODE engine) runs threads of its own: forked chain processes would
                # deadlock, so they are spawned (the model pickles by its declaration)
                **({"mp_ctx": "spawn"} if plan.spawn and plan.cores > 1 else {}),
                **start,
            )

    return run


def _pool(pooled: arviz.InferenceData | None, new: arviz.InferenceData) -> arviz.InferenceData:
    """The chains so far and a new round's in one InferenceData (chains renumbered 0..n-1;
    the first round's sample-stats attributes kept)."""
    import arviz as az

    if pooled is None:
        return new
    attrs = dict(pooled.sample_stats.attrs)
    groups = [g for g in ("posterior", "sample_stats") if g in pooled.groups()]
    parts = [az.InferenceData(**{g: r[g] for g in groups}) for r in (pooled, new)]
    out = az.concat(*parts, dim="chain")
    out.sample_stats.attrs.update(attrs)
    return out


def why_stop(table: pd.DataFrame, *, chains: int, per_round: int, rounds_left: int) -> str | None:
    """Why no further round of chains is sampled (``None``: sample one).

    Parameters
    ----------
    table : pandas.DataFrame
        The convergence table (:func:`cartpk.fit._convergence.convergence_table`) of the
        chains so far.
    chains : int
        Chains sampled so far.
    per_round : int
        Chains a further round adds.
    rounds_left : int
        Further rounds the budget allows.
    """
    failed = table[table["passed"].eq(False)]
    if failed.empty:
        return "converged"
    if rounds_left <= 0:
        return "budget spent"
    kinds = set(failed["check"])
    if "divergences" in kinds:
        return (
            "divergent transitions: more chains do not remove them (raise `target_accept` "
            "or reparameterise)"
        )
    if "bfmi" in kinds:
        return "low E-BFMI: more chains do not raise it (reparameterise or tighten priors)"
    rhat = failed.loc[failed["check"] == "rhat", "value"].astype(float)
    if len(rhat) and not (rhat.max() <= RHAT_EXTENDABLE):
        return (
            f"R-hat {rhat.max():.3f} > {RHAT_EXTENDABLE}: the chains sit in different regions "
            "of the posterior, which more chains do not mix"
        )
    ess = failed[failed["check"].isin(["ess_bulk", "ess_tail"])]
    if len(ess):
        ratio = (ess["value"].astype(float) / ess["threshold"].astype(float)).min()
        reach = ratio * (chains + rounds_left * per_round) / chains
        if not (math.isfinite(reach) and reach >= 1.0):
            return (
                f"ESS at {100 * ratio:.0f} % of its threshold: {rounds_left} more round(s) of "
                f"{per_round} chains would not reach it"
            )
    return None


def advice(stopped: str) -> str:
    """What to try next after an unconverged fit, from :func:`why_stop`'s reason."""
    if stopped.startswith("divergent"):
        return "Try a higher `target_accept` (0.95-0.99) or `centered` for well-informed effects."
    if stopped.startswith("R-hat"):
        return (
            "Drop the random effects the design cannot inform (`drop_iiv`), or use more "
            'informative priors (`priors="literature"`); see docs/population_convergence.md.'
        )
    return "Try a larger `extend` or more `draws`/`tune`, or a higher `target_accept`."


def sample_rounds(
    pmm: pymc.Model, plan: SamplingPlan
) -> tuple[arviz.InferenceData, dict[str, Any]]:
    """Compile ``pmm`` once and sample rounds of ``plan.chains`` chains until the thresholds
    are met, a further round cannot help (:func:`why_stop`) or ``plan.extend`` extra rounds
    are spent.

    Returns
    -------
    (arviz.InferenceData, dict)
        The pooled posterior (only ``plan.keep`` variables) and what was done:
        ``compile_s``, ``sample_s``, ``chains`` (pooled), ``rounds`` (per round: ``round``,
        ``chains`` so far, ``seed``, ``failed`` after it, ``sample_s``) and ``stopped``.
    """
    t0 = time.perf_counter()
    if plan.sampler == "nutpie":
        run = _nutpie_runner(pmm, plan)
        compile_s = time.perf_counter() - t0
    else:  # pm.sample compiles and samples in one call; it records the sampling time itself
        run, compile_s = _pymc_runner(pmm, plan), 0.0
    pooled: arviz.InferenceData | None = None
    rounds: list[dict[str, Any]] = []
    resampled: dict[str, Any] = {}
    sample_s = 0.0
    stopped = "converged"
    for k in range(plan.extend + 1):
        seed = plan.round_seed(k)
        t1 = time.perf_counter()
        idata = run(seed)
        took = time.perf_counter() - t1
        if plan.sampler != "nutpie":
            sampling = float(idata.sample_stats.attrs.get("sampling_time", took))
            compile_s += max(took - sampling, 0.0)
            took = sampling
        sample_s += took
        drop = [v for v in idata.posterior.data_vars if v not in plan.keep]
        idata.posterior = idata.posterior.drop_vars(drop)
        pooled = _pool(pooled, idata)
        table, summary = check_convergence(
            pooled, var_names=plan.keep, thresholds=plan.thresholds, warn=False
        )
        if resample_unmixed(pooled, plan, k, table, resampled):
            table, summary = check_convergence(
                pooled, var_names=plan.keep, thresholds=plan.thresholds, warn=False
            )
        n_chains = plan.chains * (k + 1)
        rounds.append(
            dict(
                round=k + 1,
                chains=n_chains,
                seed=seed,
                failed=list(summary["failed"]),
                sample_s=round(took, 2),
            )
        )
        reason = why_stop(
            table, chains=n_chains, per_round=plan.chains, rounds_left=plan.extend - k
        )
        if reason is not None:
            stopped = (
                "not extended (extend = 0)"
                if reason == "budget spent" and not plan.extend
                else reason
            )
            break
        n_failed = len(summary["failed"])
        _log.info(
            "round %d of at most %d missed %d convergence threshold%s (%s): sampling %d more "
            "chains from the same start",
            k + 1,
            plan.extend + 1,
            n_failed,
            "s" if n_failed > 1 else "",
            "; ".join(summary["failed"][:3]) + ("; ..." if n_failed > 3 else ""),
            plan.chains,
        )
    if len(rounds) > 1 or stopped != "converged":
        _log.info(
            "sampling ended after %d round(s), %d chains: %s",
            len(rounds),
            len(rounds) * plan.chains,
            stopped,
        )
    info = dict(
        compile_s=compile_s,
        sample_s=sample_s,
        chains=plan.chains * len(rounds),
        rounds=rounds,
        stopped=stopped,
        resampled=resampled,
    )
    return pooled, info


def resample_unmixed(
    pooled: arviz.InferenceData,
    plan: SamplingPlan,
    k: int,
    table: pd.DataFrame,
    resampled: dict[str, Any],
) -> bool:
    """Resample the random effects of subjects that miss a threshold (in place).

    Only when every failed check of ``table`` is an R-hat or ESS check of a random effect
    (``eta_*``): a subject's random effects cannot mix better than the population-level
    draws they are conditioned on, so while those miss a threshold more chains come first.
    See :mod:`cartpk.fit._conditional`; ``resampled`` collects ``{subject: acceptance}``.
    Returns whether any subject was resampled.
    """
    failed = table[table["passed"].eq(False)]
    only_eta = failed["check"].isin(["rhat", "ess_bulk", "ess_tail"]) & failed[
        "parameter"
    ].str.startswith("eta_")
    if plan.resampler is None or failed.empty or not only_eta.all():
        return False
    subjects = plan.resampler.unmixed(pooled.posterior, plan.thresholds)
    if not subjects:
        return False
    t0 = time.perf_counter()
    rates = plan.resampler(pooled.posterior, subjects, call=k)
    resampled.update(rates)
    _log.info(
        "round %d: the random effects of %d subject(s) missed a threshold (%s); resampled "
        "from their conditional posterior given each draw (acceptance %s; %.1f s)",
        k + 1,
        len(rates),
        ", ".join(list(rates)[:5]) + (", ..." if len(rates) > 5 else ""),
        ", ".join(f"{v:.2f}" for v in list(rates.values())[:5]),
        time.perf_counter() - t0,
    )
    return True
