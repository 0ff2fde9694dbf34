"""Tasks for `sysid.envs.make_env`: what to observe, how to start an episode and what to reward.

A task works on any model whose joints are hinges or slides, one actuator per controlled
degree of freedom or not (the env scales actions to the actuators' ctrlrange). Rewards are
positive, at most 1 per control step, so returns compare across policies as fractions.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Literal, Protocol

import mujoco
import numpy as np

from sysid.errors import UserError

TaskName = Literal["swingup", "reach"]


class Task(Protocol):
    """What an env needs from a task. `episode_s` and `control_dt` are in seconds."""

    episode_s: float
    control_dt: float

    def observation_size(self, model: mujoco.MjModel) -> int: ...

    def reset(self, model: mujoco.MjModel, data: mujoco.MjData, rng: np.random.Generator) -> None:
        """Set data's initial qpos / qvel (and the task's goal, if any)."""

    def observe(self, model: mujoco.MjModel, data: mujoco.MjData) -> np.ndarray: ...

    def reward(self, model: mujoco.MjModel, data: mujoco.MjData, action: np.ndarray) -> float:
        """Reward after a control step; `action` (nu,) in [-1, 1]."""


def joint_state(model: mujoco.MjModel, data: mujoco.MjData) -> tuple[np.ndarray, np.ndarray]:
    """(nq,) rad or m, (nv,) rad/s or m/s; raises UserError unless every joint is a hinge or slide."""
    scalar = (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))
    if model.njnt == 0 or any(t not in scalar for t in model.jnt_type):
        raise UserError("sysid.envs tasks need a model whose joints are all hinges or slides")
    return data.qpos, data.qvel


def _hinge(model: mujoco.MjModel) -> np.ndarray:
    """(nq,) True for hinge joints (angles wrap), False for slides."""
    return model.jnt_type == int(mujoco.mjtJoint.mjJNT_HINGE)


def _features(model: mujoco.MjModel, q: np.ndarray) -> np.ndarray:
    """cos and sin of hinge angles, slide positions as they are: (2 nq,)."""
    hinge = _hinge(model)
    return np.concatenate([np.where(hinge, np.cos(q), q), np.where(hinge, np.sin(q), 0.0)])


def _closeness(model: mujoco.MjModel, q: np.ndarray, goal: np.ndarray, width: float) -> np.ndarray:
    """(nq,) in [0, 1]: (1 + cos(error)) / 2 for hinges, exp(-(error / width)^2) for slides."""
    err = q - goal
    return np.where(_hinge(model), 0.5 * (1.0 + np.cos(err)), np.exp(-((err / width) ** 2)))


@dataclasses.dataclass
class SwingUp:
    """Swing a chain from hanging to upright and hold it there.

    Attributes:
      episode_s: s, episode length.
      control_dt: s, policy period (a multiple of the model timestep).
      target: rad, the upright pose per joint (default: pi for the first joint, 0 for the others).
      init_angle: rad, start angles uniform in +-init_angle around hanging (0).
      init_speed: rad/s, start speeds uniform in +-init_speed.
      velocity_cost: reward lost per (rad/s)^2 of mean squared joint speed.
      control_cost: reward lost per unit of mean squared action (actions in [-1, 1]).
    """

    episode_s: float = 5.0
    control_dt: float = 0.02
    target: tuple[float, ...] | None = None
    init_angle: float = 0.1
    init_speed: float = 0.1
    velocity_cost: float = 5e-3
    control_cost: float = 0.01

    def goal(self, model: mujoco.MjModel) -> np.ndarray:
        if self.target is not None:
            if len(self.target) != model.nq:
                raise UserError(f"swingup: target has {len(self.target)} angles, the model has {model.nq} joints")
            return np.asarray(self.target, float)
        return np.array([np.pi] + [0.0] * (model.nq - 1))

    def observation_size(self, model: mujoco.MjModel) -> int:
        return 2 * model.nq + model.nv

    def reset(self, model: mujoco.MjModel, data: mujoco.MjData, rng: np.random.Generator) -> None:
        joint_state(model, data)
        self._goal = self.goal(model)
        data.qpos[:] = rng.uniform(-self.init_angle, self.init_angle, model.nq)
        data.qvel[:] = rng.uniform(-self.init_speed, self.init_speed, model.nv)

    def observe(self, model: mujoco.MjModel, data: mujoco.MjData) -> np.ndarray:
        return np.concatenate([_features(model, data.qpos), 0.1 * data.qvel])

    def reward(self, model: mujoco.MjModel, data: mujoco.MjData, action: np.ndarray) -> float:
        upright = _closeness(model, data.qpos, self._goal, 0.1).mean()
        return float(upright - self.velocity_cost * np.mean(data.qvel**2) - self.control_cost * np.mean(action**2))


@dataclasses.dataclass
class Reach:
    """Drive the joints to a goal drawn each episode and hold it (joint-space reaching).

    Attributes:
      episode_s: s, episode length.
      control_dt: s, policy period.
      reach: rad (or m), goals uniform in +-reach around the start pose (0).
      width: rad (or m), error at which the reward falls to exp(-1) of its best.
      velocity_cost, control_cost: as in SwingUp.
    """

    episode_s: float = 3.0
    control_dt: float = 0.02
    reach: float = 1.0
    width: float = 0.2
    velocity_cost: float = 1e-3
    control_cost: float = 0.01
    goal: np.ndarray | None = None

    def observation_size(self, model: mujoco.MjModel) -> int:
        return 3 * model.nq + model.nv

    def reset(self, model: mujoco.MjModel, data: mujoco.MjData, rng: np.random.Generator) -> None:
        joint_state(model, data)
        self.goal = rng.uniform(-self.reach, self.reach, model.nq)
        data.qpos[:] = 0.0
        data.qvel[:] = 0.0

    def observe(self, model: mujoco.MjModel, data: mujoco.MjData) -> np.ndarray:
        return np.concatenate([_features(model, data.qpos), data.qpos - self.goal, 0.1 * data.qvel])

    def reward(self, model: mujoco.MjModel, data: mujoco.MjData, action: np.ndarray) -> float:
        close = np.exp(-(((data.qpos - self.goal) / self.width) ** 2)).mean()
        return float(close - self.velocity_cost * np.mean(data.qvel**2) - self.control_cost * np.mean(action**2))


TASKS: dict[str, type] = {"swingup": SwingUp, "reach": Reach}


def make_task(task: TaskName | Task, **options) -> Task:
    """A task instance from its name (options go to its dataclass), or a copy of the instance given
    (tasks keep per-episode state such as a goal, so envs must not share one)."""
    if not isinstance(task, str):
        if options:
            raise TypeError("task options apply to a task given by name")
        return copy.copy(task)
    if task not in TASKS:
        raise UserError(f"unknown task {task!r}; known tasks: {', '.join(TASKS)}")
    return TASKS[task](**options)
