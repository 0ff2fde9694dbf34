"""Benchmark: the default `sysid fit` on long logs and on many short ones, memory and time.

The bundled 2-link arm (datasets/arm2, its generator) logged at 500 Hz for 8, 64, 512 and
3600 s; 8 unknowns (mass, damping, frictionloss, armature of both links, as `sysid demo`)
started at log-uniform factors in [0.5, 2] of the truth, bounds truth / 10 .. truth x 10 (as
benchmarks/arm2_recovery.py); the default FitConfig. Each length runs in its own subprocess,
whose peak resident memory (ru_maxrss) is read after it ends. Then ten 10 s logs in one fit,
with start states refined (the default) and not.

Goals: 3600 s within 2 GB; wall per simulated step at 3600 s at most 1.5x that at 8 s; every
parameter within 5% at every length; ten 10 s logs: refining start states at most 1.5x the
wall of not refining. Run from the repository root:

    .venv/bin/python benchmarks/long_logs.py [--lengths 8,64,512,3600] [--seed 0] [--skip-episodes]

Prints a markdown table; writes the raw numbers to benchmarks/out/long_logs.json.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out" / "long_logs.json"
PARAMS = "mass,damping,frictionloss,armature"
TOLERANCE = 0.05
MEMORY_GOAL_GB = 2.0
STEP_RATIO_GOAL = 1.5
REFINE_RATIO_GOAL = 1.5


def run_one(durations: list[float], seed: int, refine_states: bool) -> dict:
    """Fit logs of these durations (s) in this process; returns the numbers (no peak memory)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    sys.path.insert(0, str(REPO))
    import mujoco
    import mujoco_sysid_baseline as baseline
    from arm2_recovery import frame_to_log

    from sysid.fit import FitConfig, fit
    from sysid.params import parse_params

    generate = baseline._load_generate()
    truth = {n: float(generate.TRUTH[n]) for n in baseline.PARAMETER_NAMES}
    model = mujoco.MjModel.from_xml_path(str(baseline.ARM2_XML))
    logs = [frame_to_log(generate.make_log(d, seed * 100 + k), f"arm2 {d:g} s #{k}") for k, d in enumerate(durations)]
    initial, lower, upper = baseline.benchmark_start(truth, seed)
    overrides = {n: {"initial": initial[n], "lower": lower[n], "upper": upper[n]} for n in baseline.PARAMETER_NAMES}
    params = parse_params(PARAMS, model, overrides=overrides)
    start = time.perf_counter()
    result = fit(model, logs, params, FitConfig(seed=seed, refine_states=refine_states), progress=False)
    wall = time.perf_counter() - start
    values = dict(zip(params.names, map(float, result.values)))
    errors = {n: abs(values[n] / truth[n] - 1.0) for n in truth}
    return {"durations_s": durations, "refine_states": refine_states, "wall_s": wall, "sim_steps": result.sim_steps,
            "steps_per_s": result.sim_steps / wall, "wall_per_step_us": 1e6 * wall / result.sim_steps,
            "max_rel_err": max(errors.values()), "worst": max(errors, key=errors.get), "values": values,
            "evaluations": result.evaluations, "stages": result.stages}


def in_subprocess(durations: list[float], seed: int, refine_states: bool) -> dict:
    """`run_one` in a child process; adds its peak resident memory in GB."""
    command = [sys.executable, __file__, "--child", json.dumps({"durations": durations, "seed": seed, "refine": refine_states})]
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(command, stdout=out, stderr=err, text=True, env=env)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own peak resident memory
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if child.returncode != 0:
        return {"durations_s": durations, "refine_states": refine_states, "error": stderr.strip().splitlines()[-1:]}
    row = json.loads(stdout.strip().splitlines()[-1])
    row["peak_rss_gb"] = usage.ru_maxrss / 2**20  # ru_maxrss is in KiB on Linux
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="8,64,512,3600", help="log lengths in s, comma-separated")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-episodes", action="store_true", help="skip the ten 10 s logs")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        job = json.loads(args.child)
        print(json.dumps(run_one(job["durations"], job["seed"], job["refine"])))
        return
    rows = []
    for length in sorted(float(v) for v in args.lengths.split(",")):
        rows.append(in_subprocess([length], args.seed, True))
        print(json.dumps({k: v for k, v in rows[-1].items() if k not in ("values", "stages")}), flush=True)
    episodes = []
    if not args.skip_episodes:
        for refine in (False, True):
            episodes.append(in_subprocess([10.0] * 10, args.seed, refine))
            print(json.dumps({k: v for k, v in episodes[-1].items() if k not in ("values", "stages")}), flush=True)
    print()
    print("| log s | peak RSS GB | wall s | sim steps | steps/s | wall per step us | max rel err |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['durations_s'][0]:g} | failed: {r['error']} | | | | | |")
            continue
        print(f"| {r['durations_s'][0]:g} | {r['peak_rss_gb']:.2f} | {r['wall_s']:.1f} | {r['sim_steps']:.3g} | "
              f"{r['steps_per_s']:.3g} | {r['wall_per_step_us']:.3f} | {100 * r['max_rel_err']:.2f}% ({r['worst']}) |")
    good = [r for r in rows if "error" not in r]
    if len(good) > 1:
        ratio = good[-1]["wall_per_step_us"] / good[0]["wall_per_step_us"]
        print(f"\nwall per step, {good[-1]['durations_s'][0]:g} s vs {good[0]['durations_s'][0]:g} s: {ratio:.2f}x "
              f"(goal <= {STEP_RATIO_GOAL}); largest peak RSS {max(r['peak_rss_gb'] for r in good):.2f} GB "
              f"(goal <= {MEMORY_GOAL_GB} at 3600 s); all within {TOLERANCE:.0%}: "
              f"{all(r['max_rel_err'] <= TOLERANCE for r in good)}")
    if len(episodes) == 2 and all("error" not in e for e in episodes):
        off, on = episodes
        print(f"ten 10 s logs: refine_states off {off['wall_s']:.1f} s (max err {100 * off['max_rel_err']:.2f}%), "
              f"on {on['wall_s']:.1f} s (max err {100 * on['max_rel_err']:.2f}%): ratio {on['wall_s'] / off['wall_s']:.2f} "
              f"(goal <= {REFINE_RATIO_GOAL})")
    print(f"machine: {os.cpu_count()} cores")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"lengths": rows, "episodes": episodes}, indent=1))


if __name__ == "__main__":
    main()
