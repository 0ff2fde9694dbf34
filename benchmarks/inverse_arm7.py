"""Benchmark: inverse-dynamics identification of a torque-sensed 7-DoF arm (datasets/arm7, the Franka
Panda written from its published DH table and Gaz et al.'s inertials), beside forward fits.

One 20 s excitation log (datasets/arm7/generate.py, seed 0; torque noise 0.05 N m) and the CAD-like
initial guess arm7_initial.xml; three `sysid fit` runs of `--params inertial,damping,frictionloss`
(70 log-Cholesky coordinates and 14 friction coefficients), each as a user would run it:

* `--objective inverse` (datasets/arm7/inverse.yaml);
* `--objective forward+inverse` (datasets/arm7/forward.yaml: least squares, 0.5 s windows, 10
  iterations), started from the inverse solve;
* the forward-only fit with the same config, from the initial guess.

For each: wall time, the base parameters of the fitted model (calibrated.xml) against the truth's (the
regressor's QR base of the log), the torque RMSE and whether every body is physically consistent
(positive-definite pseudo-inertia, and calibrated.xml compiles under MuJoCo's inertia checks). A base
parameter counts as "excited" when its true torque contribution is above the torque noise (RMS over
the rows); the others are below what 20 s of this log can resolve.

    .venv/bin/python benchmarks/inverse_arm7.py

Writes benchmarks/out/inverse_arm7/ and prints a markdown table.
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
from sysid.inverse import InverseOptions  # noqa: E402
from sysid.inertial import STANDARD, standard_of  # noqa: E402
from sysid.inverse.regressor import consistent  # noqa: E402
from sysid.inverse.solve import build_problem  # noqa: E402
from sysid.params import parse_params  # noqa: E402
from generators import load_generator  # noqa: E402

DATA = REPO / "datasets" / "arm7"
OUT = REPO / "benchmarks" / "out" / "inverse_arm7"
PARAMS = "inertial,damping,frictionloss"


def generator():
    return load_generator('arm7')


def linear_parameters(model: mujoco.MjModel, names: list[str], friction: dict[str, float]) -> np.ndarray:
    """(P,) the regressor's parameters (standard inertials, viscous, coulomb) of `model` and `friction`."""
    out = []
    for name in names:
        kind, target = name.split("@")
        if kind in ("viscous", "coulomb"):
            out.append(friction[name])
        else:
            out.append(standard_of(model, model.body(target).id)[STANDARD.index(kind)])
    return np.array(out)


def main() -> None:
    gen = generator()
    OUT.mkdir(parents=True, exist_ok=True)
    log_path = OUT / "run.csv"
    if not log_path.is_file():
        gen.simulate(20.0, seed=0, model_path=DATA / "arm7.xml").to_csv(log_path, index=False, float_format="%.9g")
    base = ["--model", rg.rel(DATA / "arm7_initial.xml"), "--log", rg.rel(log_path), "--params", PARAMS, "--check", "off"]
    runs = {"inverse": rg.fit(OUT / "inverse", base, ["--objective", "inverse", "--config", rg.rel(DATA / "inverse.yaml")]),
            "forward+inverse": rg.fit(OUT / "forward_inverse", base, ["--objective", "forward+inverse", "--config",
                                                                      rg.rel(DATA / "forward.yaml")]),
            "forward only": rg.fit(OUT / "forward", base, ["--config", rg.rel(DATA / "forward.yaml")])}
    folders = {"inverse": OUT / "inverse", "forward+inverse": OUT / "forward_inverse", "forward only": OUT / "forward"}

    initial = mujoco.MjModel.from_xml_path(str(DATA / "arm7_initial.xml"))
    truth = mujoco.MjModel.from_xml_path(str(DATA / "arm7.xml"))
    problem = build_problem(initial, [load_log(str(log_path))], parse_params(PARAMS, initial),
                            InverseOptions(friction=("viscous", "coulomb")))
    from sysid.inverse.regressor import base_parameters

    basis = base_parameters(problem.W)
    true_friction = {f"viscous@{j}": v for j, v in zip(gen.JOINTS, gen.VISCOUS)} | {f"coulomb@{j}": v for j, v in zip(gen.JOINTS, gen.COULOMB)}
    p_true = linear_parameters(truth, problem.names, true_friction)
    beta_true = basis.project(p_true)
    WB = problem.W[:, basis.index]
    excited = np.sqrt(np.mean((WB * beta_true) ** 2, axis=0)) > gen.TORQUE_NOISE
    rows = {}
    for label, folder in [("initial guess", None), *folders.items()]:
        if folder is None:
            model, result = initial, None
            friction = {f"{m}@{j}": 0.01 for m in ("viscous", "coulomb") for j in gen.JOINTS}
        else:
            model = mujoco.MjModel.from_xml_path(str(folder / "calibrated.xml"))  # compiles: MuJoCo's inertia checks pass
            result = json.loads((folder / "result.json").read_text())
            friction = {f"viscous@{j}": result["params"][f"damping@{j}"]["value"] for j in gen.JOINTS}
            friction |= {f"coulomb@{j}": result["params"][f"frictionloss@{j}"]["value"] for j in gen.JOINTS}
        p = linear_parameters(model, problem.names, friction)
        beta = basis.project(p)
        error = np.abs(beta / beta_true - 1)
        torque = np.sqrt(np.mean((problem.W @ p - problem.y) ** 2))
        bodies_ok = all(consistent(standard_of(model, model.body(f"link{i + 1}").id)) for i in range(7))
        rows[label] = {"wall_s": runs[label]["wall_s"] if folder else None,
                       "excited_within_2pct": int(np.sum(error[excited] < 0.02)), "excited": int(excited.sum()),
                       "max_error_excited": float(error[excited].max()),
                       "all_within_2pct": int(np.sum(error < 0.02)), "base": len(beta),
                       "torque_weighted_error": float(np.linalg.norm(WB @ (beta - beta_true)) / np.linalg.norm(WB @ beta_true)),
                       "torque_rmse": float(torque), "consistent": bodies_ok,
                       "forward_loss": result["loss"]["final"] if result else None,
                       "solve_s": result.get("inverse", {}).get("timings_s", {}).get("total_s") if result else None}
    (OUT / "summary.json").write_text(json.dumps({"runs": runs, "rows": rows}, indent=1, default=str))
    print(f"\n{basis.rank} base parameters of {len(problem.names)} columns; {int(excited.sum())} move the torques by more than "
          f"the noise ({gen.TORQUE_NOISE} N m RMS)\n")
    print("| fit | wall [s] | solve [s] | excited base params within 2% | max error (excited) | all base params within 2% | "
          "torque-weighted error | torque RMSE [N m] | bodies consistent | forward loss (0.5 s) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, r in rows.items():
        wall = f"{r['wall_s']:.1f}" if r["wall_s"] else "-"
        solve = f"{r['solve_s']:.2f}" if r["solve_s"] else "-"
        loss = f"{r['forward_loss']:.4g}" if r["forward_loss"] is not None else "-"
        print(f"| {label} | {wall} | {solve} | {r['excited_within_2pct']}/{r['excited']} | {r['max_error_excited']:.2%} | "
              f"{r['all_within_2pct']}/{r['base']} | {r['torque_weighted_error']:.3%} | {r['torque_rmse']:.4f} | "
              f"{'yes' if r['consistent'] else 'NO'} | {loss} |")


if __name__ == "__main__":
    main()
