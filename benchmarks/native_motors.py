"""Benchmark: saturating torque motors fitted as MuJoCo-native DC motors, against plain motors.

A horizontal 2-link arm whose true actuators are MuJoCo `dcmotor`s commanded in torque
(`input="ff"`: the driver delivers the commanded torque, compensating back-EMF, until its
voltage clamp `Vmax` or the torque limit `saturation` binds). The commanded peaks exceed both
limits, so the delivered torque saturates and falls with speed (back-EMF). The logs hold the
commanded torque and the joint angles only (noise 1 mrad, 0.01 rad/s), at the 2 ms model step.

The user's model has plain `<motor>`s; the fit config turns them into dcmotors (`convert:`,
sysid.native) and fits, per motor, `motorconst`, `vmax` and `forcerange` (the torque limit).
The winding resistance is given (the datasheet value): with a torque-commanded, back-EMF
compensated driver only K Vmax / R and K^2 / R show in the motion, so K, R and Vmax are not all
identifiable; R fixed makes K and Vmax so. Starting values are log-uniform factors in [0.7, 1.4]
of the truth, bounds a factor of 2 around the start (datasheet-like knowledge). Rows, per seed:

* native dcmotor: the 6 parameters' worst error vs truth (done: < 5%) and the held-out open-loop
  RMSE vs the true model's on the same held-out log (done: <= 1.2x);
* plain motor: `gear,damping,frictionloss` fitted on the same logs (a fit that absorbs saturation
  into gain and friction), and `gear,forcerange,damping` (a limit but no back-EMF): held-out RMSE;
* throughput: simulation steps per second of `sysid.sim` rollouts (64 windows x 500 steps) on the
  true dcmotor model and on the plain-motor model, same batch, interleaved repeats (done: >= 0.9x).

Run from the repository root (about 3 minutes a seed on 2 busy cores; --seeds 2 for a quick look):

    .venv/bin/python benchmarks/native_motors.py [--seeds 6] [--duration 6] [--threads N]

Prints markdown tables and writes the raw numbers to benchmarks/out/native_motors.json.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
import warnings

import mujoco
import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sysid.cli import fit_files  # noqa: E402
from sysid.data import Log  # noqa: E402
from sysid.params import ParamSet, parse_params  # noqa: E402
from sysid.sim import Simulator  # noqa: E402
from sysid.validate import prediction_errors, rmse  # noqa: E402

OUT = REPO / "benchmarks" / "out" / "native_motors"
TOLERANCE = 0.05
MOTORS = ("shoulder_motor", "elbow_motor")
JOINTS = ("shoulder", "elbow")
ARM_XML = """\
<mujoco model="arm2_motors">
  <option timestep="0.002" integrator="implicitfast" gravity="0 0 -9.81"/>
  <worldbody>
    <body name="upper" pos="0 0 0.5">
      <joint name="shoulder" axis="0 0 1" damping="0.3" armature="0.02"/>
      <geom type="capsule" fromto="0 0 0 0.3 0 0" size="0.03" mass="1" contype="0" conaffinity="0"/>
      <body name="fore" pos="0.3 0 0">
        <joint name="elbow" axis="0 0 1" damping="0.15" armature="0.01"/>
        <geom type="capsule" fromto="0 0 0 0.3 0 0" size="0.025" mass="0.5" contype="0" conaffinity="0"/>
      </body>
    </body>
  </worldbody>
  <actuator>
    <motor name="shoulder_motor" joint="shoulder"/>
    <motor name="elbow_motor" joint="elbow"/>
  </actuator>
</mujoco>
"""
RESISTANCE = {"shoulder_motor": 1.0, "elbow_motor": 1.2}  # Ohm, given (datasheet)
TRUTH = {  # the true motors
    "motorconst@shoulder_motor": 0.5, "vmax@shoulder_motor": 10.0, "forcerange@shoulder_motor": 4.0,
    "motorconst@elbow_motor": 0.3, "vmax@elbow_motor": 9.0, "forcerange@elbow_motor": 1.8,
}
PEAK = {"shoulder_motor": 8.0, "elbow_motor": 4.0}  # N m, commanded peaks, above the limits
NATIVE_PARAMS = "motorconst,vmax,forcerange"
PLAIN_ROWS = {"plain motor": "gear,damping,frictionloss", "plain motor + limit": "gear,forcerange@*,damping"}
POS_NOISE, VEL_NOISE = 1e-3, 1e-2
STARTS = 3  # independent fits of the native model (FitConfig.starts)


def conversion(values: dict[str, float]) -> dict:
    """The config's `convert:` entry turning both motors into torque-commanded dcmotors with `values`."""
    return {m: {"to": "dcmotor", "input": "ff", "resistance": RESISTANCE[m], "motorconst": values[f"motorconst@{m}"],
                "controller": [0, 0, 0, 0, 0, values[f"vmax@{m}"]], "saturation": [values[f"forcerange@{m}"], 0, 0]}
            for m in MOTORS}


