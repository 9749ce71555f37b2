"""DATA: read a NONMEM/Monolix-style long table into a validated :class:`Dataset`."""

from cartpk.data._dataset import Dataset as Dataset
from cartpk.data._endpoints import DEFAULT_ENDPOINTS as DEFAULT_ENDPOINTS
from cartpk.data._endpoints import Endpoint as Endpoint
from cartpk.data._read import check_dataset as check_dataset
from cartpk.data._read import read_dataset as read_dataset

__all__ = ["DEFAULT_ENDPOINTS", "Dataset", "Endpoint", "check_dataset", "read_dataset"]
