"""Column units and descriptions of the tables cartpk writes: the run folder's data dictionary.

Every run folder gets ``columns.csv`` (one row per column of every CSV table it holds:
``file, column, unit, description``), so that a wide table such as ``individual.csv``
(one column per parameter) or ``exposure_model.csv`` states the unit of each column
without changing the table itself. Long tables keep their own ``unit`` column; the
dictionary then points at it.

The ``unit`` field is spelt as the files spell units (ASCII, ``copies/ug``; ``µg`` is
for display only, :func:`cartpk.data.display_unit`) and reads:

============== ===============================================================================
``copies/ug``  every value of the column is in this unit (``day``, ``1/day``,
               ``day*copies/ug``, ``pg/mL``, ``mm``, ``%``)
``1``          a dimensionless number: a ratio, fraction, count, R-hat, a log-scale value
``""``         not a quantity: identifiers, labels, codes, flags, free text
``[unit]``     per row: the unit named in that row's column ``unit`` (``[PPORRESU]`` in the
               CDISC NCA table); ``[DVID]``: the unit of the row's endpoint (``DVID``);
               ``[parameter]``: the declared unit of the row's model parameter;
               ``[metric]``: the unit of the row's exposure metric; ``[scale]``, ``[on]``:
               the scale that column names (E-R estimates, priors)
============== ===============================================================================
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["COLUMNS", "DICTIONARY_FILE", "describe_columns", "read_header", "write_dictionary"]

#: the data dictionary's file name inside a run folder
DICTIONARY_FILE = "columns.csv"

_FLAG = ""
_TEXT = ""
_ONE = "1"

#: how the tables below write a column that is not a quantity (its unit is ``""``)
_NO_UNIT = {"text": _TEXT, "flag": _FLAG}


def _table(text: str, keys: int = 1) -> dict[Any, tuple[str, str]]:
    """A registry table: per line ``keys`` names, then the unit and the description.

    One row a line, fields separated by white space, the description the rest of the line;
    the key is the name (a tuple of the names when ``keys`` > 1). ``text`` and ``flag``
    stand for no unit (identifiers, labels, free text; yes/no values), ``1`` for a
    dimensionless number. Blank lines and ``#`` comments are passed over.
    """
    out: dict[Any, tuple[str, str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            *names, unit, description = line.split(maxsplit=keys + 1)
            key = names[0] if keys == 1 else tuple(names)
            out[key] = (_NO_UNIT.get(unit, unit), description)
    return out


#: units and descriptions of columns that mean the same in every table cartpk writes
COLUMNS: dict[str, tuple[str, str]] = _table(
    """
