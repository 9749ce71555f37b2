"""Model-based exposure of 10,000 subjects: the vectorised call against a per-subject loop.

Run: ``python benchmarks/bench_exposure.py [--loop-subjects 500]``. Subjects are drawn
around Stein 2019 Table 1 with the declared IIV (seeded). For both AUC paths (the model's
closed form, and adaptive quadrature with ``auc_method="numerical"``) it times one
:func:`cartpk.model_exposure` call over all subjects and a loop calling it one subject at
a time. The loop runs on ``--loop-subjects`` subjects and is scaled linearly to 10,000
(it is the same work per subject, so this only saves waiting); the printed ratio is
loop / vectorised. It also prints the largest relative difference between the two AUC
paths, the numerical tolerance verified on this population.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

import cartpk as ck

N_SUBJECTS = 10_000
LLOQ = 50.0


def population(model: ck.Model, n: int, seed: int = 1) -> pd.DataFrame:
    """Individual parameters: typical values shifted by the model's IIV on its own scale."""
    rng = np.random.default_rng(seed)
    typ = model.typical()
    iiv = model.parameters.query("role == 'iiv'").set_index("name")["initial"]
    h = model.to_transformed(typ)
    draws = {k: h[k] + iiv.get(f"omega_{k}", 0.0) * rng.standard_normal(n) for k in typ}
    out = pd.DataFrame({"ID": [str(i) for i in range(n)]})
    for k, v in model.from_transformed(draws).items():
        out[k] = v
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loop-subjects", type=int, default=500)
    args = parser.parse_args()
    model = ck.load_model("stein2019")
    params = population(model, N_SUBJECTS)
    results = {}
    for method in ("auto", "numerical"):
        t0 = time.perf_counter()
        res = ck.model_exposure(model, params, lloq=LLOQ, auc_method=method)
        vec = time.perf_counter() - t0
        results[method] = res
        k = min(args.loop_subjects, N_SUBJECTS)
        t0 = time.perf_counter()
        for i in range(k):
            ck.model_exposure(model, params.iloc[i : i + 1], lloq=LLOQ, auc_method=method)
        loop = (time.perf_counter() - t0) * N_SUBJECTS / k
        label = res.options["auc_method"]
        print(
            f"{label:>11}: vectorised {vec:6.2f} s for {N_SUBJECTS} subjects; "
            f"per-subject loop {loop:7.1f} s (measured on {k}, scaled); ratio {loop / vec:5.0f}x"
        )
    a, b = results["auto"].wide, results["numerical"].wide
    rel = max(float(np.max(np.abs(b[c] / a[c] - 1.0))) for c in ("auc_0_28d", "auc_0_90d"))
    print(
        f"numerical vs closed-form AUC: max relative difference {rel:.1e} "
        f"(estimated max {results['numerical'].options['auc_max_rel_error']:.1e}, "
        f"rtol {ck.exposure.ExposureGrid().rtol:g})"
    )


if __name__ == "__main__":
    main()
