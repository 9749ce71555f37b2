"""Package layout that pyproject.toml cannot express: the catalogue folder as a subpackage.

Everything else (metadata, dependencies, entry points) is in pyproject.toml. ``models/``
(one file per published model) is installed as ``cartpk._catalogue``; cartpk's loader
finds it there, or in ``models/`` when running from an uninstalled source tree.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["cartpk", "cartpk.*"]), "cartpk._catalogue"],
    package_dir={"cartpk._catalogue": "models"},
)
