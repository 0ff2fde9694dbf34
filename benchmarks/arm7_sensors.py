"""Benchmark: encoder offsets, torque-sensor gains, friction and link masses of a 7-DoF torque-driven arm.

The arm of datasets/arm7_sensed (7 hinge joints, torque motors, a `jointactuatorfrc` torque sensor
per joint). truth.json differs from the nominal arm7.xml in every joint's damping and frictionloss,
six link masses, two encoder offsets (`offset@j2` = 0.03 rad, `offset@j4` = -0.025 rad: the logged
position is the true one plus the offset) and two torque-sensor gains (`sensor_gain@tau2` = 1.08,
`sensor_gain@tau4` = 0.93). Per seed, generate.py records a 20 s excitation (a PD stabiliser on
the logged positions tracking multi-sines, plus multi-sine torques; 100 Hz rows; noise 5e-4 rad,
5e-3 rad/s, 0.05 N m). Two fits from the nominal model, side by side:

* sensed: `offset@j2,offset@j4,sensor_gain@tau2,sensor_gain@tau4,damping,frictionloss,mass`
  with the torque-sensor columns in the log (25 parameters);
* no measurement model: `damping,frictionloss,mass` on the joint columns only (the sensor columns
  dropped), what a fit without offsets and sensor parameters can do with the same log.

Rows: each parameter's error vs the truth, the worst, the worst over the parameters the fit itself
determines to better than 5% (its 95% interval within +-5% of the value: the identified ones; done:
within 5% for the sensed fit), the wall time. Run from the repository root (2 to 4 minutes for a
sensed fit, 12 for the other, on 2 cores shared with other jobs):

    .venv/bin/python benchmarks/arm7_sensors.py [--seeds 3] [--duration 20] [--optimizer lsq] [--tabulate]

`--tabulate` prints the tables of the fits already in benchmarks/out/arm7_sensors/ without fitting.

Prints markdown tables and writes the raw numbers to benchmarks/out/arm7_sensors.json.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
import warnings

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sysid.cli import fit_files  # noqa: E402
from generators import load_generator  # noqa: E402

DATASET = REPO / "datasets" / "arm7_sensed"
OUT = REPO / "benchmarks" / "out" / "arm7_sensors"
TOLERANCE = 0.05
SENSED = "offset@j2,offset@j4,sensor_gain@tau2,sensor_gain@tau4,damping,frictionloss,mass"
PLAIN = "damping,frictionloss,mass"


def _generator():
    return load_generator('arm7_sensed')


def run_seed(seed: int, duration: float, optimizer: str) -> dict:
    generate = _generator()
    folder = OUT / f"seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    frame = generate.record(duration, seed)
    sensed_log, plain_log = folder / "run.csv", folder / "run_joints.csv"
    frame.to_csv(sensed_log, index=False, float_format="%.7g")
    frame.drop(columns=[c for c in frame.columns if c.startswith("tau")]).to_csv(plain_log, index=False, float_format="%.7g")
    out = {}
    for label, params, log in (("sensed", SENSED, sensed_log), ("no measurement model", PLAIN, plain_log)):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = fit_files(model_path=str(DATASET / "arm7.xml"), log_paths=[str(log)], params=params, optimizer=optimizer,
                               seed=seed, out=str(folder / label.replace(" ", "_")), progress=False, check="off")
        out[label] = summarize(result, time.perf_counter() - start)
    return out


def summarize(result: dict, wall_s: float) -> dict:
    """The numbers the tables need from a result.json: values, 95% intervals, wall time."""
    return {"values": {name: e["value"] for name, e in result["params"].items()},
            "ci95": {name: e["ci95"] for name, e in result["params"].items()}, "wall_s": wall_s}


def stored(seed: int, label: str) -> dict:
    """`summarize` of a fit already in the output folder (its own wall time)."""
    result = json.loads((OUT / f"seed{seed}" / label.replace(" ", "_") / "result.json").read_text())
    return summarize(result, result["wall_time_s"])


def identified(ci95: list[float], value: float) -> bool:
    """The fit pins the parameter to better than 5%: its 95% interval lies within +-5% of the value."""
    return ci95[0] >= value - TOLERANCE * abs(value) and ci95[1] <= value + TOLERANCE * abs(value)


def error(name: str, value: float, truth: dict, nominal: dict) -> float:
    """Relative error vs the truth (the nominal value where truth.json keeps it)."""
    true = truth.get(name, nominal.get(name))
    return (value - true) / abs(true)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=20.0, help="s of excitation per log")
    parser.add_argument("--optimizer", default="lsq", help="as sysid fit --optimizer (default lsq)")
    parser.add_argument("--tabulate", action="store_true", help="print the tables of the fits already in the output folder")
    args = parser.parse_args()
    generate = _generator()
    truth = generate.TRUTH
    import mujoco

    from sysid.params import parse_params

    nominal_model = mujoco.MjModel.from_xml_path(str(DATASET / "arm7.xml"))
    nominal = dict(zip(*(lambda p: (p.names, p.initial))(parse_params(PLAIN, nominal_model))))
    if args.tabulate:
        runs = {seed: {label: stored(seed, label) for label in ("sensed", "no measurement model")} for seed in range(args.seeds)}
    else:
        runs = {seed: run_seed(seed, args.duration, args.optimizer) for seed in range(args.seeds)}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT.parent / "arm7_sensors.json").write_text(json.dumps({"truth": truth, "runs": runs}, indent=1))
    names = list(runs[0]["sensed"]["values"])
    for label in ("sensed", "no measurement model"):
        print(f"\n### {label}\n")
        print("| parameter | truth | " + " | ".join(f"seed {s}" for s in runs) + " |")
        print("|---|---|" + "---|" * len(runs))
        worst, worst_identified = {s: 0.0 for s in runs}, {s: 0.0 for s in runs}
        for name in names:
            if name not in runs[0][label]["values"]:
                continue
            cells = []
            for s, run in runs.items():
                value = run[label]["values"][name]
                e = error(name, value, truth, nominal)
                worst[s] = max(worst[s], abs(e))
                pinned = identified(run[label]["ci95"][name], value)
                if pinned:
                    worst_identified[s] = max(worst_identified[s], abs(e))
                cells.append(f"{100 * e:+.2f}%" + ("" if pinned else " (not identified)"))
            true = truth.get(name, nominal.get(name))
            print(f"| {name} | {true:g} | " + " | ".join(cells) + " |")
        print("| **worst** | | " + " | ".join(f"{100 * w:.2f}%" for w in worst.values()) + " |")
        print("| **worst identified** | | " + " | ".join(f"{100 * w:.2f}%" for w in worst_identified.values()) + " |")
        print("| wall time | | " + " | ".join(f"{run[label]['wall_s']:.0f} s" for run in runs.values()) + " |")
        if label == "sensed":
            print(f"\nsensed fit within {100 * TOLERANCE:g}% on every identified parameter and seed: "
                  f"{'yes' if max(worst_identified.values()) <= TOLERANCE else 'NO'}; on every parameter: "
                  f"{'yes' if max(worst.values()) <= TOLERANCE else 'NO'}")


if __name__ == "__main__":
    main()
