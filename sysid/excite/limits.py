"""The limits a plan must respect, and how close a trajectory comes to each of them.

Closeness is a ratio: how far a quantity moves from its rest value, as a fraction of the room
between the rest value and the bound on that side. A trajectory respects every limit when no
ratio exceeds 1; scaling an excursion by s scales its ratios by about s, which is how plans
are projected onto the limits (`sysid.excite.design`).
"""

from __future__ import annotations

import dataclasses

import mujoco
import numpy as np

from sysid.errors import UserError
from sysid.excite.actuation import Actuation

KINDS = ("position", "velocity", "acceleration", "ctrl", "force")


@dataclasses.dataclass(frozen=True)
class Limits:
    """Bounds over the actuated joints and their actuators, in actuator order (J,); +-inf where none.

    Attributes:
      pos_lo, pos_hi: (J,) rad or m: the joint range, intersected with start -+ amplitude.
      vel: (J,) rad/s or m/s, bound on |qvel|.
      acc: (J,) rad/s^2 or m/s^2, bound on |qacc|.
      ctrl_lo, ctrl_hi: (J,) the ctrlrange (command units).
      force_lo, force_hi: (J,) the actuator forcerange, intersected with the joint's actfrcrange / gear.
    """

    pos_lo: np.ndarray
    pos_hi: np.ndarray
    vel: np.ndarray
    acc: np.ndarray
    ctrl_lo: np.ndarray
    ctrl_hi: np.ndarray
    force_lo: np.ndarray
    force_hi: np.ndarray

    @classmethod
    def from_model(cls, model: mujoco.MjModel, act: Actuation, q_start: np.ndarray, *, max_vel: float = np.inf,
                   max_acc: float = np.inf, amplitude: float = np.inf) -> Limits:
        """Limits from the MJCF (joint range, ctrlrange, forcerange, actfrcrange) and the user's bounds."""
        joints = np.array([model.joint(name).id for name in act.joints])
        limited = model.jnt_limited[joints].astype(bool)
        pos_lo = np.maximum(np.where(limited, model.jnt_range[joints, 0], -np.inf), q_start - amplitude)
        pos_hi = np.minimum(np.where(limited, model.jnt_range[joints, 1], np.inf), q_start + amplitude)
        ctrl_on = model.actuator_ctrllimited.astype(bool)
        force_on = model.actuator_forcelimited.astype(bool)
        frc_on = model.jnt_actfrclimited[joints].astype(bool)
        gear = np.abs(act.gear)
        force_lo = np.maximum(np.where(force_on, model.actuator_forcerange[:, 0], -np.inf), np.where(frc_on, model.jnt_actfrcrange[joints, 0] / gear, -np.inf))
        force_hi = np.minimum(np.where(force_on, model.actuator_forcerange[:, 1], np.inf), np.where(frc_on, model.jnt_actfrcrange[joints, 1] / gear, np.inf))
        n = len(act.joints)
        return cls(
            pos_lo=pos_lo, pos_hi=pos_hi, vel=np.full(n, float(max_vel)), acc=np.full(n, float(max_acc)),
            ctrl_lo=np.where(ctrl_on, model.actuator_ctrlrange[:, 0], -np.inf),
            ctrl_hi=np.where(ctrl_on, model.actuator_ctrlrange[:, 1], np.inf),
            force_lo=force_lo, force_hi=force_hi,
        )

    def check_rest(self, act: Actuation, q_rest: np.ndarray, ctrl_rest: np.ndarray, force_rest: np.ndarray) -> None:
        """Raise UserError when the rest state already sits on or past a limit (J,) each."""
        for label, value, lo, hi, names in (
            ("position", q_rest, self.pos_lo, self.pos_hi, act.joints),
            ("command", ctrl_rest, self.ctrl_lo, self.ctrl_hi, act.actuators),
            ("force", force_rest, self.force_lo, self.force_hi, act.actuators),
        ):
            bad = np.flatnonzero(~((lo < value) & (value < hi)))
            if bad.size:
                j = bad[0]
                raise UserError(f"{names[j]}: the rest {label} {value[j]:.4g} is not inside its limits [{lo[j]:.4g}, {hi[j]:.4g}]; "
                                "move the start (qpos0) or widen --amplitude")

    def as_dict(self, act: Actuation) -> dict[str, dict[str, list[float]]]:
        """Plain data for excite.json: per joint / actuator [lower, upper] (None where unbounded)."""
        pair = lambda lo, hi: [[float(a), float(b)] for a, b in zip(lo, hi)]  # noqa: E731
        return {
            "position": dict(zip(act.joints, pair(self.pos_lo, self.pos_hi))),
            "velocity": dict(zip(act.joints, pair(-self.vel, self.vel))),
            "acceleration": dict(zip(act.joints, pair(-self.acc, self.acc))),
            "ctrl": dict(zip(act.actuators, pair(self.ctrl_lo, self.ctrl_hi))),
            "force": dict(zip(act.actuators, pair(self.force_lo, self.force_hi))),
        }


def ratio(y: np.ndarray, rest: np.ndarray | float, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(..., T, J) values -> (..., J): the largest excursion from `rest` as a fraction of the room
    to the bound on its side (0 where unbounded); > 1 means the bound is crossed."""
    up = (y - rest) / np.where(np.isfinite(hi), hi - rest, np.inf)
    down = (rest - y) / np.where(np.isfinite(lo), rest - lo, np.inf)
    return np.maximum(up, down).max(axis=-2).clip(min=0.0)


def ratios(limits: Limits, rest: dict[str, np.ndarray], motion: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Closeness to every limit.

    Args:
      limits: the bounds.
      rest: {"position", "ctrl", "force"} -> (J,) rest values.
      motion: {"position", "velocity", "acceleration", "ctrl", "force"} -> (B, T, J) trajectories
        (simulated, or planned; a missing key is not checked).
    Returns:
      kind -> (B, J) ratios.
    """
    bounds = {
        "position": (limits.pos_lo, limits.pos_hi), "velocity": (-limits.vel, limits.vel),
        "acceleration": (-limits.acc, limits.acc), "ctrl": (limits.ctrl_lo, limits.ctrl_hi),
        "force": (limits.force_lo, limits.force_hi),
    }
    return {k: ratio(motion[k], rest.get(k, 0.0), *bounds[k]) for k in KINDS if k in motion}


def worst(by_kind: dict[str, np.ndarray]) -> np.ndarray:
    """kind -> (B, J) ratios  ->  (B, J) the largest over kinds."""
    return np.max(np.stack(list(by_kind.values())), axis=0)
