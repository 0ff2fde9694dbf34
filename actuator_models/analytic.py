"""Analytic actuator models: ideal PD, delayed PD, DC motor, friction (config + model pairs).

Every model maps a (B,) batch of commands and joint states to (B,) joint torques (N m for a hinge,
N for a slide joint). Numbers listed by `param_info()` may differ per row (each candidate of a fit
has its own); the other fields are settings shared by all rows. `gain` is a per-log setting for
servos whose firmware P gain changes between recordings (it multiplies the P term only).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Literal

import numpy as np

from actuator_models.base import ParamInfo, row_values

FACTOR = 10.0  # default search range: [value / 10, value * 10] (from 0 when the value is 0)


def _around(value: float, unit: str, fallback_upper: float) -> ParamInfo:
    """Default bounds for a nonnegative number whose starting value is `value`."""
    if value > 0:
        return ParamInfo(unit, value / FACTOR, value * FACTOR)
    return ParamInfo(unit, 0.0, fallback_upper)


@dataclasses.dataclass(frozen=True)
class IdealPDConfig:
    """Ideal PD servo: tau = clip(gain * pd_kp * (command - q) - pd_kd * qd, -effort_limit, effort_limit).

    Attributes:
      pd_kp: N m/rad (N/m for slides) per unit of `gain`; fitted by default.
      pd_kd: N m s/rad; fitted by default.
      effort_limit: N m, torque saturation (inf: none).
      gain: dimensionless multiplier of the P term (a servo's firmware gain; per log).
    """

    pd_kp: float = 10.0
    pd_kd: float = 0.1
    effort_limit: float = math.inf
    gain: float = 1.0

    def __post_init__(self):
        if self.pd_kp <= 0 or self.pd_kd < 0 or not self.effort_limit > 0:
            raise ValueError(f"{type(self).__name__}: need pd_kp > 0, pd_kd >= 0, effort_limit > 0, got {self}")

    def param_info(self) -> dict[str, ParamInfo]:
        return {"pd_kp": _around(self.pd_kp, "N m/rad", 100.0), "pd_kd": _around(self.pd_kd, "N m s/rad", 10.0)}

    def default_fit(self) -> tuple[str, ...]:
        return ("pd_kp", "pd_kd")

    def build(self) -> "IdealPD":
        return IdealPD(self)


class IdealPD:
    """See `IdealPDConfig`."""

    def __init__(self, config: IdealPDConfig):
        self.config = config

    def reset(self, batch: int, dt: float, params: Mapping[str, np.ndarray] | None = None) -> None:
        self.kp = row_values(self.config, params, "gain", batch) * row_values(self.config, params, "pd_kp", batch)
        self.kd = row_values(self.config, params, "pd_kd", batch)
        self.limit = row_values(self.config, params, "effort_limit", batch)

    def target(self, command: np.ndarray) -> np.ndarray:
        """(B,) position target seen now (the command itself; delayed in `DelayedPD`)."""
        return command

    def compute(self, command: np.ndarray, q: np.ndarray, qd: np.ndarray) -> np.ndarray:
        tau = self.kp * (self.target(command) - q) - self.kd * qd
        return np.clip(tau, -self.limit, self.limit)


@dataclasses.dataclass(frozen=True)
class DelayedPDConfig(IdealPDConfig):
    """PD servo acting on the command issued `pd_delay` seconds ago (fractional: interpolated
    between control steps), then saturating like `IdealPDConfig`.

    Attributes:
      pd_delay: s, fitted by default; at most `max_delay`.
      max_delay: s, the longest delay the command history keeps.
    """

    pd_delay: float = 0.01
    max_delay: float = 0.1

    def __post_init__(self):
        super().__post_init__()
        if not 0 <= self.pd_delay <= self.max_delay:
            raise ValueError(f"DelayedPDConfig: need 0 <= pd_delay <= max_delay, got {self.pd_delay}, {self.max_delay}")

    def param_info(self) -> dict[str, ParamInfo]:
        return {**super().param_info(), "pd_delay": ParamInfo("s", 0.0, self.max_delay)}

    def default_fit(self) -> tuple[str, ...]:
        return ("pd_kp", "pd_kd", "pd_delay")

    def build(self) -> "DelayedPD":
        return DelayedPD(self)


class DelayedPD(IdealPD):
    """See `DelayedPDConfig`. Before the first command the first one holds (the robot held it)."""

    def reset(self, batch: int, dt: float, params: Mapping[str, np.ndarray] | None = None) -> None:
        super().reset(batch, dt, params)
        steps = np.clip(row_values(self.config, params, "pd_delay", batch), 0.0, self.config.max_delay) / dt
        self.whole = np.floor(steps).astype(int)
        self.frac = steps - self.whole
        self.history: np.ndarray | None = None  # (B, H) commands, newest first
        self.length = int(math.ceil(self.config.max_delay / dt)) + 2
        self.rows = np.arange(batch)

    def target(self, command: np.ndarray) -> np.ndarray:
        if self.history is None:
            self.history = np.repeat(np.asarray(command, float)[:, None], self.length, axis=1)
        else:
            self.history = np.roll(self.history, 1, axis=1)
            self.history[:, 0] = command
        now, before = self.history[self.rows, self.whole], self.history[self.rows, self.whole + 1]
        return (1.0 - self.frac) * now + self.frac * before


@dataclasses.dataclass(frozen=True)
class DCMotorConfig:
    """DC motor behind an H-bridge: tau = kt * i, i = clip((duty * vin - kt * qd) / R, +-max_current).

    With `command="position"` the firmware turns a position target into a duty cycle,
    duty = clip(duty_gain * gain * (command - q), +-max_duty) (a servo's P loop, e.g. Dynamixel);
    with `command="duty"` the command is the duty cycle in [-1, 1] (a PWM-driven motor).
    The back-EMF kt * qd and the voltage limit max_duty * vin give the torque-speed line.
    `load_friction` adds gearbox friction that grows with the load (Duclusaud et al. 2025, BAM):
    tau -= load_friction * |tau| * tanh(qd / smooth_vel).

    Attributes:
      kt: N m/A (= V s/rad), torque constant at the joint; fitted by default.
      R: ohm, winding resistance; fitted by default.
      vin: V, supply voltage (or the logged voltage, read every control step: `inputs: {vin: ACTUATOR}`).
      duty_gain: duty cycle per rad of position error per unit of `gain`.
      gain: firmware P gain (per log).
      max_duty: duty-cycle limit in (0, 1].
      max_current: A, current limit (inf: none).
      command: what the command is: a position target (rad) or a duty cycle.
      load_friction: dimensionless, friction torque per N m of motor torque while moving.
      smooth_vel: rad/s, width of the tanh that replaces sign(qd) in the load friction.
    """

    kt: float = 0.3
    R: float = 4.0
    vin: float = 12.0
    duty_gain: float = 1.0
    gain: float = 1.0
    max_duty: float = 1.0
    max_current: float = math.inf
    command: Literal["position", "duty"] = "position"
    load_friction: float = 0.0
    smooth_vel: float = 0.05

    def __post_init__(self):
        if self.kt <= 0 or self.R <= 0 or self.vin <= 0 or not 0 < self.max_duty <= 1 or not self.max_current > 0:
            raise ValueError(f"DCMotorConfig: need kt, R, vin, max_current > 0 and 0 < max_duty <= 1, got {self}")
        if not 0 <= self.load_friction <= 0.99 or self.smooth_vel <= 0:
            raise ValueError(f"DCMotorConfig: need 0 <= load_friction <= 0.99 and smooth_vel > 0, got {self}")
        if self.command not in ("position", "duty"):
            raise ValueError(f"DCMotorConfig: command must be 'position' or 'duty', got {self.command!r}")

    def param_info(self) -> dict[str, ParamInfo]:
        return {"kt": _around(self.kt, "N m/A", 10.0), "R": _around(self.R, "ohm", 100.0),
                "duty_gain": _around(self.duty_gain, "1/rad", 10.0), "max_current": _around(min(self.max_current, 1e3), "A", 100.0),
                "load_friction": ParamInfo("1", 0.0, 0.99, log=False)}

    def default_fit(self) -> tuple[str, ...]:
        return ("kt", "R")

    def logged_inputs(self) -> tuple[str, ...]:
        """Settings that may be read from a logged column every control step (see `Binding.inputs`)."""
        return ("vin",)

    def build(self) -> "DCMotor":
        return DCMotor(self)


class DCMotor:
    """See `DCMotorConfig`."""

    def __init__(self, config: DCMotorConfig):
        self.config = config

    def reset(self, batch: int, dt: float, params: Mapping[str, np.ndarray] | None = None) -> None:
        get = lambda name: row_values(self.config, params, name, batch)  # noqa: E731
        self.kt, self.R, self.vin, self.max_current = get("kt"), get("R"), get("vin"), get("max_current")
        self.duty_per_error = get("duty_gain") * get("gain")
        self.max_duty = get("max_duty")
        self.load_friction, self.smooth = np.clip(get("load_friction"), 0.0, 0.99), get("smooth_vel")
        self._lossy = bool(self.load_friction.any())  # skip the friction term per step when it is 0

    def compute(self, command: np.ndarray, q: np.ndarray, qd: np.ndarray) -> np.ndarray:
        raw = command if self.config.command == "duty" else self.duty_per_error * (command - q)
        duty = np.clip(raw, -self.max_duty, self.max_duty)
        current = np.clip((duty * self.vin - self.kt * qd) / self.R, -self.max_current, self.max_current)
        tau = self.kt * current
        if not self._lossy:
            return tau
        return tau - self.load_friction * np.abs(tau) * np.tanh(qd / self.smooth)


@dataclasses.dataclass(frozen=True)
class FrictionConfig:
    """Joint friction, smooth: tau = -(coulomb + stribeck * exp(-(qd / stribeck_vel)^2)) * tanh(qd / smooth_vel)
    - viscous * qd. Ignores the command; add it to a motor model on the same target.

    Attributes:
      coulomb: N m, sliding friction; fitted by default.
      viscous: N m s/rad; fitted by default.
      stribeck: N m, extra friction near rest (static = coulomb + stribeck); fitted by default.
      stribeck_vel: rad/s, speed over which the extra friction fades; fitted by default.
      smooth_vel: rad/s, width of the tanh that replaces sign(qd). Explicit integration needs
        smooth_vel >~ dt * (coulomb + stribeck) / inertia, else the torque chatters at rest.
    """

    coulomb: float = 0.05
    viscous: float = 0.01
    stribeck: float = 0.0
    stribeck_vel: float = 0.2
    smooth_vel: float = 0.02

    def __post_init__(self):
        if min(self.coulomb, self.viscous, self.stribeck) < 0 or self.stribeck_vel <= 0 or self.smooth_vel <= 0:
            raise ValueError(f"FrictionConfig: need coulomb, viscous, stribeck >= 0 and stribeck_vel, smooth_vel > 0, got {self}")

    def param_info(self) -> dict[str, ParamInfo]:
        return {"coulomb": _around(self.coulomb, "N m", 1.0), "viscous": _around(self.viscous, "N m s/rad", 1.0),
                "stribeck": _around(self.stribeck, "N m", 1.0), "stribeck_vel": _around(self.stribeck_vel, "rad/s", 10.0)}

    def default_fit(self) -> tuple[str, ...]:
        return ("coulomb", "viscous", "stribeck", "stribeck_vel")

    def build(self) -> "Friction":
        return Friction(self)


class Friction:
    """See `FrictionConfig`."""

    def __init__(self, config: FrictionConfig):
        self.config = config

    def reset(self, batch: int, dt: float, params: Mapping[str, np.ndarray] | None = None) -> None:
        get = lambda name: row_values(self.config, params, name, batch)  # noqa: E731
        self.coulomb, self.viscous, self.stribeck, self.vs = get("coulomb"), get("viscous"), get("stribeck"), get("stribeck_vel")
        self.smooth = get("smooth_vel")

    def compute(self, command: np.ndarray, q: np.ndarray, qd: np.ndarray) -> np.ndarray:
        level = self.coulomb + self.stribeck * np.exp(-((qd / self.vs) ** 2))
        return -level * np.tanh(qd / self.smooth) - self.viscous * qd
