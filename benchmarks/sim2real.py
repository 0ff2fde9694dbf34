"""Sim-to-real: does a policy trained on the calibrated simulator work on the "real" robot?

The "real robot" is a truth model the user never sees: a torque-limited pendulum (it must pump
to swing up) whose mass, damping, friction and armature differ from the nominal MJCF, plus two
effects the MJCF cannot express: a 30 ms actuation delay and a motor torque-speed limit (the
torque available in the direction of motion falls linearly to 0 at STALL_SPEED). One command:

1. record two 10 s logs on the truth at 100 Hz (multisine torques; energy pumping that turns
   the pendulum over), with measurement noise;
2. `sysid fit` the nominal model to them (mass, damping, frictionloss, armature, delay) and
   `sysid export` a bundle;
3. train the same PPO policy (examples/train_ppo.py: same hyperparameters, steps and seed) on
   the swing-up task four ways: on the nominal model, on the calibrated model (with the fitted
   delay), on the calibrated model with per-episode randomization from randomization.yaml, and
   on the truth itself;
4. evaluate each policy on the truth over many episodes; print markdown tables.

    .venv/bin/python benchmarks/sim2real.py [--steps 150000] [--episodes 100] [--seeds 0] [--widen 2] [--jobs 2]

Writes the logs, fit, bundle, policies and sim2real.json under --out (benchmarks/out/sim2real).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import pathlib
import resource
import sys
import time

import mujoco
import numpy as np
import pandas as pd

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples"))

from sysid.cli import main as sysid_main  # noqa: E402
from sysid.envs import SwingUp, make_env  # noqa: E402
from sysid.sim import default_threads  # noqa: E402

MAX_TORQUE = 1.5  # N m, the motor's limit (ctrlrange); m g d = 2.45 N m on the truth: it must pump
NOMINAL_XML = f"""\
<mujoco model="pendulum">
  <option timestep="0.002" integrator="implicitfast"/>
  <worldbody>
    <body name="link" pos="0 0 1">
      <joint name="hinge" type="hinge" axis="0 1 0" damping="0.01" frictionloss="0.01" armature="0.005"/>
      <inertial pos="0 0 -0.25" mass="0.6" diaginertia="0.021 0.021 0.0005"/>
      <geom type="capsule" fromto="0 0 0 0 0 -0.5" size="0.03" contype="0" conaffinity="0"/>
    </body>
  </worldbody>
  <actuator>
    <motor name="motor" joint="hinge" ctrlrange="-{MAX_TORQUE} {MAX_TORQUE}"/>
  </actuator>
</mujoco>
"""
TRUTH = {"mass@link": 1.0, "damping@hinge": 0.05, "frictionloss@hinge": 0.1, "armature@hinge": 0.02}
TRUE_DELAY = 0.03  # s
STALL_SPEED = 20.0  # rad/s, where the motor's torque in the direction of motion reaches 0
PARAMS = "mass,damping,frictionloss,armature,delay"
LOG_DT = 0.01  # s, log rate of the "real" robot
POS_NOISE, VEL_NOISE = 1e-3, 1e-2  # rad, rad/s
TASK = {"episode_s": 5.0, "control_dt": 0.04}  # the swing-up task every policy trains and runs on
UPRIGHT = 0.3  # rad: a success ends the episode within this of upright for its last second


def truth_xml() -> str:
    """The nominal MJCF with the true values written in."""
    xml = NOMINAL_XML.replace('damping="0.01" frictionloss="0.01" armature="0.005"',
                              'damping="{damping@hinge}" frictionloss="{frictionloss@hinge}" armature="{armature@hinge}"'.format(**TRUTH))
    return xml.replace('mass="0.6"', f'mass="{TRUTH["mass@link"]}"')


def torque_speed_limit(model, data, ctrl: np.ndarray) -> np.ndarray:
    """The truth's motor: (nu,) N m commanded -> applied; torque along the motion falls to 0 at STALL_SPEED."""
    speed = data.qvel[0]
    if ctrl[0] * speed <= 0:
        return ctrl
    limit = MAX_TORQUE * max(0.0, 1.0 - abs(speed) / STALL_SPEED)
    return np.clip(ctrl, -limit, limit)


