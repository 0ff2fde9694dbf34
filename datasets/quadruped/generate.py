"""Generate quadruped logs (free base, feet on a floor) from known true parameters.

The robot (quadruped.xml: 12 position-controlled joints, a free joint `root`, only the feet
collide) settles standing for 1 s, then its joint targets move: squats (0-3.5 s), weight shifts
and a splay that makes the feet slide (3-6.5 s) and an open-loop trot (6-10 s), with a small
multisine on every joint throughout. Logged at every 2 ms model step (500 Hz):

* joint encoders `J.pos` with Gaussian noise of 5e-4 rad, and the drives' velocity `J.vel` with
  noise of 0.02 rad/s;
* the base pose `root.pos[0]`..`root.pos[6]` (x y z qw qx qy qz) with noise of 1 mm and 2 mrad
  (a random small rotation) and its velocity `root.vel[0]`..`root.vel[5]` (world-frame linear with
  noise 0.02 m/s, body-frame angular with noise 0.01 rad/s), as from a state estimator;
* the IMU (the MJCF sensors `imu_gyro`, `imu_acc`): `imu_gyro[0..2]` (rad/s, noise 0.01) and
  `imu_acc[0..2]` (m/s^2, noise 0.05);
* the commands `A.ctrl` of the 12 position actuators.

truth.json holds the true values (base mass, foot friction, every joint's armature, damping and
frictionloss); quadruped.xml holds the nominal ones a fit starts from. Run from the repository root:

    python datasets/quadruped/generate.py      # writes datasets/quadruped/run1.csv (10 s, seed 1)
"""

from __future__ import annotations

import json
import pathlib

import mujoco
import numpy as np
import pandas as pd

HERE = pathlib.Path(__file__).resolve().parent
MODEL = HERE / "quadruped.xml"
TRUTH = json.loads((HERE / "truth.json").read_text())
LEGS = ("fl", "fr", "hl", "hr")
JOINTS = tuple(f"{leg}_{part}" for leg in LEGS for part in ("abd", "hip", "knee"))
STANCE = {"abd": 0.0, "hip": 0.6, "knee": -1.2}  # rad, joint targets of the standing pose
SETTLE = 1.0  # s simulated before the log starts
ENCODER_NOISE = 5e-4  # rad
JOINT_VEL_NOISE = 2e-2  # rad/s
BASE_POS_NOISE = 1e-3  # m
BASE_ROT_NOISE = 2e-3  # rad
BASE_VEL_NOISE = (2e-2, 1e-2)  # m/s linear, rad/s angular
GYRO_NOISE = 1e-2  # rad/s
ACC_NOISE = 5e-2  # m/s^2


def true_model() -> mujoco.MjModel:
    """quadruped.xml with truth.json written in (mass: body_mass only, as sysid's `mass` kind does)."""
    model = mujoco.MjModel.from_xml_path(str(MODEL))
    for name, value in TRUTH.items():
        kind, target = name.split("@")
        if kind == "mass":
            model.body_mass[model.body(target).id] = value
        elif kind == "friction":
            model.geom_friction[model.geom(target).id, 0] = value
        else:
            getattr(model, f"dof_{kind}")[model.joint(target).dofadr[0]] = value
    mujoco.mj_setConst(model, mujoco.MjData(model))
    return model


def _window(t: np.ndarray, start: float, stop: float, ramp: float = 0.3) -> np.ndarray:
    """(N,) 1 inside [start, stop], 0 outside, with cosine ramps of `ramp` s at both ends."""
    up = np.clip((t - start) / ramp, 0, 1)
    down = np.clip((stop - t) / ramp, 0, 1)
    return 0.5 * (1 - np.cos(np.pi * np.minimum(up, down)))


