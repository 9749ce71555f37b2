"""The cartpk model catalogue: one file per published model, citing the source of every number.

Shipped inside the wheel as ``cartpk._catalogue``; load a model with
``cartpk.load_model("<file name>")`` and list them with ``cartpk.list_models()``.
Files use only the public API of :mod:`cartpk.model`.
"""
