"""Benchmark: BAM's Dynamixel XL330 bench logs, our fit vs BAM's published m1 fits.

Converts the JSON logs with the dataset's adapter (`datasets/bam_xl330/bam_json.py`, JSON -> sysid
CSV), fits `datasets/bam_xl330/bench.xml` (armature, frictionloss, damping and the effective
position gain K) to the two firmware-kp-400 runs `sin_sin` and `up_and_down` as `sysid fit` does,
and predicts the other ten runs (kp 100, 200, 400, 800) with K scaled by kp_fw / 400.

The references are BAM's m1 fits (Coulomb + viscous) from its commit af22604 and from HEAD, written
into the same MJCF: armature, frictionloss = friction_base, damping = friction_viscous + kt^2 / R
(the back-EMF), K = kt vin error_gain kp_fw / R with error_gain 0.00246 and vin 7.4 V, and the
proportional torque limited to kt vin / R; a third column puts BAM's HEAD fit under the same 0.4 N m
torque limit as our bench.xml (read off the stalls in the logs), to show what the limit alone does. BAM's q_offset (a 0.02-0.03 rad encoder offset) is left
out of both references, and our model has none either. In `lift_and_drop` runs only the first 2 s
(torque enabled) are used: a position actuator cannot switch off.

RMSE of the joint angle [rad] over 1 s windows started from the logged state, and open loop over
each run (6 s, or 2 s for lift_and_drop).

    .venv/bin/python benchmarks/real_bam_xl330.py

Prints markdown tables; writes benchmarks/out/bam_csv/ (converted logs), benchmarks/out/bam_fit/,
benchmarks/out/bam_xl330.png and .json.
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
sys.path.insert(0, str(REPO / "datasets" / "bam_xl330"))

import bam_json  # noqa: E402

from sysid.cli import fit_files  # noqa: E402
from sysid.data import load_log  # noqa: E402
from sysid.io import save_figure  # noqa: E402
from sysid.params import ParamSet  # noqa: E402
from sysid.validate import prediction_errors, rmse  # noqa: E402

REAL = REPO.parent / "shared" / "data" / "real" / "bam_xl330"
DATA = REPO / "datasets" / "bam_xl330"
OUT = REPO / "benchmarks" / "out"
PARAMS = "armature,frictionloss,damping,kp"
FIT_KP = 400
FIT_TRAJECTORIES = ("sin_sin", "up_and_down")
ERROR_GAIN = 0.00246
VIN = 7.4
LIMITED = "BAM m1 (HEAD), 0.4 N m limit"


def reference_model(ref: dict, kp_fw: float, *, limit: float | None = None) -> mujoco.MjModel:
    """bench.xml with a BAM m1 fit converted (see the module docstring); `limit` N m overrides kt vin / R."""
    model = mujoco.MjModel.from_xml_path(str(DATA / "bench.xml"))
    kt, r = ref["kt"], ref["R"]
    dof = model.joint("servo").dofadr[0]
    model.dof_armature[dof] = ref["armature"]
    model.dof_frictionloss[dof] = ref["friction_base"]
    model.dof_damping[dof] = ref["friction_viscous"] + kt**2 / r
    gain = kt * VIN * ERROR_GAIN * kp_fw / r
    a = model.actuator("servo").id
    model.actuator_gainprm[a, 0], model.actuator_biasprm[a, 1] = gain, -gain
    limit = kt * VIN / r if limit is None else limit
    model.actuator_forcerange[a] = [-limit, limit]
    mujoco.mj_setConst(model, mujoco.MjData(model))
    return model


def at_gain(model: mujoco.MjModel, kp_fw: float) -> mujoco.MjModel:
    """A copy of our fitted model (for kp 400) with its position gain scaled to firmware gain kp_fw."""
    out = mujoco.MjModel.from_xml_path(str(OUT / "bam_fit" / "calibrated.xml"))
    a = out.actuator("servo").id
    gain = model.actuator_gainprm[a, 0] * kp_fw / FIT_KP
    out.actuator_gainprm[a, 0], out.actuator_biasprm[a, 1] = gain, -gain
    mujoco.mj_setConst(out, mujoco.MjData(out))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", default=PARAMS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    if not REAL.is_dir():
        sys.exit(f"no BAM data at {REAL}")
    csv_dir = OUT / "bam_csv"
    runs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the dropped torque-off rows
        bam_json.main([str(p) for p in sorted((REAL / "raw").glob("*.json"))] + ["--out", str(csv_dir)])
    for path in sorted((REAL / "raw").glob("*.json")):
        doc = json.loads(path.read_text())
        runs.append({"run": path.stem, "trajectory": doc["trajectory"], "kp": doc["kp"], "csv": csv_dir / f"{path.stem}.csv"})
    train = [r for r in runs if r["kp"] == FIT_KP and r["trajectory"] in FIT_TRAJECTORIES]
    start = time.perf_counter()
    summary = fit_files(model_path=str(DATA / "bench.xml"), log_paths=[str(r["csv"]) for r in train], params=args.params,
                        config_path=str(DATA / "fit.yaml"), seed=args.seed, nthread=args.threads,
                        out=str(OUT / "bam_fit"), progress=False)
    seconds = time.perf_counter() - start
    fitted = mujoco.MjModel.from_xml_path(str(OUT / "bam_fit" / "calibrated.xml"))
    refs = {name: json.loads((REAL / folder / "m1.json").read_text())
            for name, folder in (("BAM m1 (af22604)", "reference_params_at_af22604"), ("BAM m1 (HEAD)", "reference_params_at_HEAD"))}
    labels = ["ours", *refs, LIMITED]

    rows, traces = [], {}
    for r in runs:
        log = load_log(r["csv"])
        models = {"ours": at_gain(fitted, r["kp"]), **{k: reference_model(v, r["kp"]) for k, v in refs.items()},
                  LIMITED: reference_model(refs["BAM m1 (HEAD)"], r["kp"], limit=fitted.actuator_forcerange[0, 1])}
        row = {**{k: r[k] for k in ("run", "trajectory", "kp")}, "train": r in train, "duration_s": log.duration}
        for label, model in models.items():
            for key, horizon in (("windows", 1.0), ("open_loop", None)):
                errors = prediction_errors(model, ParamSet([]), np.zeros(0), [log], horizon=horizon, nthread=args.threads)
                row[f"{key}:{label}"] = rmse(errors)[0]["servo.pos"]
                if key == "windows":
                    traces[(r["run"], label)] = (log, errors[0]["servo.pos"][0])
        rows.append(row)

    print(f"fit: {len(train)} runs at firmware kp {FIT_KP} ({', '.join(FIT_TRAJECTORIES)}), params {args.params}, "
          f"{summary['wall_time_s']:.0f} s fit ({seconds:.0f} s with outputs)\n")
    print("| parameter | fitted | " + " | ".join(refs) + " |")
    print("|---|---|" + "---|" * len(refs))
    ref_models = {k: reference_model(v, FIT_KP) for k, v in refs.items()}
    for name, p in summary["params"].items():
        print(f"| {name} | {p['value']:.4g} | " + " | ".join(f"{_value(m, name):.4g}" for m in ref_models.values()) + " |")
    for key, title in (("windows", "1 s windows from the logged state"), ("open_loop", "open loop")):
        print(f"\nJoint-angle RMSE [rad], {title} (lower is better); training runs marked *.\n")
        print("| run | trajectory | kp | " + " | ".join(labels) + " |")
        print("|---|---|---|" + "---|" * len(labels))
        for row in rows:
            cells = [f"{row[f'{key}:{m}']:.4f}" for m in labels]
            best = min(range(len(labels)), key=lambda i: row[f"{key}:{labels[i]}"])
            cells[best] = f"**{cells[best]}**"
            print(f"| {row['run']}{' *' if row['train'] else ''} | {row['trajectory']} | {row['kp']} | " + " | ".join(cells) + " |")
    test = [r for r in rows if not r["train"]]
    for key in ("windows", "open_loop"):
        means = {m: np.mean([r[f"{key}:{m}"] for r in test]) for m in labels}
        print(f"\nmean over the {len(test)} held-out runs, {key.replace('_', ' ')}: "
              + ", ".join(f"{m} {v:.4f}" for m, v in means.items()))
    _plot(OUT / "bam_xl330.png", traces, labels, rows)
    (OUT / "bam_xl330.json").write_text(json.dumps({"params": summary["params"], "rows": rows}, indent=2))


def _value(model: mujoco.MjModel, name: str) -> float:
    dof, a = model.joint("servo").dofadr[0], model.actuator("servo").id
    return {"armature@servo": model.dof_armature[dof], "frictionloss@servo": model.dof_frictionloss[dof],
            "damping@servo": model.dof_damping[dof], "kp@servo": model.actuator_gainprm[a, 0]}.get(name, np.nan)


def _plot(path: pathlib.Path, traces: dict, labels: list[str], rows: list[dict]) -> None:
    fig = Figure(figsize=(12, 2.0 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), 1, squeeze=False)[:, 0]
    for ax, row in zip(axes, rows):
        log = traces[(row["run"], labels[0])][0]
        compared = np.flatnonzero(log.time > log.time[0])
        ax.plot(log.time, log.ctrl["servo"], color="0.6", lw=0.8, ls=":", label="goal")
        ax.plot(log.time, log.pos["servo"], color="black", lw=0.8, label="logged")
        for k, label in enumerate(labels):
            err = traces[(row["run"], label)][1]
            ax.plot(log.time[compared], log.pos["servo"][compared] + err, lw=1.1, color=f"C{k}", alpha=0.8, label=label)
        ax.set_title(f"{row['run']} {row['trajectory']} kp {row['kp']}{' (train)' if row['train'] else ''}: 1 s windows",
                     fontsize=9, loc="left")
        ax.grid(alpha=0.3)
    axes[0].legend(ncol=5, fontsize=8)
    save_figure(fig, path)


if __name__ == "__main__":
    main()