def truth_env(folder: pathlib.Path, **task):
    return make_env(folder / "truth.xml", SwingUp(**{**TASK, **task}), delay=TRUE_DELAY, actuator=torque_speed_limit)


def record_log(folder: pathlib.Path, kind: str, seed: int, duration: float = 10.0) -> pathlib.Path:
    """Run the truth under an excitation and write a log in sysid's CSV schema (100 Hz, noisy)."""
    env = truth_env(folder, episode_s=duration, control_dt=LOG_DT, init_angle=0.0, init_speed=0.0)
    env.model.opt.enableflags |= mujoco.mjtEnableBit.mjENBL_ENERGY
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    n = int(round(duration / LOG_DT))
    time_ = np.arange(n) * LOG_DT
    freqs, phases = np.geomspace(0.2, 3.0, 10), rng.uniform(0, 2 * np.pi, 10)
    sines = np.sin(2 * np.pi * freqs * time_[:, None] + phases).sum(axis=1)
    # Pumping: push along the motion up to a target energy (a fraction of the upright's, redrawn
    # every 2 s, sometimes past it so the pendulum turns over), brake above it.
    bottom, lift = env.data.energy.sum(), 2 * 9.81 * TRUTH["mass@link"] * 0.25
    target = bottom + lift * rng.uniform(0.3, 1.2, n // 200 + 1)
    rows = []
    for i, t in enumerate(time_):
        q, w = float(env.data.qpos[0]), float(env.data.qvel[0])
        if kind == "multisine":
            a = sines[i] / np.abs(sines).max()
        else:
            a = np.sign(w + 1e-3) * (1.0 if env.data.energy.sum() < target[i // 200] else -0.5)
        rows.append((t, q + rng.normal(0, POS_NOISE), w + rng.normal(0, VEL_NOISE), a * MAX_TORQUE))
        env.step(np.array([a]))
    path = folder / f"{kind}.csv"
    pd.DataFrame(rows, columns=["time", "hinge.pos", "hinge.vel", "motor.ctrl"]).to_csv(path, index=False, float_format="%.7g")
    return path


def evaluate(policy, env, episodes: int, seed: int = 10_000) -> tuple[np.ndarray, np.ndarray]:
    """(episodes,) returns of the deterministic policy and (episodes,) success flags."""
    returns, success = np.zeros(episodes), np.zeros(episodes, bool)
    last = int(round(1.0 / env.task.control_dt))
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        errors, done = [], False
        while not done:
            action, _ = policy.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(action)
            returns[i] += reward
            errors.append(abs((env.data.qpos[0] - np.pi + np.pi) % (2 * np.pi) - np.pi))
            done = terminated or truncated
        success[i] = max(errors[-last:]) < UPRIGHT
    return returns, success


def run_training(job: dict) -> dict:
    """Train one policy (a worker process) and evaluate it on the truth."""
    import torch
    from train_ppo import train

    torch.set_num_threads(1)
    folder = pathlib.Path(job["folder"])
    options = {"randomize": job["randomize"]}
    if job["name"] == "truth":
        options.update(delay=TRUE_DELAY, actuator=torque_speed_limit)
    start = time.perf_counter()
    policy = train(job["source"], SwingUp(**TASK), steps=job["steps"], seed=job["seed"], **options)
    train_s = time.perf_counter() - start
    policy.save(folder / f"policy_{job['name'].replace(' + ', '_').replace(' ', '_')}_seed{job['seed']}.zip")
    own, _ = evaluate(policy, make_env(job["source"], SwingUp(**TASK), **options), job["episodes"])
    returns, success = evaluate(policy, truth_env(folder), job["episodes"])
    return {**job, "train_s": train_s, "own_returns": own.tolist(), "returns": returns.tolist(), "success": success.tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description="Sim-to-real check: nominal vs calibrated vs randomized vs truth-trained PPO.")
    parser.add_argument("--steps", type=int, default=150_000, help="PPO environment steps per training")
    parser.add_argument("--episodes", type=int, default=100, help="evaluation episodes on the truth per policy")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds (each trains all four)")
    parser.add_argument("--widen", type=float, default=2.0, help="sysid export --widen")
    parser.add_argument("--jobs", type=int, default=default_threads(), help="trainings run in parallel")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "out" / "sim2real"))
    args = parser.parse_args()
    folder = pathlib.Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nominal.xml").write_text(NOMINAL_XML)
    (folder / "truth.xml").write_text(truth_xml())
    clock = {"start": time.perf_counter()}

    logs = [record_log(folder, "multisine", seed=1), record_log(folder, "pumping", seed=2)]
    argv = ["fit", "--model", str(folder / "nominal.xml"), *(a for p in logs for a in ("--log", str(p))),
            "--params", PARAMS, "--out", str(folder / "calib"), "--quiet"]
    if sysid_main(argv) != 0 or sysid_main(["export", str(folder / "calib"), "--out", str(folder / "bundle"), "--widen", str(args.widen)]) != 0:
        raise SystemExit("sim2real: the fit or the export failed")
    clock["fit_s"] = time.perf_counter() - clock["start"]
    result = json.loads((folder / "calib" / "result.json").read_text())

    sources = {"nominal": (folder / "nominal.xml", False), "calibrated": (folder / "bundle", False),
               "calibrated + randomization": (folder / "bundle", True), "truth": (folder / "truth.xml", False)}
    jobs = [{"name": name, "source": str(src), "randomize": rnd, "seed": seed, "steps": args.steps,
             "episodes": args.episodes, "folder": str(folder)} for seed in args.seeds for name, (src, rnd) in sources.items()]
    with concurrent.futures.ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        runs = list(pool.map(run_training, jobs))
    clock["total_s"] = time.perf_counter() - clock["start"]
    clock["cpu_s"] = sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
                         for f in ("ru_utime", "ru_stime"))

    print(fit_table(result))
    print()
    print(policy_table(runs, args))
    print(f"\nlogs + fit + export {clock['fit_s']:.0f} s; total {clock['total_s'] / 60:.1f} min wall with {args.jobs} "
          f"processes, {clock['cpu_s'] / 60:.1f} min CPU")
    summary = {"args": vars(args), "clock": clock, "fit": result["params"], "truth": {**TRUTH, "delay": TRUE_DELAY}, "runs": runs}
    (folder / "sim2real.json").write_text(json.dumps(summary, indent=2))


