"""BAM XL330 real servo: actuator models fitted by trajectory matching (no torque logged).

Logs: ../shared/data/real/bam_xl330 (read through datasets/bam_xl330/bam_json.py's reader). The
servo's firmware turns the goal position into a PWM duty with gain kp; each log has its own kp,
given to the models as the per-log setting `gain`. Unlike the dataset's position-actuator bench,
the models here see the whole log: while `torque_enable` is off (the drop of `lift_and_drop`) the
`servo_enable` column switches the model's torque off.

Fit on the 9 runs at kp 100, 200, 400 (CMA-ES on 0.5 s then 2 s windows, least squares on whole
runs open loop; positions only, as BAM's loss), validate open loop
(each 6 s run simulated from its first logged state) on the 3 runs at kp 800. Every model shares
the MJCF below (0.49 kg point mass at 0.10 m, as BAM's pendulum), with `armature` and the gravity
offset `com@arm` (BAM's q_offset) fitted alongside:

- ideal PD (tuned): tau = gain pd_kp (goal - q) - pd_kd qd, plus MJCF frictionloss and damping;
- ours, analytic: DC motor tau = kt clip((duty vin - kt qd) / R, +-max_current) with
  duty = clip(duty_gain gain (goal - q), +-1) (kt, R and max_current fitted; duty_gain, the
  firmware's duty per rad per unit of kp, measured from the logged PWM register of the kp 100-400
  runs), on the logged supply voltage `input_volts` (read every control step), with MJCF frictionloss
  and damping plus a smooth Stribeck bump;
- ours, m1 structure: the DC motor with only kt and R fitted (no current limit), MJCF Coulomb and
  viscous friction: BAM m1's unknowns;
- ours, load friction: the current-limited DC motor (kt, R, max_current fitted) with load-dependent
  gearbox friction (`load_friction`, fitted) and MJCF Coulomb and viscous friction;
- ours, network: `tinynet` (2 inputs, 6 tanh units, 25 weights) fed gain (goal - q) and qd, plus
  MJCF frictionloss, searched by CMA-ES alone;
- BAM m1 (published kt, R, armature, friction_base -> frictionloss, friction_viscous -> damping,
  q_offset) through the same DC motor model with BAM's error gain; both published fits and both
  error gains BAM's XL330 code has used (0.00246, 4096 / 2 pi / (256 x 885) = 0.00288) are run;
  the best is reported (at BAM's 7.4 V), and both again with the measured error gain and the logged
  voltage our models get.

    .venv/bin/python benchmarks/actuator_bam.py [--quick] [--seed N] [--only TEXT]
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

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "datasets" / "bam_xl330"))

from actuator_common import rollout_rmse, rollout_traces  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from bam_json import read_json  # noqa: E402

from sysid.closedloop import parse_actuators  # noqa: E402
from sysid.data import Log  # noqa: E402
from sysid.fit import FitConfig, fit  # noqa: E402
from sysid.io import save_figure  # noqa: E402
from sysid.params import ParamSet, parse_params  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "real" / "bam_xl330"
OUT = ROOT / "benchmarks" / "out" / "actuator_bam.json"
PLOTTED = ("ideal PD (tuned)", "ours: DC motor + load friction", "ours: tinynet (25 weights)", "BAM m1 published (af22604)")
LENGTH, MASS = 0.10, 0.49
# Only the sideways centre of mass (BAM's q_offset) is fitted, within +-0.1 rad; the 0.10 m arm length is known.
# Datasheet-scale bounds for the motor (XL330: a few ohm, a fraction of a N m per A, ~1 A stall).
MOTOR_BOUNDS = {"kt@servo": {"lower": 0.1, "upper": 1.0}, "R@servo": {"lower": 1.0, "upper": 10.0},
                "max_current@servo": {"lower": 0.3, "upper": 5.0}}
FROZEN = {"com@arm.x": {"initial": 0.0, "lower": -0.01, "upper": 0.01},  # q_offset within +-0.1 rad
          "com@arm.y": {"initial": 0.0, "lower": -1e-9, "upper": 1e-9},
          "com@arm.z": {"initial": -LENGTH, "lower": -LENGTH - 1e-9, "upper": -LENGTH + 1e-9}}
PWM_LIMIT = 885  # the XL330's PWM register at full duty
ERROR_GAINS = (0.00246, (4096 / (2 * np.pi)) / (256 * PWM_LIMIT))
XML = f"""\
<mujoco model="bam_xl330_loop">
  <option timestep="0.002" integrator="implicitfast"/>
  <worldbody>
    <body name="arm">
      <joint name="servo" type="hinge" axis="0 1 0" armature="0.003" damping="0.01" frictionloss="0.02"/>
      <inertial pos="0 0 -{LENGTH}" mass="{MASS}" diaginertia="1e-6 1e-6 1e-6"/>
    </body>
  </worldbody>
  <actuator>
    <general name="servo" joint="servo" gainprm="0"/>
    <general name="servo_enable" joint="servo" gainprm="0"/>
    <general name="servo_vin" joint="servo" gainprm="0"/>
  </actuator>
