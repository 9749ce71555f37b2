"""The conversion of a test module's study, shared by its tests."""

from __future__ import annotations

import pytest

from cartpk.cdisc import Conversion


@pytest.fixture(scope="module")
def conv(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Conversion:
    """The study of the test module converted once: its ``STUDY`` is ``(write, read)``, a
    function writing the study into a folder and the reader of the folder. The tests only
    read the conversion."""
    write, read = request.module.STUDY
    return read(write(tmp_path_factory.mktemp("study")))
