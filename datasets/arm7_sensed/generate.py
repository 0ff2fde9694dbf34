"""Record an excitation log of the "true" 7-joint torque-driven arm with joint torque sensors.

arm7.xml holds the nominal guess; truth.json the values that generate the logs: joint damping and
frictionloss, link masses, encoder offsets (`offset@J`: the logged position is the true one plus
the offset) and torque-sensor gains (`sensor_gain@S`: the logged torque is the gain times the
applied one). A PD stabiliser on the logged (offset) positions tracks a multi-sine reference around
a bent pose, with a multi-sine feed-forward torque on top, commands clipped to the ctrlrange and
held over each 10 ms row. The log has, at every row, the positions (noise 5e-4 rad), velocities
(5e-3 rad/s), the commands and the torque sensors tau1..tau7 (noise 0.05 N m). Run from the
repository root:

    python datasets/arm7_sensed/generate.py run.csv [--duration 20] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import pathlib

import mujoco
import numpy as np
import pandas as pd

HERE = pathlib.Path(__file__).resolve().parent
MODEL = HERE / "arm7.xml"
TRUTH = json.loads((HERE / "truth.json").read_text())
JOINTS = tuple(f"j{i}" for i in range(1, 8))
PERIOD = 0.01  # s, one log row and one command
POS_NOISE, VEL_NOISE, TORQUE_NOISE = 5e-4, 5e-3, 0.05  # rad, rad/s, N m
POSE = np.array([0.0, 0.5, 0.0, -1.0, 0.0, 0.6, 0.0])  # rad, the bent pose the reference moves around
AMPLITUDE = np.array([0.8, 0.4, 0.8, 0.6, 1.0, 0.8, 1.2])  # rad, sum of the reference sines' amplitudes
KP = np.array([200.0, 300.0, 100.0, 120.0, 25.0, 25.0, 6.0])  # N m/rad
KD = np.array([12.0, 18.0, 6.0, 7.0, 1.2, 1.2, 0.25])  # N m s/rad


def true_model(truth: dict[str, float] | None = None) -> mujoco.MjModel:
    """arm7.xml with truth.json's (or `truth`'s) dynamics values written in (offsets and gains act on the log)."""
    from sysid.params import MEASUREMENT_KINDS, parse_params

    model = mujoco.MjModel.from_xml_path(str(MODEL))
    dynamics = {k: v for k, v in (TRUTH if truth is None else truth).items() if k.split("@")[0] not in MEASUREMENT_KINDS}
    if not dynamics:
        return model
    params = parse_params(",".join(dynamics), model)
    params.write(model, np.array([dynamics[n] for n in params.names]), mujoco.MjData(model))
    return model


def multisine(t: np.ndarray, rng: np.random.Generator, n: int, amplitude: np.ndarray, fmax: float) -> np.ndarray:
    """(N,) s -> (N, n) sums of 4 sines per column, frequencies in [0.1, fmax] Hz, random phases."""
    freq = rng.uniform(0.1, fmax, (4, n))
    phase = rng.uniform(0, 2 * np.pi, (4, n))
    return (amplitude / 4) * np.sin(2 * np.pi * freq[None] * t[:, None, None] + phase[None]).sum(axis=1)


def record(duration: float = 20.0, seed: int = 0, *, truth: dict[str, float] | None = None) -> pd.DataFrame:
    """A log in sysid's CSV schema (positions, velocities, commands, torque sensors) of `duration` s,
    generated with truth.json's values (or `truth`'s; parameters it does not name keep arm7.xml's)."""
    truth = TRUTH if truth is None else truth
    model = true_model(truth)
    data = mujoco.MjData(model)
    rng = np.random.default_rng(seed)
    time = np.arange(0.0, duration + 1e-9, PERIOD)
    reference = POSE + multisine(time, rng, 7, AMPLITUDE, 0.6)
    feedforward = multisine(time, rng, 7, 0.1 * model.actuator_ctrlrange[:, 1], 2.0)
    offset = np.array([truth.get(f"offset@{j}", 0.0) for j in JOINTS])
    gain = np.array([truth.get(f"sensor_gain@tau{i}", 1.0) for i in range(1, 8)])
    data.qpos[:] = reference[0] - offset
    n, steps = len(time), int(round(PERIOD / model.opt.timestep))
    qpos, qvel, ctrl, tau = (np.empty((n, 7)) for _ in range(4))
    for i in range(n):
        measured = data.qpos + offset + rng.normal(0, POS_NOISE, 7)
        qpos[i], qvel[i] = measured, data.qvel + rng.normal(0, VEL_NOISE, 7)
        command = KP * (reference[i] - measured) - KD * qvel[i] + feedforward[i]
        ctrl[i] = data.ctrl[:] = np.clip(command, *model.actuator_ctrlrange.T)
        mujoco.mj_forward(model, data)
        tau[i] = gain * data.sensordata + rng.normal(0, TORQUE_NOISE, 7)
        for _ in range(steps):
            mujoco.mj_step(model, data)
    columns = {"time": time}
    for j, name in enumerate(JOINTS):
        columns[f"{name}.pos"], columns[f"{name}.vel"] = qpos[:, j], qvel[:, j]
    for a in range(7):
        columns[f"m{a + 1}.ctrl"] = ctrl[:, a]
    for s in range(7):
        columns[f"tau{s + 1}"] = tau[:, s]
    return pd.DataFrame(columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="log CSV to write")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="reference and noise seed")
    args = parser.parse_args()
    record(args.duration, args.seed).to_csv(args.out, index=False, float_format="%.7g")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
