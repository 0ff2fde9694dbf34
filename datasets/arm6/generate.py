"""Play a command CSV on the "true" 6-joint arm and record a noisy log (the excitation benchmark's robot).

arm6.xml holds the nominal guess; truth.json the values that generate the logs. The arm first
holds the plan's first command for 2 s from qpos0 (it settles under gravity), then plays the
commands (zero-order held between rows, one row per model step or slower); the log has the
state at every command row, with Gaussian noise of 1e-3 rad on positions and 1e-2 rad/s on
velocities. Run from the repository root:

    python datasets/arm6/generate.py plan/plan.csv run.csv [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import pathlib

import mujoco
import numpy as np
import pandas as pd

HERE = pathlib.Path(__file__).resolve().parent
MODEL = HERE / "arm6.xml"
TRUTH = json.loads((HERE / "truth.json").read_text())
JOINTS = ("j1", "j2", "j3", "j4", "j5", "j6")
ACTUATORS = ("a1", "a2", "a3", "a4", "a5", "a6")
PARAMS = "damping,frictionloss,armature,kp"
POS_NOISE = 1e-3  # rad
VEL_NOISE = 1e-2  # rad/s
SETTLE = 2.0  # s


def true_model(values: dict[str, float] | None = None) -> mujoco.MjModel:
    """arm6.xml with truth.json (or `values`) written in."""
    model = mujoco.MjModel.from_xml_path(str(MODEL))
    for name, value in (TRUTH if values is None else values).items():
        kind, target = name.split("@")
        if kind == "kp":
            a = model.actuator(target).id
            model.actuator_gainprm[a, 0], model.actuator_biasprm[a, 1] = value, -value
        else:
            getattr(model, f"dof_{kind}")[model.joint(target).dofadr[0]] = value
    mujoco.mj_setConst(model, mujoco.MjData(model))
    return model


def record(time: np.ndarray, ctrl: np.ndarray, seed: int, *, model: mujoco.MjModel | None = None, noise: bool = True) -> pd.DataFrame:
    """A log in sysid's CSV schema of the arm playing commands (N, 6) issued at `time` (N,) s."""
    model = true_model() if model is None else model
    dt = model.opt.timestep
    data = mujoco.MjData(model)
    data.ctrl[:] = ctrl[0]
    for _ in range(int(round(SETTLE / dt))):
        mujoco.mj_step(model, data)
    n = len(time)
    qpos, qvel = np.empty((n, model.nq)), np.empty((n, model.nv))
    t = time[0]
    for i in range(n):
        qpos[i], qvel[i] = data.qpos, data.qvel
        data.ctrl[:] = ctrl[i]
        end = time[i + 1] if i + 1 < n else time[i] + dt
        while t < end - 1e-9:
            mujoco.mj_step(model, data)
            t += dt
    if noise:
        rng = np.random.default_rng(seed)
        qpos = qpos + rng.normal(0, POS_NOISE, qpos.shape)
        qvel = qvel + rng.normal(0, VEL_NOISE, qvel.shape)
    columns = {"time": time}
    for j, name in enumerate(JOINTS):
        columns[f"{name}.pos"], columns[f"{name}.vel"] = qpos[:, j], qvel[:, j]
    for a, name in enumerate(ACTUATORS):
        columns[f"{name}.ctrl"] = ctrl[:, a]
    return pd.DataFrame(columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plan", help="command CSV (time, <actuator>.ctrl), e.g. from sysid excite")
    parser.add_argument("out", help="log CSV to write")
    parser.add_argument("--seed", type=int, default=0, help="noise seed")
    args = parser.parse_args()
    frame = pd.read_csv(args.plan)
    ctrl = frame[[f"{a}.ctrl" for a in ACTUATORS]].to_numpy(float)
    record(frame["time"].to_numpy(float), ctrl, args.seed).to_csv(args.out, index=False, float_format="%.7g")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
