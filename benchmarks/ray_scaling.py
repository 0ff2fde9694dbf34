"""Ray scale-out on this machine: local threads against Ray with 1 and 2 workers, side by side.

Two workloads on the bundled 2-link arm (datasets/arm2, 8 parameters):
  * a 4-start fit (`--starts 4`, default schedule: CMA-ES, then least squares) of 4 s of log;
    on Ray each start is a task;
  * one CMA-ES stage with a population of 256 (4 generations, 32 windows of 0.25 s per candidate);
    on Ray each generation is split across the workers' actors.
Prints wall time and simulated model steps per second of each, as ratios to local, the CPU time
(this process and every process it started: Ray's GCS, raylet, workers and actors) and steps per CPU
second (Ray's overhead, visible also on a machine shared with other jobs), and whether the Ray fits
gave the local numbers. Ray's start-up (ray.init, a first task on every worker, starting the
actors: seconds, once per command) is left out; sending each fit's inputs to the actors is in.

    python benchmarks/ray_scaling.py [--seconds 4] [--generations 4]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import pathlib
import sys
import time

import numpy as np
import psutil

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sysid.data import load_log  # noqa: E402
from sysid.fit import FitConfig, fit  # noqa: E402
from sysid.model import load_model  # noqa: E402
from sysid.params import parse_params  # noqa: E402
from sysid.sim import default_threads  # noqa: E402

PARAMS = "mass,damping,frictionloss,armature"


def workloads(seconds: float, generations: int) -> dict[str, FitConfig]:
    population = 256
    return {
        "4-start fit": FitConfig(starts=4, seed=0),
        f"CMA-ES stage, population {population}": FitConfig(
            horizons=(0.25,), optimizer="cmaes", refine_states=False, local_first=False, seed=0,
            optimizer_options={"cmaes": {"popsize": population, "final_max_evaluations": generations * population}}),
    }


def cpu_seconds() -> float:
    """CPU s used so far by this process and every process it started (for Ray: GCS, raylet, workers, actors)."""
    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            times = child.cpu_times()
            total += times.user + times.system
    return total


def run(model, logs, params, config: FitConfig, backend) -> tuple[float, float, int, np.ndarray]:
    """(wall s, CPU s, simulated steps, fitted values) of one fit."""
    start, cpu = time.perf_counter(), cpu_seconds()
    result = fit(model, logs, params, config, progress=False, quiet=True, backend=backend)
    return time.perf_counter() - start, cpu_seconds() - cpu, result.sim_steps, result.values


def row(name: str, run_name: str, wall: float, cpu: float, steps: int, local: tuple[float, float] | None, same: str) -> None:
    rate, per_cpu = steps / wall, steps / cpu
    ratios = (rate / local[0], per_cpu / local[1]) if local else (1.0, 1.0)
    print(f"{name:<30}{run_name:<18}{wall:>8.2f}{rate:>10.3g}{ratios[0]:>8.2f}{cpu:>8.2f}{per_cpu:>12.3g}{ratios[1]:>8.2f}  {same}")


def _warm(_) -> int:
    import sysid.fit  # noqa: F401

    return os.getpid()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="s of datasets/arm2/run1.csv fitted (default 4)")
    parser.add_argument("--generations", type=int, default=4, help="CMA-ES generations of the population stage (default 4)")
    args = parser.parse_args()
    import ray

    from sysid.distributed import RayBackend

    model = load_model(str(REPO / "datasets" / "arm2" / "arm2.xml"))
    log = load_log(str(REPO / "datasets" / "arm2" / "run1.csv"))
    log = log.slice(0, int(np.searchsorted(log.time, log.time[0] + args.seconds)) + 1)
    params = parse_params(PARAMS, model)
    print(f"machine: {os.cpu_count()} cores, {default_threads()} usable; load average {os.getloadavg()[0]:.2f} "
          f"{os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1, 5, 15 min) at the start")
    print(f"{'workload':<30}{'run':<18}{'wall s':>8}{'steps/s':>10}{'x local':>8}{'CPU s':>8}{'steps/CPU s':>12}{'x local':>8}"
          f"  same numbers")
    for name, config in workloads(args.seconds, args.generations).items():
        wall, cpu, steps, values = run(model, [log], params, config, None)
        row(name, f"local, {default_threads()} threads", wall, cpu, steps, None, "-")
        for workers in (1, 2):
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
            try:
                backend = RayBackend(owned=False)
                backend.map(_warm, range(workers))  # task workers started, sysid imported there
                if config.starts == 1:  # and the actors the population stage uses
                    ray.get([actor.ready.remote() for actor in backend.actors()])
                wall_r, cpu_r, steps_r, values_r = run(model, [log], params, dataclasses.replace(config), backend)
            finally:
                ray.shutdown()
            same = "yes" if np.array_equal(values_r, values) and steps_r == steps else \
                f"no (max rel diff {np.max(np.abs(values_r / values - 1)):.2g})"
            row("", f"Ray, {workers} worker" + ("s" if workers > 1 else ""), wall_r, cpu_r, steps_r, (steps / wall, steps / cpu), same)
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} at the end")


if __name__ == "__main__":
    main()
