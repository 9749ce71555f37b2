"""PDF export of a written HTML report through a headless Chromium (optional).

The report is self-contained HTML; printing it with Chromium's ``--print-to-pdf`` keeps
every figure and table as the browser lays them out. Chromium is not a Python dependency:
Debian's ``chromium`` package (``apt-get install chromium``) or any Chrome on ``PATH``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from cartpk.errors import CartpkError, Violation

__all__ = ["BROWSERS", "export_pdf", "find_browser"]

#: executables tried, in order, on ``PATH``
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    """Path of a Chromium/Chrome executable on ``PATH``, or ``None``."""
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def _unavailable() -> CartpkError:
    return CartpkError(
        "PDF export needs a Chromium or Chrome browser on PATH; none was found.",
        [
            Violation(
                "pdf_browser_missing",
                "no browser to print the report with",
                expected="one of " + ", ".join(BROWSERS) + " on PATH",
                fix="install Debian's `chromium` package (apt-get install chromium), or drop "
                "`--pdf` and print the HTML report from any browser",
            )
        ],
    )


def export_pdf(
    html: str | os.PathLike[str], pdf: str | os.PathLike[str], *, timeout: float = 180.0
) -> Path:
    """Print an HTML report to PDF with headless Chromium; the PDF is written atomically.

    Parameters
    ----------
    html : path
        The report written by :func:`cartpk.report.build_report`.
    pdf : path
        PDF file to write (replaced if it exists).
    timeout : float, default 180
        Seconds to wait for the browser.

    Returns
    -------
    pathlib.Path
        The PDF written.

    Raises
    ------
    CartpkError
        ``pdf_browser_missing`` (no browser on PATH) or ``pdf_export_failed`` (the browser
        failed or wrote no PDF; its message is included).
    """
    browser = find_browser()
    if browser is None:
        raise _unavailable()
    src = Path(html).resolve()
    dest = Path(pdf)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    profile = tempfile.mkdtemp(prefix="cartpk-pdf-")
    try:
        proc = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "--no-pdf-header-footer",
                f"--print-to-pdf={tmp}",
                src.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if (
            proc.returncode != 0
            or tmp.stat().st_size == 0
            or not tmp.read_bytes().startswith(b"%PDF")
        ):
            raise CartpkError(
                "The browser did not print the report to PDF.",
                [
                    Violation(
                        "pdf_export_failed",
                        f"{Path(browser).name} exited with {proc.returncode}",
                        value=(proc.stderr or "").strip()[-400:],
                        fix="open the HTML report in a browser and print it to PDF",
                    )
                ],
            )
        os.replace(tmp, dest)
    except subprocess.TimeoutExpired as err:
        raise CartpkError(
            "The browser did not print the report to PDF in time.",
            [
                Violation(
                    "pdf_export_failed",
                    f"no PDF after {timeout:g} s",
                    fix="retry, or print the HTML report from a browser",
                )
            ],
        ) from err
    finally:
        tmp.unlink(missing_ok=True)
        shutil.rmtree(profile, ignore_errors=True)
    return dest
