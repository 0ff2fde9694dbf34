"""Benchmark: every optimizer, and mujoco.sysid, on the 2-link arm problem of arm2_recovery.py.

The problem: 8 unknowns of the bundled arm (two masses; damping, frictionloss and armature of
both joints), started at log-uniform factors in [0.5, 2] of the truth, bounds [truth / 10,
truth * 10], noisy multisine logs of 3 s and 8 s (datasets/arm2/generate.py), seeds 0..5.
For each optimizer and log length it measures:

* success: every parameter within 5% of the truth;
* median wall time of a fit, and its candidate evaluations and MJX gradient steps;
* interval coverage: how many of the true values lie inside the reported 95% intervals
  (the target: at least 90%; mujoco.sysid's windowed intervals covered 18 of 48 in the
  foundation issue's measurement).

Run from the repository root (the full run takes tens of minutes on 2 cores):

    .venv/bin/python benchmarks/optimizers.py [--seeds 6] [--durations 3,8]
        [--optimizers cmaes,lsq,cmaes+lsq,bayes,mjx,auto,mujoco.sysid]

`--mjx-throughput 1024` instead measures MJX gradient steps per second with 1024 windows (on a
GPU when JAX has one). Prints one markdown table and writes every fit's numbers to benchmarks/out/optimizers.json
(rewritten after each fit, so a partial run keeps what it measured).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time
import warnings

import mujoco
import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import arm2_recovery as arm2  # noqa: E402
import mujoco_sysid_baseline as baseline  # noqa: E402

from sysid.fit import FitConfig, fit  # noqa: E402
from sysid.params import parse_params  # noqa: E402

OUT = REPO / "benchmarks" / "out" / "optimizers.json"
OPTIMIZERS = ("cmaes", "lsq", "cmaes+lsq", "bayes", "mjx", "auto", "mujoco.sysid")


def run_sysid(optimizer: str, model: mujoco.MjModel, log, start: tuple[dict, dict, dict], truth: dict, seed: int) -> dict:
    initial, lower, upper = start
    overrides = {n: {"initial": initial[n], "lower": lower[n], "upper": upper[n]} for n in baseline.PARAMETER_NAMES}
    params = parse_params(arm2.PARAMS, model, overrides=overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # identifiability and MJX gradient notes: in the json's stages
        result = fit(model, [log], params, FitConfig(seed=seed, optimizer=optimizer), progress=False)
    values = dict(zip(params.names, map(float, result.values)))
    lo, hi = result.uncertainty.ci95.T
    inside = {n: bool(lo[i] <= truth[n] <= hi[i]) for i, n in enumerate(params.names)}
    return {"values": values, "wall_time_s": result.wall_time_s, "evaluations": result.evaluations,
            "gradient_steps": result.gradient_steps, "inside_ci95": inside, "optimizer": result.optimizer,
            "reason": result.optimizer_reason, "stages": result.stages}


def run_mujoco_sysid(frame, start: tuple[dict, dict, dict]) -> dict:
    out = baseline.fit_with_mujoco_sysid(frame, *start)
    out["evaluations"] = out["rollouts"]
    return out


def summarise(rows: list[dict]) -> dict:
    ok = [r for r in rows if "error" not in r]
    covered = [v for r in ok if r.get("inside_ci95") for v in r["inside_ci95"].values()]
    return {
        "runs": len(rows), "errors": len(rows) - len(ok),
        "success": sum(r["max_rel_err"] <= arm2.TOLERANCE for r in ok),
        "wall": float(np.median([r["wall_time_s"] for r in ok])) if ok else float("nan"),
        "evaluations": float(np.median([r["evaluations"] for r in ok])) if ok else float("nan"),
        "gradient_steps": float(np.median([r.get("gradient_steps", 0) for r in ok])) if ok else float("nan"),
        "covered": sum(covered), "intervals": len(covered),
    }


def table(results: dict, names: list[str], durations: list[float]) -> str:
    lines = ["| optimizer | log | success (all 8 within 5%) | median wall s | median evaluations | median gradient steps | true values inside 95% CI |",
             "|---|---|---|---|---|---|---|"]
    for name in names:
        for duration in durations:
            rows = results.get(f"{name} {duration:g}", [])
            if not rows:
                continue
            s = summarise(rows)
            errors = f" ({s['errors']} errors)" if s["errors"] else ""
            coverage = f"{s['covered']}/{s['intervals']}" if s["intervals"] else "n/a"
            lines.append(f"| {name} | {duration:g} s | {s['success']}/{s['runs']}{errors} | {s['wall']:.1f} | "
                         f"{s['evaluations']:.0f} | {s['gradient_steps']:.0f} | {coverage} |")
    return "\n".join(lines)


def mjx_throughput(windows: int, steps: int = 5) -> None:
    """Print MJX gradient steps per second on the arm with `windows` windows of 0.25 s (all 8
    parameters plus every window's start state), on whatever device JAX uses."""
    import jax

    from sysid.loss import ShootingLoss
    from sysid.mjx_loss import MjxLoss
    from sysid.objective import Objective
    from sysid.sim import Simulator
    from sysid.track import bind_log

    generate = baseline._load_generate()
    truth = {n: float(generate.TRUTH[n]) for n in baseline.PARAMETER_NAMES}
    model = mujoco.MjModel.from_xml_path(str(baseline.ARM2_XML))
    log = arm2.frame_to_log(generate.make_log(windows * 0.25, 0), "arm2")
    params = parse_params(arm2.PARAMS, model, overrides={n: {"initial": v} for n, v in truth.items()})
    loss = ShootingLoss(Simulator(model, params), [bind_log(log, model)], 0.25)
    objective = Objective(loss, refine_states=True)
    x = objective.start(params.to_unit(params.initial))
    mjx_loss = MjxLoss(objective, x)
    start = time.perf_counter()
    mjx_loss.value_and_grad(x)
    compiled = time.perf_counter()
    for _ in range(steps):
        mjx_loss.value_and_grad(x)
    rate = steps / (time.perf_counter() - compiled)
    print(f"mjx: {rate:.3g} gradient steps/s with {loss.n_windows} windows of 0.25 s ({objective.dim} variables) on "
          f"{jax.devices()[0].device_kind} ({jax.default_backend()}); first step with compilation {compiled - start:.0f} s")


def print_coverage(results: dict) -> None:
    """The done-means number: interval coverage of auto's fits on the 3 s log."""
    if results.get("auto 3"):
        s = summarise(results["auto 3"])
        print(f"\ninterval coverage, auto on the 3 s log: {s['covered']}/{s['intervals']} true values inside the 95% intervals "
              f"({s['covered'] / max(s['intervals'], 1):.0%}; target >= 90%)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6, help="seeds FIRST..FIRST+N-1 (default 6)")
    parser.add_argument("--first-seed", type=int, default=0, help="FIRST (default 0)")
    parser.add_argument("--durations", default="3,8", help="log lengths in seconds, comma-separated (default 3,8)")
    parser.add_argument("--optimizers", default=",".join(OPTIMIZERS), help=f"comma-separated (default {','.join(OPTIMIZERS)})")
    parser.add_argument("--out", type=pathlib.Path, default=OUT, help=f"json file (default {OUT.relative_to(REPO)})")
    parser.add_argument("--mjx-throughput", type=int, metavar="WINDOWS", help="only measure MJX gradient steps/s with this many windows")
    parser.add_argument("--from-json", type=pathlib.Path, nargs="+", help="print the table of earlier runs' json files (pooled)")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    names = [n.strip() for n in args.optimizers.split(",") if n.strip()]
    durations = [float(d) for d in args.durations.split(",")]
    if args.mjx_throughput:
        mjx_throughput(args.mjx_throughput)
        return
    if args.from_json:
        results = {}
        for path in args.from_json:  # rows of the same optimizer and log length are pooled
            for key, rows in json.loads(path.read_text())["results"].items():
                results.setdefault(key, []).extend(rows)
        print(table(results, names, durations))
        print_coverage(results)
        return

    generate = baseline._load_generate()
    truth = {n: float(generate.TRUTH[n]) for n in baseline.PARAMETER_NAMES}
    model = mujoco.MjModel.from_xml_path(str(baseline.ARM2_XML))
    results: dict[str, list[dict]] = {}
    started = time.perf_counter()
    for duration in durations:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            frame = generate.make_log(duration, seed)
            log = arm2.frame_to_log(frame, f"arm2 {duration:g} s seed {seed}")
            start = baseline.benchmark_start(truth, seed)
            for name in names:
                try:
                    row = run_mujoco_sysid(frame, start) if name == "mujoco.sysid" else run_sysid(name, model, log, start, truth, seed)
                    row["max_rel_err"] = max(abs(row["values"][n] / truth[n] - 1) for n in truth)
                    line = f"max err {row['max_rel_err']:.2%}, wall {row['wall_time_s']:.1f} s, {row['evaluations']} evaluations"
                except Exception as error:  # noqa: BLE001 - an optimizer that fails is a row, not a crash
                    row = {"error": f"{type(error).__name__}: {error}"}
                    line = row["error"]
                row["seed"] = seed
                results.setdefault(f"{name} {duration:g}", []).append(row)
                print(f"{duration:g} s seed {seed} {name}: {line}", flush=True)
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps({"truth": truth, "tolerance": arm2.TOLERANCE, "cores": os.cpu_count(),
                                           "results": results}, indent=1))
    print()
    print(table(results, names, durations))
    print_coverage(results)
    print(f"total {time.perf_counter() - started:.0f} s on {os.cpu_count()} cores; wrote {out}")


if __name__ == "__main__":
    main()
