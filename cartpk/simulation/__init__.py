"""Simulation of virtual trials from a model declaration (see :func:`cartpk.simulate`)."""

from cartpk.simulation._simulate import SEED_DESIGN as SEED_DESIGN
from cartpk.simulation._simulate import simulate as simulate
from cartpk.simulation._simulate import simulate_parameters as simulate_parameters
from cartpk.simulation._simulate import simulate_typical as simulate_typical

__all__ = ["SEED_DESIGN", "simulate", "simulate_parameters", "simulate_typical"]