def targets(time: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N, 12) joint targets in rad (JOINTS order) for log time `time` (s): squats, weight shifts and
    a splay, a trot, and a multisine of random phases on every joint."""
    t = np.asarray(time, float)
    out = np.zeros((len(t), len(JOINTS)))
    squat, shift, trot = _window(t, 0.2, 3.5), _window(t, 3.2, 6.5), _window(t, 6.2, 10.0)
    for j, name in enumerate(JOINTS):
        leg, part = name.split("_")
        left, front = leg[1] == "l", leg[0] == "f"
        q = np.full(len(t), STANCE[part])
        depth = 0.5 * (1 - np.cos(2 * np.pi * 0.7 * t))  # 0..1 squat depth
        q += squat * {"abd": 0.0, "hip": 0.35, "knee": -0.7}[part] * depth
        if part == "abd":  # lateral sway, then feet splayed outward under load (they slide)
            q += shift * (0.15 * np.sin(2 * np.pi * 0.9 * t) + (1 if left else -1) * 0.15 * (1 - np.cos(2 * np.pi * 1.3 * t)))
        if part in ("hip", "knee"):  # pitching: front and hind legs in antiphase
            q += shift * (1 if front else -1) * {"hip": 0.15, "knee": -0.25}[part] * np.sin(2 * np.pi * 0.6 * t)
        # Trot: the diagonal pairs (fl, hr) and (fr, hl) swing and lift in antiphase at 2 Hz.
        phase = 2 * np.pi * 2.5 * t + (0.0 if leg in ("fl", "hr") else np.pi)
        if part == "hip":
            q += trot * 0.15 * np.sin(phase)
        if part == "knee":
            q += trot * -0.35 * np.maximum(0.0, np.cos(phase))
        freqs = np.geomspace(0.5, 6.0, 6)
        q += 0.08 * np.sin(2 * np.pi * freqs[:, None] * t[None, :] + rng.uniform(0, 2 * np.pi, (6, 1))).sum(axis=0) / 3
        out[:, j] = q
    return out


def simulate(model: mujoco.MjModel, duration: float, seed: int) -> dict[str, np.ndarray]:
    """The true motion: time (N,), qpos (N, nq), qvel (N, nv), sensordata (N, ns), ctrl (N, nu), logged
    from the end of the settling, one row per model step; row i is the state at time[i] and the command
    issued then."""
    rng = np.random.default_rng(seed)
    dt = model.opt.timestep
    n = int(round(duration / dt)) + 1
    time = np.arange(n) * dt
    ctrl = np.clip(targets(time, rng), model.actuator_ctrlrange[:, 0], model.actuator_ctrlrange[:, 1])
    data = mujoco.MjData(model)
    stance = [STANCE[name.split("_")[1]] for name in JOINTS]
    data.qpos[7:] = stance
    data.qpos[2] = 0.28
    data.ctrl[:] = stance
    for _ in range(int(round(SETTLE / dt))):
        mujoco.mj_step(model, data)
    out = {"time": time, "qpos": np.empty((n, model.nq)), "qvel": np.empty((n, model.nv)),
           "sensordata": np.empty((n, model.nsensordata)), "ctrl": ctrl}
    for i in range(n):
        data.ctrl[:] = ctrl[i]
        mujoco.mj_forward(model, data)  # the sensors of this state (the accelerometer needs this row's command)
        out["qpos"][i], out["qvel"][i], out["sensordata"][i] = data.qpos, data.qvel, data.sensordata
        mujoco.mj_step(model, data)
    return out


def make_log(duration: float = 10.0, seed: int = 1, *, model: mujoco.MjModel | None = None, noise: bool = True) -> pd.DataFrame:
    """A log in sysid's CSV schema: `duration` s of the true quadruped, noise seeded by `seed`."""
    model = true_model() if model is None else model
    motion = simulate(model, duration, seed)
    rng = np.random.default_rng(10_000 + seed)
    scale = 1.0 if noise else 0.0
    qpos, n = motion["qpos"], len(motion["time"])
    columns: dict[str, np.ndarray] = {"time": motion["time"]}
    xyz = qpos[:, :3] + scale * rng.normal(0, BASE_POS_NOISE, (n, 3))
    quat = np.empty((n, 4))
    for i in range(n):  # the true orientation turned by a small random rotation
        q = qpos[i, 3:7].copy()
        mujoco.mju_quatIntegrate(q, scale * rng.normal(0, BASE_ROT_NOISE, 3), 1.0)
        quat[i] = q
    for k in range(3):
        columns[f"root.pos[{k}]"] = xyz[:, k]
    for k in range(4):
        columns[f"root.pos[{k + 3}]"] = quat[:, k]
    for k in range(6):
        columns[f"root.vel[{k}]"] = motion["qvel"][:, k] + scale * rng.normal(0, BASE_VEL_NOISE[k // 3], n)
    for j, name in enumerate(JOINTS):
        columns[f"{name}.pos"] = qpos[:, 7 + j] + scale * rng.normal(0, ENCODER_NOISE, n)
        columns[f"{name}.vel"] = motion["qvel"][:, 6 + j] + scale * rng.normal(0, JOINT_VEL_NOISE, n)
    for sensor, sigma in (("imu_gyro", GYRO_NOISE), ("imu_acc", ACC_NOISE)):
        adr = model.sensor(sensor).adr[0]
        for k in range(3):
            columns[f"{sensor}[{k}]"] = motion["sensordata"][:, adr + k] + scale * rng.normal(0, sigma, n)
    for a in range(model.nu):
        columns[f"{model.actuator(a).name}.ctrl"] = motion["ctrl"][:, a]
    return pd.DataFrame(columns)


def main() -> None:
    path = HERE / "run1.csv"
    make_log(10.0, 1).to_csv(path, index=False, float_format="%.7g")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
