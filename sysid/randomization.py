"""Domain randomization from a fit's uncertainty: `randomization.yaml`, read, written and sampled.

Every parameter of a fit becomes an independent, truncated distribution:

* ``normal``: x ~ Normal(centre, scale^2) truncated to [lower, upper]; `scale` in the parameter's unit.
* ``lognormal``: log(x) ~ Normal(log(centre), scale^2) truncated to [log(lower), log(upper)];
  `scale` is dimensionless (about the relative spread: 0.05 is +-5%).

`scale` combines two measures of how much a parameter is uncertain, in quadrature:
sqrt((widen x fit_std)^2 + spread_std^2), never below `min_width` x |centre| (for a lognormal, all
divided by the value). `fit_std` is the fit's standard error (the Jacobian's: how well the logs
pin the value down if the model were right), or, where result.json also gives a `robust_std`
(standard errors that admit model error, `--objective inverse`), the larger of the two; `spread_std`
is the standard deviation of the value across logs (per-log refits, result.json `spread`) or across
cross-validation folds (`cv`): how much it moves between runs, usually far more than the standard
error says. `min_width` is the floor (`sysid export --min-width`, relative).
A positive quantity (masses, damping, friction, armature, gains, the delay, ...) is lognormal
unless its fitted value is 0 or its relative scale exceeds `MAX_LOG_SCALE`, where a normal is
the better description. `mean` and `std` are the moments of the truncated distribution (what
sampling reproduces), for trainers that only offer a Gaussian or a uniform range.
`inertia@BODY` is a factor on calibrated.xml's inertia tensor, which already holds the fitted
factor, so its centre is 1. The standard errors are marginal: correlations are not sampled.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import yaml
from scipy import special, stats

from sysid.errors import UserError
from sysid.params import KINDS

FORMAT = "sysid-randomization/1"
MAX_LOG_SCALE = 0.5  # a positive quantity with a larger relative scale is described by a normal
MIN_WIDTH = 0.01  # default floor of every scale relative to the fitted value (`sysid export --min-width`)
Distribution = Literal["normal", "lognormal"]

HEADER = """\
# Domain randomization ranges written by `sysid export` (format sysid-randomization/1).
# Draw every parameter independently, once per episode:
#   normal:    x ~ Normal(centre, scale^2), truncated to [lower, upper]                  (scale in `unit`)
#   lognormal: log(x) ~ Normal(log(centre), scale^2), truncated to [log(lower), log(upper)] (scale relative)
# centre is the fitted value; scale = max(sqrt((widen x fit_std)^2 + spread_std^2), min_width x |centre|)
# (for a lognormal, divided by centre): fit_std is the fit's standard error, spread_std the standard
# deviation of the value across logs or cross-validation folds (spread_source); mean and std are the
# moments of the truncated distribution. Names are KIND@TARGET of sysid's --params grammar:
# inertia@BODY is a factor on the inertia tensor in calibrated.xml (already calibrated, so centre 1);
# delay is the actuation delay in s (calibrated.xml carries its centre natively; a bundle removes it there
# and draws it): the plant sees at time t the command issued
# at t - delay, averaged over each model step (sysid.sim.held_controls).
"""


@dataclasses.dataclass(frozen=True)
class ParamDistribution:
    """One parameter's randomization.

    Attributes:
      name: canonical parameter name, e.g. "damping@elbow", "delay".
      distribution: "normal" or "lognormal" (see the module docstring).
      centre: the fitted value (the median of a lognormal), in `unit`.
      scale: std of the normal in `unit`, or std of log(x) for a lognormal; 0 holds x at `centre`.
      lower, upper: truncation bounds, in `unit`.
      fit_std: the fit's standard error, in `unit` (None where unknown).
      unit: the parameter's unit, for readers.
      spread_std: standard deviation of the value across logs or folds, in `unit` (None where unknown).
    """

    name: str
    distribution: Distribution
    centre: float
    scale: float
    lower: float
    upper: float
    fit_std: float | None = None
    unit: str = ""
    spread_std: float | None = None

    def __post_init__(self):
        if self.distribution not in ("normal", "lognormal"):
            raise UserError(f"{self.name}: distribution must be normal or lognormal, got {self.distribution!r}")
        values = (self.centre, self.scale, self.lower, self.upper)
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            raise UserError(f"{self.name}: centre, scale, lower and upper must be finite numbers, got {values}")
        if self.scale < 0 or not self.lower <= self.centre <= self.upper or self.lower >= self.upper:
            raise UserError(f"{self.name}: need scale >= 0 and lower <= centre <= upper, lower < upper; got "
                            f"centre {self.centre}, scale {self.scale}, bounds [{self.lower}, {self.upper}]")
        if self.distribution == "lognormal" and (self.centre <= 0 or self.lower < 0):
            raise UserError(f"{self.name}: a lognormal needs centre > 0 and lower >= 0, got centre {self.centre}, lower {self.lower}")

    def _standard(self) -> tuple[float, float, float, float]:
        """(mu, sigma, alpha, beta): the underlying normal and the standardised truncation bounds."""
        if self.distribution == "lognormal":
            mu = math.log(self.centre)
            lo = math.log(self.lower) if self.lower > 0 else -math.inf
            hi = math.log(self.upper)
        else:
            mu, lo, hi = self.centre, self.lower, self.upper
        return mu, self.scale, (lo - mu) / self.scale, (hi - mu) / self.scale

    def sample(self, rng: np.random.Generator, size: int | None = None) -> np.ndarray | float:
        """Draw `size` values (a float when size is None), in `unit`, within [lower, upper]."""
        if self.scale == 0:
            return self.centre if size is None else np.full(size, self.centre)
        mu, sigma, alpha, beta = self._standard()
        z = stats.truncnorm.rvs(alpha, beta, loc=mu, scale=sigma, size=size, random_state=rng)
        x = np.clip(np.exp(z) if self.distribution == "lognormal" else z, self.lower, self.upper)
        return float(x) if size is None else x

    def moments(self) -> tuple[float, float]:
        """(mean, std) of the truncated distribution, in `unit`."""
        if self.scale == 0:
            return self.centre, 0.0
        mu, sigma, alpha, beta = self._standard()
        if self.distribution == "normal":
            mean, var = stats.truncnorm.stats(alpha, beta, loc=mu, scale=sigma, moments="mv")
            return float(mean), float(math.sqrt(max(float(var), 0.0)))
        # E[x^k] = exp(k mu + k^2 sigma^2 / 2) P(alpha - k sigma < Z < beta - k sigma) / P(alpha < Z < beta)
        mass = _normal_mass(alpha, beta)
        m1 = math.exp(mu + sigma**2 / 2) * _normal_mass(alpha - sigma, beta - sigma) / mass
        m2 = math.exp(2 * mu + 2 * sigma**2) * _normal_mass(alpha - 2 * sigma, beta - 2 * sigma) / mass
        return m1, math.sqrt(max(m2 - m1**2, 0.0))

    def uniform_range(self, *, relative: bool = False) -> tuple[float, float]:
        """(low, high) of the uniform distribution with this one's mean and std (half-width sqrt(3) std),
        clipped to [lower, upper], in `unit`; `relative`: divided by `centre`, for trainers whose events
        scale the model's own value (Isaac Lab and mjlab `operation="scale"`, calibrated.xml holding the centre)."""
        mean, std = self.moments()
        low, high = max(mean - math.sqrt(3) * std, self.lower), min(mean + math.sqrt(3) * std, self.upper)
        if relative:
            if self.centre == 0:
                raise UserError(f"{self.name}: a centre of 0 has no relative range; use the absolute one")
            low, high = sorted((low / self.centre, high / self.centre))
        return low, high

    def to_dict(self) -> dict[str, Any]:
        mean, std = self.moments()
        return {"distribution": self.distribution, "centre": self.centre, "scale": self.scale, "lower": self.lower,
                "upper": self.upper, "mean": mean, "std": std, "fit_std": self.fit_std, "spread_std": self.spread_std,
                "unit": self.unit}


