"""Gaussian priors on parameters (MAP estimation), from the fit config.

    priors:
      mass@upper: {mean: 1.2, std: 0.1}     # kg: a mass known from CAD to about 10%
      damping@*: {mean: 0.3, std: 0.3}

Each prior adds one residual (value - mean) / std to the objective's residual vector, in the
parameter's unit. Every optimizer, the Jacobian and the uncertainty see it like any other
residual: the fit is the maximum a posteriori estimate, and a prior narrows the interval of a
parameter that the data alone cannot identify.

`ExtraResiduals` appends residuals of another objective the same way (the inverse-dynamics torque
residuals of `--objective forward+inverse`).

Shrinkage toward the starting model (`shrink` in the config, `--shrink`) is a prior of the same
form on every parameter, in the search box u in [0, 1]^n: one residual w (u - u0) each, u0 the
initial values. Its weight is scale-free: with strength s, moving every parameter across its
whole range costs s times the stage's initial misfit (w^2 = s * sum(r0^2) / n), so one strength
means the same on a short log and a long one (`Priors.with_shrink`).
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
    shrink_weight: float = 0.0
    shrink_center: np.ndarray | None = None
    params: ParamSet | None = None
    extra: "ExtraResiduals | None" = None

    @classmethod
    def none(cls) -> Priors:
        return cls(np.zeros(0, int), np.zeros(0), np.zeros(0))

    def with_shrink(self, strength: float, params: ParamSet, initial_residuals: np.ndarray) -> Priors:
        """These priors plus shrinkage of strength `strength` toward params.initial.

        Args:
          strength: >= 0; 0 returns these priors unchanged.
          initial_residuals: (m,) the stage's data residuals at the initial values (noise units);
            entries of diverged windows are left out of the scale.
        """
        if strength <= 0 or not len(params):
            return self
        from sysid.loss import DIVERGED_RESIDUAL

        r = np.asarray(initial_residuals, float)
        r = r[np.isfinite(r) & (np.abs(r) < DIVERGED_RESIDUAL)]
        weight = float(np.sqrt(strength * max(float(r @ r), 1.0) / len(params)))
        return dataclasses.replace(self, shrink_weight=weight, shrink_center=params.to_unit(params.initial), params=params)

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
        return len(self.index) + (len(self.shrink_center) if self.shrink_weight > 0 else 0) + (self.extra.size if self.extra else 0)

    def residuals(self, values: np.ndarray) -> np.ndarray:
        """(B, n) parameter values -> (B, k) prior residuals: (value - mean) / std, then the shrinkage's."""
        values = np.atleast_2d(values)
        r = (values[:, self.index] - self.mean) / self.std
        if self.shrink_weight > 0:
            r = np.concatenate([r, self.shrink_weight * (self.params.to_unit(values) - self.shrink_center)], axis=1)
        if self.extra:
            r = np.concatenate([r, self.extra(values)], axis=1)
        return r


@dataclasses.dataclass(frozen=True)
class ExtraResiduals:
    """More residuals that depend on the parameters only, appended like priors: e.g. the
    inverse-dynamics torque residuals of `--objective forward+inverse` (`sysid.inverse.run`).

    Attributes:
      function: (B, n) values -> (B, size) residuals in noise units (already weighted).
      size: residuals per candidate.
    """

    function: Any
    size: int

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return self.function(values)