# identifiers and records (NONMEM names)
ID           text    subject identifier
ROW          text    1-based data record of the input file (row N is on line N + 1)
TIME         day     time since infusion
DAY          day     assessment day since infusion (negative: before infusion)
DV           [DVID]  observed value (for a censored record: the limit)
CENS         flag    censoring: 0 none, 1 left-censored (below LLOQ), -1 right-censored
LLOQ         [DVID]  lower limit of quantification
LIMIT        [DVID]  the other bound of a censored record's interval
DVID         text    endpoint (observed quantity) of the record
OCC          text    occasion
PRED         [DVID]  population prediction (random effects at 0)
IPRED        [DVID]  individual prediction
IPRED_lower  [DVID]  lower limit of the individual prediction's credible interval
IPRED_upper  [DVID]  upper limit of the individual prediction's credible interval
IWRES        1       individual weighted residual on the residual's scale (missing if censored)
IWRES_SIM    1       IWRES, for censored records drawn from the censored side of the limit
NPD          1       normalised prediction discrepancy (censoring-aware)
USED         flag    whether the likelihood used the record (False: discarded by blq='m1')
BLQ          text    censoring method of the fit (m3, m4, m1)
code         text    condition code
reason       text    why the value is missing or the record not used ('' when it is)
message      text    message
status       text    outcome status
converged    flag    whether the fit met its convergence criteria
# parameter tables (STYLE 3.3: parameter, estimate, lower, upper, unit, ...)
parameter          text    parameter name as in the model declaration
estimate           [unit]  estimate (natural scale)
lower              [unit]  lower limit of the interval
upper              [unit]  upper limit of the interval
unit               text    unit of the row's values (ASCII: copies/ug)
se                 [unit]  standard error (posterior SD for a Bayesian fit)
rse_pct            %       relative standard error, 100 * se / |estimate|
cv_pct             %       between-subject variability as a CV
shrinkage_pct      %       eta shrinkage
role               text    role of the parameter (structural, iiv, error, covariate, ...)
fixed              flag    whether the parameter was fixed
transform          text    estimation scale (log, logit, none)
ci_method          text    how the interval was computed (wald, profile, ...)
profile_lower      [unit]  lower limit of the profile-likelihood interval (SAEM `profile`)
profile_upper      [unit]  upper limit of the profile-likelihood interval (SAEM `profile`)
at_bound           flag    whether the estimate is at a bound of the search range
identifiable       flag    whether the data identify the parameter (see note)
note               text    why a parameter is flagged
rhat               1       R-hat (rank-normalised, split)
ess_bulk           1       bulk effective sample size
ess_tail           1       tail effective sample size
prior_width_ratio  1       posterior SD / prior SD on the estimation scale
prior_dominated    flag    whether the posterior is mostly the prior
blq                text    censoring method (m3, m4, m1)
prior              text    prior of the per-subject fit (none: maximum likelihood)
sigma              text    residual error: fixed at the declared value or estimated
objective          1       objective function value (-2 log-likelihood, + prior terms for MAP)
n_obs              1       number of observations
n_censored         1       number of censored observations
n_discarded        1       number of observations discarded (blq='m1')
n_starts           1       number of optimiser starts
n_starts_agree     1       starts that reached the best objective
# priors.csv
distribution  text  prior distribution
loc           [on]  location of the prior, on the scale named in `on`
scale         [on]  scale of the prior, on the scale named in `on`
on            text  the quantity the prior is placed on (e.g. log(foldx))
# diagnostics.csv
check      text    convergence check (rhat, ess_bulk, ess_tail, divergences, ...)
element    text    element of a vector parameter (subject)
value      [unit]  value
threshold  1       threshold the check is held to
passed     flag    whether the check passed
# VPC tables
bin                1       time bin index (0-based)
time               day     bin time (median sample time) since infusion
time_lo            day     first sample time of the bin
time_hi            day     last sample time of the bin
n                  1       number of values
quantile           1       percentile of the distribution, as a fraction
observed           [DVID]  observed percentile
observed_censored  flag    whether the observed percentile lies below the LLOQ
sim_median         [DVID]  median over simulated replicates
sim_lower          [DVID]  lower limit of the simulated interval
sim_upper          [DVID]  upper limit of the simulated interval
sim_censored       flag    whether the simulated percentile lies below the LLOQ
# NCA (CDISC PP names)
PPTESTCD          text        CDISC parameter code
PPTEST            text        CDISC parameter name
PPORRES           [PPORRESU]  result
PPORRESU          text        unit of the result
PPSTINT           text        interval start, ISO 8601 duration
PPENINT           text        interval end, ISO 8601 duration
REASON            text        why the result is missing
PPANMETH          text        how an interval AUC was obtained
RULE              text        rule applied
DETAIL            text        what the rule did
n_missing         1           number of missing values (with reasons in the long table)
geo_mean          [PPORRESU]  geometric mean
geo_cv_pct        %           geometric coefficient of variation
mean              [PPORRESU]  arithmetic mean
sd                [PPORRESU]  standard deviation
median            [PPORRESU]  median
min               [PPORRESU]  minimum
max               [PPORRESU]  maximum
cmax              [DVID]      maximum concentration
tmax              day         time of the maximum concentration
tlast             day         time of the last quantifiable concentration
clast             [DVID]      last quantifiable concentration
lambda_z_npoints  1           number of points of the lambda_z regression
r2                1           R squared of the lambda_z regression
r2adj             1           adjusted R squared of the lambda_z regression
aucpext_obs       %           AUC extrapolated beyond Tlast (observed Clast)
aucpext_pred      %           AUC extrapolated beyond Tlast (predicted Clast)
# model-based exposure and its comparison with NCA
metric           text      exposure metric
start            day       start of the time window
end              day       end of the time window
method           text      how the value was computed
time_above_lloq  day       time the model profile stays above the LLOQ
model            [metric]  model-based value
nca              [metric]  NCA value
used             flag      whether the pair entered the comparison
n_excluded       1         subjects left out of the comparison (reasons in exposure_pairs.csv)
r2_log           1         R squared of log(model) on log(NCA)
slope_log        1         slope of log(model) on log(NCA)
intercept_log    1         intercept of log(model) on log(NCA), natural log of the unit
gmr              1         geometric mean ratio model/NCA
gmr_lower        1         lower limit of the GMR's 95 % interval
gmr_upper        1         upper limit of the GMR's 95 % interval
# exposure-response
endpoint         text  response endpoint (a column of er_subjects.csv)
exposure         text  exposure metric (a column of er_subjects.csv)
term             text  model term
ratio            text  kind of ratio reported (OR, HR, ...)
p_value          1     p-value
n_events         1     number of events (responders, grade >= 1, PFS events)
analysis         text  the spec's [[analysis]] block
exposure_source  text  where the exposure comes from (model, nca, true)
crs_grade        1     maximum CRS grade (0-5)
crs_grade3plus   flag  CRS grade >= 3 (1/0)
ae_grade         1     maximum grade over the other graded events
ae_grade3plus    flag  adverse event grade >= 3 (1/0)
bor              text  confirmed best overall response (RECIST 1.1)
bor_unconfirmed  text  unconfirmed best overall response
orr              flag  objective response (1 confirmed CR/PR, 0 otherwise)
pfs_time         day   progression-free survival time
pfs_event        flag  PFS event (1) or censored (0)
pfs_exclusion    text  why the subject is left out of the landmark PFS analysis
dor_time         day   duration of response
dor_event        flag  DOR event (1) or censored (0)
death_day        day   day of death since infusion
os_time          day   overall survival time
os_event         flag  death (1) or censored (0)
# RECIST (CDISC RS names)
SOD              mm    sum of target-lesion diameters
PCHG_BASE        %     change of SOD from baseline
PCHG_NADIR       %     change of SOD from the nadir
TRGRESP          text  target response
NTRGRESP         text  non-target response
NEWLPROG         text  new lesion (Y/N)
OVRLRESP         text  overall time-point response
BOR_UNCONFIRMED  text  best overall response, unconfirmed
BOR_CONFIRMED    text  best overall response, confirmed
VARIABLE         text  derived variable
VALUE            text  its value (SOD in mm, changes in %)
# studies and batches
replicate      text         replicate index
identified     flag         whether the parameter was identified in the replicate
true           [parameter]  true value used to simulate
level          text         typical value or individual level
error          text         exception class of a failed task
seconds        s            wall-clock time
stage          text         stage of the demo (a run folder of its own)
source         text         where the value comes from
TARGET         text         target antigen
or_per_2fold   1            odds (hazard) ratio per doubling of the exposure
or_per_10fold  1            odds (hazard) ratio per 10-fold exposure
"""
)

#: per-file meanings where a name means something else than in :data:`COLUMNS`
_FILE_COLUMNS: dict[tuple[str, str], tuple[str, str]] = _table(
    """
