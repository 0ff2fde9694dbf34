"""Inverse-dynamics identification for robots that measure joint torque (`--objective inverse`).

`signals` filters the logs, `regressor` builds the torque regressor from `mujoco.mj_inverse` and its
base parameters, `friction` holds the friction models, `solve` the linear and the physically
consistent solves, `intervals` the standard errors that admit model error.
"""

from sysid.inverse.signals import FilterSpec, Samples, prepare
from sysid.inverse.solve import InverseOptions, InverseResult, fit_inverse

__all__ = ["FilterSpec", "InverseOptions", "InverseResult", "Samples", "fit_inverse", "prepare"]
