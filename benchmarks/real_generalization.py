"""Benchmark: generalization to trajectory types the fit never saw, on the three real datasets.

Every fit and every score is the command a user would run (`sysid fit`, `sysid eval`, as
subprocesses with this checkout on PYTHONPATH); this script only writes the reference models,
runs the commands and gathers their JSON into one table.

* DFKI simple pendulum: fit on `control_method_pd/system_identification`, score on each other
  control method (ddp, direct_collocation, ilqr, pd/1nm_torque_limited_swingup_failure, sac; the
  measured motor torque as the input, `map.yaml`).
* BAM XL330: fit on two of the trajectory types sin_sin, lift_and_drop, up_and_down (all four
  firmware gains kp 100-800; the servo as an actuator model in the loop with the per-log firmware
  gain, `fit_servo.yaml`), score on the third; all three ways. lift_and_drop keeps its first 2 s
  (torque on), as the dataset's adapter `bam_json.py` writes it.
* INI cart-pole: fit on every 6th run of `Train/` (22 runs), score on the 3 `Validate/` runs.

Two fits per split: "plain", the command without held-out options, and "selected", the same
command with `--cv 2 --structures datasets/<robot>/structures.yaml` (DFKI, BAM: candidate
structures ranked by cross-validated held-out error on the training logs only) or `--cv 2
--shrink auto` (INI, both fits on the lighter fit_heldout.yaml; the plain fit with fit.yaml is a third
column). DFKI adds a `--cv 2 --shrink auto --starts 1` column. Columns of the tables: both fits, the nominal MJCF (the untuned starting
model) and each published reference set converted to MJCF as in real_dfki_pendulum.py,
real_bam_xl330.py and real_ini_cartpole.py; the references are written as MJCF files under
benchmarks/out/real_generalization/<robot>/ so `sysid eval --model LABEL=FILE` scores them. Scores:
`sysid eval --horizons 0.5,1,open` (RMSE of each signal over windows from the logged state; open:
the whole run from its first state).

    .venv/bin/python benchmarks/real_generalization.py [--only dfki|bam|ini] [--reuse] [--tables]

Writes benchmarks/out/real_generalization/ (fits, evals, MJCFs) and
benchmarks/out/real_generalization.json (merged per dataset), and prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "datasets" / "bam_xl330"))

REAL = REPO.parent / "shared" / "data" / "real"
OUT = REPO / "benchmarks" / "out" / "real_generalization"
RESULTS = REPO / "benchmarks" / "out" / "real_generalization.json"
HORIZONS = ("0.5", "1", "open")
FITS = ("selected", "plain")
REUSE = False  # --reuse: keep fits already done by the same command  # our two fits; "selected" is the chosen model

DFKI_RUNS = ["control_method_ddp", "control_method_direct_collocation", "control_method_ilqr",
             "control_method_pd/1nm_torque_limited_swingup_failure", "control_method_sac"]
DFKI_PUBLISHED = {"J": 6.259e-02, "mcx": 1.022e-01, "Fv": 4.707e-02, "Fc": 1.839e-01, "offset": -7.586e-02}
BAM_TYPES = ("sin_sin", "lift_and_drop", "up_and_down")
BAM_KPS = (100, 200, 400, 800)
INI_REFERENCES = {"reference_A": {"gear": 6.21, "cart": 6.34, "pole": 2.5e-4},  # CartPole_config_savefile.yml
                  "reference_B": {"gear": 1.77, "cart": 3.22, "pole": 5e-5}}  # cartpole_physical_parameters_HEAD.yml


def rel(path: os.PathLike | str) -> str:
    """A path as the user would type it from the repository root."""
    return os.path.relpath(path, REPO)


def sysid(args: list[str], log_file: pathlib.Path) -> float:
    """Runs `sysid ARGS` from the repository root; returns its wall time [s]. stderr (the tool's
    warnings) goes to `log_file`; a failure stops the benchmark with the tool's message."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    print("$ sysid " + " ".join(args), flush=True)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "sysid.cli", *args], cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.write_text(f"$ sysid {' '.join(args)}\n{proc.stdout}\n--- stderr ---\n{proc.stderr}")
    if proc.returncode != 0:
        sys.exit(f"sysid {args[0]} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return seconds


def fit(out: pathlib.Path, base: list[str], extra: list[str]) -> dict:
    """`sysid fit BASE EXTRA --out OUT`; result.json's warnings, chosen structure and wall time. A fit
    already in OUT from the same command is reused (`--reuse`)."""
    args = ["fit", *base, *extra, "--out", rel(out), "--quiet"]
    done = out.with_suffix(".txt")
    text = done.read_text() if done.is_file() else ""
    if REUSE and (out / "result.json").is_file() and text.startswith(f"$ sysid {' '.join(args)}\n") and "\nwall_s " in text:
        seconds = float(text.rsplit("\nwall_s ", 1)[1])
    else:
        seconds = sysid(args, done)
        done.write_text(done.read_text() + f"\nwall_s {seconds}")
    result = json.loads((out / "result.json").read_text())
    return {"command": "sysid fit " + " ".join([*base, *extra, "--out", rel(out)]), "wall_s": seconds,
            "params": {k: v["value"] for k, v in result["params"].items()},
            "structure": result.get("structures", {}).get("chosen"), "shrink": result.get("shrink", {}).get("chosen"),
            "ranking": [(r["name"], r["score"], r["score_initial"]) for r in result.get("structures", {}).get("ranking", [])],
            "cv": result.get("cv", {}).get("by_horizon"),
            "warnings": result.get("warnings", []), "held_out_warnings": result.get("held_out_warnings", [])}


def evaluate(out: pathlib.Path, models: dict[str, pathlib.Path], fits: dict[str, pathlib.Path], logs: list[pathlib.Path],
             map_path: pathlib.Path | None = None, reference: str | None = None) -> dict:
    """`sysid eval` of MJCF files and fit folders on `logs`; returns eval.json."""
    args = ["eval", *(a for k, p in models.items() for a in ("--model", f"{k}={rel(p)}")),
            *(a for k, p in fits.items() for a in ("--fit", f"{k}={rel(p)}")), *(a for p in logs for a in ("--log", rel(p))),
            "--horizons", ",".join(HORIZONS), "--out", rel(out), "--quiet"]
    if map_path is not None:
        args += ["--map", rel(map_path)]
    if reference is not None:
        args += ["--reference", reference]
    seconds = sysid(args, out.with_suffix(".txt"))
    report = json.loads((out / "eval.json").read_text())
    report["wall_s"] = seconds
    return report


def write_text(path: pathlib.Path, text: str) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def substitute(text: str, pairs: list[tuple[str, str]]) -> str:
    """`text` with each old string (which must occur exactly once) replaced."""
    for old, new in pairs:
        if text.count(old) != 1:
            raise RuntimeError(f"expected {old!r} once in the model file")
        text = text.replace(old, new)
    return text


def rows_from(report: dict, logs: dict[str, str], *, signal: str | None) -> dict:
    """{case: {model: {horizon: value}}}: a signal's RMSE (or the score when signal is None) per log."""
    out = {}
    for case, log in logs.items():
        out[case] = {label: {h: (m["per_log"][log][h][signal] if signal else m["per_log_score"][log][h]) for h in HORIZONS}
                     for label, m in report["models"].items()}
    return out


def losses_and_warnings(report: dict, logs: dict[str, str], ours: str, *, signal: str | None, fits=FITS) -> list[dict]:
    """Every (case, windowed horizon, nominal or reference model) where `ours` is not lowest."""
    out = []
    for case, log in logs.items():
        for h in HORIZONS[:-1]:
            value = report["models"][ours]["per_log_score"][log][h] if signal is None else report["models"][ours]["per_log"][log][h][signal]
            for label, m in report["models"].items():
                other = m["per_log_score"][log][h] if signal is None else m["per_log"][log][h][signal]
                if label not in fits and not value <= other:
                    out.append({"case": case, "horizon": h, "beaten_by": label, "ours": value, "other": other})
    return out


def eval_warned(report: dict, ours: str, loss: dict, log: str) -> bool:
    """Whether that `sysid eval` run warned that ours predicts the log worse than the model that beat
    it at that horizon (`fits_beaten`: every fit against every plain model; or `worse_than_reference`)."""
    return any(w["model"] == ours and w.get("than", report["reference"]) == loss["beaten_by"] and w["log"] == log
               and w["horizon"] == loss["horizon"] for w in [*report["worse_than_reference"], *report.get("fits_beaten", [])])


def score_models(out: pathlib.Path, models: dict, fits: dict, logs: dict[str, pathlib.Path], map_path=None, *,
                 signal: str | None) -> dict:
    """One `sysid eval` of every model and fit on the held-out logs (reference: the nominal model);
    returns rows, losses (each with whether that eval run warned about it) and the eval's wall time."""
    names = {case: rel(p) for case, p in logs.items()}
    report = evaluate(out / "eval", models, fits, list(logs.values()), map_path)
    losses = losses_and_warnings(report, names, "selected", signal=signal, fits=set(fits))
    for loss in losses:
        loss["eval_warned"] = eval_warned(report, "selected", loss, names[loss["case"]])
    signals = list(next(iter(report["models"].values()))["rmse"][HORIZONS[0]])
    return {"rows": rows_from(report, names, signal=signal), "score_rows": rows_from(report, names, signal=None),
            "signal_rows": {k: rows_from(report, names, signal=k) for k in signals},
            "losses": losses, "eval_wall_s": report["wall_s"]}


# ---------------------------------------------------------------- DFKI pendulum

def dfki_published(path: pathlib.Path, *, offset: bool) -> pathlib.Path:
    """pendulum.xml with the authors' identification written in (see real_dfki_pendulum.py): mass
    m*cx / 0.5 at 0.5 m, inertia J - m 0.5^2 about the centre of mass, damping Fv, frictionloss
    Fc pi / 2; with `offset`, the constant torque as an affine actuator bias."""
    p, arm = DFKI_PUBLISHED, 0.5
    mass = p["mcx"] / arm
    inertia = p["J"] - mass * arm**2
    text = (REPO / "datasets" / "dfki_pendulum" / "pendulum.xml").read_text()
    pairs = [('damping="0.1" frictionloss="0.1"', f'damping="{p["Fv"]:.6g}" frictionloss="{p["Fc"] * np.pi / 2:.6g}"'),
             ('mass="0.6755" diaginertia="0.01 0.01 0.001"', f'mass="{mass:.6g}" diaginertia="{inertia:.6g} {inertia:.6g} 1e-4"')]
    if offset:
        pairs.append(('<motor name="motor" joint="pendulum"',
                      f'<general name="motor" joint="pendulum" biastype="affine" biasprm="{-p["offset"]:.6g} 0 0"'))
    return write_text(path, substitute(text, pairs))


def run_dfki() -> dict:
    data, real = REPO / "datasets" / "dfki_pendulum", REAL / "dfki_simple_pendulum" / "measured"
    out = OUT / "dfki"
    train = real / "control_method_pd" / "system_identification" / "data_measured.csv"
    base = ["--model", rel(data / "pendulum.xml"), "--map", rel(data / "map.yaml"), "--config", rel(data / "fit.yaml"),
            "--log", rel(train), "--params", "mass,inertia,damping,frictionloss,delay"]
    fits = {"plain": fit(out / "fit_plain", base, []),
            "selected": fit(out / "fit_selected", base, ["--cv", "2", "--structures", rel(data / "structures.yaml")]),
            # An extra column, run after the two above: shrinkage toward the nominal model, chosen by --cv
            # (one start per fit: 9 fits of 3 starts would take 45 min on the loaded machine).
            "shrink_auto": fit(out / "fit_shrink_auto", base, ["--cv", "2", "--shrink", "auto", "--starts", "1"])}
    models = {"nominal": data / "pendulum.xml", "published": dfki_published(out / "published.xml", offset=False),
              "published_offset": dfki_published(out / "published_offset.xml", offset=True)}
    logs = {run.replace("control_method_", ""): real / run / "data_measured.csv" for run in DFKI_RUNS}
    scored = score_models(out, models, {k: out / f"fit_{k}" for k in fits}, logs, data / "map.yaml", signal="pendulum.pos")
    return {"signal": "pendulum.pos [rad]", "splits": {"control_method_pd/system_identification": {"fits": fits, **scored}}}


# ---------------------------------------------------------------- BAM XL330

def bam_csvs(folder: pathlib.Path) -> dict[tuple[str, int], pathlib.Path]:
    """Converts every BAM run with the dataset's adapter to kp<KP>_<trajectory>.csv."""
    import warnings

    import bam_json

    out = {}
    for path in sorted((REAL / "bam_xl330" / "raw").glob("*.json")):
        doc = bam_json.read_json(str(path))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lift_and_drop: the torque-off rows are dropped
            log = bam_json.load_bam(path)
        folder.mkdir(parents=True, exist_ok=True)
        out[(doc["trajectory"], int(doc["kp"]))] = bam_json.write_csv(log, folder / f"kp{int(doc['kp'])}_{doc['trajectory']}.csv")
    return out


def bam_model(path: pathlib.Path, kp_fw: int, *, armature: float, frictionloss: float, damping: float, gain: float,
              limit: float) -> pathlib.Path:
    """bench.xml with these joint values and position gain [N m/rad] / torque limit [N m]."""
    text = (REPO / "datasets" / "bam_xl330" / "bench.xml").read_text()
    pairs = [('armature="0.005" damping="0.05" frictionloss="0.05"',
              f'armature="{armature:.6g}" damping="{damping:.6g}" frictionloss="{frictionloss:.6g}"'),
             ('kp="1.0" forcerange="-0.4 0.4"', f'kp="{gain:.6g}" forcerange="{-limit:.6g} {limit:.6g}"')]
    return write_text(path, f"<!-- firmware kp {kp_fw} -->\n" + substitute(text, pairs))


def bam_models(folder: pathlib.Path, kp_fw: int) -> dict[str, pathlib.Path]:
    """The nominal bench.xml (its gain scaled by kp / 400) and BAM's two m1 fits converted as in
    real_bam_xl330.py (error gain 0.00246, 7.4 V, back-EMF kt^2 / R in the damping, limit kt vin / R)."""
    models = {"nominal": bam_model(folder / f"nominal_kp{kp_fw}.xml", kp_fw, armature=0.005, frictionloss=0.05, damping=0.05,
                                   gain=kp_fw / 400, limit=0.4)}
    for label, sub in (("published_head", "reference_params_at_HEAD"), ("published_af22604", "reference_params_at_af22604")):
        ref = json.loads((REAL / "bam_xl330" / sub / "m1.json").read_text())
        kt, r = ref["kt"], ref["R"]
        models[label] = bam_model(folder / f"{label}_kp{kp_fw}.xml", kp_fw, armature=ref["armature"], frictionloss=ref["friction_base"],
                                  damping=ref["friction_viscous"] + kt**2 / r, gain=kt * 7.4 * 0.00246 * kp_fw / r, limit=kt * 7.4 / r)
    return models


def run_bam() -> dict:
    data, out = REPO / "datasets" / "bam_xl330", OUT / "bam"
    csvs = bam_csvs(out / "csv")
    splits = {}
    for held in BAM_TYPES:
        folder = out / f"held_{held}"
        train = [csvs[(t, kp)] for t in BAM_TYPES if t != held for kp in BAM_KPS]
        base = ["--model", rel(data / "bench.xml"), "--config", rel(data / "fit_servo.yaml"), "--actuator", "dcmotor@servo",
                "--params", "armature,frictionloss,damping", *(a for p in train for a in ("--log", rel(p)))]
        fits = {"plain": fit(folder / "fit_plain", base, []),
                "selected": fit(folder / "fit_selected", base, ["--cv", "2", "--structures", rel(data / "structures.yaml")])}
        rows, score_rows, losses, seconds = {}, {}, [], 0.0
        for kp in BAM_KPS:  # the references are one MJCF per firmware gain
            scored = score_models(folder / f"kp{kp}", bam_models(out / "models", kp), {k: folder / f"fit_{k}" for k in FITS},
                                  {f"{held} kp {kp}": csvs[(held, kp)]}, signal="servo.pos")
            rows.update(scored["rows"])
            score_rows.update(scored["score_rows"])
            losses += scored["losses"]
            seconds += scored["eval_wall_s"]
        rows[f"{held}, all kp (RMS)"] = _rms_rows([rows[f"{held} kp {kp}"] for kp in BAM_KPS])
        splits[f"fit on {' + '.join(t for t in BAM_TYPES if t != held)}"] = {
            "held_out": held, "fits": fits, "rows": rows, "score_rows": score_rows, "losses": losses, "eval_wall_s": seconds}
    return {"signal": "servo.pos [rad]", "splits": splits}


def _rms_rows(rows: list[dict]) -> dict:
    """Root mean square over runs of each model's RMSE per horizon (runs of similar length)."""
    return {label: {h: float(np.sqrt(np.mean([r[label][h] ** 2 for r in rows]))) for h in HORIZONS} for label in rows[0]}


# ---------------------------------------------------------------- INI cart-pole

def ini_reference(path: pathlib.Path, values: dict) -> pathlib.Path:
    """cartpole.xml with a reference set (gear, cart and pole viscous friction, no Coulomb friction)."""
    text = (REPO / "datasets" / "ini_cartpole" / "cartpole.xml").read_text()
    pairs = [('damping="6.34" frictionloss="0.1"', f'damping="{values["cart"]:.6g}" frictionloss="0"'),
             ('damping="2.5e-4" frictionloss="0.001"', f'damping="{values["pole"]:.6g}" frictionloss="0"'),
             ('gear="6.21"', f'gear="{values["gear"]:.6g}"')]
    return write_text(path, substitute(text, pairs))


def run_ini() -> dict:
    data, real, out = REPO / "datasets" / "ini_cartpole", REAL / "ini_cartpole", OUT / "ini"
    train = sorted((real / "Train").glob("*.csv"))[::6]
    def base(config: str) -> list[str]:
        return ["--model", rel(data / "cartpole.xml"), "--map", rel(data / "map.yaml"), "--config", rel(data / config),
                "--params", "gear,damping,frictionloss,mass,delay", *(a for p in train for a in ("--log", rel(p)))]

    # fit.yaml's fit takes 14 min on the loaded machine, too long for the 9 fits of --cv 2 --shrink auto:
    # both compared fits use fit_heldout.yaml (a smaller budget); fit.yaml's plain fit is a third column.
    fits = {"plain": fit(out / "fit_plain_light", base("fit_heldout.yaml"), []),
            "selected": fit(out / "fit_selected", base("fit_heldout.yaml"), ["--cv", "2", "--shrink", "auto"]),
            "plain_full": fit(out / "fit_plain", base("fit.yaml"), [])}
    models = {"nominal": data / "cartpole.xml", **{k: ini_reference(out / f"{k}.xml", v) for k, v in INI_REFERENCES.items()}}
    logs = {p.stem: p for p in sorted((real / "Validate").glob("*.csv"))}
    folders = {"selected": out / "fit_selected", "plain": out / "fit_plain_light", "plain_full": out / "fit_plain"}
    scored = score_models(out, models, folders, logs, data / "map.yaml", signal=None)
    return {"signal": "score (RMSE / noise level, RMS over cart.pos and pole.pos)", "train_logs": len(train),
            "splits": {f"Train (every 6th, {len(train)} runs)": {"fits": fits, **scored}}}


# ---------------------------------------------------------------- tables

def table(name: str, entry: dict) -> str:
    lines = [f"### {name}: {entry['signal']} on held-out trajectory types (lower is better; lowest in bold)", ""]
    for split, s in entry["splits"].items():
        f = s["fits"]
        lines.append(f"Fit on {split.removeprefix('fit on ')}. Chosen structure: {f['selected']['structure']!r}"
                     + (f", shrink {f['selected']['shrink']}" if f["selected"]["shrink"] is not None else "")
                     + "; fit wall time: " + ", ".join(f"{k} {v['wall_s']:.0f} s" for k, v in f.items())
                     + f"; evals {s['eval_wall_s']:.0f} s.")
        lines.append("")
        lines += markdown_rows(s["rows"])
        signals = s.get("signal_rows", {})
        for signal, rows in signals.items() if len(signals) > 1 else ():
            if entry["signal"].startswith(signal + " "):
                continue  # the table above
            lines += [f"{signal} RMSE:", ""] + markdown_rows(rows)
        for loss in s["losses"]:
            lines.append(f"- LOSS: {loss['case']}, {loss['horizon']} s: selected {loss['ours']:.4g} vs {loss['beaten_by']} "
                         f"{loss['other']:.4g}; sysid eval warned: {'yes' if loss['eval_warned'] else 'no'}")
        for k in f:
            w = f[k]["held_out_warnings"]
            lines.append(f"- {k} fit: {len(f[k]['warnings'])} warning(s), {len(w)} held-out warning(s)"
                         + (f"; first: {w[0]}" if w else ""))
        lines.append("")
    return "\n".join(lines)


def markdown_rows(rows: dict) -> list[str]:
    """One markdown table: a row per (held-out case, horizon), a column per model; lowest in bold."""
    labels = list(next(iter(rows.values())))
    lines = ["| held out | horizon | " + " | ".join(labels) + " |", "|---|---|" + "---|" * len(labels)]
    for case, row in rows.items():
        for h in HORIZONS:
            values = [row[k][h] for k in labels]
            best = int(np.argmin([v if np.isfinite(v) else np.inf for v in values]))
            cells = [f"{v:.4g}" if np.isfinite(v) else "diverged" for v in values]
            cells[best] = f"**{cells[best]}**"
            lines.append(f"| {case} | {h if h == 'open' else h + ' s'} | " + " | ".join(cells) + " |")
    return lines + [""]


RUNNERS = {"dfki": run_dfki, "bam": run_bam, "ini": run_ini}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(RUNNERS), action="append", help="run only this dataset (repeatable)")
    parser.add_argument("--reuse", action="store_true", help="reuse fits already in the output folder from the same command")
    parser.add_argument("--tables", action="store_true", help="print the tables of the last runs (no fitting)")
    args = parser.parse_args()
    if args.tables:
        results = json.loads(RESULTS.read_text())
        for name in args.only or [k for k in RUNNERS if k in results]:
            print(table(name, results[name]) + f"\n{name}: {results[name]['wall_s']:.0f} s in all\n")
        return
    global REUSE
    REUSE = args.reuse
    if not REAL.is_dir():
        sys.exit(f"no real data at {REAL}")
    for name in args.only or list(RUNNERS):
        start = time.perf_counter()
        entry = {**RUNNERS[name](), "wall_s": time.perf_counter() - start}
        results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}  # re-read: other datasets may run alongside
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({**results, name: entry}, indent=2))
        print(table(name, entry), flush=True)
        print(f"{name}: {entry['wall_s']:.0f} s in all\n", flush=True)


if __name__ == "__main__":
    main()
