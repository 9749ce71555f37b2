"""CDISC SDTM and ADaM datasets in: cartpk's long table, lesion table and conversion record.

Stage ``cdisc`` sits right after ``data``: it reads the datasets of a folder
(:func:`read_domains`) and writes the tables that :func:`cartpk.read_dataset` and
:func:`cartpk.response.validate_lesions` read, with ``conversion.csv`` saying what became of
every source record.
"""

from cartpk.cdisc._adam import read_adam
from cartpk.cdisc._files import FORMATS, Domain, read_domain_file, read_domains
from cartpk.cdisc._lesions import adam_lesions, sdtm_lesions
from cartpk.cdisc._log import ConversionLog
from cartpk.cdisc._map import DEFAULT_MAP, AnalyteMap, read_map
from cartpk.cdisc._result import Conversion
from cartpk.cdisc._sdtm import read_sdtm

__all__ = [
    "DEFAULT_MAP",
    "FORMATS",
    "AnalyteMap",
    "Conversion",
    "ConversionLog",
    "Domain",
    "adam_lesions",
    "read_adam",
    "read_domain_file",
    "read_domains",
    "read_map",
    "read_sdtm",
    "sdtm_lesions",
]
