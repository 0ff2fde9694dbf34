"""The YAML fit config (`--config fit.yaml`): parameter bounds and how the fit runs.

Example:

    params:                       # glob over canonical names -> initial / lower / upper
      damping@*: {upper: 2.0}
      mass@upper: {initial: 1.0, lower: 0.5, upper: 3.0}
      delay: {upper: 0.05}
    horizons: [0.25, 1.0]         # s, window length of each stage, shortest first
    max_windows: 32               # windows per early stage
    optimizer: cmaes+lsq
    optimizer_options:
      cmaes: {popsize: 12, max_evaluations: 800}
      lsq: {max_iterations: 30}
    refine_states: true
    seed: 0
    starts: 1                     # independent fits from seeds seed, seed + 1, ...; the lowest loss is kept
    convert:                      # turn actuators into MuJoCo dcmotor / pid ones for the fit (docs/native-actuators.md)
      shoulder_motor: {to: dcmotor, motorconst: 0.05, resistance: 1.2, controller: [0, 0, 0, 0, 0, 24]}
    local_first: true             # least squares tries first; the global search runs only if it does not explain the logs
    loss: linear                  # or huber, soft_l1, cauchy: robust against outliers in the logs
    repair: {stale: interpolate, glitch: interpolate, wrap: unwrap}   # log defects (sysid.data.repair)
    inverse:                      # --objective inverse | forward+inverse (docs/inverse-dynamics.md)
      friction: [viscous, coulomb, offset]
      filter: {method: butterworth, cutoff_hz: 10, block_s: 1.0}
      weight: 1.0                 # forward+inverse: the torque residuals' weight beside the rollout's
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from sysid.errors import UserError
from sysid.fit import FitConfig
from sysid.native import Conversion, parse_conversions
from sysid.inputs import excerpt, load_yaml

RUN_KEYS = {f.name for f in dataclasses.fields(FitConfig)}


@dataclasses.dataclass(frozen=True)
class ConfigFile:
    """A parsed config file: parameter overrides and FitConfig fields."""

    params: dict[str, dict[str, Any]]
    run: dict[str, Any]
    convert: tuple[Conversion, ...] = ()
    repair: Any = None  # the `repair:` rules for the logs (`sysid.data.repair.parse_rules`)
    inverse: Any = None  # the `inverse:` options of --objective inverse (`sysid.inverse.InverseOptions.from_config`)


def load_config(path: str | os.PathLike | None) -> ConfigFile:
    """Read and validate a config file (None: the defaults). Raises UserError naming the file and key."""
    if path is None:
        return ConfigFile({}, {})
    raw = load_yaml(path, what="config file")
    if raw is None:
        return ConfigFile({}, {})
    if not isinstance(raw, dict):
        raise UserError(f"{path}: the config must be a mapping of keys to values, got {type(raw).__name__}")
    unknown = sorted(set(raw) - RUN_KEYS - {"params", "convert", "repair", "inverse"})
    if unknown:
        raise UserError(f"{path}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: convert, inverse, params, repair, "
                        f"{', '.join(sorted(RUN_KEYS))}")
    params = raw.get("params") or {}
    if not isinstance(params, dict) or not all(isinstance(v, dict) for v in params.values()):
        raise UserError(f"{path}: 'params' must map parameter names or globs to {{initial, lower, upper}}")
    run = {k: v for k, v in raw.items() if k not in ("params", "convert", "repair", "inverse")}
    if "horizons" in run:
        try:
            run["horizons"] = tuple(float(h) for h in run["horizons"])
        except (TypeError, ValueError):
            raise UserError(f"{path}: 'horizons' must be a list of seconds, got {excerpt(run['horizons'])}") from None
    for key, kind in (("max_windows", int), ("starts", int), ("shrink", (int, float)), ("seed", int), ("nthread", int), ("refine_states", bool), ("local_first", bool), ("optimizer", str), ("optimizer_options", dict), ("loss", str)):
        if key in run and run[key] is not None and not isinstance(run[key], kind):
            expected = "a number" if isinstance(kind, tuple) else kind.__name__
            raise UserError(f"{path}: '{key}' must be {expected}, got {excerpt(run[key])}")
    if raw.get("inverse") is not None and not isinstance(raw["inverse"], dict):
        raise UserError(f"{path}: 'inverse' must map friction, filter, prior_std, bootstrap, weight to values")
    return ConfigFile(params, run, parse_conversions(raw["convert"], str(path)) if raw.get("convert") else (), raw.get("repair"),
                      raw.get("inverse"))
