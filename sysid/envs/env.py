"""A Gymnasium environment on a calibrated bundle: parameters drawn per episode, the fit's delay.

Each `reset` draws the bundle's parameters from randomization.yaml (or takes the calibrated
centres) and writes them into the env's MjModel with `ParamSet.write`, as a fit writes its
candidates. Each `step` issues one command (the action scaled from [-1, 1] to the actuators'
ctrlrange), held until the next step; the plant sees at time t the command issued at
t - delay, averaged over each model step: the fit's convention (`sysid.sim.held_controls`),
computed once per episode as blend weights (`delay_weights`). Before the episode the plant
holds a zero command.
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Callable
from typing import Any, Literal

import gymnasium as gym
import mujoco
import numpy as np

from sysid.bundle import Bundle, load_bundle
from sysid.envs.tasks import Task, TaskName, make_task
from sysid.errors import UserError

# (model, data, ctrl (nu,)) -> ctrl (nu,): an actuator model applied at every model step.
ActuatorHook = Callable[[mujoco.MjModel, mujoco.MjData, np.ndarray], np.ndarray]


class SysidEnv(gym.Env):
    """A bundle's model under a task, with per-episode randomization and the fitted delay.

    Args:
      bundle: a bundle folder from `sysid export`, a `Bundle`, or a bare MJCF file (no randomization, no delay).
      task: a task name ("swingup", "reach") or a `Task` instance; options go to the named task.
      randomize: draw the parameters each episode (False: the calibrated values every episode).
      delay: s, overrides the bundle's delay (drawn or calibrated) when given.
      actuator: optional hook applied to the delayed control at every model step (the bundle's own
        actuator models, from a fit with `--actuator`, run without it: see below).
      residual: optional residual dynamics replacing the bundle's: a folder written by `sysid residual
        train` (for this model; a path also works with async vector envs) or an object with
        `compute(qpos (1, nq), qvel (1, nv), ctrl (1, nu)) -> (1, nv)`.
    The bundle's actuator models (actuators.json) and residual dynamics run in the step loop as the
    fit's rollouts run them (`sysid.closedloop.StepLoop`): their generalized force, from the state and
    the delayed command (before `actuator`), is held as `qfrc_applied` over their control period;
    the MJCF actuators they replace are switched off; their fitted numbers are drawn each episode.
      action_history: past actions appended to the observation (a delay makes them part of the state).
    Observation: float32, the task's features then the last `action_history` actions, newest first.
    Info: "params" (the drawn values by name) and "delay" (s) from reset; "time" (s) from step.
    """

    metadata = {"render_modes": []}

    def __init__(self, bundle: Bundle | str | os.PathLike, task: TaskName | Task = "swingup", *, randomize: bool = True,
                 delay: float | None = None, actuator: ActuatorHook | None = None, residual: Any = None,
                 action_history: int = 2, **task_options: Any):
        self.bundle = load_bundle(bundle)
        self.task = make_task(task, **task_options)
        self.model = copy.copy(self.bundle.model)
        self.data = mujoco.MjData(self.model)
        self.randomize = randomize
        self.actuator = actuator
        if isinstance(residual, (str, os.PathLike)):
            from actuator_models.residual import load_residual

            residual = load_residual(residual, self.model)
        self.loop = self.bundle.step_loop(self.model, residual=residual)  # actuator models, residual (or None)
        self.residual = None if self.loop is None else self.loop.loop.residual
        self._delay_override = delay
        m = self.model
        if m.nu == 0:
            raise UserError(f"{self.bundle.model_path}: the model has no actuators to control")
        limited = m.actuator_ctrllimited.astype(bool)
        if not limited.all():
            name = m.actuator(int(np.argmin(limited))).name
            raise UserError(f"{self.bundle.model_path}: actuator {name!r} has no ctrlrange; the env scales actions to it")
        self._low, self._high = m.actuator_ctrlrange[:, 0].copy(), m.actuator_ctrlrange[:, 1].copy()
        self.substeps = int(round(self.task.control_dt / m.opt.timestep))
        if self.substeps < 1 or abs(self.substeps * m.opt.timestep - self.task.control_dt) > 1e-9:
            raise UserError(f"control_dt {self.task.control_dt} s is not a multiple of the model timestep {m.opt.timestep} s")
        self.max_steps = int(round(self.task.episode_s / self.task.control_dt))
        self.action_history = action_history
        size = self.task.observation_size(m) + action_history * m.nu
        self.action_space = gym.spaces.Box(-1.0, 1.0, (m.nu,), np.float32)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (size,), np.float32)
        self.delay = 0.0
        self.values: dict[str, float] = {}

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.values = self.bundle.draw(self.np_random if self.randomize else None)
        delay = self.bundle.write(self.model, self.values, self.data)
        self.delay = delay if self._delay_override is None else float(self._delay_override)
        if not (np.isfinite(self.delay) and self.delay >= 0):
            raise UserError(f"delay must be >= 0 s, got {self.delay}")
        mujoco.mj_resetData(self.model, self.data)
        if self.loop is not None:
            self.loop.reset(self.values)
        self.task.reset(self.model, self.data, self.np_random)
        mujoco.mj_forward(self.model, self.data)
        self._steps = 0
        self._lag, self._old_weight = delay_weights(self.delay, self.task.control_dt, self.substeps)
        self._commands = np.zeros((self._lag + 2, self.model.nu))  # newest last; zeros: held before the episode
        self._past = np.zeros((self.action_history, self.model.nu))
        return self._observe(), {"params": dict(self.values), "delay": self.delay}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        a = np.clip(np.asarray(action, float).reshape(self.model.nu), -1.0, 1.0)
        self._commands[:-1] = self._commands[1:]
        self._commands[-1] = self._low + 0.5 * (a + 1.0) * (self._high - self._low)
        # The plant sees the command issued `lag` steps ago, blended with the one before it.
        new, old = self._commands[-1 - self._lag], self._commands[-2 - self._lag]
        controls = new + self._old_weight[:, None] * (old - new)
        for u in controls:
            if self.loop is not None:
                self.loop.before_step(self.data, u)
            self.data.ctrl[:] = u if self.actuator is None else self.actuator(self.model, self.data, u)
            mujoco.mj_step(self.model, self.data)
        self._steps += 1
        if self.action_history:
            self._past[1:] = self._past[:-1]
            self._past[0] = a
        diverged = not (np.isfinite(self.data.qpos).all() and np.isfinite(self.data.qvel).all())
        reward = 0.0 if diverged else self.task.reward(self.model, self.data, a)
        info = {"time": self._steps * self.task.control_dt}
        return self._observe(), reward, diverged, self._steps >= self.max_steps, info

    def _observe(self) -> np.ndarray:
        obs = np.concatenate([self.task.observe(self.model, self.data), self._past.ravel()]).astype(np.float32)
        return obs if np.isfinite(obs).all() else np.nan_to_num(obs, nan=0.0, posinf=0.0, neginf=0.0)


def delay_weights(delay: float, control_dt: float, substeps: int) -> tuple[int, np.ndarray]:
    """How a delay blends held commands over one control step, as `sysid.sim.held_controls` does.

    With delay = lag * control_dt + r (0 <= r < control_dt), model step k of a control step sees
    the mean over [k dt - r, (k + 1) dt - r) of the command issued `lag` steps ago (from 0 on) and
    the one before it (before 0). Returns lag and (substeps,) the weight of the older command.
    """
    lag = int(np.floor(delay / control_dt + 1e-12))
    rest = max(delay - lag * control_dt, 0.0)
    dt = control_dt / substeps
    return lag, np.clip(rest - np.arange(substeps) * dt, 0.0, dt) / dt


def make_env(bundle: Bundle | str | os.PathLike, task: TaskName | Task = "swingup", **options: Any) -> SysidEnv:
    """A `SysidEnv` (see its arguments): `make_env("bundle/", task="swingup", randomize=True)`."""
    return SysidEnv(bundle, task, **options)


def make_vec_env(bundle: Bundle | str | os.PathLike, task: TaskName = "swingup", num_envs: int = 4, *,
                 mode: Literal["sync", "async"] = "sync", **options: Any) -> gym.vector.VectorEnv:
    """`num_envs` copies of `make_env(bundle, task, **options)` as a Gymnasium vector env.

    "sync" steps them in this process; "async" in one subprocess each (give `bundle` as a path).
    Seeding the vector env's reset seeds copy i with seed + i, so every copy draws its own parameters.
    """
    factory = functools.partial(make_env, bundle, task, **options)
    if mode == "async":
        return gym.vector.AsyncVectorEnv([factory] * num_envs)
    return gym.vector.SyncVectorEnv([factory] * num_envs)
