"""Shared tiny fixtures: a 1-joint pendulum MJCF and synthetic logs simulated from it."""

from __future__ import annotations

import copy
import importlib.util
import pathlib
import types

import mujoco
import numpy as np
import pandas as pd
import pytest

from sysid.data import Log
from sysid.sim import held_controls

# A torque-driven pendulum. The file's values are the "nominal" guess; TRUTH generates the logs.
PENDULUM_XML = """\
<mujoco model="pendulum">
  <option timestep="0.002" integrator="implicitfast"/>
  <worldbody>
    <body name="link" pos="0 0 1">
      <joint name="hinge" type="hinge" axis="0 1 0" damping="0.5" frictionloss="0.05" armature="0.05"/>
      <inertial pos="0 0 -0.3" mass="1.0" diaginertia="0.01 0.01 0.001"/>
      <geom type="capsule" fromto="0 0 0 0 0 -0.6" size="0.03" contype="0" conaffinity="0"/>
    </body>
  </worldbody>
  <actuator>
    <motor name="motor" joint="hinge"/>
  </actuator>
</mujoco>
"""

TRUTH = {"damping@hinge": 0.2, "armature@hinge": 0.02, "frictionloss@hinge": 0.1}
DOF_FIELD = {"damping": "dof_damping", "frictionloss": "dof_frictionloss", "armature": "dof_armature"}
POS_NOISE = 1e-3  # rad
VEL_NOISE = 1e-2  # rad/s
PEAK_TORQUE = 3.0  # N m


@pytest.fixture
def pendulum_path(tmp_path) -> pathlib.Path:
    path = tmp_path / "pendulum.xml"
    path.write_text(PENDULUM_XML)
    return path


@pytest.fixture
def pendulum(pendulum_path) -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_path(str(pendulum_path))


def with_values(model: mujoco.MjModel, values: dict[str, float]) -> mujoco.MjModel:
    """A copy of `model` with joint values {"damping@hinge": 0.2, ...} written in."""
    out = copy.copy(model)
    for name, value in values.items():
        kind, target = name.split("@")
        getattr(out, DOF_FIELD[kind])[out.joint(target).dofadr[0]] = value
    mujoco.mj_setConst(out, mujoco.MjData(out))
    return out


def multisine(time: np.ndarray, seed: int, peak: float = PEAK_TORQUE, f_lo: float = 0.3, f_hi: float = 4.0, n: int = 8) -> np.ndarray:
    """(N,) sum of n sines (Hz log-spaced in [f_lo, f_hi], random phases) scaled to `peak` N m."""
    rng = np.random.default_rng(seed)
    freqs = np.geomspace(f_lo, f_hi, n)
    phases = rng.uniform(0, 2 * np.pi, n)
    u = np.sin(2 * np.pi * freqs[None] * time[:, None] + phases[None]).sum(axis=1)
    return peak * u / np.abs(u).max()


