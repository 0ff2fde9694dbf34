"""A synthetic torque-sensed 7-DoF arm: the Franka Panda written from its published DH table.

Kinematics: Franka's modified (Craig) DH table. Link inertials (mass, centre of mass, inertia about
the centre of mass in each DH link frame): Gaz, Cognetti, Oliva, Robuffo Giordano, De Luca, "Dynamic
Identification of the Franka Emika Panda Robot With Retrieval of Feasible Parameters Using
Penalty-Based Optimization", IEEE RA-L 4(4), 2019 (the values mujoco_menagerie's panda.xml also uses).
Joint friction of the truth, of the order Gaz et al. report: viscous (MJCF damping) and Coulomb, applied by
this script as qfrc_applied = -f_c tanh(qd / 0.01 rad/s) (the smoothed sign of `sysid.inverse.friction`; MuJoCo's
own frictionloss is a soft constraint whose shape no closed-form model matches, which would blur what this
benchmark measures: the solve, not a friction model's error). The "initial" model is a CAD-like guess: every link's mass, centre of mass and inertia off
by up to 30% / 2 cm, no friction.

The log: 20 s (`--seconds`) of a Fourier-series excitation (5 harmonics of 0.1 Hz per joint, the form
used for arm identification) tracked by computed torque on the true model; 1 kHz rows with every
joint's position (encoder noise 1e-5 rad), the commanded torque and the measured joint torque
(`<joint>.effort`, Gaussian noise 0.05 N m, about a Panda torque sensor's). run.csv (5 MB) is not kept in
git: the benchmark and the tests write their logs with this script. Run from the repository root:

    python datasets/arm7/generate.py      # writes arm7.xml, arm7_initial.xml, truth.json, run.csv
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import mujoco
import numpy as np
import pandas as pd

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from sysid.dh import Link, arm_xml  # noqa: E402

# Franka Emika Panda, modified DH: a_{i-1} (m), alpha_{i-1} (rad), d_i (m); joint limits (rad).
DH = [(0.0, 0.0, 0.333), (0.0, -np.pi / 2, 0.0), (0.0, np.pi / 2, 0.316), (0.0825, np.pi / 2, 0.0),
      (-0.0825, -np.pi / 2, 0.384), (0.0, np.pi / 2, 0.0), (0.088, np.pi / 2, 0.0)]
LIMITS = [(-2.8973, 2.8973), (-1.7628, 1.7628), (-2.8973, 2.8973), (-3.0718, -0.0698), (-2.8973, 2.8973),
          (-0.0175, 3.7525), (-2.8973, 2.8973)]
# Gaz et al. 2019: mass (kg), centre of mass (m), inertia about it (kg m^2: Ixx Iyy Izz Ixy Ixz Iyz).
INERTIALS = [
    (4.970684, (3.875e-3, 2.081e-3, -4.762e-2), (7.0337e-1, 7.0661e-1, 9.117e-3, -1.39e-4, 6.772e-3, 1.9169e-2)),
    (0.646926, (-3.141e-3, -2.872e-2, 3.495e-3), (7.962e-3, 2.811e-2, 2.5995e-2, -3.925e-3, 1.0254e-2, 7.04e-4)),
    (3.228604, (2.7518e-2, 3.9252e-2, -6.6502e-2), (3.7242e-2, 3.6155e-2, 1.083e-2, -4.761e-3, -1.1396e-2, -1.2805e-2)),
    (3.587895, (-5.317e-2, 1.04419e-1, 2.7454e-2), (2.5853e-2, 1.9552e-2, 2.8323e-2, 7.796e-3, -1.332e-3, 8.641e-3)),
    (1.225946, (-1.1953e-2, 4.1065e-2, -3.8437e-2), (3.5549e-2, 2.9474e-2, 8.627e-3, -2.117e-3, -4.037e-3, 2.29e-4)),
    (1.666555, (6.0149e-2, -1.4117e-2, -1.0517e-2), (1.964e-3, 4.354e-3, 5.433e-3, 1.09e-4, -1.158e-3, 3.41e-4)),
    (0.735522, (1.0517e-2, -4.252e-3, 6.1597e-2), (1.2516e-2, 1.0027e-2, 4.815e-3, -4.28e-4, -1.196e-3, -7.41e-4)),
]
VISCOUS = [0.06, 0.05, 0.06, 0.04, 0.02, 0.02, 0.02]  # N m s / rad
COULOMB = [0.25, 0.2, 0.2, 0.2, 0.1, 0.1, 0.08]  # N m
COULOMB_WIDTH = 0.01  # rad/s
TORQUE_NOISE = 0.05  # N m
POS_NOISE = 1e-5  # rad
JOINTS = tuple(f"joint{i + 1}" for i in range(7))
BODIES = tuple(f"link{i + 1}" for i in range(7))


def links(*, perturb: np.random.Generator | None = None, friction: bool = True) -> list[Link]:
    """The DH rows with the published inertials (or a CAD-like perturbation of them)."""
    rows = []
    for i, ((a, alpha, d), (mass, com, inertia), rng_lim) in enumerate(zip(DH, INERTIALS, LIMITS)):
        com, inertia = np.array(com), np.array(inertia)
        if perturb is not None:
            mass = mass * perturb.uniform(0.7, 1.3)
            com = com + perturb.uniform(-0.02, 0.02, 3)
            inertia = inertia * perturb.uniform(0.7, 1.3)
            inertia[3:] = 0.0  # a CAD guess with principal axes along the link frame
        rows.append(Link(a=a, alpha=alpha, d=d, mass=mass, com=tuple(com), inertia=tuple(inertia), range=rng_lim,
                         damping=VISCOUS[i] if friction else 0.0))
    return rows


def write_models(folder: pathlib.Path = HERE) -> None:
    """arm7.xml (the truth), arm7_initial.xml (the guess a fit starts from) and truth.json."""
    (folder / "arm7.xml").write_text(arm_xml(links(), convention="modified", name="panda_dh"))
    guess = links(perturb=np.random.default_rng(7), friction=False)
    guess = [Link(**{**l.__dict__, "damping": 0.01, "frictionloss": 0.01}) for l in guess]
    (folder / "arm7_initial.xml").write_text(arm_xml(guess, convention="modified", name="panda_dh_initial"))
    truth = {f"damping@{j}": v for j, v in zip(JOINTS, VISCOUS)} | {f"coulomb@{j}": v for j, v in zip(JOINTS, COULOMB)}
    (folder / "truth.json").write_text(json.dumps(truth, indent=1) + "\n")


def fourier(time: np.ndarray, rng: np.random.Generator, *, base_hz: float = 0.1, harmonics: int = 5):
    """(N, 7) positions, velocities, accelerations of a random Fourier-series excitation inside the joint limits."""
    w = 2 * np.pi * base_hz * np.arange(1, harmonics + 1)
    q, qd, qdd = (np.zeros((len(time), 7)) for _ in range(3))
    for j, (lo, hi) in enumerate(LIMITS):
        a, b = rng.normal(size=harmonics) / np.arange(1, harmonics + 1), rng.normal(size=harmonics) / np.arange(1, harmonics + 1)
        s, c = np.sin(np.outer(time, w)), np.cos(np.outer(time, w))
        raw, draw, ddraw = s @ a + c @ b, c @ (a * w) - s @ (b * w), -(s @ (a * w**2) + c @ (b * w**2))
        amp = 0.4 * (hi - lo) / np.abs(raw).max()
        q[:, j], qd[:, j], qdd[:, j] = 0.5 * (lo + hi) + amp * raw, amp * draw, amp * ddraw
    return q, qd, qdd


def simulate(seconds: float = 20.0, seed: int = 0, model_path: pathlib.Path | None = None) -> pd.DataFrame:
    """The excitation log as a DataFrame in sysid's CSV schema."""
    model = mujoco.MjModel.from_xml_path(str(model_path or HERE / "arm7.xml"))
    data = mujoco.MjData(model)
    rng = np.random.default_rng(seed)
    time = np.arange(int(round(seconds / model.opt.timestep)) + 1) * model.opt.timestep
    q_d, qd_d, qdd_d = fourier(time, rng)
    ctrl_model = mujoco.MjModel.from_xml_path(str(model_path or HERE / "arm7.xml"))
    ctrl_data = mujoco.MjData(ctrl_model)
    data.qpos[:], data.qvel[:] = q_d[0], qd_d[0]
    kp, kd = 400.0, 40.0
    pos, tau = np.zeros((len(time), 7)), np.zeros((len(time), 7))
    for i in range(len(time)):
        # computed torque: the true model's inverse dynamics at the commanded acceleration (friction included)
        ctrl_data.qpos[:], ctrl_data.qvel[:] = data.qpos, data.qvel
        ctrl_data.qacc[:] = qdd_d[i] + kp * (q_d[i] - data.qpos) + kd * (qd_d[i] - data.qvel)
        mujoco.mj_inverse(ctrl_model, ctrl_data)
        pos[i] = data.qpos
        coulomb = np.array(COULOMB) * np.tanh(data.qvel / COULOMB_WIDTH)
        data.qfrc_applied[:] = -coulomb
        data.ctrl[:] = ctrl_data.qfrc_inverse + coulomb
        tau[i] = data.ctrl
        mujoco.mj_step(model, data)
    frame = {"time": time}
    for j, name in enumerate(JOINTS):
        frame[f"{name}.pos"] = pos[:, j] + rng.normal(0, POS_NOISE, len(time))
        frame[f"{name}_motor.ctrl"] = tau[:, j]
        frame[f"{name}.effort"] = tau[:, j] + rng.normal(0, TORQUE_NOISE, len(time))
    return pd.DataFrame(frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(HERE / "run.csv"))
    args = parser.parse_args()
    write_models()
    simulate(args.seconds, args.seed).to_csv(args.out, index=False, float_format="%.9g")
    print(f"wrote {HERE / 'arm7.xml'}, arm7_initial.xml, truth.json, {args.out}")


if __name__ == "__main__":
    main()