diagnostics.csv          value       1        value of the check (R-hat, ESS, count)
diagnostics.csv          parameter   text     parameter of the posterior
vpc_blq.csv              observed    1        observed fraction of BLQ records in the bin
vpc_blq.csv              sim_median  1        median simulated fraction BLQ
vpc_blq.csv              sim_lower   1        lower limit of the simulated fraction BLQ
vpc_blq.csv              sim_upper   1        upper limit of the simulated fraction BLQ
pcvpc.csv                observed    [DVID]   observed percentile, prediction-corrected
exposure_vs_nca.csv      n           1        subjects compared
exposure_vs_nca.csv      reason      text     why no comparison was made
exposure_model_long.csv  value       [unit]   value of the metric
exposure_model_long.csv  reason      text     why the value is missing
er_estimates.csv         estimate    [scale]  estimate on the scale named in `scale`
er_estimates.csv         lower       [scale]  lower limit of the interval
er_estimates.csv         upper       [scale]  upper limit of the interval
er_estimates.csv         se          [scale]  standard error
er_estimates.csv         scale       text     scale of estimate, lower, upper and se
er_estimates.csv         model       text     exposure-response model
er_estimates.csv         n           1        subjects analysed
er_exclusions.csv        model       text     exposure-response model
stages.csv               status      text     outcome of the stage (ok, failed_checks, error)
# bootstrap (cartpk bootstrap): intervals.csv
intervals.csv  estimate     [parameter]  estimate on the original data
intervals.csv  lower        [parameter]  lower limit of the percentile interval
intervals.csv  upper        [parameter]  upper limit of the percentile interval
intervals.csv  level        1            level of the percentile interval
intervals.csv  boot_median  [parameter]  median over the bootstrap samples
intervals.csv  boot_se      [parameter]  standard deviation over the samples
intervals.csv  n_ok         1            bootstrap samples whose fit converged (used)
intervals.csv  n            1            bootstrap samples
# simulation-estimation (cartpk sse): summary.csv, one row per parameter
summary.csv  true                      [parameter]  true value the data were simulated with
summary.csv  n                         1            replicates
summary.csv  n_converged               1            replicates whose fit converged
summary.csv  convergence_pct           %            replicates whose fit converged
summary.csv  mean_estimate             [parameter]  mean estimate over the replicates
summary.csv  bias                      [parameter]  mean estimate minus the true value
summary.csv  rel_bias_pct              %            bias relative to the true value
summary.csv  rmse                      [parameter]  root mean squared error
summary.csv  rel_rmse_pct              %            RMSE relative to the true value
summary.csv  median_abs_rel_error_pct  %            median absolute relative error
summary.csv  n_ci                      1            replicates with an interval
summary.csv  coverage_pct              %            intervals covering the true value
summary.csv  identified_pct            %            estimates the data identified
# a folder of specs (cartpk run): summary.csv, one row per spec
summary.csv  spec         text  specification file
summary.csv  kind         text  command that ran the spec (fit, er, sse, bootstrap)
summary.csv  exit_code    text  exit code (0 done, 1 checks failed, 2 invalid)
summary.csv  runtime_s    s     wall time of the spec
summary.csv  convergence  text  convergence of the spec's fit, as text
summary.csv  key_results  text  the spec's main settings and results, as text
summary.csv  run_folder   text  the spec's run folder inside this one
""",
    keys=2,
)

#: suffixes of per-parameter columns of wide tables: ``<name>_lower`` has ``<name>``'s unit
_SUFFIXES: dict[str, tuple[bool, str]] = {
    "_lower": (True, "lower limit of the interval of {}"),
    "_upper": (True, "upper limit of the interval of {}"),
    "_se": (True, "standard error of {} (natural scale, delta method)"),
    "_nca": (True, "{} by NCA"),
    "_identifiable": (False, "whether the data identify {}"),
    "_at_bound": (False, "whether {} is at a bound of the search range"),
    "_mean": (True, "conditional mean of {} (SAEM)"),
}

#: tables of SAEM runs whose columns are parameters on the estimation scale (cartpk fit,
#: method = "saem"): every column but the first is described by the file
_ESTIMATION_SCALE = {
    "covariance.csv": ("parameter", "covariance of the estimates with `{}` (estimation scale)"),
    "trace.csv": ("iteration", "`{}` at each SAEM iteration (estimation scale)"),
}


def _registered(file: str, column: str) -> tuple[str, str] | None:
    """Unit and description of ``column`` in the registry: ``file``'s own meaning first."""
    return _FILE_COLUMNS.get((file, column)) or COLUMNS.get(column)


