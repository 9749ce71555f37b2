"""``cartpk models`` shows each model's provenance; the report states it for a fit's model."""

from __future__ import annotations

import json
import subprocess
import sys

import cartpk as ck


def _cli(*args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "cartpk", "models", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def test_models_table_has_compact_provenance_within_100_columns():
    text = _cli()
    lines = text.splitlines()
    assert "verified" in lines[0] and "weakest" in lines[0]
    assert max(len(line) for line in lines) <= 100
    row = next(line for line in lines if line.startswith("stein2019 "))
    assert "1/5" in row and "transcribed" in row


def test_models_json_and_csv_give_every_block_with_its_source():
    records = {r["name"]: r for r in json.loads(_cli("--format", "json"))}
    iiv = records["stein2019"]["provenance_detail"]["iiv"]
    assert iiv["level"] == "transcribed"
    assert "nlmixr2lib" in iiv["entries"][0]["source"]
    assert records["cartmath_illustration"]["provenance"].endswith("weakest assumed")
    csv = _cli("--format", "csv")
    assert "provenance_detail" in csv.splitlines()[0]
    assert len(csv.splitlines()) == len(ck.list_models()) + 1
    assert "iiv: transcribed (Table 1 random effects read as omega^2" in csv


def test_report_states_the_provenance_of_a_catalogue_model():
    from cartpk.report._sections_data import _model_provenance

    line = _model_provenance("stein2019")
    assert "structure verified" in line and "iiv transcribed" in line
    assert _model_provenance("not_a_catalogue_model") == ""
