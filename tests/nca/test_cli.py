"""``cartpk nca`` (cartpk.cli._nca)."""

from __future__ import annotations

import pandas as pd

from cartpk.cli import main


def test_cli_minimal_table_writes_cdisc_csv(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text("ID,TIME,DV\n1,1,8\n1,2,6\n1,4,3\n1,8,1.5\n2,1,5\n2,3,2\n")
    out = tmp_path / "res" / "nca.csv"
    rc = main(["nca", str(data), "--out", str(out), "--interval", "0,4", "--format", "csv"])
    assert rc == 0
    table = pd.read_csv(out, dtype={"ID": str})
    assert list(table.columns[:4]) == ["ID", "DVID", "PPTESTCD", "PPTEST"]
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].startswith("ID,DVID,PPTESTCD")
    auc = table[(table.ID == "1") & (table.PPTESTCD == "AUCINT")].iloc[0]
    # C(0)=0 imputed: 0->1: 4, 1->2: 7, 2->4: 9 (linear)
    assert auc.PPORRES == 20.0 and auc.PPENINT == "P4D"
    assert auc.PPANMETH == "interpolated"
    missing = table[(table.ID == "2") & (table.PPTESTCD == "LAMZ")].iloc[0]
    assert missing.REASON.startswith("[lambda_z_too_few_points]")


def test_cli_bad_arguments_exit_2_without_traceback(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text("ID,TIME,DV\n1,1,8\n1,2,6\n")
    out = tmp_path / "o.csv"
    assert main(["nca", str(data), "--out", str(out), "--interval", "28"]) == 2
    assert main(["nca", str(data), "--out", str(out), "--auc-method", "log"]) == 2
    assert main(["nca", str(tmp_path / "none.csv"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "--interval" in err
    assert not out.exists()
