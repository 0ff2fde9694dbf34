"""BAM XL330 with MuJoCo-native actuators: leave one trajectory type out, firmware kp 100-400.

Issue #16's real-servo check: can a native MuJoCo actuator, fitted by `sysid fit` and carried by
calibrated.xml alone, predict a trajectory type it never saw as well as the Python DC motor with
load-dependent friction (an actuator model in the loop) and BAM's published m1 fits?

Protocol, per held-out type T (sin_sin, lift_and_drop, up_and_down) and firmware gain kp (100, 200,
400): train on the two other types, score open loop and over 1 s windows on T (`sysid eval
--horizons 1,open`, servo.pos RMSE in rad). lift_and_drop keeps its first 2 s (torque on), as the
dataset's adapter writes it.

* native position servo: datasets/bam_xl330/bench.xml (a `<position>` actuator with a torque limit,
  joint damping standing in for the back-EMF), fitting `armature,frictionloss,damping,kp,forcerange`.
  A native actuator has one gain, so it is fitted per firmware kp (two logs each).
* native dcmotor: the servo converted to MuJoCo's `dcmotor` (`input="pos"`: its controller's kp on the
  position error, a voltage clamp `vmax`; resistance given, 4 ohm), fitting
  `armature,frictionloss,damping,kp,vmax,motorconst`; per firmware kp as well.
  Native fits: CMA-ES `--cmaes` evaluations on 0.25 s windows, 30 least-squares iterations on 1 s
  windows, `--starts` independent starts (the lowest training loss is kept).
* Python DC motor + load friction: `--actuator dcmotor@servo` with BAM's load-dependent gearbox friction
  and a current limit (datasets/bam_xl330/structures.yaml's second candidate), one fit over the six
  training logs, the firmware kp a per-log setting; fit_servo.yaml's budget (CMA-ES 200 evaluations on
  0.5 s windows, 10 least-squares iterations on 1 s windows), one start.
* BAM m1 as BAM's code runs it (HEAD and af22604): the published values in BAM's DC motor model
  (duty 0.00246 kp error, 7.4 V, back-EMF not compensated, the centre of mass turned by q_offset), run
  as an actuator model in the loop through a fit folder that `sysid fit --optimizer none` writes.
* BAM m1 published (HEAD and af22604): BAM's fits converted to MJCF position actuators as in
  benchmarks/real_generalization.py (gain kt 7.4 V 0.00246 kp / R, damping friction_viscous + kt^2 / R,
  limit kt 7.4 / R).

    .venv/bin/python benchmarks/native_bam.py [--only sin_sin] [--cmaes 300] [--starts 2] [--reuse] [--emf]

Writes benchmarks/out/native_bam/ and prints the markdown table of benchmarks/native_motors.md.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import numpy as np
import yaml

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import real_generalization as rg  # noqa: E402

OUT = REPO / "benchmarks" / "out" / "native_bam"
DATA = REPO / "datasets" / "bam_xl330"
TYPES = ("sin_sin", "lift_and_drop", "up_and_down")
KPS = (100, 200, 400)
HORIZONS = ("1", "open")
NATIVE = {
    "native position": "armature,frictionloss,damping,kp@servo,forcerange@servo",
    "native dcmotor": "armature,frictionloss,damping,kp@servo,vmax@servo,motorconst@servo",
}


def native_config(path: pathlib.Path, label: str, kp: int, cmaes: int) -> pathlib.Path:
    """The fit config of a native structure at firmware gain `kp`: bench.xml's starting values, and for
    the dcmotor the conversion (K = 0.35 N m/A, R = 4 ohm, vmax 7.3 V: the logs' supply)."""
    config: dict = {"horizons": [0.25, 1.0], "max_windows": 12, "optimizer": "cmaes+lsq",
                    "optimizer_options": {"cmaes": {"popsize": 12, "max_evaluations": cmaes}, "lsq": {"max_iterations": 30}},
                    "params": {"forcerange@servo": {"lower": 0.05, "upper": 2.0}, "kp@servo": {"lower": 0.02, "upper": 20.0}}}
    if label == "native dcmotor":
        config["convert"] = {"servo": {"to": "dcmotor", "input": "pos", "motorconst": 0.35, "resistance": 4.0,
                                       "controller": [kp / 400, 0, 0, 0, 0, 7.3]}}
        config["params"] = {"kp@servo": {"lower": 0.02, "upper": 20.0}, "vmax@servo": {"lower": 1.0, "upper": 20.0},
                            "motorconst@servo": {"lower": 0.05, "upper": 2.0}}
    return rg.write_text(path, yaml.safe_dump(config, sort_keys=False))


def python_config(path: pathlib.Path) -> pathlib.Path:
    """fit_servo.yaml (CMA-ES 200 evaluations, 10 least-squares iterations) with structures.yaml's
    'dcmotor + current limit + load friction' actuator."""
    config = yaml.safe_load((DATA / "fit_servo.yaml").read_text())
    candidate = next(c for c in yaml.safe_load((DATA / "structures.yaml").read_text())["candidates"] if "load friction" in c["name"])
    config["actuators"] = candidate["actuators"]
    return rg.write_text(path, yaml.safe_dump(config, sort_keys=False))


M1 = {"m1 HEAD (BAM's model)": "reference_params_at_HEAD", "m1 af22604 (BAM's model)": "reference_params_at_af22604"}


def m1_folder(folder: pathlib.Path, label: str, train: list[str]) -> dict:
    """BAM's m1 fit run as BAM's code runs it (the DC motor in the loop: duty = 0.00246 kp error,
    torque = kt (duty 7.4 V - kt qd) / R; armature, Coulomb and viscous friction, the centre of mass
    turned by q_offset), as a fit folder `sysid eval --fit` scores: `sysid fit --optimizer none` keeps
    these values and writes calibrated.xml and actuators.json with them."""
    ref = json.loads((rg.REAL / "bam_xl330" / M1[label] / "m1.json").read_text())
    off = ref["q_offset"]
    xml = rg.substitute((DATA / "bench.xml").read_text(), [
        ('armature="0.005" damping="0.05" frictionloss="0.05"',
         f'armature="{ref["armature"]:.8g}" damping="{ref["friction_viscous"]:.8g}" frictionloss="{ref["friction_base"]:.8g}"'),
        ('<inertial pos="0 0 -0.1"', f'<inertial pos="{-0.1 * np.sin(off):.8g} 0 {-0.1 * np.cos(off):.8g}"')])
    name = "m1_head" if "HEAD" in label else "m1_af22604"
    config = yaml.safe_load((DATA / "fit_servo.yaml").read_text())
    config.pop("params", None)
    config["actuators"]["dcmotor@servo"].update({"kt": ref["kt"], "R": ref["R"], "vin": 7.4, "duty_gain": 0.00246, "fit": []})
    base = ["--model", rg.rel(rg.write_text(folder / f"{name}.xml", xml)),
            "--config", rg.rel(rg.write_text(folder / f"{name}.yaml", yaml.safe_dump(config, sort_keys=False))),
            "--actuator", "dcmotor@servo", "--params", "armature", "--optimizer", "none", *(a for p in train for a in ("--log", p))]
    return rg.fit(folder / f"fit_{name}", base, [])


def run(held: str, csvs: dict, cmaes: int, starts: int) -> dict:
    folder = OUT / f"held_{held}"
    train_types = [t for t in TYPES if t != held]
    fits, rows = {}, {}
    python_base = ["--model", rg.rel(DATA / "bench.xml"), "--config", rg.rel(python_config(folder / "python.yaml")),
                   "--actuator", "dcmotor@servo", "--params", "armature,frictionloss,damping",
                   *(a for t in train_types for kp in KPS for a in ("--log", rg.rel(csvs[(t, kp)])))]
    fits["python load friction"] = rg.fit(folder / "fit_python", python_base, [])
    train = [rg.rel(csvs[(t, kp)]) for t in train_types for kp in KPS]
    for label in M1:
        fits[label] = m1_folder(folder, label, train)
    for kp in KPS:
        references = rg.bam_models(OUT / "models", kp)
        folders = {"python load friction": folder / "fit_python",
                   **{label: folder / ("fit_m1_head" if "HEAD" in label else "fit_m1_af22604") for label in M1}}
        for label, params in NATIVE.items():
            name = label.replace(" ", "_")
            base = ["--model", rg.rel(references["nominal"]), "--config", rg.rel(native_config(folder / f"{name}_kp{kp}.yaml", label, kp, cmaes)),
                    "--params", params, *(a for t in train_types for a in ("--log", rg.rel(csvs[(t, kp)])))]
            fits[f"{label} kp {kp}"] = rg.fit(folder / f"fit_{name}_kp{kp}", base, ["--starts", str(starts)])
            folders[label] = folder / f"fit_{name}_kp{kp}"
        models = {k: v for k, v in references.items() if k.startswith("published")}
        report = rg.evaluate(folder / f"eval_kp{kp}", models, folders, [csvs[(held, kp)]])
        log = rg.rel(csvs[(held, kp)])
        rows[f"{held} kp {kp}"] = {label: {h: m["per_log"][log][h]["servo.pos"] for h in HORIZONS} for label, m in report["models"].items()}
    return {"fits": fits, "rows": rows}


def table(results: dict) -> str:
    labels = ["native position", "native dcmotor", "python load friction", *M1, "published_head", "published_af22604"]
    lines = ["| held out | horizon | " + " | ".join(labels) + " |", "|---|---|" + "---|" * len(labels)]
    for held, result in results.items():
        cases = list(result["rows"].values())
        for case, row in [*result["rows"].items(), (f"{held}, kp 100-400 (RMS)", {
                label: {h: float(np.sqrt(np.mean([c[label][h] ** 2 for c in cases]))) for h in HORIZONS} for label in labels})]:
            for h in HORIZONS:
                best = min(row[k][h] for k in labels)
                cells = [f"**{row[k][h]:.4g}**" if row[k][h] == best else f"{row[k][h]:.4g}" for k in labels]
                lines.append(f"| {case} | {'1 s' if h == '1' else h} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def back_emf_table(kt: float = 0.35, r: float = 3.25, vin: float = 7.3, duty_gain: float = 0.00288, kp: int = 400) -> str:
    """Torque at a 0.1 rad position error and several speeds: the XL330 firmware (duty = duty_gain kp
    error, clipped to +-1; torque = kt (duty vin - kt qd) / R: back-EMF not compensated) against MuJoCo's
    dcmotor with `input="pos"` (controller kp = kt vin duty_gain kp / R, the same stall torque per rad,
    voltage clamp vin), evaluated by MuJoCo itself."""
    import mujoco

    gain = kt * vin * duty_gain * kp / r
    xml = f"""<mujoco><worldbody><body><joint name="j" type="hinge"/><inertial pos="0 0 -0.1" mass="0.49" diaginertia="1e-5 1e-5 1e-5"/>
      </body></worldbody><actuator><dcmotor joint="j" input="pos" motorconst="{kt}" resistance="{r}" controller="{gain} 0 0 0 0 {vin}"/>
      </actuator></mujoco>"""
    model = mujoco.MjModel.from_xml_string(xml)
    data = mujoco.MjData(model)
    lines = ["| qd [rad/s] | XL330 firmware [N m] | MuJoCo dcmotor input=pos [N m] |", "|---|---|---|"]
    for qd in (0.0, 1.0, 3.0, 6.0, 12.0):
        data.qpos[0], data.qvel[0], data.ctrl[0] = 0.0, qd, 0.1
        mujoco.mj_forward(model, data)
        firmware = kt * (np.clip(duty_gain * kp * 0.1, -1, 1) * vin - kt * qd) / r
        lines.append(f"| {qd:g} | {firmware:.4f} | {data.actuator_force[0]:.4f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=TYPES, action="append", help="held-out type(s) to run (default: all three)")
    parser.add_argument("--cmaes", type=int, default=300, help="CMA-ES evaluations of every native fit (default 300)")
    parser.add_argument("--starts", type=int, default=2, help="independent starts of every native fit (default 2)")
    parser.add_argument("--reuse", action="store_true", help="keep fits already done by the same command")
    parser.add_argument("--emf", action="store_true", help="only print the back-EMF comparison (no fits)")
    args = parser.parse_args()
    print(back_emf_table())
    if args.emf:
        return
    rg.HORIZONS, rg.REUSE = HORIZONS, args.reuse  # sysid eval --horizons
    csvs = rg.bam_csvs(OUT / "csv")
    results, start = {}, time.perf_counter()
    for held in args.only or TYPES:
        results[held] = run(held, csvs, args.cmaes, args.starts)
        rg.write_text(OUT / "results.json", json.dumps(results, indent=1))
        print(table({held: results[held]}), flush=True)
    print(f"\nall held-out types ({time.perf_counter() - start:.0f} s):\n" + table(results))


if __name__ == "__main__":
    main()
