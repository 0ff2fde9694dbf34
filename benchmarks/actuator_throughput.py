"""Throughput: batched rollouts with an MLP actuator network in the loop vs plain rollouts.

Model: the bundled 2-link arm (datasets/arm2, 500 Hz). Each motor gets an actuator network
(MLP 6-32-32-1 over 3 samples of position error and velocity, TorchScript, as written by
`sysid actuator train`, one file for both motors); the loop evaluates the network on its lane's
rows of both motors in one call per control step and runs `decimation` model steps per
`mujoco.rollout` call (see `sysid.closedloop`). Plain rollouts run the same
model open loop in one call. Steps/s = batch x steps / wall time (best of `--repeat`).

    .venv/bin/python benchmarks/actuator_throughput.py [--threads N] [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import copy
import json
import pathlib
import sys
import tempfile
import time

import mujoco
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from actuator_models.network import ActuatorNetMLP, NetConfig, save_network  # noqa: E402
from sysid.closedloop import Binding, ClosedLoop  # noqa: E402
from sysid.params import ParamSet  # noqa: E402
from sysid.sim import Simulator, default_threads  # noqa: E402

OUT = ROOT / "benchmarks" / "out" / "actuator_throughput.json"


def network_folder(folder: pathlib.Path, sample_dt: float) -> str:
    module = ActuatorNetMLP(3, (32, 32), input_std=(0.1, 1.0), output_std=2.0)
    save_network(folder, module, {"net": "mlp", "history": 3, "sample_dt": sample_dt, "hidden": [32, 32], "layers": 0,
                                  "input_mean": [0, 0], "input_std": [0.1, 1.0], "output_mean": 0.0, "output_std": 2.0})
    return str(folder)


def steps_per_second(sim: Simulator, model: mujoco.MjModel, nbatch: int, nstep: int, repeat: int) -> float:
    rng = np.random.default_rng(0)
    initial = sim.initial_states(rng.normal(0, 0.3, (nbatch, 2)), np.zeros((nbatch, 2)))
    control = rng.normal(0, 0.5, (nbatch, nstep, model.nu))
    models = [copy.copy(model)] * nbatch
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        _, ok = sim.rollout(models, initial, control)
        best = min(best, time.perf_counter() - start)
        assert ok.all()
    return nbatch * nstep / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=default_threads())
    parser.add_argument("--seconds", type=float, default=1.0, help="simulated seconds per rollout")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batches", default="64,256,1024,4096")
    args = parser.parse_args()
    model = mujoco.MjModel.from_xml_path(str(ROOT / "datasets" / "arm2" / "arm2.xml"))
    nstep = int(round(args.seconds / model.opt.timestep))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for control_dt in (0.01, model.opt.timestep):
            net = network_folder(pathlib.Path(tmp) / f"net_{control_dt}", control_dt)
            loop = ClosedLoop(model, [Binding("net", m, NetConfig(net)) for m in ("shoulder_motor", "elbow_motor")], control_dt=control_dt)
            plain = Simulator(model, ParamSet([], model=model), nthread=args.threads)
            looped = Simulator(model, ParamSet([], model=model), nthread=args.threads, loop=loop)
            for nbatch in map(int, args.batches.split(",")):
                a = steps_per_second(plain, model, nbatch, nstep, args.repeat)
                b = steps_per_second(looped, model, nbatch, nstep, args.repeat)
                rows.append({"batch": nbatch, "control_hz": 1 / control_dt, "decimation": loop.decimation,
                             "plain_steps_per_s": a, "net_steps_per_s": b, "ratio": b / a})
                print(f"batch {nbatch:5d}  net at {1 / control_dt:4.0f} Hz (decimation {loop.decimation})  "
                      f"plain {a / 1e6:6.3f} M steps/s  with 2 MLP nets {b / 1e6:6.3f} M steps/s  ratio {b / a:.2f}", flush=True)
            plain.close()
            looped.close()
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({"model": "datasets/arm2/arm2.xml", "threads": args.threads, "seconds": args.seconds, "rows": rows}, indent=2))
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
