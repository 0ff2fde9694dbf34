"""Benchmark: inverse-dynamics identification on the DFKI simple pendulum's measured torque.

`sysid fit --objective inverse` on `control_method_pd/system_identification` (the run the authors
identified from), as a user would run it, against the authors' published parameters (converted to
MJCF as in real_generalization.py, with and without their constant torque offset) and the nominal
pendulum.xml:

* torque RMSE [N m] on every run: the measured motor torque against each model's inverse dynamics
  on the same filtered motion (`sysid.inverse.prepare`, the fit's default filter: Butterworth 10 Hz
  zero phase); ours adds its fitted offset (result.json), the published model its own;
* held-out joint-angle RMSE [rad] by trajectory type, scored by `sysid eval --horizons 0.5,1,open` on
  the other control methods (ddp, direct collocation, ilqr, pd swing-up failure, sac), as
  real_generalization.py does.

    .venv/bin/python benchmarks/inverse_dfki.py

Writes benchmarks/out/inverse_dfki/ and prints markdown tables.
"""

from __future__ import annotations

import json
import pathlib
import sys

import mujoco
import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import real_generalization as rg  # noqa: E402
from sysid.data import load_log  # noqa: E402
from sysid.inverse import prepare  # noqa: E402
from sysid.inverse.friction import COULOMB_WIDTH  # noqa: E402
from sysid.inverse.regressor import inverse_model, inverse_torques  # noqa: E402

DATA = REPO / "datasets" / "dfki_pendulum"
REAL = rg.REAL / "dfki_simple_pendulum" / "measured"
OUT = REPO / "benchmarks" / "out" / "inverse_dfki"
TRAIN = "control_method_pd/system_identification"
RUNS = [TRAIN, *rg.DFKI_RUNS]


def torque_rmse(model_path: pathlib.Path, log_path: pathlib.Path, friction) -> float:
    """RMSE of measured torque minus the model's inverse dynamics plus `friction(qd)`, on the filtered log."""
    model = mujoco.MjModel.from_xml_path(str(model_path))
    samples = prepare(model, [load_log(str(log_path), map_path=str(DATA / "map.yaml"))])
    qd = samples.qd[:, 0]
    predicted = inverse_torques(inverse_model(model), samples)[:, 0] + friction(qd, samples)
    return float(np.sqrt(np.mean((predicted - samples.tau[:, 0]) ** 2)))


def main() -> None:
    import warnings

    warnings.simplefilter("ignore")  # the logs' outlier warnings: printed by the CLI runs' own logs
    base = ["--model", rg.rel(DATA / "pendulum.xml"), "--map", rg.rel(DATA / "map.yaml"),
            "--log", rg.rel(REAL / TRAIN / "data_measured.csv"), "--params", "inertial@link,damping,frictionloss"]
    ours = rg.fit(OUT / "fit_inverse", base, ["--objective", "inverse"])
    result = json.loads((OUT / "fit_inverse" / "result.json").read_text())
    inv = result["inverse"]
    offset = inv["friction_terms"].get("offset@pendulum", 0.0)
    damping, coulomb = result["params"]["damping@pendulum"]["value"], result["params"]["frictionloss@pendulum"]["value"]
    pub = rg.DFKI_PUBLISHED
    models = {"nominal": DATA / "pendulum.xml", "published": rg.dfki_published(OUT / "published.xml", offset=False),
              "published_offset": rg.dfki_published(OUT / "published_offset.xml", offset=True)}
    frictions = {
        "inverse (ours)": (OUT / "fit_inverse" / "calibrated.xml",
                           lambda qd, s: damping * qd + coulomb * s.friction["coulomb"][:, 0] + offset),
        "published": (models["published"], lambda qd, s: pub["Fv"] * qd + pub["Fc"] * np.arctan(100 * qd) + pub["offset"]),
        "nominal": (models["nominal"], lambda qd, s: 0.1 * qd + 0.1 * np.tanh(qd / COULOMB_WIDTH)),
    }
    torque = {run: {label: torque_rmse(path, REAL / run / "data_measured.csv", f) for label, (path, f) in frictions.items()}
              for run in RUNS}
    logs = {run.replace("control_method_", ""): REAL / run / "data_measured.csv" for run in rg.DFKI_RUNS}
    report = rg.evaluate(OUT / "eval", models, {"inverse (ours)": OUT / "fit_inverse"}, list(logs.values()), DATA / "map.yaml")
    names = {case: rg.rel(p) for case, p in logs.items()}
    rows = rg.rows_from(report, names, signal="pendulum.pos")
    phi = inv["bodies"]["link"]["standard"]
    summary = {"fit": ours, "torque_rmse": torque, "position_rmse": rows, "inverse": {k: inv[k] for k in ("filter", "noise_n_m", "friction_terms")},
               "identified": {"J_about_hinge": phi["Iyy"], "m_cx": -phi["mz"], "Fv": damping, "Fc": coulomb, "offset": offset}}
    (OUT / "summary.json").write_text(json.dumps(summary, indent=1))

    print(f"\nFit: `{ours['command']}` ({ours['wall_s']:.1f} s wall, solve {inv['timings_s']['total_s']:.2f} s)\n")
    print("| | J [kg m^2] | m cx [kg m] | Fv [N m s/rad] | Fc [N m] | offset [N m] |\n|---|---|---|---|---|---|")
    ident = summary["identified"]
    print(f"| inverse (ours) | {ident['J_about_hinge']:.4g} | {ident['m_cx']:.4g} | {ident['Fv']:.4g} | {ident['Fc']:.4g} | {ident['offset']:.4g} |")
    print(f"| published | {pub['J']:.4g} | {pub['mcx']:.4g} | {pub['Fv']:.4g} | {pub['Fc']:.4g} (atan) | {pub['offset']:.4g} |")
    labels = list(frictions)
    print("\nTorque RMSE [N m] (filtered motion, measured motor torque):\n")
    print("| run | " + " | ".join(labels) + " |\n|---|" + "---|" * len(labels))
    for run, row in torque.items():
        print(f"| {run.replace('control_method_', '')}{' (fit)' if run == TRAIN else ''} | " + " | ".join(f"{row[k]:.3f}" for k in labels) + " |")
    print("\nHeld-out joint-angle RMSE [rad] (`sysid eval`), 0.5 s / 1 s windows / open loop:\n")
    cols = list(next(iter(rows.values())))
    print("| run | " + " | ".join(cols) + " |\n|---|" + "---|" * len(cols))
    for case, row in rows.items():
        print(f"| {case} | " + " | ".join("/".join(f"{row[c][h]:.3g}" for h in rg.HORIZONS) for c in cols) + " |")


if __name__ == "__main__":
    main()
