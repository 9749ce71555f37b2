"""The ``cartpk`` commands as data: name, module, help line, description, first argument.

:data:`COMMANDS` is what ``cartpk --help`` lists, in its order. :func:`cartpk.cli.build_parser`
registers each command from its record (:meth:`Command.register`: the parser, the first
positional argument and the options many commands share) and then lets the command's module
add the options that are its own (``add_arguments(parser)``, where it has any); ``run(args)``
of that module runs the command.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from cartpk.cli._common import add_run_folder_arguments

__all__ = ["COMMANDS", "Command"]


@dataclass(frozen=True)
class Command:
    """One ``cartpk`` command: what its parser opens with.

    Attributes
    ----------
    name : str
        The command's name (``cartpk NAME``).
    module : str
        The module implementing it: ``run(args) -> int`` and, for options of its own,
        ``add_arguments(parser)``. Imported only when the parser is built.
    help : str
        Its line in ``cartpk --help``.
    description : str
        The paragraph ``cartpk NAME --help`` opens with.
    first : tuple of (str, str), optional
        The first positional argument: its name and help text (none when not given).
    metavar, nargs : str, optional
        The first argument's ``metavar`` and ``nargs`` (argparse's defaults when not given).
    run_folder : bool, default False
        Also ``--out DIR`` and ``--force`` (:func:`~cartpk.cli._common.add_run_folder_arguments`).
    quiet : str, optional
        Also ``--quiet``, with this help text.
    """

    name: str
    module: str
    help: str
    description: str
    first: tuple[str, str] | None = None
    metavar: str | None = None
    nargs: str | None = None
    run_folder: bool = False
    quiet: str | None = None

    def register(self, sub: Any) -> argparse.ArgumentParser:
        """Add the command's parser to ``sub`` (the ``cartpk`` parser's subcommands) with
        its first argument, ``--out``/``--force`` and ``--quiet`` as declared.

        Parameters
        ----------
        sub : argparse._SubParsersAction
            The ``cartpk`` parser's subcommands.

        Returns
        -------
        argparse.ArgumentParser
            The command's parser, for the options that are its own.
        """
        p: argparse.ArgumentParser = sub.add_parser(
            self.name, help=self.help, description=self.description
        )
        if self.first is not None:
            dest, text = self.first
            extra = {
                k: v for k, v in (("metavar", self.metavar), ("nargs", self.nargs)) if v is not None
            }
            p.add_argument(dest, help=text, **extra)
        if self.run_folder:
            add_run_folder_arguments(p)
        if self.quiet is not None:
            p.add_argument("--quiet", action="store_true", help=self.quiet)
        return p


#: every command, in the order ``cartpk --help`` lists them
COMMANDS: tuple[Command, ...] = (
    Command(
        "validate",
        "cartpk.cli._validate",
        help="check a NONMEM/Monolix-style long table and summarise it",
        description="Check every record of a long table; list all problems at once.",
        first=("data", "CSV file (ID, TIME, DV, [EVID, AMT, MDV, CENS, LLOQ, DVID, ...])"),
    ),
    Command(
        "demo",
        "cartpk.cli._demo",
        help="run the whole analysis on the bundled (simulated) example trial",
        description="Validate the bundled simulated trial and run every analysis stage "
        "(NCA, per-patient and population fits, exposure, RECIST, E-R) into one run "
        "folder with a self-contained HTML report.",
    ),
    Command(
        "simulate",
        "cartpk.cli._simulate",
        help="simulate a virtual trial from a catalogue model",
        description="Simulate N virtual patients (IIV, residual error, LLOQ censoring) and "
        "write the long table as CSV. `cartpk models` lists the models.",
        first=("model", "catalogue model name, e.g. stein2019"),
    ),
    Command(
        "models",
        "cartpk.cli._models",
        help="list the model catalogue",
        description="List the catalogue models: name, kind, reference, outputs and provenance "
        "(per parameter block: verified against the publication, transcribed from a "
        "named independent transcription, or assumed). The table shows the compact "
        "form; --format json|csv give every block with its source.",
    ),
    Command(
        "nca",
        "cartpk.cli._nca",
        help="non-compartmental analysis (Cmax, Tmax, AUC0-28d, lambda_z, ...)",
        description="Observed NCA of every subject. Writes the CDISC long table (ID, DVID, "
        "PPTESTCD, PPORRES, PPORRESU, PPSTINT, PPENINT, REASON, PPANMETH) to --out and "
        "prints a per-subject summary, one row per subject and endpoint (Cmax, Tmax, "
        "Tlast, AUClast, the interval AUC, AUCinf, lambda_z; the first 20 rows, units on "
        "the first lines); --format csv prints the long table instead. BLQ samples follow "
        "PKNCA's default: 0 before the first quantifiable sample, dropped between "
        "quantifiable ones, 0 after the last; PPANMETH says how each interval AUC was "
        "obtained (interpolated, blq_zero, extrapolated_lambda_z, all_blq).",
        first=("data", "dataset (at least ID, TIME, DV)"),
        metavar="DATA.csv",
    ),
    Command(
        "recist",
        "cartpk.cli._recist",
        help="RECIST 1.1 time-point and best overall responses from lesion measurements",
        description="Derive SOD, % change from baseline and nadir, target / non-target / "
        "new-lesion and overall responses per assessment, and best overall response "
        "(unconfirmed and confirmed) per subject, by RECIST 1.1.",
        first=(
            "lesions",
            "one row per lesion per assessment: ID, DAY, LESION, KIND, NODAL, DIAM_MM, "
            "STATUS[, ORGAN]",
        ),
        metavar="LESIONS.csv",
        run_folder=True,
    ),
    Command(
        "convert",
        "cartpk.cli._convert",
        help="CDISC SDTM or ADaM datasets into trial.csv, lesions.csv and conversion.csv",
        description="Read the datasets of FOLDER (.xpt, .sas7bdat, .csv, Dataset-JSON; names "
        "case-insensitive) and write the long table, the RECIST lesion table and the "
        "record of what became of every source record. See docs/cdisc.md.",
    ),
    Command(
        "fit",
        "cartpk.cli._fit",
        help="fit a model to data from a TOML specification (fits/*.toml)",
        description="Fit a catalogue model to a dataset as a TOML specification says "
        "(model, data, method, seed, options) and write a run folder.",
        first=("spec", "fit specification"),
        metavar="SPEC.toml",
        run_folder=True,
        quiet="no progress bar",
    ),
    Command(
        "compare",
        "cartpk.cli._compare",
        help="compare population maximum-likelihood fits: -2LL, AIC, BIC, LRT",
        description='Model comparison of run folders of `cartpk fit` with method = "saem": '
        "-2LL and its Monte-Carlo SE, delta OFV (-2LL minus the smallest), AIC, BIC, "
        "and a likelihood-ratio test of each run against the smallest larger run it is "
        "nested in (same data file, observations and BLQ handling; estimated "
        "parameters a subset). --out writes the table as CSV.",
        first=("runs", "run folders of population maximum-likelihood fits"),
        metavar="RUNDIR",
        nargs="+",
    ),
    Command(
        "er",
        "cartpk.cli._er",
        help="exposure-response models (ordinal, logistic, Emax/log-linear, Cox) from a spec",
        description="Fit the exposure-response analyses named in a TOML specification on a "
        "per-subject table (given, or derived from the trial data by NCA, RECIST and "
        "the safety summaries); report odds / hazard ratios per 2-fold and 10-fold "
        "exposure with 95 % intervals and exposure-quartile plots.",
        first=("spec", "E-R specification (see fits/er_example.toml)"),
        metavar="SPEC.toml",
        run_folder=True,
        quiet="no summary on stdout",
    ),
    Command(
        "report",
        "cartpk.cli._report",
        help="one self-contained HTML report of run folders",
        description="Collect run folders (data summary, fits, diagnostics, NCA, RECIST, E-R) "
        "into one HTML file with every figure embedded; it opens offline and runs no script.",
        first=("rundirs", "run folder(s) written by --out"),
        metavar="RUNDIR",
        nargs="+",
    ),
    Command(
        "sse",
        "cartpk.cli._sse",
        help="simulation-estimation study of a design (bias, RMSE, coverage) on Dask",
        description="Simulate replicate trials from a model, estimate, and summarise bias, "
        "relative RMSE, CI coverage and convergence per parameter.",
        first=("spec", "study specification (TOML), e.g. fits/long/stein2019_sse_seed.toml"),
    ),
    Command(
        "bootstrap",
        "cartpk.cli._bootstrap",
        help="nonparametric bootstrap of a typical-value fit on Dask",
        description="Resample subjects with replacement, refit, and report percentile "
        "intervals of the typical values.",
        first=("spec", "bootstrap specification (TOML)"),
    ),
    Command(
        "scm",
        "cartpk.cli._scm",
        help="step-wise covariate search (forward inclusion, backward elimination) by SAEM",
        description="Add the candidate covariate effects one at a time while the "
        "likelihood-ratio test passes forward_p, then remove them while removal costs less "
        "than backward_p (PsN's SCM); each fit is a Dask task, and a rerun resumes.",
        first=("spec", "covariate search specification (TOML), e.g. fits/stein2019_scm.toml"),
    ),
    Command(
        "run",
        "cartpk.cli._run",
        help="run every fit specification in a folder (e.g. fits/) with a summary table",
        description="Run benchmark fit specifications; one run folder each, one summary.",
        first=("specs", "folders of *.toml specifications and/or spec files"),
        nargs="+",
    ),
    Command(
        "export-data",
        "cartpk.cli._export_data",
        help="write a long table in NONMEM, Monolix or nlmixr2 dataset conventions",
        description="Validate a long table and write it for NONMEM (numbers only: IDs, DVIDs "
        "and text covariates as integer codes), Monolix or nlmixr2. Every input record "
        "appears once; every change to a record is listed in <stem>.changes.csv.",
        first=("data", "CSV file (ID, TIME, DV, [EVID, AMT, MDV, CENS, LLOQ, ...])"),
    ),
    Command(
        "export",
        "cartpk.cli._export",
        help="write a catalogue model for NONMEM, Monolix or nlmixr2",
        description="Translate a catalogue model's declaration (parameters with bounds and "
        "units, IIV as variances, residual error, M3 censoring, covariate effects, the "
        "equations) into a NONMEM control stream ($PRED or ADVAN13 $DES), a Monolix Mlxtran "
        "file or an nlmixr2 model function. `cartpk models` lists the models; "
        "`cartpk export-data` writes the matching data set.",
        first=("model", "catalogue model name, e.g. stein2019"),
    ),
)
