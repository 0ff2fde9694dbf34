"""The actuator-model protocol, as in Isaac Lab's `actuators/`: a config dataclass + a class with
`reset` and `compute`.

A config (a frozen dataclass) holds every setting with its unit; `config.build()` returns the
model. A model works on a batch of B independent rows (candidates x windows of a fit, or
environments) of ONE actuator:

    model.reset(batch, dt, params)       # B rows, dt: s between compute calls, params: name -> (B,)
    tau = model.compute(command, q, qd)  # (B,) command, (B,) joint pos / vel -> (B,) torque in N m

`params` may hold one value per row for entries of `config.param_info()` (the numbers a fit may
change), so each candidate of a fit runs with its own values; the others come from the config. Everything is numpy; models that
run torch networks convert at their boundary.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Protocol

import numpy as np


@dataclasses.dataclass(frozen=True)
class ParamInfo:
    """A number of an actuator model that a fit may change.

    Attributes:
      unit: for reports, e.g. "N m/A".
      lower, upper: default search bounds, in `unit`.
      log: search log(value) (positive quantities; lower may be 0) instead of value.
    """

    unit: str
    lower: float
    upper: float
    log: bool = True


class ActuatorModel(Protocol):
    """A batched actuator model (see the module docstring)."""

    def reset(self, batch: int, dt: float, params: Mapping[str, np.ndarray] | None = None) -> None:
        """Start `batch` new rollouts; `dt`: s between `compute` calls; `params`: name -> (batch,) values."""
        ...

    def compute(self, command: np.ndarray, q: np.ndarray, qd: np.ndarray) -> np.ndarray:
        """(B,) command, (B,) joint position (rad or m), (B,) velocity -> (B,) joint torque (N m or N)."""
        ...


class ActuatorConfig(Protocol):
    """A frozen dataclass of settings that builds an `ActuatorModel`."""

    def param_info(self) -> dict[str, ParamInfo]:
        """The numbers a fit may change, by name; their values default to the config's fields."""
        ...

    def default_fit(self) -> tuple[str, ...]:
        """The names fitted when the user names the model without choosing."""
        ...

    def build(self) -> ActuatorModel:
        ...


def row_values(config: object, params: Mapping[str, np.ndarray] | None, name: str, batch: int) -> np.ndarray:
    """(batch,) values of `name`: from `params` when given there, else the config's field."""
    if params is not None and name in params:
        return np.broadcast_to(np.asarray(params[name], float), (batch,)).copy()
    return np.full(batch, float(getattr(config, name)))
