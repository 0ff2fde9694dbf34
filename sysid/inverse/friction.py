"""Joint friction models for the inverse-dynamics loss (torque in N m, velocity qd in rad/s).

* ``viscous``:  f_v qd
* ``coulomb``:  f_c tanh(qd / COULOMB_WIDTH)  (a smoothed sign)
* ``offset``:   f_o  (a constant torque: sensor offset, unbalanced cable)
* ``sigmoid``:  phi1 / (1 + exp(-phi2 (qd + phi3))) - phi1 / (1 + exp(-phi2 phi3))   (Gaz et al. 2019, the
  Franka Panda's identified model: a smooth Coulomb level phi1 reached over about 1 / phi2 rad/s, shifted by phi3)

The first three are linear in their coefficient (regressor columns); the sigmoid is not and is
fitted by the nonlinear solve, started from the linear solve's Coulomb level.
"""

from __future__ import annotations

import numpy as np

from sysid.errors import UserError

MODELS = ("viscous", "coulomb", "offset", "sigmoid")
LINEAR = ("viscous", "coulomb", "offset")
COULOMB_WIDTH = 0.01  # rad/s: the smoothed sign reaches 76% at this speed


def check_models(models) -> tuple[str, ...]:
    """The config's friction list, validated (order kept, duplicates removed)."""
    if isinstance(models, str):
        models = [m.strip() for m in models.split(",") if m.strip()]
    if not isinstance(models, (list, tuple)) or any(m not in MODELS for m in models):
        raise UserError(f"config: inverse.friction must be a list of {', '.join(MODELS)}, got {models!r}")
    if "sigmoid" in models and "coulomb" in models:
        raise UserError("config: inverse.friction: sigmoid already has a Coulomb level; list coulomb or sigmoid, not both")
    return tuple(dict.fromkeys(models))


def column(model: str, qd: np.ndarray) -> np.ndarray:
    """(N,) velocity -> (N,) the torque of a linear friction model per unit coefficient."""
    if model == "viscous":
        return qd
    if model == "coulomb":
        return np.tanh(qd / COULOMB_WIDTH)
    if model == "offset":
        return np.ones_like(qd)
    raise ValueError(model)


def sigmoid(qd: np.ndarray, phi1: float, phi2: float, phi3: float) -> np.ndarray:
    """(N,) velocity -> (N,) Gaz et al.'s sigmoid friction torque (zero at qd = 0)."""
    return phi1 * (_logistic(phi2 * (qd + phi3)) - _logistic(phi2 * phi3))


def _logistic(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))
