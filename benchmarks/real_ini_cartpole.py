"""Benchmark: the INI Zurich cart-pole's hardware recordings, our fit vs both reference parameter sets.

Fits `datasets/ini_cartpole/cartpole.xml` on a subset of `Train/` (every k-th run, sorted by name),
as `sysid fit` does: the force per unit PWM command (`gear`), cart and pole viscous and Coulomb
friction, and the two masses within +-13% / +-10% of the measured 0.23 kg and 0.087 kg. Then it
predicts the three `Validate/` runs with our model and with the two hand-tuned reference sets,
written into the same MJCF without Coulomb friction (the INI simulator has none):

* reference A, `CartPole_config_savefile.yml` (recorded with the data): u_max 6.21 N,
  cart 6.34 N s/m, pole 2.5e-4 N m s/rad;
* reference B, `cartpole_physical_parameters_HEAD.yml`: u_max 1.77 N, cart 3.22, pole 5e-5.

RMSE of the cart position [m] and pole angle [rad] over windows started from the logged state, 1 s
(the fit's horizon) and 0.25 s, and open loop over the whole run (4.6-5.1 s). The validation runs
swing the pole up and balance it: near the unstable top a small error makes the pole fall within a
second in any model, so the long measures mostly tell when each prediction falls.

    .venv/bin/python benchmarks/real_ini_cartpole.py [--every 6]

Prints markdown tables; writes benchmarks/out/ini_fit/, benchmarks/out/ini_cartpole.png and .json.
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

REAL = REPO.parent / "shared" / "data" / "real" / "ini_cartpole"
DATA = REPO / "datasets" / "ini_cartpole"
OUT = REPO / "benchmarks" / "out"
PARAMS = "gear,damping,frictionloss,mass,delay"
REFERENCES = {
    "reference A (savefile)": {"gear": 6.21, "cart": 6.34, "pole": 2.5e-4},
    "reference B (HEAD)": {"gear": 1.77, "cart": 3.22, "pole": 5e-5},
}
SIGNALS = ("cart.pos", "pole.pos")
MEASURES = {"0.25 s windows": 0.25, "1 s windows": 1.0, "open loop": None}


def reference_model(values: dict[str, float]) -> mujoco.MjModel:
    """cartpole.xml with a reference set written in (no Coulomb friction, measured masses)."""
    model = mujoco.MjModel.from_xml_path(str(DATA / "cartpole.xml"))
    model.actuator_gear[0, 0] = values["gear"]
    for joint in ("cart", "pole"):
        dof = model.joint(joint).dofadr[0]
        model.dof_damping[dof] = values[joint]
        model.dof_frictionloss[dof] = 0.0
    mujoco.mj_setConst(model, mujoco.MjData(model))
    return model


def load(path: pathlib.Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the unmapped device columns
        return load_log(path, map_path=DATA / "map.yaml")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--every", type=int, default=6, help="fit on every k-th Train run (default 6: 22 runs)")
    parser.add_argument("--params", default=PARAMS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    if not REAL.is_dir():
        sys.exit(f"no INI data at {REAL}")
    train = sorted((REAL / "Train").glob("*.csv"), key=lambda p: int(p.stem.split("-")[1]))[:: args.every]
    validate = sorted((REAL / "Validate").glob("*.csv"))
    fit_out = OUT / "ini_fit"
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = fit_files(model_path=str(DATA / "cartpole.xml"), log_paths=[str(p) for p in train], params=args.params,
                            map_path=str(DATA / "map.yaml"), config_path=str(DATA / "fit.yaml"), seed=args.seed,
                            nthread=args.threads, out=str(fit_out), progress=False,
                            val_log_paths=[str(p) for p in validate])
    seconds = time.perf_counter() - start
    ours = mujoco.MjModel.from_xml_path(str(fit_out / "calibrated.xml"))
    delay = summary["params"].get("delay", {}).get("value", 0.0)
    native.strip_delay(ours, delay)  # calibrated.xml carries the delay natively; prediction_errors applies it below
    models = {"ours": (ours, delay), **{k: (reference_model(v), 0.0) for k, v in REFERENCES.items()}}

    rows, traces = [], {}
    for path in validate:
        log = load(path)
        row = {"run": path.name, "duration_s": log.duration}
        for label, (model, d) in models.items():
            params = parse_params("delay", model, overrides={"delay": {"initial": d}})
            for key, horizon in MEASURES.items():
                errors = prediction_errors(model, params, np.array([d]), [log], horizon=horizon, nthread=args.threads)
                for signal in SIGNALS:
                    row[f"{key}:{label}:{signal}"] = rmse(errors)[0][signal]
                if horizon == 1.0:
                    traces[(path.name, label)] = (log, errors[0])
        rows.append(row)

    duration = sum(load(p).duration for p in train)
    print(f"fit: {len(train)} Train runs ({duration:.0f} s), params {args.params}, "
          f"{summary['wall_time_s']:.0f} s fit ({seconds:.0f} s with outputs and validation)\n")
    print("| parameter | fitted | reference A | reference B |")
    print("|---|---|---|---|")
    ref = {"gear@motor": "gear", "damping@cart": "cart", "damping@pole": "pole"}
    for name, p in summary["params"].items():
        refs = [f"{REFERENCES[k][ref[name]]:.4g}" if name in ref else _measured(name) for k in REFERENCES]
        print(f"| {name} | {p['value']:.4g} | " + " | ".join(refs) + " |")
    labels = list(models)
    for signal, unit in zip(SIGNALS, ("m", "rad")):
        print(f"\n{signal} RMSE [{unit}] on Validate/ (lower is better)\n")
        print("| run | s | measure | " + " | ".join(labels) + " |")
        print("|---|---|---|" + "---|" * len(labels))
        for row in rows:
            for key in MEASURES:
                cells = [f"{row[f'{key}:{m}:{signal}']:.3f}" for m in labels]
                best = min(range(len(labels)), key=lambda i: row[f"{key}:{labels[i]}:{signal}"])
                cells[best] = f"**{cells[best]}**"
                print(f"| {row['run']} | {row['duration_s']:.1f} | {key} | " + " | ".join(cells) + " |")
    _plot(OUT / "ini_cartpole.png", traces, labels)
    (OUT / "ini_cartpole.json").write_text(json.dumps({"train": [p.name for p in train], "params": summary["params"],
                                                       "rows": rows, "validation": summary.get("validation")}, indent=2))


def _measured(name: str) -> str:
    return {"mass@cart": "0.23", "mass@pole": "0.087"}.get(name, "0" if name.startswith(("frictionloss", "delay")) else "-")


def _plot(path: pathlib.Path, traces: dict, labels: list[str]) -> None:
    runs = list(dict.fromkeys(run for run, _ in traces))
    fig = Figure(figsize=(12, 2.4 * len(runs)), layout="constrained")
    axes = fig.subplots(len(runs), 2, squeeze=False)
    for r, run in enumerate(runs):
        log = traces[(run, labels[0])][0]
        rows = np.flatnonzero(log.time > log.time[0])
        for c, signal in enumerate(SIGNALS):
            ax = axes[r, c]
            joint = signal.split(".")[0]
            ax.plot(log.time - log.time[0], log.pos[joint], color="black", lw=0.8, label="logged")
            for k, label in enumerate(labels):
                err = traces[(run, label)][1][signal][0]
                ax.plot(log.time[rows] - log.time[0], log.pos[joint][rows] + err, lw=1.2, color=f"C{k}", alpha=0.8, label=label)
            ax.set_title(f"{run} {signal}: 1 s windows from the logged state", fontsize=9, loc="left")
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    save_figure(fig, path)


if __name__ == "__main__":
    main()
