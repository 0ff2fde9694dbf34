"""Benchmark: a quadruped with a free base and feet on a floor, 41 parameters from a 10 s log.

The requirement this measures (issue 19): datasets/quadruped/ (12 position-controlled joints, a
free base, only the feet collide), a 10 s log of squats, weight shifts with sliding feet and an
open-loop trot, generated from truth.json with noisy encoders (5e-4 rad), a noisy base pose (1 mm,
2 mrad) and IMU columns. Fitting the base mass, the four feet's sliding friction and every joint's
armature, damping and frictionloss (41 parameters, started at quadruped.xml's nominal values, default
bounds) recovers each within 10% of the truth, over 3 seeds (3 logs; the seed also seeds the fit).

By default the fit sees the base pose and the joint encoders; the IMU columns (`imu_gyro[k]`,
`imu_acc[k]`, named after the MJCF sensors) are dropped. `--with-imu` keeps them in the log, so a
build that compares sensor columns with `sensordata` fits them too (a build that does not ignores
them with a warning). Run from the repository root:

    .venv/bin/python benchmarks/quadruped.py [--seeds 3] [--duration 10] [--with-imu] [--nthread N]

Prints a markdown table and writes the raw numbers to benchmarks/out/quadruped[_imu].json.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import tempfile
import time
import warnings

import mujoco
import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sysid.data import load_log  # noqa: E402
from sysid.fit import FitConfig, fit  # noqa: E402
from sysid.params import parse_params  # noqa: E402
from generators import load_generator  # noqa: E402

DATASET = REPO / "datasets" / "quadruped"
PARAMS = "mass@torso,friction@*_foot,armature,damping,frictionloss"
GROUPS = ("mass", "friction", "armature", "damping", "frictionloss")
TOLERANCE = 0.10
CONFIG = dict(optimizer="lsq", horizons=(0.1,))  # nominal values start in the basin: a local fit


def load_generate():
    return load_generator('quadruped')


def run_seed(generate, seed: int, duration: float, *, with_imu: bool, nthread: int | None) -> dict:
    frame = generate.make_log(duration, seed)
    if not with_imu:
        frame = frame.drop(columns=[c for c in frame.columns if c.startswith("imu_")])
    model = mujoco.MjModel.from_xml_path(str(DATASET / "quadruped.xml"))
    params = parse_params(PARAMS, model)
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / f"quadruped_seed{seed}.csv"
        frame.to_csv(path, index=False, float_format="%.9g")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            log = load_log(path)
            start = time.perf_counter()
            result = fit(model, [log], params, FitConfig(seed=seed, nthread=nthread, **CONFIG), progress=False)
            wall = time.perf_counter() - start
    truth = {name: float(generate.TRUTH[name]) for name in params.names}
    values = dict(zip(params.names, map(float, result.values)))
    errors = {name: abs(values[name] / truth[name] - 1.0) for name in params.names}
    return {
        "seed": seed,
        "values": values,
        "rel_err": errors,
        "group_max_err": {g: max(e for n, e in errors.items() if n.startswith(g + "@")) for g in GROUPS},
        "max_rel_err": max(errors.values()),
        "worst": max(errors, key=errors.get),
        "wall_time_s": wall,
        "evaluations": result.evaluations,
        "sim_steps": result.sim_steps,
        "loss_initial": result.loss_initial,
        "loss_final": result.loss_final,
        "signals": sorted(result.rmse_final),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    parser.add_argument("--duration", type=float, default=10.0, help="log length in seconds (default 10)")
    parser.add_argument("--with-imu", action="store_true", help="keep the IMU columns in the log")
    parser.add_argument("--nthread", type=int, default=None, help="rollout threads (default: all usable cores)")
    args = parser.parse_args(argv)

    generate = load_generate()
    rows = []
    for seed in range(args.seeds):
        r = run_seed(generate, seed, args.duration, with_imu=args.with_imu, nthread=args.nthread)
        rows.append(r)
        print(f"seed {seed}: max err {r['max_rel_err']:.2%} ({r['worst']}), loss {r['loss_initial']:.4g} -> "
              f"{r['loss_final']:.4g}, wall {r['wall_time_s']:.1f} s", flush=True)

    label = "base pose + encoders + IMU" if args.with_imu else "base pose + encoders"
    print()
    print(f"| signals | seed | {' | '.join(f'max err {g} %' for g in GROUPS)} | all within {TOLERANCE:.0%} | loss start -> end | wall s |")
    print("|---|---|" + "---|" * len(GROUPS) + "---|---|---|")
    for r in rows:
        groups = " | ".join(f"{100 * r['group_max_err'][g]:.1f}" for g in GROUPS)
        print(f"| {label} | {r['seed']} | {groups} | {'yes' if r['max_rel_err'] <= TOLERANCE else 'no'} | "
              f"{r['loss_initial']:.3g} -> {r['loss_final']:.3g} | {r['wall_time_s']:.0f} |")
    passed = sum(r["max_rel_err"] <= TOLERANCE for r in rows)
    print(f"\n{passed}/{len(rows)} seeds recover all {len(rows[0]['values'])} parameters within {TOLERANCE:.0%}; "
          f"median wall {np.median([r['wall_time_s'] for r in rows]):.0f} s on {args.nthread or os.cpu_count()} thread(s)")
    out = REPO / "benchmarks" / "out" / f"quadruped{'_imu' if args.with_imu else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"duration_s": args.duration, "with_imu": args.with_imu, "config": {**CONFIG, "params": PARAMS},
                               "tolerance": TOLERANCE, "truth": generate.TRUTH, "seeds": rows}, indent=2))
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
