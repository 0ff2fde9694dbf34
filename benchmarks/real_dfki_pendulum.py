"""Benchmark: the DFKI simple pendulum's hardware logs, our fit vs the published parameters.

Fits `datasets/dfki_pendulum/pendulum.xml` to the run the authors identified from
(`control_method_pd/system_identification`), exactly as `sysid fit` does, then predicts every other
run with our fitted model and with the authors' published parameters converted to the same MJCF:

    J = 6.259e-02 kg m^2, m*cx = 1.022e-01 kg m, Fv = 4.707e-02 N m s/rad, Fc = 1.839e-01 N m,
    offset = -7.586e-02 N m;  tau = J qdd + m cx g sin(q) + Fv qd + Fc atan(100 qd) + offset

converted as: the link's mass m = m*cx / 0.5 with its centre of mass 0.5 m below the hinge and an
inertia about it of J - m 0.5^2 (so the hinge sees J), damping = Fv, frictionloss = Fc pi / 2 (the
level atan(100 qd) reaches beyond a few 0.01 rad/s). The constant `offset` is no MJCF joint property;
the "published + offset" column models it as a constant actuator bias (`biastype="affine"`,
`biasprm[0] = -offset`), which our fit does not have.

Two error measures, both RMSE of the joint angle against the log:
* "1 s windows": the run is cut into 1 s windows, each simulated from the logged state at its start
  under the logged input (the fit's own horizon);
* "open loop": the whole run simulated from its first state (swing-ups through the unstable top
  make this dominated by where each prediction first falls the other way).

The input is the torque the motor reports (`map.yaml`), as in the authors' identification; for the
torque-controlled runs (ilqr, sac) also the commanded torque from data_desired.csv
(`map_commanded.yaml`, states and command merged from two files).

    .venv/bin/python benchmarks/real_dfki_pendulum.py [--params mass,inertia,damping,frictionloss,delay]

Prints markdown tables; writes benchmarks/out/dfki_fit/ (the fit's outputs),
benchmarks/out/dfki_pendulum.png and benchmarks/out/dfki_pendulum.json.
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
from matplotlib.figure import Figure

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sysid import native  # noqa: E402
from sysid.cli import fit_files  # noqa: E402
from sysid.data import load_log  # noqa: E402
from sysid.io import save_figure  # noqa: E402
from sysid.params import parse_params  # noqa: E402
from sysid.validate import prediction_errors, rmse  # noqa: E402

REAL = REPO.parent / "shared" / "data" / "real" / "dfki_simple_pendulum" / "measured"
DATA = REPO / "datasets" / "dfki_pendulum"
OUT = REPO / "benchmarks" / "out"
FIT_RUN = "control_method_pd/system_identification"
VAL_RUNS = [
    "control_method_ddp",
    "control_method_direct_collocation",
    "control_method_ilqr",
    "control_method_pd/1nm_torque_limited_swingup_failure",
    "control_method_sac",
]
COMMANDED = ("control_method_ilqr", "control_method_sac")  # torque-controlled: data_desired.csv is the command
PARAMS = "mass,inertia,damping,frictionloss,delay"
PUBLISHED = {"J": 6.259e-02, "mcx": 1.022e-01, "Fv": 4.707e-02, "Fc": 1.839e-01, "offset": -7.586e-02}
ARM = 0.5  # m, where the converted model puts the centre of mass


def published_model(*, offset: bool) -> mujoco.MjModel:
    """pendulum.xml with the published parameters written in (see the module docstring)."""
    model = mujoco.MjModel.from_xml_path(str(DATA / "pendulum.xml"))
    p = PUBLISHED
    b, dof, a = model.body("link").id, model.joint("pendulum").dofadr[0], model.actuator("motor").id
    mass = p["mcx"] / ARM
    model.body_mass[b] = mass
    model.body_ipos[b] = [0, 0, -ARM]
    model.body_inertia[b] = [p["J"] - mass * ARM**2, p["J"] - mass * ARM**2, 1e-4]
    model.dof_damping[dof] = p["Fv"]
    model.dof_frictionloss[dof] = p["Fc"] * np.pi / 2
    if offset:
        model.actuator_biastype[a] = mujoco.mjtBias.mjBIAS_AFFINE
        model.actuator_biasprm[a, 0] = -p["offset"]
    mujoco.mj_setConst(model, mujoco.MjData(model))
    return model


def run_log(run: str, map_name: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_log(REAL / run / "data_measured.csv", map_path=DATA / map_name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", default=PARAMS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    if not REAL.is_dir():
        sys.exit(f"no DFKI data at {REAL}")

    fit_out = OUT / "dfki_fit"
    log_path = REAL / FIT_RUN / "data_measured.csv"
    command = (f".venv/bin/sysid fit --model datasets/dfki_pendulum/pendulum.xml --map datasets/dfki_pendulum/map.yaml "
               f"--config datasets/dfki_pendulum/fit.yaml --log ../shared/data/real/dfki_simple_pendulum/measured/{FIT_RUN}/data_measured.csv "
               f"--params {args.params} --seed {args.seed} --out benchmarks/out/dfki_fit")
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = fit_files(model_path=str(DATA / "pendulum.xml"), log_paths=[str(log_path)], params=args.params,
                            map_path=str(DATA / "map.yaml"), config_path=str(DATA / "fit.yaml"), seed=args.seed,
                            nthread=args.threads, out=str(fit_out), progress=False)
    fit_seconds = time.perf_counter() - start
    ours = mujoco.MjModel.from_xml_path(str(fit_out / "calibrated.xml"))
    delay = summary["params"].get("delay", {}).get("value", 0.0)
    native.strip_delay(ours, delay)  # calibrated.xml carries the delay natively; prediction_errors applies it below
    models = {
        "ours": (ours, delay),
        "published": (published_model(offset=False), 0.0),
        "published + offset": (published_model(offset=True), 0.0),
    }

    cases = [(FIT_RUN, "map.yaml")] + [(run, "map.yaml") for run in VAL_RUNS] + [(run, "map_commanded.yaml") for run in COMMANDED]
    rows, traces = [], {}
    for run, map_name in cases:
        log = run_log(run, map_name)
        row = {"run": run, "input": "measured" if map_name == "map.yaml" else "commanded", "duration_s": log.duration}
        for label, (model, d) in models.items():
            params = parse_params("delay", model, overrides={"delay": {"initial": d}})
            for key, horizon in (("windows", 1.0), ("open_loop", None)):
                errors = prediction_errors(model, params, np.array([d]), [log], horizon=horizon, nthread=args.threads)
                row[f"{key}:{label}"] = rmse(errors)[0]["pendulum.pos"]
                if key == "windows" and map_name == "map.yaml":
                    traces[(run, label)] = (log, errors[0]["pendulum.pos"][0])
        rows.append(row)

    print(f"fit: {FIT_RUN}, params {args.params}, {summary['wall_time_s']:.1f} s fit ({fit_seconds:.1f} s with outputs);"
          f" the same fit from the command line:\n\n    {command}\n")
    print("| parameter | fitted | published (converted) |")
    print("|---|---|---|")
    ref = published_model(offset=False)
    for name, p in summary["params"].items():
        print(f"| {name} | {p['value']:.4g} | {_published_value(name, ref)} |")
    j_ours = _hinge_inertia(ours)
    print(f"| J about the hinge [kg m^2] | {j_ours:.4g} | {PUBLISHED['J']:.4g} |")
    print(f"| m*cx [kg m] | {_mcx(ours):.4g} | {PUBLISHED['mcx']:.4g} |")
    if "delay_estimate" in summary:
        print(f"\ndelay estimated from the log before fitting: {1e3 * summary['delay_estimate']['value']:.2f} ms")
    labels = list(models)
    for key, title in (("windows", "1 s windows from the logged state"), ("open_loop", "open loop over the whole run")):
        print(f"\nJoint-angle RMSE [rad], {title} (lower is better); the first row is the training run.\n")
        print("| run | input | s | " + " | ".join(labels) + " |")
        print("|---|---|---|" + "---|" * len(labels))
        for row in rows:
            cells = [f"{row[f'{key}:{m}']:.3f}" for m in labels]
            best = min(range(len(labels)), key=lambda i: row[f"{key}:{labels[i]}"])
            cells[best] = f"**{cells[best]}**"
            print(f"| {row['run'].replace('control_method_', '')} | {row['input']} | {row['duration_s']:.1f} | "
                  + " | ".join(cells) + " |")
    held = [r for r in rows if r["run"] != FIT_RUN]
    wins = sum(r["windows:ours"] <= r["windows:published"] for r in held)
    wins_ol = sum(r["open_loop:ours"] <= r["open_loop:published"] for r in held)
    print(f"\nours <= published on {wins}/{len(held)} held-out cases over 1 s windows, {wins_ol}/{len(held)} open loop")

    _plot(OUT / "dfki_pendulum.png", traces, labels)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "dfki_pendulum.json").write_text(json.dumps({"params": summary["params"], "rows": rows,
                                                        "delay_estimate": summary.get("delay_estimate")}, indent=2))


def _hinge_inertia(model: mujoco.MjModel) -> float:
    """kg m^2 about the hinge (y axis): the link's inertia about its centre of mass (diagonal inertial
    frame, unrotated), the parallel-axis term and the armature."""
    b = model.body("link").id
    x, _, z = model.body_ipos[b]
    return float(model.body_inertia[b, 1] + model.body_mass[b] * (x**2 + z**2) + model.dof_armature[0])


def _mcx(model: mujoco.MjModel) -> float:
    return float(-model.body_mass[1] * model.body_ipos[1, 2])


def _published_value(name: str, ref: mujoco.MjModel) -> str:
    values = {"mass@link": ref.body_mass[1], "damping@pendulum": ref.dof_damping[0],
              "frictionloss@pendulum": ref.dof_frictionloss[0], "delay": 0.0}
    return f"{values[name]:.4g}" if name in values else "-"


def _plot(path: pathlib.Path, traces: dict, labels: list[str]) -> None:
    runs = list(dict.fromkeys(run for run, _ in traces))
    fig = Figure(figsize=(11, 2.2 * len(runs)), layout="constrained")
    axes = fig.subplots(len(runs), 1, squeeze=False)[:, 0]
    for ax, run in zip(axes, runs):
        log = traces[(run, labels[0])][0]
        rows = np.flatnonzero(log.time > log.time[0])  # the rows the windows compare
        ax.plot(log.time - log.time[0], log.pos["pendulum"], color="black", lw=0.8, label="logged")
        for k, label in enumerate(labels):
            err = traces[(run, label)][1]
            t = log.time[rows[: len(err)]] - log.time[0]
            ax.plot(t, log.pos["pendulum"][rows[: len(err)]] + err, lw=1.2, color=f"C{k}", alpha=0.8, label=label)
        ax.set_title(f"{run}: 1 s windows from the logged state", fontsize=9, loc="left")
        ax.set_ylabel("angle [rad]")
        ax.grid(alpha=0.3)
    axes[0].legend(ncol=4, fontsize=8)
    axes[-1].set_xlabel("time [s]")
    save_figure(fig, path)


if __name__ == "__main__":
    main()
