"""Baseline: fit the bundled 2-link arm with the official ``mujoco.sysid`` toolbox.

The benchmark prints this row beside ours. The toolbox is used the way its own README,
notebook and tests use it, with its defaults:

* one ``sysid.Parameter`` per unknown. Its modifier writes the value onto an ``MjSpec``:
  ``body.mass`` (the inertia stays, as in truth.json) or the joint's
  ``damping`` / ``frictionloss`` / ``armature``. Each parameter starts at ``initial`` and
  is boxed by ``lower`` / ``upper``;
* ``jointpos`` / ``jointvel`` sensors added to an in-memory copy of ``arm2.xml`` (the file
  itself is not edited). The measured positions and velocities are the sensor data;
* one ``ModelSequences`` holding the whole log: open-loop rollout from the true initial
  state (arm at rest, qpos = qvel = 0) under the logged torque commands;
* ``build_residual_fn(models_sequences=[ms])`` with its default residual: measured minus
  predicted, each sensor column divided by its RMS;
* ``optimize(...)`` with its default backend (``"mujoco"``, i.e.
  ``mujoco.minimize.least_squares``: Gauss-Newton/LM, batched finite-difference
  Jacobian) and its default ``max_iters=200``.

Time alignment. ``mujoco.rollout`` returns, for step k, the state *after* the step
(time (k+1)*dt) and the sensor values computed *during* the step, which are the values
of the state *before* it (time k*dt). ``mujoco.sysid`` labels that sensor row with the
post-step time; its tests and notebook build the measured sensor ``TimeSeries`` with
exactly those labels (``times = state[:, 0]``). A log row holds the state at
``time[i]`` and the command issued at ``time[i]``, i.e. exactly rollout sensor row i. So
the measured sensor data is labeled ``time + dt``, the toolbox's own convention, and
prediction and measurement line up sample for sample. ``align_to_rollout=False``
labels it with the raw ``time`` column instead, as in the README's "skeleton case
study". In that case the toolbox compares each sample with the prediction one step
(2 ms) earlier, and the masses come out biased by a few percent.

Run from the repository root for a smoke test (default seed 0; pass several seeds to
run several):

    .venv/bin/python benchmarks/mujoco_sysid_baseline.py [seed ...]
"""

from __future__ import annotations

import io
import pathlib
import sys
import time

import mujoco
import numpy as np
import pandas as pd

from generators import load_generator

try:
    from mujoco import sysid
except ImportError:  # pragma: no cover - depends on the installed extras
    sysid = None

REPO = pathlib.Path(__file__).resolve().parents[1]
ARM2_DIR = REPO / "datasets" / "arm2"
ARM2_XML = ARM2_DIR / "arm2.xml"
JOINTS = ("shoulder", "elbow")
MOTORS = ("shoulder_motor", "elbow_motor")
PARAMETER_NAMES = (
    "mass@upper",
    "mass@fore",
    "damping@shoulder",
    "damping@elbow",
    "frictionloss@shoulder",
    "frictionloss@elbow",
    "armature@shoulder",
    "armature@elbow",
)


def _require_sysid():
    # mujoco/sysid/__init__.py swallows a ModuleNotFoundError for its optional
    # dependencies, which leaves an empty module, so check for the API itself.
    if sysid is None or not hasattr(sysid, "optimize"):
        raise ImportError("mujoco.sysid is unavailable: install `mujoco[sysid]>=4.0`")


def _modifier(name: str):
    """Return a ``(MjSpec, Parameter) -> None`` callback writing parameter ``name`` to a spec."""
    kind, target = name.split("@")
    if kind == "mass":
        def set_mass(spec, param):
            spec.body(target).mass = param.value[0]  # explicit <inertial>: inertia unchanged
        return set_mass
    if kind == "damping":
        def set_damping(spec, param):
            # MjsJoint.damping is a 3-vector in MuJoCo 4; [0] is the linear coefficient.
            spec.joint(target).damping[0] = param.value[0]
        return set_damping
    if kind in ("frictionloss", "armature"):
        def set_scalar(spec, param):
            setattr(spec.joint(target), kind, param.value[0])
        return set_scalar
    raise ValueError(f"unsupported parameter {name!r}")


def _arm_spec_with_sensors(xml_path: pathlib.Path) -> mujoco.MjSpec:
    """arm2.xml (in memory) plus jointpos/jointvel sensors named ``<joint>_pos`` / ``<joint>_vel``."""
    spec = mujoco.MjSpec.from_file(str(xml_path))
    for suffix, sensor_type in (("pos", mujoco.mjtSensor.mjSENS_JOINTPOS), ("vel", mujoco.mjtSensor.mjSENS_JOINTVEL)):
        for joint in JOINTS:
            spec.add_sensor(name=f"{joint}_{suffix}", type=sensor_type, objtype=mujoco.mjtObj.mjOBJ_JOINT, objname=joint)
    return spec


