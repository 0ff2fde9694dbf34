"""Ray scale-out on this machine: local threads against Ray with 1 and 2 workers, side by side.

Two workloads on the bundled 2-link arm (datasets/arm2, 8 parameters):
  * a 4-start fit (`--starts 4`, default schedule: CMA-ES, then least squares) of 4 s of log;
    on Ray each start is a task;
  * one CMA-ES stage with a population of 256 (4 generations, 32 windows of 0.25 s per candidate);
    on Ray each generation is split across the workers' actors.
Prints wall time and simulated model steps per second of each, as ratios to local, and whether the
Ray fits gave the local numbers. Ray's start-up (ray.init, a first task on every worker, starting the
actors: seconds, once per command) is left out; sending each fit's inputs to the actors is in.

    python benchmarks/ray_scaling.py [--seconds 4] [--generations 4]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import pathlib
import sys
import time

import numpy as np

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


def run(model, logs, params, config: FitConfig, backend) -> tuple[float, int, np.ndarray]:
    """(wall s, simulated steps, fitted values) of one fit."""
    start = time.perf_counter()
    result = fit(model, logs, params, config, progress=False, quiet=True, backend=backend)
    return time.perf_counter() - start, result.sim_steps, result.values


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
    print(f"{'workload':<32}{'run':<18}{'wall s':>9}{'steps/s':>12}{'x local':>9}  same numbers")
    for name, config in workloads(args.seconds, args.generations).items():
        wall, steps, values = run(model, [log], params, config, None)
        local_rate = steps / wall
        print(f"{name:<32}{f'local, {default_threads()} threads':<18}{wall:>9.2f}{local_rate:>12.3g}{1.0:>9.2f}  -")
        for workers in (1, 2):
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
            try:
                backend = RayBackend(owned=False)
                backend.map(_warm, range(workers))  # task workers started, sysid imported there
                if config.starts == 1:  # and the actors the population stage uses
                    ray.get([actor.ready.remote() for actor in backend.actors()])
                wall_r, steps_r, values_r = run(model, [log], params, dataclasses.replace(config), backend)
            finally:
                ray.shutdown()
            rate = steps_r / wall_r
            same = "yes" if np.array_equal(values_r, values) and steps_r == steps else \
                f"no (max rel diff {np.max(np.abs(values_r / values - 1)):.2g})"
            print(f"{'':<32}{f'Ray, {workers} worker' + ('s' if workers > 1 else ''):<18}{wall_r:>9.2f}{rate:>12.3g}"
                  f"{rate / local_rate:>9.2f}  {same}")
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} at the end")


if __name__ == "__main__":
    main()
