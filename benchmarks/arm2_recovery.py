"""Benchmark: recover the 8 parameters of the bundled 2-link arm, sysid vs mujoco.sysid.

The requirement this measures: a planar 2-link arm hanging under gravity, multisine torque
excitation, an 8 s log sampled at the 2 ms model step, noise 2e-3 rad / 2e-2 rad/s, 8 unknowns
(two masses, damping, frictionloss and armature of both joints) started at log-uniform factors
in [0.5, 2] of the truth with bounds [truth / 10, truth * 10]. Over 6 seeds:

* success: every parameter ends within 5% of the truth, in 6 of 6 seeds;
* speed: our median wall time is below mujoco.sysid's (default optimizer, open-loop from the
  true initial state; see mujoco_sysid_baseline.py) measured in the same run;
* overhead: a fit's wall time is at most 1.15 x the time bare ``mujoco.rollout`` takes for the
  same simulation steps. The fit runs again (it is deterministic given its seed) with every
  rollout call's inputs recorded: the candidate models, initial states and controls. Those
  exact calls are then replayed on a fresh thread pool with as many threads, preallocated
  outputs and ``skip_checks=True``; only the rollout calls are timed. So the replay does the
  same simulation work as the fit, and the ratio is the fit's own cost on top of it. Fit and
  replay are each timed ``--repeats`` times (medians), interleaved, against machine noise.

The two tools run interleaved on each seed (ours first), so machine noise hits both alike.
Run from the repository root:

    .venv/bin/python benchmarks/arm2_recovery.py [--seeds 6] [--duration 8.0] [--skip-baseline]

Prints two markdown tables and writes the raw numbers to benchmarks/out/arm2_recovery.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import pathlib
import sys
import time

import mujoco
import numpy as np
from mujoco import rollout as mj_rollout

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import mujoco_sysid_baseline as baseline  # noqa: E402

from sysid.data import Log  # noqa: E402
from sysid.fit import FitConfig, fit  # noqa: E402
from sysid.params import ParamSet, parse_params  # noqa: E402
from sysid.sim import STATE_SPEC, Simulator, default_threads  # noqa: E402

OUT = REPO / "benchmarks" / "out" / "arm2_recovery.json"
TOLERANCE = 0.05  # relative error allowed on every parameter
OVERHEAD_LIMIT = 1.15
PARAMS = "mass,damping,frictionloss,armature"


def frame_to_log(frame, source: str) -> Log:
    """A make_log DataFrame (sysid's CSV schema) -> an in-memory `Log`."""
    col = lambda name: frame[name].to_numpy(dtype=float)  # noqa: E731
    return Log(
        source=source,
        time=col("time"),
        pos={j: col(f"{j}.pos") for j in baseline.JOINTS},
        vel={j: col(f"{j}.vel") for j in baseline.JOINTS},
        ctrl={m: col(f"{m}.ctrl") for m in baseline.MOTORS},
    )


def record_rollouts(model: mujoco.MjModel, log: Log, params: ParamSet, config: FitConfig) -> list[tuple]:
    """Run the fit again, recording every rollout call's inputs: (models, initial, control, control_spec)."""
    calls = []
    original = Simulator.raw_rollout

    def recording(self, models, initial, control, states, control_spec=int(mujoco.mjtState.mjSTATE_CTRL)):
        snapshot = {id(m): copy.copy(m) for m in models}  # candidate copies are rewritten by later calls
        calls.append(([snapshot[id(m)] for m in models], np.array(initial, float), np.array(control, float), control_spec))
        original(self, models, initial, control, states, control_spec)

    Simulator.raw_rollout = recording
    try:
        fit(model, [log], params, config, progress=False)
    finally:
        Simulator.raw_rollout = original
    return calls


def bare_rollout_seconds(calls: list[tuple], nthread: int) -> float:
    """Seconds bare mujoco.rollout takes for recorded calls, outputs preallocated, only the calls timed."""
    model = calls[0][0][0]
    nstate = mujoco.mj_stateSize(model, STATE_SPEC)
    outputs = {}
    for _, initial, control, _ in calls:
        shape = control.shape[:2]
        if shape not in outputs:
            outputs[shape] = (np.empty((*shape, nstate)), np.empty((*shape, model.nsensordata)))
    pool = mj_rollout.Rollout(nthread=nthread if nthread > 1 else 0)
    datas = [mujoco.MjData(model) for _ in range(max(1, nthread))]
    seconds = 0.0
    try:
        for models, initial, control, spec in calls:
            state, sensors = outputs[control.shape[:2]]
            start = time.perf_counter()
            pool.rollout(models, datas, initial, control, control_spec=spec, state=state, sensordata=sensors,
                         nstep=control.shape[1], skip_checks=True)
            seconds += time.perf_counter() - start
    finally:
        pool.close()
    return seconds


def run_ours(model: mujoco.MjModel, log: Log, initial: dict, lower: dict, upper: dict, truth: dict, seed: int,
             repeats: int = 3) -> dict:
    overrides = {n: {"initial": initial[n], "lower": lower[n], "upper": upper[n]} for n in baseline.PARAMETER_NAMES}
    params = parse_params(PARAMS, model, overrides=overrides)
    config = FitConfig(seed=seed)
    nthread = default_threads()
    calls = record_rollouts(model, log, params, config)
    walls, bares = [], []
    for _ in range(repeats):
        result = fit(model, [log], params, config, progress=False)
        walls.append(result.wall_time_s)
        bares.append(bare_rollout_seconds(calls, nthread))
    if [c[2].shape[:2] for c in calls] != result.rollout_calls:
        raise RuntimeError("the recorded fit made other rollout calls than the timed one: the fit is not deterministic")
    values = dict(zip(params.names, map(float, result.values)))
    wall, bare = float(np.median(walls)), float(np.median(bares))
    steps_per_8s = round(8.0 / model.opt.timestep)  # steps of one full 8 s log rollout
    return {
        "values": values,
        "rel_err": {n: abs(values[n] / truth[n] - 1.0) for n in baseline.PARAMETER_NAMES},
        "wall_time_s": wall,
        "wall_times_s": walls,
        "rollout_time_s": result.rollout_time_s,
        "bare_rollout_s": bare,
        "bare_rollout_times_s": bares,
        "overhead_ratio": wall / bare,
        "evaluations": result.evaluations,
        "sim_steps": result.sim_steps,
        "rollouts_equiv": result.sim_steps / steps_per_8s,
        "rollout_calls": len(result.rollout_calls),
        "nthread": nthread,
        "stages": result.stages,
    }


def run_baseline(frame, initial: dict, lower: dict, upper: dict, truth: dict) -> dict:
    out = baseline.fit_with_mujoco_sysid(frame, initial, lower, upper)
    out["rel_err"] = {n: abs(out["values"][n] / truth[n] - 1.0) for n in baseline.PARAMETER_NAMES}
    return out


def _fmt_median(rows: list[dict], key: str, fmt: str) -> str:
    return format(float(np.median([r[key] for r in rows])), fmt) if rows else "n/a"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6, help="seeds 0..N-1 (default 6)")
    parser.add_argument("--duration", type=float, default=8.0, help="log length in seconds (default 8)")
    parser.add_argument("--skip-baseline", action="store_true", help="do not run mujoco.sysid")
    parser.add_argument("--repeats", type=int, default=3, help="timed fits and bare replays per seed, medians (default 3)")
    args = parser.parse_args(argv)

    run_base = not args.skip_baseline
    if run_base:
        try:
            baseline._require_sysid()
        except ImportError as err:
            print(f"note: {err}; skipping the mujoco.sysid rows", file=sys.stderr)
            run_base = False

    generate = baseline._load_generate()
    truth = {n: float(generate.TRUTH[n]) for n in baseline.PARAMETER_NAMES}
    model = mujoco.MjModel.from_xml_path(str(baseline.ARM2_XML))
    ours, theirs = [], []
    for seed in range(args.seeds):
        frame = generate.make_log(args.duration, seed)
        log = frame_to_log(frame, f"arm2 seed {seed}")
        initial, lower, upper = baseline.benchmark_start(truth, seed)
        r = run_ours(model, log, initial, lower, upper, truth, seed, args.repeats)
        r["seed"] = seed
        r["max_rel_err"] = max(r["rel_err"].values())
        r["worst"] = max(r["rel_err"], key=r["rel_err"].get)
        ours.append(r)
        line = (f"seed {seed}: sysid max err {r['max_rel_err']:.2%} ({r['worst']}), wall {r['wall_time_s']:.2f} s, "
                f"bare {r['bare_rollout_s']:.2f} s, ratio {r['overhead_ratio']:.3f}")
        if run_base:
            b = run_baseline(frame, initial, lower, upper, truth)
            b["seed"] = seed
            b["max_rel_err"] = max(b["rel_err"].values())
            b["worst"] = max(b["rel_err"], key=b["rel_err"].get)
            theirs.append(b)
            line += f" | mujoco.sysid max err {b['max_rel_err']:.2%} ({b['worst']}), wall {b['wall_time_s']:.2f} s"
        print(line, flush=True)

    n = len(ours)
    ok = lambda rows: sum(r["max_rel_err"] <= TOLERANCE for r in rows)  # noqa: E731
    print()
    print(f"| tool | success (all 8 within {TOLERANCE:.0%}) | median wall s | median rollouts (8 s equiv.) | median evaluations |")
    print("|---|---|---|---|---|")
    print(f"| sysid | {ok(ours)}/{n} | {_fmt_median(ours, 'wall_time_s', '.2f')} | "
          f"{_fmt_median(ours, 'rollouts_equiv', '.0f')} | {_fmt_median(ours, 'evaluations', '.0f')} |")
    if run_base:
        print(f"| mujoco.sysid | {ok(theirs)}/{n} | {_fmt_median(theirs, 'wall_time_s', '.2f')} | "
              f"{_fmt_median(theirs, 'rollouts', '.0f')} | {_fmt_median(theirs, 'residual_calls', '.0f')} (residual calls) |")
    else:
        print("| mujoco.sysid | skipped | | | |")
    print()
    print("| seed | sysid max err % | mujoco.sysid max err % | sysid wall s | mujoco.sysid wall s | bare rollout s | overhead ratio |")
    print("|---|---|---|---|---|---|---|")
    for i, r in enumerate(ours):
        b = theirs[i] if run_base else None
        b_err = f"{100 * b['max_rel_err']:.2f}" if b else "n/a"
        b_wall = f"{b['wall_time_s']:.2f}" if b else "n/a"
        print(f"| {r['seed']} | {100 * r['max_rel_err']:.2f} | {b_err} | {r['wall_time_s']:.2f} | {b_wall} | "
              f"{r['bare_rollout_s']:.2f} | {r['overhead_ratio']:.3f} |")
    median_ratio = float(np.median([r["overhead_ratio"] for r in ours]))
    cores = os.cpu_count()
    print()
    print(f"median overhead ratio (fit wall / bare mujoco.rollout, same steps): {median_ratio:.3f} "
          f"(limit {OVERHEAD_LIMIT}); rollout threads {ours[0]['nthread']}, machine cores {cores}")
    if run_base:
        faster = np.median([r["wall_time_s"] for r in ours]) < np.median([b["wall_time_s"] for b in theirs])
        print(f"sysid median wall time {'below' if faster else 'NOT below'} mujoco.sysid's")

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({
        "duration_s": args.duration,
        "seeds": n,
        "tolerance": TOLERANCE,
        "cores": cores,
        "truth": truth,
        "sysid": ours,
        "mujoco_sysid": theirs if run_base else None,
        "median_overhead_ratio": median_ratio,
    }, indent=2))
    print(f"wrote {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
