"""Benchmark: `sysid check` on every visible real log, one log at a time (docs/check.md, "Real hardware logs").

Uses the models, map files, configs and parameters of the README's fits. The BAM JSON runs are
converted to CSV first (datasets/bam_xl330/bam_json.py, into benchmarks/out/bam_csv).

    .venv/bin/python benchmarks/check_real.py

Prints one markdown row per log (duration, wall seconds, verdict counts, the weakest parameter, the
findings) and the largest predicted correlation of each flagged pair per dataset.
"""

from __future__ import annotations

import pathlib
import sys
import time
import warnings

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "datasets" / "bam_xl330"))

from sysid.check import check_logs, prepare_params  # noqa: E402
from sysid.config import load_config  # noqa: E402
from sysid.data import load_log  # noqa: E402
from sysid.model import load_model  # noqa: E402

REAL = REPO.parent / "shared" / "data" / "real"
DATA = REPO / "datasets"
DFKI_RUNS = ("control_method_pd/system_identification", "control_method_ddp", "control_method_direct_collocation",
             "control_method_ilqr", "control_method_pd/1nm_torque_limited_swingup_failure", "control_method_sac")


def cases() -> list[tuple[str, str, pathlib.Path, str, str | None, str, str]]:
    """(dataset, run, log, model, map, config, params) of every real log."""
    import bam_json

    out = []
    dfki = DATA / "dfki_pendulum"
    for run in DFKI_RUNS:
        out.append(("dfki", run, REAL / "dfki_simple_pendulum" / "measured" / run / "data_measured.csv", str(dfki / "pendulum.xml"),
                    str(dfki / "map.yaml"), str(dfki / "fit.yaml"), "mass,inertia,damping,frictionloss,delay"))
    csv_dir = REPO / "benchmarks" / "out" / "bam_csv"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bam_json.main([str(p) for p in sorted((REAL / "bam_xl330" / "raw").glob("*.json"))] + ["--out", str(csv_dir)])
    bam = DATA / "bam_xl330"
    for path in sorted(csv_dir.glob("*.csv")):
        out.append(("bam", path.stem, path, str(bam / "bench.xml"), None, str(bam / "fit.yaml"), "armature,frictionloss,damping,kp"))
    ini, real = DATA / "ini_cartpole", REAL / "ini_cartpole"
    train = sorted((real / "Train").glob("*.csv"), key=lambda p: int(p.stem.split("-")[1]))[::6]
    for path in [*train, *sorted((real / "Validate").glob("*.csv"))]:
        out.append(("ini", f"{path.parent.name}/{path.stem}", path, str(ini / "cartpole.xml"), str(ini / "map.yaml"),
                    str(ini / "fit.yaml"), "gear,damping,frictionloss,mass,delay"))
    return out


def main() -> None:
    if not REAL.is_dir():
        sys.exit(f"no real data at {REAL}")
    print("| dataset | run | s | wall s | pass | identifiable / weak / not | weakest | findings |")
    print("|---|---|---|---|---|---|---|---|")
    pairs: dict[tuple[str, tuple[str, ...]], float] = {}
    for dataset, run, path, model_path, map_path, config, params in cases():
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unmapped columns
            model, log = load_model(model_path), load_log(path, map_path=map_path)
        param_set, prior, horizon = prepare_params(model, [log], params, load_config(config))
        report = check_logs(model, [log], param_set, horizon=horizon, prior=prior)
        wall = time.perf_counter() - start
        verdicts = [p["verdict"] for p in report.params.values()]
        counts = "/".join(str(verdicts.count(v)) for v in ("identifiable", "weak", "not identifiable"))
        name, worst = max(report.params.items(), key=lambda kv: kv[1]["relative_std"])
        kinds: dict[str, int] = {}
        for f in report.findings:
            kinds[f.kind] = kinds.get(f.kind, 0) + 1
            if f.kind == "correlated":
                c = report.correlation
                i, j = c["names"].index(f.params[0]), c["names"].index(f.params[1])
                key = (dataset, f.params)
                pairs[key] = max(pairs.get(key, 0.0), abs(c["matrix"][i][j]))
        found = ", ".join(k + (f" x{v}" if v > 1 else "") for k, v in kinds.items()) or "-"
        print(f"| {dataset} | {run} | {log.duration:.1f} | {wall:.1f} | {'pass' if report.passed else 'FAIL'} | {counts} | "
              f"{name} {100 * worst['relative_std']:.2g}% | {found} |", flush=True)
    print("\nlargest predicted correlation of each flagged pair:")
    for (dataset, pair), value in sorted(pairs.items()):
        print(f"  {dataset}: {pair[0]} / {pair[1]}: {value:.3f}")


if __name__ == "__main__":
    main()
