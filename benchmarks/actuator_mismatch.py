"""Synthetic mismatch: a true system the MJCF cannot express, fitted parametric-only, then with a
learned residual, then with an actuator model in the loop.

True system: a pendulum (1 kg at 0.3 m) driven by a current-limited DC motor from a duty-cycle
command, tau = kt clip((duty vin - kt qd) / R, +-i_max) (a torque-speed line cut by a torque
limit), with smooth Coulomb + Stribeck + viscous friction. The MJCF has a `motor` (torque =
gear x duty), joint damping, frictionloss and armature: constant friction, no speed-dependent
torque limit. Logs: 3 x 10 s for fitting, 1 x 10 s for validation, 200 Hz, with noise.

Validation RMSE is measured on the held-out log over 1 s windows started from its filtered
states (what the fit minimises) and open loop over the whole 10 s.

    .venv/bin/python benchmarks/actuator_mismatch.py
"""

from __future__ import annotations

import json
import pathlib
import sys
import time
import warnings

import mujoco
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from actuator_common import rollout_rmse, simulate_log  # noqa: E402

from actuator_models import DCMotorConfig, FrictionConfig  # noqa: E402
from actuator_models.residual import ResidualConfig, residual_targets, train_residual  # noqa: E402
from sysid.closedloop import Binding, ClosedLoop, parse_actuators  # noqa: E402
from sysid.fit import FitConfig, fit  # noqa: E402
from sysid.params import ParamSet, parse_params  # noqa: E402

OUT = ROOT / "benchmarks" / "out" / "actuator_mismatch.json"
XML = """\
<mujoco model="mismatch">
  <option timestep="0.002" integrator="implicitfast"/>
  <worldbody>
    <body name="link">
      <joint name="hinge" type="hinge" axis="0 1 0" damping="0.1" frictionloss="0.1" armature="0.01"/>
      <inertial pos="0 0 -0.3" mass="1.0" diaginertia="0.01 0.01 0.001"/>
    </body>
  </worldbody>
  <actuator>
    <motor name="motor" joint="hinge" gear="5"/>
  </actuator>
</mujoco>
"""
MOTOR = DCMotorConfig(kt=0.5, R=2.0, vin=24.0, max_current=6.0, command="duty")  # stall 6 N m, limit 3 N m, kt^2/R 0.125
FRICTION = FrictionConfig(coulomb=0.2, viscous=0.05, stribeck=0.4, stribeck_vel=0.3, smooth_vel=0.02)
ARMATURE = 0.02


