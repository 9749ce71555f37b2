"""Command-line options of the benchmark scripts (``python benchmarks/bench_*.py``)."""

from __future__ import annotations

import argparse


def bench_parser(doc: str, **defaults: int | float) -> argparse.ArgumentParser:
    """The argument parser of a benchmark script, with its plain numeric options.

    Parameters
    ----------
    doc : str
        The script's docstring: its first line describes the script in ``--help``.
    **defaults : int or float
        One option per keyword, in this order: ``loop_subjects=40`` adds
        ``--loop-subjects``, an ``int`` (the default's type) that defaults to 40.

    Returns
    -------
    argparse.ArgumentParser
        The parser; the script adds the options with a help text, choices or a flag.
    """
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    for name, default in defaults.items():
        ap.add_argument("--" + name.replace("_", "-"), type=type(default), default=default)
    return ap