def fit_with_mujoco_sysid(
    log: pd.DataFrame,
    initial: dict[str, float],
    lower: dict[str, float],
    upper: dict[str, float],
    *,
    align_to_rollout: bool = True,
    xml_path: str | pathlib.Path = ARM2_XML,
) -> dict:
    """Fit the 8 arm parameters to ``log`` with mujoco.sysid's default pipeline.

    Args:
      log: a 500 Hz arm2 log (columns time, <joint>.pos, <joint>.vel, <motor>.ctrl), starting
        at rest at qpos = qvel = 0, with row i holding the state at time[i] and the command
        issued at time[i].
      initial, lower, upper: start value and box bounds for each name in PARAMETER_NAMES.
      align_to_rollout: label sensor rows the way mujoco.sysid labels rollout sensor rows
        (see the module docstring). False uses the raw time column (a one-step lag).
      xml_path: the nominal arm model.

    Returns:
      ``{"values": {name: float}, "wall_time_s": float, "rollouts": int, "sim_steps": int,
      "residual_calls": int, "message": str}``.
    """
    _require_sysid()
    t_start = time.perf_counter()

    spec = _arm_spec_with_sensors(pathlib.Path(xml_path))
    model = spec.compile()
    dt = model.opt.timestep

    params = sysid.ParameterDict()
    for name in PARAMETER_NAMES:
        params.add(
            sysid.Parameter(
                name,
                nominal=float(initial[name]),
                min_value=float(lower[name]),
                max_value=float(upper[name]),
                modifier=_modifier(name),
            )
        )

    times = log["time"].to_numpy(dtype=float)
    ctrl = log[[f"{m}.ctrl" for m in MOTORS]].to_numpy(dtype=float)
    sensor_names = [f"{j}_{s}" for s in ("pos", "vel") for j in JOINTS]  # model sensor order
    sensor_data = np.column_stack([log[f"{j}.{s}"].to_numpy(dtype=float) for s in ("pos", "vel") for j in JOINTS])
    sensor_times = times + dt if align_to_rollout else times

    control = sysid.TimeSeries.from_control_names(times, ctrl, model)
    sensordata = sysid.TimeSeries.from_names(sensor_times, sensor_data, model, names=sensor_names)
    initial_state = sysid.create_initial_state(model, np.zeros(model.nq), np.zeros(model.nv))
    sequences = sysid.ModelSequences("arm2", spec, "log", initial_state, control, sensordata)

    residual_fn = sysid.build_residual_fn(models_sequences=[sequences])

    # "rollouts" counts simulated trajectories. Every call of the residual builds one
    # model per column of x (x is 1-D for a plain evaluation, or (n_params, k) for a
    # batched finite-difference Jacobian) and rolls each one out over the whole log.
    # So we count the columns of every x the optimizer passes in. This is the same
    # number as the "Residual evals" that mujoco.minimize reports.
    # sim_steps = rollouts * the mj_step count of one rollout. The residual resamples
    # the control at the model timestep and drops the last command (no measurement
    # follows it), so one rollout is len(resampled control) - 1 steps.
    steps_per_rollout = len(control.resample(target_dt=dt).times) - 1
    counts = {"calls": 0, "rollouts": 0}

    def counted_residual_fn(x, p, **kwargs):
        counts["calls"] += 1
        counts["rollouts"] += 1 if np.ndim(x) == 1 else int(np.shape(x)[1])
        return residual_fn(x, p, **kwargs)

    # Defaults: optimizer="mujoco", max_iters=200. verbose=False only turns off the
    # absl summary table. The backend's per-iteration printout goes to a buffer
    # (least_squares' `output` argument) so that the benchmark output stays clean.
    trace = io.StringIO()
    opt_params, _ = sysid.optimize(
        initial_params=params,
        residual_fn=counted_residual_fn,
        verbose=False,
        output=trace,
    )
    wall = time.perf_counter() - t_start

    terminated = [line for line in trace.getvalue().splitlines() if line.startswith("Terminated")]
    return {
        "values": {name: float(opt_params[name].value[0]) for name in PARAMETER_NAMES},
        "wall_time_s": wall,
        "rollouts": counts["rollouts"],
        "sim_steps": counts["rollouts"] * steps_per_rollout,
        "residual_calls": counts["calls"],
        "message": terminated[-1] if terminated else "",
    }


def _load_generate():
    return load_generator('arm2')


def benchmark_start(truth: dict[str, float], seed: int) -> tuple[dict, dict, dict]:
    """Benchmark starting conditions: truth * log-uniform [0.5, 2] factors, bounds [truth/10, truth*10]."""
    rng = np.random.default_rng(seed)
    factors = np.exp(rng.uniform(np.log(0.5), np.log(2.0), len(PARAMETER_NAMES)))
    initial = {n: truth[n] * f for n, f in zip(PARAMETER_NAMES, factors)}
    lower = {n: truth[n] / 10 for n in PARAMETER_NAMES}
    upper = {n: truth[n] * 10 for n in PARAMETER_NAMES}
    return initial, lower, upper


def main(argv: list[str]) -> None:
    generate = _load_generate()
    truth = {n: float(generate.TRUTH[n]) for n in PARAMETER_NAMES}
    seeds = [int(a) for a in argv] or [0]
    rows = []
    for seed in seeds:
        initial, lower, upper = benchmark_start(truth, seed)
        log = generate.make_log(8.0, seed)
        result = fit_with_mujoco_sysid(log, initial, lower, upper)
        rel = {n: abs(result["values"][n] / truth[n] - 1.0) for n in PARAMETER_NAMES}
        print(f"seed {seed}: wall {result['wall_time_s']:.2f} s, {result['rollouts']} rollouts, "
              f"{result['sim_steps']} sim steps, {result['residual_calls']} residual calls")
        print(f"  {result['message']}")
        print(f"  {'parameter':24s} {'initial':>10s} {'recovered':>10s} {'true':>10s} {'rel err':>8s}")
        for n in PARAMETER_NAMES:
            print(f"  {n:24s} {initial[n]:10.5f} {result['values'][n]:10.5f} {truth[n]:10.5f} {rel[n]:8.2%}")
        worst = max(rel.values())
        rows.append((seed, worst, result["wall_time_s"]))
        print(f"  max rel err {worst:.2%} -> {'all within 5%' if worst <= 0.05 else 'NOT all within 5%'}")
    if len(rows) > 1:
        ok = sum(worst <= 0.05 for _, worst, _ in rows)
        print(f"{ok}/{len(rows)} seeds recover all parameters within 5%; "
              f"median wall {np.median([w for _, _, w in rows]):.2f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