def _normal_mass(a: float, b: float) -> float:
    """P(a < Z < b) for a standard normal Z, accurate in either tail."""
    if a > 0:
        return float(special.ndtr(-a) - special.ndtr(-b))
    return float(special.ndtr(b) - special.ndtr(a))


@dataclasses.dataclass(frozen=True)
class Randomization:
    """All parameters' distributions (in result.json's order) and how they were derived.

    Attributes:
      params: name -> distribution.
      widen: the factor applied to the fit's standard errors.
      model: the model file the values refer to, relative to the YAML file.
      min_width: the floor of every scale relative to its centre.
      spread_source: where `spread_std` comes from ("per-log refits", "cross-validation folds"), or None.
    """

    params: dict[str, ParamDistribution]
    widen: float = 1.0
    model: str = "calibrated.xml"
    min_width: float = 0.0
    spread_source: str | None = None

    @property
    def centres(self) -> dict[str, float]:
        """name -> centre (the calibrated values)."""
        return {name: d.centre for name, d in self.params.items()}

    def sample(self, rng: np.random.Generator) -> dict[str, float]:
        """name -> one draw of every parameter."""
        return {name: float(d.sample(rng)) for name, d in self.params.items()}

    def to_yaml(self) -> str:
        body = {"format": FORMAT, "widen": self.widen, "min_width": self.min_width, "spread_source": self.spread_source,
                "model": self.model, "params": {name: d.to_dict() for name, d in self.params.items()}}
        return HEADER + yaml.safe_dump(body, sort_keys=False, width=120)