def simulate(model: mujoco.MjModel, command: np.ndarray, *, delay: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Step `model` from rest under a command issued at every model step.

    Args:
      command: (N,) N m, the command issued at step i (held one step; delayed by `delay` s the
        way sysid.sim applies it).
    Returns:
      (N,) qpos and (N,) qvel at the step times (row i is the state before the i-th step).
    """
    n, dt = len(command), model.opt.timestep
    time = np.arange(n) * dt
    applied = held_controls(time, command[:, None], np.zeros(1), n, dt, delay)[0, :, 0]
    data = mujoco.MjData(model)
    qpos, qvel = np.empty(n), np.empty(n)
    for i in range(n):
        qpos[i], qvel[i] = data.qpos[0], data.qvel[0]
        data.ctrl[0] = applied[i]
        mujoco.mj_step(model, data)
    return qpos, qvel


def make_log(model: mujoco.MjModel, duration: float, *, seed: int = 0, noise: bool = True, delay: float = 0.0,
             rows: np.ndarray | None = None, source: str = "synthetic.csv", **command_options) -> Log:
    """A log of `model` under a multisine torque, sampled at every model step (or at `rows`)."""
    dt = model.opt.timestep
    n = int(round(duration / dt)) + 1
    time = np.arange(n) * dt
    command = multisine(time, seed, **command_options)
    if rows is not None:  # a slower log: the command changes only at logged rows
        held = np.searchsorted(rows, np.arange(n), side="right") - 1
        command = command[rows][held]
    qpos, qvel = simulate(model, command, delay=delay)
    if noise:
        rng = np.random.default_rng(seed + 1000)
        qpos = qpos + rng.normal(0, POS_NOISE, n)
        qvel = qvel + rng.normal(0, VEL_NOISE, n)
    keep = np.arange(n) if rows is None else rows
    return Log(source, time[keep], {"hinge": qpos[keep]}, {"hinge": qvel[keep]}, {}, {"motor": command[keep]})


def write_csv(log: Log, path: pathlib.Path) -> pathlib.Path:
    """Write a Log in sysid's default CSV schema."""
    columns = {"time": log.time}
    for name, v in log.pos.items():
        columns[f"{name}.pos"] = v
    for name, v in log.vel.items():
        columns[f"{name}.vel"] = v
    for name, v in log.ctrl.items():
        columns[f"{name}.ctrl"] = v
    pd.DataFrame(columns).to_csv(path, index=False, float_format="%.10g")
    return path


@pytest.fixture(scope="session")
def truth_model() -> mujoco.MjModel:
    return with_values(mujoco.MjModel.from_xml_string(PENDULUM_XML), TRUTH)


@pytest.fixture(scope="session")
def noisy_log(truth_model) -> Log:
    """2 s of the true pendulum at 500 Hz with measurement noise."""
    return make_log(truth_model, 2.0, seed=1)


@pytest.fixture(scope="session")
def clean_log(truth_model) -> Log:
    """1 s of the true pendulum at 500 Hz without noise."""
    return make_log(truth_model, 1.0, seed=2, noise=False)


# A small arm for parameter-grammar and export tests: a body welded to the world, hinge, slide
# and ball joints, inertia from geoms, a motor and a position servo.
ARM_XML = """\
<mujoco model="arm">
  <option timestep="0.002"/>
  <worldbody>
    <body name="base" pos="0 0 1">
      <geom type="box" size="0.1 0.1 0.1"/>
      <body name="upper">
        <joint name="shoulder" type="hinge" axis="0 1 0" damping="0.5"/>
        <geom type="capsule" fromto="0 0 0 0 0 -0.5" size="0.04" density="800"/>
        <body name="fore" pos="0 0 -0.5">
          <joint name="elbow" type="hinge" axis="0 1 0" damping="0.1" armature="0.01" frictionloss="0.2" stiffness="2"/>
          <geom type="capsule" fromto="0 0 0 0.1 0 -0.4" size="0.035"/>
          <geom type="sphere" pos="0.1 0 -0.4" size="0.05"/>
          <body name="slider" pos="0.1 0 -0.4">
            <joint name="rail" type="slide" axis="1 0 0" damping="2"/>
            <inertial pos="0 0 0" mass="0.3" diaginertia="0.001 0.001 0.001"/>
            <body name="wrist">
              <joint name="ball" type="ball"/>
              <inertial pos="0 0 -0.05" mass="0.2" diaginertia="0.0004 0.0004 0.0002"/>
            </body>
          </body>
        </body>
      </body>
    </body>
  </worldbody>
  <actuator>
    <motor name="shoulder_motor" joint="shoulder" gear="2"/>
    <position name="elbow_servo" joint="elbow" kp="20" kv="1"/>
    <motor name="rail_motor" joint="rail"/>
  </actuator>
</mujoco>
"""


@pytest.fixture
def arm_path(tmp_path) -> pathlib.Path:
    path = tmp_path / "arm.xml"
    path.write_text(ARM_XML)
    return path


@pytest.fixture
def arm(arm_path) -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_path(str(arm_path))


def float_fields(model: mujoco.MjModel) -> dict[str, np.ndarray]:
    """Every floating-point array of an MjModel, by attribute name (copies)."""
    out = {}
    for name in dir(model):
        if name.startswith("_"):
            continue
        try:
            value = getattr(model, name)
        except Exception:  # noqa: BLE001 - some attributes are not readable on every model
            continue
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            out[name] = value.copy()
    return out


def changed_fields(a: mujoco.MjModel, b: mujoco.MjModel, *, rtol: float = 0.0, atol: float = 0.0) -> set[str]:
    """Names of the float arrays that differ between two models (beyond rtol / atol)."""
    fa, fb = float_fields(a), float_fields(b)
    assert fa.keys() == fb.keys()
    return {k for k in fa if fa[k].shape != fb[k].shape or not np.allclose(fa[k], fb[k], rtol=rtol, atol=atol, equal_nan=True)}


# Arrays that mj_setConst derives from the fitted ones (masses, armature, gear, com).
DERIVED_FIELDS = {"actuator_acc0", "body_invweight0", "dof_invweight0", "dof_M0", "body_subtreemass", "dof_length", "bvh_aabb"}


def load_generator(dataset: str) -> types.ModuleType:
    """datasets/<dataset>/generate.py, loaded as a module (the folder is no package)."""
    path = pathlib.Path(__file__).resolve().parents[1] / "datasets" / dataset / "generate.py"
    spec = importlib.util.spec_from_file_location(f"{dataset}_generate", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