</mujoco>
"""


def load_run(path: pathlib.Path) -> tuple[Log, dict]:
    """A BAM run as a Log: servo.pos, servo.ctrl (goal, rad), servo_enable.ctrl (0 / 1) and
    servo_vin.ctrl (the logged supply voltage, V)."""
    doc = read_json(str(path))
    e = doc["entries"]
    col = lambda k: np.array([float(x[k]) for x in e])  # noqa: E731
    # Positions only, as BAM's loss: the logged speed is coarse; start velocities come from positions.
    log = Log(str(path), col("timestamp"), {"servo": col("position")}, {}, {},
              {"servo": col("goal_position"), "servo_enable": col("torque_enable"), "servo_vin": col("input_volts")})
    pwm = col("load")
    pwm = np.where(pwm > 32767, pwm - 65536, pwm)  # 16-bit two's complement
    return log, {"kp": float(doc["kp"]), "vin": float(doc["vin"]), "trajectory": doc["trajectory"], "pwm": pwm}


def measured_error_gain(runs) -> float:
    """The firmware's duty per rad of error per unit of kp, read from the logged PWM register
    (duty = PWM / 885) of `runs`: a least-squares line through the origin over the samples with
    torque on and the PWM off its limit and off zero."""
    x, y = [], []
    for log, info in runs:
        error = info["kp"] * (log.ctrl["servo"] - log.pos["servo"])
        keep = (log.ctrl["servo_enable"] > 0.5) & (np.abs(info["pwm"]) > 20) & (np.abs(info["pwm"]) < 800)
        x.append(error[keep])
        y.append(info["pwm"][keep] / PWM_LIMIT)
    x, y = np.concatenate(x), np.concatenate(y)
    return float(x @ y / (x @ x))


def fit_model(name: str, model, runs, actuator: str, options: dict, params: str, config: FitConfig):
    loop = parse_actuators(actuator, model, options)
    names = {p.name for p in loop.params()}
    bounds = {**FROZEN, **{k: v for k, v in MOTOR_BOUNDS.items() if k in names}}
    param_set = parse_params(params, model, extra=loop.params(), overrides=bounds)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(model, [log for log, _ in runs], param_set, config, progress=False, loop=loop)
    print(f"{name}: fitted in {time.perf_counter() - start:.0f} s, {result.evaluations} evaluations; "
          + ", ".join(f"{n} {v:.4g}" for n, v in zip(param_set.names, result.values) if "tinynet" not in n), flush=True)
    return loop, param_set, result.values


def bam_m1(reference: dict, error_gain: float, enable: dict):
    """BAM's m1 in the same simulator: values written into the MJCF, the DC motor in the loop
    (`enable` may carry `inputs` to feed it the logged voltage)."""
    m = mujoco.MjModel.from_xml_string(XML)
    m.dof_armature[0], m.dof_frictionloss[0], m.dof_damping[0] = reference["armature"], reference["friction_base"], reference["friction_viscous"]
    off = reference["q_offset"]
    m.body_ipos[m.body("arm").id] = [-LENGTH * np.sin(off), 0.0, -LENGTH * np.cos(off)]
    mujoco.mj_setConst(m, mujoco.MjData(m))
    options = {"dcmotor@servo": {"kt": reference["kt"], "R": reference["R"], "duty_gain": error_gain, "vin": 7.4,
                                 "fit": [], **enable}}
    return m, parse_actuators("dcmotor@servo", m, options), ParamSet([], model=m), np.zeros(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer evaluations (a smoke run)")
    parser.add_argument("--only", help="run only the models whose name contains this text (and the references); "
                        "writes no files")
    parser.add_argument("--seed", type=int, default=0, help="the fits' seed (default 0)")
    args = parser.parse_args()
    start = time.perf_counter()
    runs = sorted((load_run(p) for p in sorted((REAL / "raw").glob("*.json"))), key=lambda r: (r[1]["kp"], r[1]["trajectory"]))
    train = [r for r in runs if r[1]["kp"] in (100, 200, 400)]
    val = [r for r in runs if r[1]["kp"] == 800]
    model = mujoco.MjModel.from_xml_string(XML)
    evals = 150 if args.quick else 1500
    # CMA-ES on 0.5 s then 2 s windows; least squares polishes on whole runs from their first state
    # (open loop, what the table measures).
    config = FitConfig(horizons=(0.5, 2.0, 6.1), max_windows=12, optimizer="cmaes+lsq", seed=args.seed, refine_states=False,
                       optimizer_options={"cmaes": {"max_evaluations": evals}, "lsq": {"max_iterations": 5 if args.quick else 30}})
    net_config = FitConfig(horizons=(0.5, 2.0), max_windows=12, optimizer="cmaes", seed=args.seed, refine_states=False,
                           optimizer_options={"cmaes": {"max_evaluations": 2 * evals, "sigma0": 0.1}})
    all_runs = train + val
    error_gain = measured_error_gain(train)
    print(f"firmware error gain from the logged PWM of the kp 100-400 runs: {error_gain:.6f} duty/(rad kp)")
    enable = {"enable": "servo_enable", "per_log": {log.source: {"gain": info["kp"]} for log, info in all_runs}}
    supply = {"inputs": {"vin": "servo_vin"}}  # the DC motors run on the logged supply voltage
    candidates = {
        "ideal PD (tuned)": ("pd@servo", {"pd@servo": {"pd_kp": 0.003, "pd_kd": 0.02, **enable}},
                             "armature@servo,frictionloss@servo,damping@servo,com@arm", config),
        "ours: DC motor + friction": ("dcmotor@servo,friction@servo", {
            "dcmotor@servo": {"kt": 0.35, "R": 4.0, "vin": 7.4, "duty_gain": error_gain, "max_current": 1.5,
                              "fit": ["kt", "R", "max_current"], **enable, **supply},
            "friction@servo": {"coulomb": 0.0, "viscous": 0.0, "stribeck": 0.01, "stribeck_vel": 0.2, "smooth_vel": 0.05,
                               "fit": ["stribeck", "stribeck_vel"]}},
            "armature@servo,frictionloss@servo,damping@servo,com@arm", config),
        # BAM m1's structure fitted on the kp 100-400 runs only: the measured error gain, no
        # current limit, Coulomb + viscous friction (MJCF frictionloss, damping).
        "ours: DC motor + friction, m1 structure": ("dcmotor@servo", {
            "dcmotor@servo": {"kt": 0.35, "R": 4.0, "vin": 7.4, "duty_gain": error_gain, "fit": ["kt", "R"], **enable, **supply}},
            "armature@servo,frictionloss@servo,damping@servo,com@arm", config),
        "ours: DC motor + load friction": ("dcmotor@servo", {
            "dcmotor@servo": {"kt": 0.35, "R": 4.0, "vin": 7.4, "duty_gain": error_gain, "max_current": 3.0, "load_friction": 0.1,
                              "fit": ["kt", "R", "max_current", "load_friction"], **enable, **supply}},
            "armature@servo,frictionloss@servo,damping@servo,com@arm", config),
        "ours: tinynet (25 weights)": ("tinynet@servo", {"tinynet@servo": {"hidden": 6, "error_scale": 400.0, "vel_scale": 5.0,
                                                                           "torque_scale": 0.5, **enable}},
                                       "armature@servo,frictionloss@servo,com@arm", net_config),
    }
    rows, fitted = {}, {}  # fitted: name -> (model, loop, params, values), for the plot
    for name, (actuator, options, params, cfg) in candidates.items():
        if args.only and args.only not in name:
            continue
        loop, param_set, values = fit_model(name, model, train, actuator, options, params, cfg)
        fitted[name] = (model, loop, param_set, values)
        rows[name] = {"train_open_loop": rollout_rmse(model, param_set, values, [r[0] for r in train], horizon=None, loop=loop),
                      "val_open_loop": rollout_rmse(model, param_set, values, [r[0] for r in val], horizon=None, loop=loop),
                      "values": dict(zip(param_set.names, map(float, values)))}
        print(f"  open-loop RMSE: train {rows[name]['train_open_loop']:.4f} rad, kp 800 {rows[name]['val_open_loop']:.4f} rad", flush=True)
    for label in ("HEAD", "af22604"):
        reference = json.loads((REAL / f"reference_params_at_{label}" / "m1.json").read_text())
        scores = []
        # As BAM's code ran it (its two error gains, 7.4 V), then with the inputs our models get.
        for gain, inputs in [(g, enable) for g in ERROR_GAINS] + [(error_gain, {**enable, **supply})]:
            m, loop, empty, none = bam_m1(reference, gain, inputs)
            scores.append({"train_open_loop": rollout_rmse(m, empty, none, [r[0] for r in train], horizon=None, loop=loop),
                           "val_open_loop": rollout_rmse(m, empty, none, [r[0] for r in val], horizon=None, loop=loop),
                           "error_gain": gain, "logged_voltage": "inputs" in inputs})
            print(f"BAM m1 ({label}), error gain {gain:.6f}, {'logged voltage' if 'inputs' in inputs else '7.4 V'}: open-loop RMSE "
                  f"train {scores[-1]['train_open_loop']:.4f}, kp 800 {scores[-1]['val_open_loop']:.4f}")
        best = min(range(len(ERROR_GAINS)), key=lambda i: scores[i]["val_open_loop"])
        rows[f"BAM m1 published ({label})"] = scores[best]
        fitted[f"BAM m1 published ({label})"] = bam_m1(reference, ERROR_GAINS[best], enable)
        rows[f"BAM m1 published ({label}), measured error gain and logged voltage"] = scores[-1]
    print("\n| model | open-loop RMSE, kp 100-400 (fit) [rad] | open-loop RMSE, kp 800 (validation) [rad] |\n|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['train_open_loop']:.4f} | {row['val_open_loop']:.4f} |")
    if args.only:
        return
    OUT.parent.mkdir(exist_ok=True)
    plot_validation(OUT.with_suffix(".png"), val, {name: fitted[name] for name in PLOTTED if name in fitted})
    OUT.write_text(json.dumps({"rows": rows, "wall_time_s": time.perf_counter() - start, "quick": args.quick, "seed": args.seed}, indent=2))
    print(f"wrote {OUT.relative_to(ROOT)} in {time.perf_counter() - start:.0f} s")


def plot_validation(path: pathlib.Path, runs, models: dict) -> None:
    """The kp 800 runs open loop: goal, logged angle and each model's simulated angle."""
    fig = Figure(figsize=(12, 2.6 * len(runs)), layout="constrained")
    axes = fig.subplots(len(runs), 1, squeeze=False)[:, 0]
    traces = {name: rollout_traces(m, params, values, [log for log, _ in runs], horizon=None, loop=loop)
              for name, (m, loop, params, values) in models.items()}
    for k, (ax, (log, info)) in enumerate(zip(axes, runs)):
        t = log.time - log.time[0]
        ax.plot(t, log.ctrl["servo"], color="0.6", lw=0.8, ls=":", label="goal")
        ax.plot(t, log.pos["servo"], color="black", lw=1.0, label="logged")
        for j, (name, per_log) in enumerate(traces.items()):
            when, logged, simulated = per_log[k]
            rmse = np.sqrt(np.nanmean((simulated - logged) ** 2))
            ax.plot(when, simulated, color=f"C{j}", lw=1.1, alpha=0.85, label=f"{name}: {rmse:.3f} rad")
        ax.set_title(f"{info['trajectory']}, kp 800 (validation), open loop", fontsize=9, loc="left")
        ax.set_ylabel("angle [rad]")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    axes[-1].set_xlabel("time [s]")
    save_figure(fig, path)


if __name__ == "__main__":
    main()
