"""Waterfall and spider plots: files written, matplotlib loaded only when plotting."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pandas as pd

from cartpk.errors import CartpkWarning
from cartpk.response import recist, spider, waterfall


def _result():
    t = pd.DataFrame(
        [
            ("1", -5, "T1", "TARGET", 0, 50, ""),
            ("1", 56, "T1", "TARGET", 0, 30, ""),
            ("2", -5, "T1", "TARGET", 0, 40, ""),
            ("2", 56, "T1", "TARGET", 0, 52, ""),
            ("3", -5, "NT1", "NONTARGET", 0, None, "PRESENT"),  # no SOD: no bar
            ("3", 56, "NT1", "NONTARGET", 0, None, "PRESENT"),
        ],
        columns=["ID", "DAY", "LESION", "KIND", "NODAL", "DIAM_MM", "STATUS"],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CartpkWarning)  # subject 3 has no target lesion
        return recist(t)


def test_waterfall_and_spider_write_png(tmp_path):
    res = _result()
    assert res.bor["BEST_PCHG_BASE"].tolist()[:2] == [-40.0, 30.0]
    w = waterfall(res, tmp_path / "w.png", bor="unconfirmed")
    s = spider(res, tmp_path / "s.png")
    for p in (w, s):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_import_response_does_not_load_matplotlib():
    code = "import sys, cartpk.response; print('matplotlib' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "False"