def _one(
    file: str, column: str, units: Mapping[str, str], descriptions: Mapping[str, str]
) -> tuple[str, str] | None:
    base = _registered(file, column)
    if units.get(column):  # an empty unit from a writer says nothing: use the registry
        text = descriptions.get(column) or (base[1] if base else "")
        return str(units[column]), text
    if column in descriptions:
        return (base[0] if base else ""), descriptions[column]
    if base is not None:
        return base
    for suffix, (same_unit, text) in _SUFFIXES.items():
        stem = column[: -len(suffix)]
        if column.endswith(suffix) and stem:
            found = _one(file, stem, units, descriptions)
            if found is not None:
                return (found[0] if same_unit else _FLAG), text.format(f"`{stem}`")
    if file in _ESTIMATION_SCALE:
        first, text = _ESTIMATION_SCALE[file]
        if column == first:
            return "", "SAEM iteration" if first == "iteration" else "parameter name (row)"
        return _ONE, text.format(column)
    if column.startswith("eta_") and column[4:]:
        return _ONE, f"random effect of `{column[4:]}` (posterior mean, estimation scale)"
    return None


def describe_columns(
    file: str,
    columns: Iterable[object],
    *,
    units: Mapping[str, str] | None = None,
    descriptions: Mapping[str, str] | None = None,
) -> list[dict[str, str]]:
    """Data-dictionary records of one table: ``file, column, unit, description``.

    Parameters
    ----------
    file : str
        The table's file name inside the run folder (``individual.csv``).
    columns : iterable
        Its columns, in order.
    units : mapping, optional
        Column -> unit known to the writer (a model's parameter units, the NCA unit of
        ``cmax``); these win over :data:`COLUMNS`. ``<name>_lower``, ``<name>_upper``,
        ``<name>_se`` and ``<name>_nca`` take ``<name>``'s unit.
    descriptions : mapping, optional
        Column -> description (e.g. a parameter's label).

    Returns
    -------
    list of dict
        One record per column. A column cartpk cannot describe has an empty ``unit`` and
        the description ``"(not described)"``.

    Examples
    --------
    >>> [r["unit"] for r in describe_columns("individual.csv", ["ID", "tmax", "tmax_lower"],
    ...                                       units={"tmax": "day"})]
    ['', 'day', 'day']
    """
    units = {str(k): str(v) for k, v in (units or {}).items()}
    descriptions = {str(k): str(v) for k, v in (descriptions or {}).items()}
    name = Path(file).name
    out = []
    for col in columns:
        c = str(col)
        found = _one(name, c, units, descriptions)
        unit, text = found if found is not None else ("", "(not described)")
        out.append({"file": str(file), "column": c, "unit": unit, "description": text})
    return out