def true_model(workdir: pathlib.Path) -> mujoco.MjModel:
    from sysid.mjcf import converted_model
    from sysid.native import parse_conversions

    return converted_model(workdir / "arm.xml", parse_conversions(conversion(TRUTH), "truth"))[0]


def multisine(time: np.ndarray, rng: np.random.Generator, peak: float, n: int = 10) -> np.ndarray:
    """(N,) sum of n sines, 0.2 to 3 Hz, random phases, scaled to `peak`."""
    freqs = np.geomspace(0.2, 3.0, n)
    u = np.sin(2 * np.pi * freqs[None] * time[:, None] + rng.uniform(0, 2 * np.pi, n)[None]).sum(axis=1)
    return peak * u / np.abs(u).max()


def make_log(model: mujoco.MjModel, duration: float, seed: int, path: pathlib.Path) -> Log:
    """Simulate the true model under multisine torque commands; write sysid's CSV schema to `path`."""
    rng = np.random.default_rng(seed)
    dt = model.opt.timestep
    n = int(round(duration / dt)) + 1
    time_ = np.arange(n) * dt
    command = np.stack([multisine(time_, rng, PEAK[m]) for m in MOTORS], axis=1)
    data = mujoco.MjData(model)
    qpos, qvel = np.empty((n, 2)), np.empty((n, 2))
    for i in range(n):
        qpos[i], qvel[i] = data.qpos, data.qvel
        data.ctrl[:] = command[i]
        mujoco.mj_step(model, data)
    qpos += rng.normal(0, POS_NOISE, qpos.shape)
    qvel += rng.normal(0, VEL_NOISE, qvel.shape)
    columns = {"time": time_}
    for j, joint in enumerate(JOINTS):
        columns[f"{joint}.pos"], columns[f"{joint}.vel"] = qpos[:, j], qvel[:, j]
    for a, motor in enumerate(MOTORS):
        columns[f"{motor}.ctrl"] = command[:, a]
    header = ",".join(columns)
    np.savetxt(path, np.stack(list(columns.values()), axis=1), delimiter=",", header=header, comments="", fmt="%.10g")
    return Log(str(path), time_, {j: qpos[:, i] for i, j in enumerate(JOINTS)}, {j: qvel[:, i] for i, j in enumerate(JOINTS)},
               {}, {m: command[:, a] for a, m in enumerate(MOTORS)})


def write_config(path: pathlib.Path, start: dict[str, float], seed: int, *, native: bool, limits: bool) -> None:
    """The fit config: the dcmotor conversion at the starting values, or plain motors whose torque
    limit (if fitted) starts at the same values."""
    import yaml

    config = {"horizons": [0.25, 1.0], "optimizer": "cmaes+lsq", "seed": seed,
              "optimizer_options": {"cmaes": {"max_evaluations": 600}, "lsq": {"max_iterations": 40}}}
    if native:  # a datasheet start: bounds a factor of 2 either way (the default 10 lets CMA-ES wander off)
        # A torque limit above what the motor can reach is inert (no gradient brings it back): three
        # starts, the lowest training loss kept, get past that local minimum.
        config["starts"] = STARTS
        config["convert"] = conversion(start)
        config["params"] = {k: {"lower": v / 2, "upper": v * 2} for k, v in start.items()}
    elif limits:
        config["params"] = {f"forcerange@{m}": {"initial": start[f"forcerange@{m}"]} for m in MOTORS}
    path.write_text(yaml.safe_dump(config))