def from_result(result: Mapping[str, Any], *, widen: float = 2.0, min_width: float = MIN_WIDTH) -> Randomization:
    """Derive the randomization from result.json: `params` ({name: {value, std, lower, upper, ...}})
    and the spread of the values across logs (`spread`) or cross-validation folds (`cv`), see `spread`."""
    if not (isinstance(widen, (int, float)) and math.isfinite(widen) and widen > 0):
        raise UserError(f"--widen must be a positive number, got {widen}")
    if not (isinstance(min_width, (int, float)) and math.isfinite(min_width) and 0 <= min_width < 1):
        raise UserError(f"--min-width must be a fraction from 0 to 1 (e.g. 0.02 for 2% of the value), got {min_width}")
    spreads, source = spread(result)
    out = {}
    for name, p in result["params"].items():
        value, lower, upper = float(p["value"]), float(p["lower"]), float(p["upper"])
        std, moved = p.get("std"), spreads.get(name)
        robust = p.get("robust_std")  # admits model error (correlated residuals): the wider one sets the range
        if isinstance(robust, (int, float)) and math.isfinite(robust) and not (isinstance(std, (int, float)) and std >= robust):
            std = float(robust)
        known = isinstance(std, (int, float)) and math.isfinite(std)
        if not known and moved is None:
            warnings.warn(f"{name}: the fit gives no finite standard error; holding it at {value:g} "
                          "(edit its scale in randomization.yaml to randomize it)", stacklevel=2)
            scale = 0.0
        else:
            scale = max(math.hypot(widen * float(std) if known else 0.0, moved or 0.0), min_width * abs(value))
        kind = name.partition("@")[0]
        unit = KINDS[kind].unit if kind in KINDS else str(p.get("unit", ""))
        fit_std = float(std) if known else None
        if kind == "inertia":  # relative to calibrated.xml, which holds the fitted factor
            factor = value
            value, lower, upper, scale = 1.0, lower / factor, upper / factor, scale / factor
            fit_std = None if fit_std is None else fit_std / factor
            moved = None if moved is None else moved / factor
        positive = kind in KINDS and KINDS[kind].nonnegative is not None or kind == "gear" and lower > 0
        if positive and value > 0 and lower >= 0 and scale / value <= MAX_LOG_SCALE:
            dist = ParamDistribution(name, "lognormal", value, scale / value, lower, upper, fit_std, unit, moved)
        else:
            dist = ParamDistribution(name, "normal", value, scale, lower, upper, fit_std, unit, moved)
        out[name] = dist
    return Randomization(out, widen=float(widen), min_width=float(min_width), spread_source=source)


def spread(result: Mapping[str, Any]) -> tuple[dict[str, float], str | None]:
    """name -> standard deviation (ddof 1) of the value across logs or folds, and where it comes from.

    result.json's `spread` (per-log refits of a fit on several logs, `sysid.spread`) first, else its
    cross-validation folds' fitted values (`cv.folds[i].params`). Folds that share most of their
    training data move less than separate runs do, so a fold spread is a lower estimate.
    """
    entry = result.get("spread")
    if isinstance(entry, Mapping) and isinstance(entry.get("values"), Mapping):
        rows, source = entry["values"], str(entry.get("source", "per-log refits"))
    else:
        folds = (result.get("cv") or {}).get("folds") if isinstance(result.get("cv"), Mapping) else None
        if not isinstance(folds, list) or len(folds) < 2 or not all(isinstance(f, Mapping) and isinstance(f.get("params"), Mapping) for f in folds):
            return {}, None
        rows = {name: [f["params"].get(name) for f in folds] for name in folds[0]["params"]}
        source = "cross-validation folds"
    out = {}
    for name, values in rows.items():
        numbers = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)] if isinstance(values, list) else []
        if len(numbers) >= 2:
            out[str(name)] = float(np.std(numbers, ddof=1))
    return out, source if out else None


def load_randomization(path: str | os.PathLike) -> Randomization:
    """Read a randomization.yaml; a malformed file raises UserError naming the file and the entry."""
    from sysid.inputs import load_yaml

    data = load_yaml(path, what="randomization file")
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("params"), dict):
        raise UserError(f"{path}: not a sysid randomization file (expected 'format: {FORMAT}' and a 'params' mapping)")
    params = {}
    for name, entry in data["params"].items():
        if not isinstance(entry, dict):
            raise UserError(f"{path}: params.{name} must be a mapping with distribution, centre, scale, lower, upper")
        try:
            params[name] = ParamDistribution(
                str(name), entry.get("distribution"), _number(entry, "centre"), _number(entry, "scale"),
                _number(entry, "lower"), _number(entry, "upper"), entry.get("fit_std"), str(entry.get("unit", "")),
                entry.get("spread_std"))
        except (UserError, TypeError, ValueError) as error:
            raise UserError(f"{path}: params.{name}: {error}") from None
    return Randomization(params, widen=float(data.get("widen", 1.0)), model=str(data.get("model", "calibrated.xml")),
                         min_width=float(data.get("min_width") or 0.0), spread_source=data.get("spread_source"))


def _number(entry: dict, key: str) -> float:
    if key not in entry:
        raise ValueError(f"missing {key!r}")
    return float(entry[key])
