"""Gaussian priors on parameters (MAP estimation), from the fit config.

    priors:
      mass@upper: {mean: 1.2, std: 0.1}     # kg: a mass known from CAD to about 10%
      damping@*: {mean: 0.3, std: 0.3}

Each prior adds one residual (value - mean) / std to the objective's residual vector, in the
parameter's unit. Every optimizer, the Jacobian and the uncertainty see it like any other
residual: the fit is the maximum a posteriori estimate, and a prior narrows the interval of a
parameter that the data alone cannot identify.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Mapping
from typing import Any

import numpy as np

from sysid.errors import UserError
from sysid.params import ParamSet

KEYS = ("mean", "std")


def check_priors(priors: Mapping[str, Any]) -> None:
    """Validate the config's `priors` mapping: {name or glob: {mean: float, std: float > 0}}.

    Raises UserError naming the entry.
    """
    if not isinstance(priors, Mapping):
        raise UserError(f"config: 'priors' must map parameter names to {{mean, std}}, got {priors!r}")
    for pattern, entry in priors.items():
        if not isinstance(entry, Mapping) or set(entry) != set(KEYS):
            raise UserError(f"config: priors.{pattern} must be {{mean: <value>, std: <value>}}, got {entry!r}")
        for key in KEYS:
            value = entry[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
                raise UserError(f"config: priors.{pattern}.{key} must be a finite number, got {value!r}")
        if entry["std"] <= 0:
            raise UserError(f"config: priors.{pattern}.std must be positive, got {entry['std']!r}")


@dataclasses.dataclass(frozen=True)
class Priors:
    """Priors resolved against a parameter set.

    Attributes:
      index: (k,) which parameters have a prior.
      mean, std: (k,) prior mean and standard deviation, in each parameter's unit.
    """

    index: np.ndarray
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def none(cls) -> Priors:
        return cls(np.zeros(0, int), np.zeros(0), np.zeros(0))

    @classmethod
    def from_config(cls, priors: Mapping[str, Mapping[str, float]], params: ParamSet) -> Priors:
        """Match the config's globs to parameter names (the first matching entry wins)."""
        check_priors(priors)
        names = params.names
        found: dict[int, tuple[float, float]] = {}
        for pattern, entry in priors.items():
            hits = [i for i, n in enumerate(names) if fnmatch.fnmatchcase(n, pattern)]
            if not hits:
                raise UserError(f"config: 'priors' entry {pattern!r} matches none of the fitted parameters {names}")
            for i in hits:
                found.setdefault(i, (float(entry["mean"]), float(entry["std"])))
        index = np.array(sorted(found), int)
        return cls(index, np.array([found[i][0] for i in index]), np.array([found[i][1] for i in index]))

    def __len__(self) -> int:
        return len(self.index)

    def residuals(self, values: np.ndarray) -> np.ndarray:
        """(B, n) parameter values -> (B, k) prior residuals (value - mean) / std."""
        return (np.atleast_2d(values)[:, self.index] - self.mean) / self.std
