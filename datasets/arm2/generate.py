"""Generate the bundled 2-link arm logs from known true parameters.

The arm starts hanging at rest and is driven by a multisine torque (0.2-3 Hz) on both
motors; the log is sampled at every 2 ms model step, with Gaussian noise of 2e-3 rad on
positions and 2e-2 rad/s on velocities. Run from the repository root:

    python datasets/arm2/generate.py          # rewrites datasets/arm2/run1.csv, run2.csv
"""

from __future__ import annotations

import json
import pathlib

import mujoco
import numpy as np
import pandas as pd

HERE = pathlib.Path(__file__).resolve().parent
MODEL = HERE / "arm2.xml"
TRUTH = json.loads((HERE / "truth.json").read_text())
JOINTS = ("shoulder", "elbow")
MOTORS = ("shoulder_motor", "elbow_motor")
PEAK_TORQUE = (8.0, 4.0)  # N m, per motor: strong excitation, the elbow turns over
POS_NOISE = 2e-3  # rad
VEL_NOISE = 2e-2  # rad/s


def true_model(truth: dict[str, float] = TRUTH) -> mujoco.MjModel:
    """arm2.xml with `truth` (default truth.json) written in (masses change body_mass only, as `mass` does)."""
    model = mujoco.MjModel.from_xml_path(str(MODEL))
    for name, value in truth.items():
        kind, target = name.split("@")
        if kind == "mass":
            model.body_mass[model.body(target).id] = value
        else:
            field = {"damping": "dof_damping", "frictionloss": "dof_frictionloss", "armature": "dof_armature"}[kind]
            getattr(model, field)[model.joint(target).dofadr[0]] = value
    mujoco.mj_setConst(model, mujoco.MjData(model))
    return model


def multisine(time: np.ndarray, rng: np.random.Generator, peak: float, *, f_lo=0.2, f_hi=3.0, n=12) -> np.ndarray:
    """(N,) sum of `n` sines with frequencies log-spaced in [f_lo, f_hi] Hz and random phases, scaled to `peak`."""
    freqs = np.geomspace(f_lo, f_hi, n)
    phases = rng.uniform(0, 2 * np.pi, n)
    u = np.sin(2 * np.pi * freqs[None, :] * time[:, None] + phases[None, :]).sum(axis=1)
    return peak * u / np.abs(u).max()


def make_log(duration: float, seed: int, *, model: mujoco.MjModel | None = None, noise: bool = True) -> pd.DataFrame:
    """A log in sysid's CSV schema: `duration` seconds of the true arm under multisine torques.

    Row i holds the state at time[i] and the command issued at time[i]; noise is seeded by `seed`.
    """
    model = true_model() if model is None else model
    rng = np.random.default_rng(seed)
    n = int(round(duration / model.opt.timestep)) + 1
    time = np.arange(n) * model.opt.timestep
    ctrl = np.stack([multisine(time, rng, p) for p in PEAK_TORQUE], axis=1)
    data = mujoco.MjData(model)
    qpos, qvel = np.empty((n, model.nq)), np.empty((n, model.nv))
    for i in range(n):
        qpos[i], qvel[i] = data.qpos, data.qvel
        data.ctrl[:] = ctrl[i]
        mujoco.mj_step(model, data)
    if noise:
        qpos = qpos + rng.normal(0, POS_NOISE, qpos.shape)
        qvel = qvel + rng.normal(0, VEL_NOISE, qvel.shape)
    columns = {"time": time}
    for j, name in enumerate(JOINTS):
        columns[f"{name}.pos"] = qpos[:, j]
        columns[f"{name}.vel"] = qvel[:, j]
    for a, name in enumerate(MOTORS):
        columns[f"{name}.ctrl"] = ctrl[:, a]
    return pd.DataFrame(columns)


def main() -> None:
    for filename, duration, seed in (("run1.csv", 8.0, 1), ("run2.csv", 4.0, 2)):
        make_log(duration, seed).to_csv(HERE / filename, index=False, float_format="%.7g")
        print(f"wrote {HERE / filename}")


if __name__ == "__main__":
    main()