def throughput(native: mujoco.MjModel, plain: mujoco.MjModel, *, nthread: int | None, repeats: int = 10) -> dict:
    """Steps per second of sysid.sim rollouts (64 windows x 500 steps) on both models, interleaved."""
    rng = np.random.default_rng(0)
    nbatch, nstep = 64, 500
    control = rng.uniform(-5, 5, (nbatch, nstep, native.nu))
    out = {}
    sims = {label: Simulator(m, ParamSet([]), nthread=nthread) for label, m in (("native dcmotor", native), ("plain motor", plain))}
    try:
        best = {label: np.inf for label in sims}
        for _ in range(repeats):
            for label, sim in sims.items():
                initial = sim.initial_states(rng.normal(0, 1, (nbatch, 2)), np.zeros((nbatch, 2)))
                start = time.perf_counter()
                sim.rollout([sim.model] * nbatch, initial, control)
                best[label] = min(best[label], time.perf_counter() - start)
        for label, seconds in best.items():
            out[label] = nbatch * nstep / seconds
    finally:
        for sim in sims.values():
            sim.close()
    out["ratio"] = out["native dcmotor"] / out["plain motor"]
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--duration", type=float, default=6.0, help="s, each of the 2 training logs (held out: 4 s)")
    parser.add_argument("--threads", type=int)
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "arm.xml").write_text(ARM_XML)
    truth = true_model(OUT)
    plain = mujoco.MjModel.from_xml_string(ARM_XML)
    rows = []
    for seed in range(args.seeds):
        work = OUT / f"seed{seed}"
        work.mkdir(exist_ok=True)
        train = [make_log(truth, args.duration, 100 * seed + k, work / f"run{k}.csv") for k in range(2)]
        held = make_log(truth, 4.0, 100 * seed + 50, work / "held_out.csv")
        truth_rmse = rmse(prediction_errors(truth, ParamSet([]), np.zeros((1, 0)), [held], horizon=None))[0]
        rng = np.random.default_rng(1000 + seed)
        start = {k: v * float(np.exp(rng.uniform(np.log(0.7), np.log(1.4)))) for k, v in TRUTH.items()}
        row = {"seed": seed, "truth_open_loop": truth_rmse}
        for label, params in (("native dcmotor", NATIVE_PARAMS), *PLAIN_ROWS.items()):
            write_config(work / f"{label.replace(' ', '_')}.yaml", start, seed, native=label == "native dcmotor",
                         limits="forcerange" in params)
            began = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                summary = fit_files(model_path=str(OUT / "arm.xml"), log_paths=[str(log.source) for log in train],
                                    params=params, out=str(work / label.replace(" ", "_")), nthread=args.threads,
                                    config_path=str(work / f"{label.replace(' ', '_')}.yaml"), progress=False,
                                    val_log_paths=[held.source])
            entry = {"wall_s": time.perf_counter() - began, "open_loop": summary["validation"]["rmse_open_loop"],
                     "values": {k: v["value"] for k, v in summary["params"].items()}}
            if label == "native dcmotor":
                entry["errors"] = {k: entry["values"][k] / v - 1 for k, v in TRUTH.items()}
                entry["worst"] = max(abs(e) for e in entry["errors"].values())
            row[label] = entry
        rows.append(row)
        native = row["native dcmotor"]
        print(f"seed {seed}: worst error {100 * native['worst']:.2f}%, held-out open loop (shoulder.pos) "
              + ", ".join(f"{k} {row[k]['open_loop']['shoulder.pos']:.4f}" for k in ("native dcmotor", *PLAIN_ROWS))
              + f", truth {truth_rmse['shoulder.pos']:.4f}; {native['wall_s']:.0f} s", flush=True)
    speed = throughput(truth, plain, nthread=args.threads)
    _report(rows, speed)
    (OUT.parent / "native_motors.json").write_text(json.dumps({"rows": rows, "throughput": speed, "truth": TRUTH}, indent=2))


def _ratio(row: dict, label: str) -> float:
    """Held-out open-loop RMSE of a fit over the truth's, worst signal."""
    return max(row[label]["open_loop"][s] / row["truth_open_loop"][s] for s in row["truth_open_loop"])


def _report(rows: list[dict], speed: dict) -> None:
    print("\n| seed | " + " | ".join(TRUTH) + " | worst | held-out open loop / truth's: native | "
          + " | ".join(PLAIN_ROWS) + " |")
    print("|---" * (len(TRUTH) + 3 + len(PLAIN_ROWS)) + "|")
    for row in rows:
        errors = row["native dcmotor"]["errors"]
        print(f"| {row['seed']} | " + " | ".join(f"{100 * errors[k]:+.2f}%" for k in TRUTH)
              + f" | {100 * row['native dcmotor']['worst']:.2f}% | {_ratio(row, 'native dcmotor'):.2f}x | "
              + " | ".join(f"{_ratio(row, k):.2f}x" for k in PLAIN_ROWS) + " |")
    worst = max(r["native dcmotor"]["worst"] for r in rows)
    ratio = max(_ratio(r, "native dcmotor") for r in rows)
    plain = min(_ratio(r, k) for r in rows for k in PLAIN_ROWS)
    print(f"\nnative dcmotor: worst parameter error {100 * worst:.2f}% over {len(rows)} seeds "
          f"({'met' if worst < TOLERANCE else 'NOT met'}: < 5%); held-out open loop at most {ratio:.2f}x the truth's "
          f"({'met' if ratio <= 1.2 else 'NOT met'}: <= 1.2x); plain motors at best {plain:.2f}x")
    print(f"throughput (sysid.sim, 64 x 500 steps): native dcmotor {speed['native dcmotor'] / 1e6:.2f} M steps/s, "
          f"plain motor {speed['plain motor'] / 1e6:.2f} M steps/s, ratio {speed['ratio']:.2f} "
          f"({'met' if speed['ratio'] >= 0.9 else 'NOT met'}: >= 0.9)")


if __name__ == "__main__":
    main()