def read_header(path: str | Path) -> list[str]:
    """The column names of a CSV file (its first line); ``[]`` for an empty file."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return next(csv.reader(fh), [])


def _parameter_units(tables: Iterable[Path]) -> dict[str, str]:
    """Declared unit of each model parameter named in a long parameter table of the folder.

    ``population.csv`` and ``parameters.csv`` carry ``parameter`` and ``unit`` from the model
    declaration; the wide per-subject tables next to them take their units from there.
    """
    out: dict[str, str] = {}
    for p in tables:
        with open(p, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            if not {"parameter", "unit"} <= set(reader.fieldnames or ()):
                continue
            for row in reader:
                out.setdefault(str(row["parameter"]), str(row["unit"] or ""))
    return out


def write_dictionary(
    folder: str | Path,
    known: Mapping[str, tuple[Mapping[str, str], Mapping[str, str]]],
    *,
    name: str = DICTIONARY_FILE,
) -> Path | None:
    """Write ``columns.csv`` for the CSV tables directly inside ``folder``.

    Parameters
    ----------
    folder : path
        The run folder (its nested run folders keep dictionaries of their own).
    known : mapping
        File name -> ``(units, descriptions)`` its writer gave (see
        :func:`describe_columns`); the other tables are described from their header.
        A column of a wide table that has a ``<name>_lower`` companion and names a
        parameter of a long parameter table in the folder (``population.csv``,
        ``parameters.csv``: ``parameter``, ``unit``) takes that declared unit.
    name : str
        The dictionary's file name.

    Returns
    -------
    Path or None
        The file written; ``None`` when the folder holds no CSV table.
    """
    folder = Path(folder)
    tables = sorted(p for p in folder.glob("*.csv") if p.name != name and p.is_file())
    declared = _parameter_units(tables)
    rows: list[dict[str, str]] = []
    for p in tables:
        header = read_header(p)
        units, descriptions = known.get(p.name, ({}, {}))
        params = {c for c in header if c in declared and f"{c}_lower" in header}
        rows += describe_columns(
            p.name,
            header,
            units={**{c: declared[c] for c in params}, **units},
            descriptions={
                **{c: f"`{c}` of the subject (model parameter)" for c in params},
                **descriptions,
            },
        )
    if not rows:
        return None
    buf = io.StringIO()
    writer = csv.DictWriter(buf, ["file", "column", "unit", "description"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    target = folder / name
    target.write_text(buf.getvalue(), encoding="utf-8")
    return target
