"""Ogasawara et al. 2021: lisocabtagene maraleucel (liso-cel) cellular kinetics with a lag.

Ogasawara K, et al. Population cellular kinetics of lisocabtagene maraleucel in relapsed or
refractory large B-cell lymphoma. Clin Pharmacokinet 2021. doi:10.1007/s40262-021-01039-5
(PMC8613160). 2,524 post-infusion transgene observations from 261 patients (TRANSCEND NHL
001). Structure (abstract): lag phase, exponential growth, bi-exponential decline - the
Stein 2019 model with a lag::

    tlag = lag_fraction * tmax   (0 < lag_fraction < 1, so the lag always ends before tmax)
    t <  tlag         C = R0 = cmax / foldx
    tlag <= t < tmax  C = R0 exp(rho (t - tlag)),   rho = log(foldx) / (tmax - tlag)
    t >= tmax         C = cmax [(1 - fb) exp(-alpha (t - tmax)) + fb exp(-beta (t - tmax))]

Values from the abstract (population means): lag 3.27 d; doubling time 0.755 d; Tmax
9.29 d; initial decline half-life 5.00 d; terminal half-life 352 d. They are converted to
this parameterisation: ``lag_fraction = 3.27 / 9.29`` (the typical lag is 3.27 d),
``alpha = ln 2 / 5.00``, ``beta = ln 2 / 352``, ``foldx = 2 ** ((9.29 - 3.27) / 0.755)``
(about 252). The abstract reports neither Cmax, the persisting fraction, the variability
nor the residual error: ``cmax``, ``fb``, the IIV and the residual error are **placeholders
taken from Stein 2019's B-ALL analysis** (Table 1, variance reading as in ``stein2019``),
not liso-cel values, until checked against the full paper. The full paper could not be
read here: the stored copies of PMC8613160 and of
https://link.springer.com/doi/10.1007/s40262-021-01039-5 hold the abstract, the key points
("a piecewise model of cellular growth kinetics that featured lag, growth, and biphasic
decay phases") and the introduction only, and no independent transcription of this model
was found (nlmixr2lib and the public code index were searched). ``tests/model/test_catalogue_publications.py`` measures
the five abstract values on the simulated typical profile itself (and checks each against
the abstract's 95 % confidence interval).

The lag is a fraction of each subject's Tmax (an assumption of this file: the paper's
abstract gives the lag's mean, not how it varies with Tmax). An absolute lag without IIV
next to Stein's IIV on Tmax let about 4.5 % of simulated subjects reach Tmax before the lag
ended, i.e. jump from R0 to Cmax at once; here the expansion phase lasts
``(1 - lag_fraction) * tmax`` (typically 6.02 d; the shortest of 2,000 simulated subjects
0.98 d, tests/model/test_catalogue_traps.py), and the lag carries no IIV of its own (none
is reported).
"""

import math

from cartpk.model import (
    ClosedFormModel,
    assumed,
    log_additive,
    omega,
    provenance,
    theta,
    verified,
)

_LN2 = math.log(2.0)


class Ogasawara2021Lag(ClosedFormModel):
    """Lag, exponential growth to ``tmax``, bi-exponential decline (liso-cel)."""

    name = "ogasawara2021_lag"
    reference = "Ogasawara K et al. 2021, Clin Pharmacokinet, doi:10.1007/s40262-021-01039-5"
    time_unit = "day"
    outputs = {"QPCR": "copies/ug"}

    lag_fraction = theta(
        3.27 / 9.29, unit="1", transform="logit", label="lag as a fraction of tmax"
    )  # abstract: lag 3.27 d, Tmax 9.29 d
    foldx = theta(
        2.0 ** ((9.29 - 3.27) / 0.755),  # abstract: doubling 0.755 d over tmax - tlag
        unit="1",
        label="fold expansion",
    )
    tmax = theta(9.29, unit="day", label="time of peak expansion")  # abstract: Tmax 9.29 d
    cmax = theta(
        24000, unit="copies/ug", label="peak level"
    )  # placeholder: Stein 2019 Table 1 (B-ALL), not a liso-cel value
    alpha = theta(_LN2 / 5.00, unit="1/day", label="contraction rate")  # abstract: t1/2 5.00 d
    fb = theta(
        0.0079, unit="1", transform="logit", label="fraction into persistence"
    )  # placeholder: Stein 2019 Table 1 (B-ALL), not a liso-cel value
    beta = theta(_LN2 / 352.0, unit="1/day", label="persistence rate")  # abstract: t1/2 352 d

    # placeholders: Stein 2019 (B-ALL) Table 1 read as variances; the lag, a fraction of
    # tmax, follows the IIV of tmax and has none of its own (not reported)
    iiv = omega(
        var={"foldx": 2.4, "tmax": 0.38, "cmax": 0.65, "alpha": 0.91, "fb": 0.80, "beta": 0.86}
    )
    error = log_additive(sigma=0.56)  # placeholder: Stein 2019 Table 1

    provenance = provenance(
        structure=[
            verified(
                "abstract (PMC8613160): lag, exponential growth, biphasic decline",
                covers="phase sequence",
            ),
            assumed(
                "Stein 2019 closed form with a lag; the full paper's equations not checked",
                covers="equations",
            ),
        ],
        typical=[
            verified(
                "abstract (PMC8613160): lag 3.27 d, doubling 0.755 d, Tmax 9.29 d, t1/2 5.00 "
                "and 352 d (tests/model/test_stein2019.py, test_catalogue_publications.py)",
                covers="lag_fraction (typical lag), foldx, tmax, alpha, beta",
            ),
            assumed("Stein 2019 B-ALL placeholders (Table 1)", covers="cmax, fb"),
        ],
        iiv=assumed("Stein 2019 B-ALL placeholders (Table 1, variance reading)"),
        error=assumed("Stein 2019 B-ALL placeholder (Table 1, a = 0.56)"),
    )

    @staticmethod
    def predict(xp, time, *, lag_fraction, foldx, tmax, cmax, alpha, fb, beta):
        """Transgene level (copies/ug) at ``time`` (days)."""
        tlag = lag_fraction * tmax
        grow = tmax - tlag  # > 0 for every subject: 0 < lag_fraction < 1
        up = xp.minimum(xp.maximum(time - tlag, 0.0), grow)
        down = xp.maximum(time - tmax, 0.0)
        expansion = cmax * xp.exp(xp.log(foldx) * (up / grow - 1.0))
        decline = cmax * ((1.0 - fb) * xp.exp(-alpha * down) + fb * xp.exp(-beta * down))
        return {"QPCR": xp.where(time < tmax, expansion, decline)}