def command(seconds: float, seed: int, dt: float) -> np.ndarray:
    """Duty cycle: a multisine (0.2-3 Hz) with slow amplitude changes and pauses that test stiction."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds / dt) + 1) * dt
    u = np.sin(2 * np.pi * rng.uniform(0.2, 3.0, 6) * t[:, None] + rng.uniform(0, 6, 6)).sum(axis=1)
    envelope = 0.6 + 0.5 * np.sin(2 * np.pi * 0.13 * t + rng.uniform(0, 6)) ** 2
    pause = np.sin(2 * np.pi * 0.21 * t + rng.uniform(0, 6)) > 0.8
    return np.where(pause, 0.0, envelope * u / np.abs(u).max())


def main() -> None:
    warnings.simplefilter("ignore")  # identifiability notes of the fits; the table says what matters
    start = time.perf_counter()
    nominal = mujoco.MjModel.from_xml_string(XML)
    truth = mujoco.MjModel.from_xml_string(XML)
    truth.dof_damping[0] = truth.dof_frictionloss[0] = 0.0
    truth.dof_armature[0] = ARMATURE
    true_loop = lambda: ClosedLoop(truth, [Binding("dcmotor", "motor", MOTOR), Binding("friction", "motor", FRICTION)])  # noqa: E731
    dt = nominal.opt.timestep
    logs = [simulate_log(truth, true_loop(), command(10.0, s, dt), every=5, source=f"run{s}.csv", joint="hinge", actuator="motor",
                         pos_noise=1e-3, vel_noise=1e-2, seed=s) for s in range(4)]
    train, val = logs[:3], logs[3:]
    rows = {}

    params = parse_params("gear@motor,damping@hinge,frictionloss@hinge,armature@hinge", nominal)
    result = fit(nominal, train, params, FitConfig(seed=0), progress=False)
    print(f"parametric fit: {dict(zip(params.names, np.round(result.values, 4)))} ({result.wall_time_s:.0f} s)", flush=True)
    rows["parametric only (MJCF)"] = [rollout_rmse(nominal, params, result.values, val, horizon=h) for h in (1.0, None)]

    fitted = mujoco.MjModel.from_xml_string(XML)
    params.write(fitted, result.values, mujoco.MjData(fitted))
    t0 = time.perf_counter()
    x, y = residual_targets(fitted, train)
    residual = train_residual(x, y, ResidualConfig(members=5, hidden=(64, 64), epochs=300, patience=30, inputs=("qvel", "ctrl")), model=fitted)
    loop = ClosedLoop(fitted, [], residual=residual)
    empty = ParamSet([], model=fitted)
    rows["parametric + residual ensemble"] = [rollout_rmse(fitted, empty, np.zeros(0), val, horizon=h, loop=loop) for h in (1.0, None)]
    report = residual.report()
    print(f"residual: trained in {time.perf_counter() - t0:.0f} s; validation rollouts: disagreement {report['disagreement']:.3f} "
          f"(x target std), outside training range {100 * report['outside_fraction']:.2f}% of rows", flush=True)

    # The MJCF keeps Coulomb (frictionloss) and viscous (damping) friction; the models add the motor
    # (gain, back-EMF, current limit) and the Stribeck bump.
    options = {"dcmotor@motor": {"command": "duty", "vin": 24.0, "kt": 0.3, "R": 3.0, "max_current": 10.0, "fit": ["kt", "R", "max_current"]},
               "friction@motor": {"coulomb": 0.0, "viscous": 0.0, "stribeck": 0.1, "stribeck_vel": 0.5, "fit": ["stribeck", "stribeck_vel"]}}
    act_loop = parse_actuators("dcmotor@motor,friction@motor", nominal, options)
    act_params = parse_params("armature@hinge,damping@hinge,frictionloss@hinge", nominal, extra=act_loop.params())
    act_config = FitConfig(horizons=(0.5, 2.0), max_windows=16, seed=0, optimizer_options={"cmaes": {"max_evaluations": 1500}})
    act = fit(nominal, train, act_params, act_config, progress=False, loop=act_loop)
    print(f"actuator-model fit: {dict(zip(act_params.names, np.round(act.values, 4)))} ({act.wall_time_s:.0f} s)", flush=True)
    rows["DC motor + friction model in the loop"] = [rollout_rmse(nominal, act_params, act.values, val, horizon=h, loop=act_loop) for h in (1.0, None)]

    base = rows["parametric only (MJCF)"]
    print("\n| model | val RMSE 1 s windows [mrad] | ratio | val RMSE open loop 10 s [mrad] | ratio |\n|---|---|---|---|---|")
    for name, (h1, ol) in rows.items():
        print(f"| {name} | {1e3 * h1:.2f} | {h1 / base[0]:.2f} | {1e3 * ol:.1f} | {ol / base[1]:.2f} |")
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({"rmse_rad": {k: {"horizon_1s": v[0], "open_loop": v[1]} for k, v in rows.items()},
                               "residual": report, "parametric_values": dict(zip(params.names, result.values.tolist())),
                               "actuator_values": dict(zip(act_params.names, act.values.tolist())),
                               "wall_time_s": time.perf_counter() - start}, indent=2))
    print(f"wrote {OUT.relative_to(ROOT)} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