def fit_table(result: dict) -> str:
    truth = {**TRUTH, "delay": TRUE_DELAY}
    lines = ["| parameter | nominal | calibrated (+- std) | truth |", "|---|---|---|---|"]
    for name, p in result["params"].items():
        lines.append(f"| {name} | {p['initial']:.4g} | {p['value']:.4g} +- {p['std'] or float('nan'):.2g} | {truth[name]:.4g} |")
    return "\n".join(lines)


def policy_table(runs: list[dict], args: argparse.Namespace) -> str:
    names = list(dict.fromkeys(r["name"] for r in runs))
    mean = {n: np.mean([np.mean(r["returns"]) for r in runs if r["name"] == n]) for n in names}
    lines = [f"| trained on | return in its own simulator | return on the truth ({args.episodes} episodes x {len(args.seeds)} "
             "seeds) | of truth-trained | swung up and held on the truth |", "|---|---|---|---|---|"]
    for n in names:
        own = np.mean([np.mean(r["own_returns"]) for r in runs if r["name"] == n])
        returns = np.concatenate([r["returns"] for r in runs if r["name"] == n])
        success = np.concatenate([r["success"] for r in runs if r["name"] == n])
        lines.append(f"| {n} | {own:.1f} | {mean[n]:.1f} +- {returns.std():.1f} | {100 * mean[n] / mean['truth']:.0f}% | "
                     f"{100 * success.mean():.0f}% |")
    return "\n".join(lines)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
