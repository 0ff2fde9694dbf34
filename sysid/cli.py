"""The `sysid` command: `sysid fit ...` and `sysid demo`.

Exit codes: 0 success, 2 user error (one line on stderr, no traceback), 130 interrupted
before any result existed.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import warnings
from collections.abc import Sequence

from sysid.errors import UserError
from sysid.version import __version__

DEMO_DIR = pathlib.Path(__file__).resolve().parents[1] / "datasets" / "arm2"
DEMO_PARAMS = "mass,damping,frictionloss,armature"
OUTPUT_FILES = ("calibrated.xml", "result.json", "fit.png", "convergence.png")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `sysid` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    warnings.showwarning = _show_warning
    try:
        return args.run(args)
    except UserError as error:
        print(f"sysid: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sysid: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sysid", description="System identification and Real2Sim calibration on MuJoCo.")
    parser.add_argument("--version", action="version", version=f"sysid {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    fit = sub.add_parser("fit", help="fit model parameters to robot logs", description="Fit simulator parameters to logs under a multiple-shooting rollout loss.")
    fit.add_argument("--model", required=True, help="MJCF model of the robot")
    fit.add_argument("--log", action="append", required=True, help="a log file (repeat for several logs)")
    fit.add_argument("--params", required=True, help="comma-separated KIND[@TARGET], e.g. friction,mass@upper,damping@*")
    fit.add_argument("--map", help="YAML map from the log's columns to sysid's schema (rename, scale)")
    fit.add_argument("--config", help="YAML fit config: parameter bounds, horizons, optimizer options")
    fit.add_argument("--optimizer", help="cmaes, lsq, cmaes+lsq or auto (default: config, else cmaes+lsq)")
    fit.add_argument("--seed", type=int, help="random seed (default: config, else 0)")
    fit.add_argument("--threads", type=int, help="rollout threads (default: all usable cores)")
    fit.add_argument("--out", required=True, help="output folder")
    fit.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    fit.set_defaults(run=_run_fit)

    demo = sub.add_parser("demo", help="fit the bundled 2-link arm example and compare with the truth")
    demo.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(run=_run_demo)
    return parser


def _run_fit(args: argparse.Namespace) -> int:
    summary = fit_files(
        model_path=args.model, log_paths=args.log, params=args.params, map_path=args.map, config_path=args.config,
        optimizer=args.optimizer, seed=args.seed, nthread=args.threads, out=args.out, progress=not args.quiet,
    )
    if not args.quiet:
        print(format_summary(summary))
        print(f"wrote {os.path.join(args.out, 'calibrated.xml')}, result.json, fit.png, convergence.png")
    return 0


def fit_files(*, model_path: str, log_paths: Sequence[str], params: str, out: str, map_path: str | None = None,
              config_path: str | None = None, optimizer: str | None = None, seed: int | None = None,
              nthread: int | None = None, progress: bool = True) -> dict:
    """Everything `sysid fit` does, from file names to written outputs; returns result.json's dict."""
    from sysid.config import load_config
    from sysid.data import load_log
    from sysid.export import write_outputs
    from sysid.fit import FitConfig, fit
    from sysid.model import load_model
    from sysid.params import parse_params

    config_file = load_config(config_path)
    run = dict(config_file.run)
    for key, value in (("optimizer", optimizer), ("seed", seed), ("nthread", nthread)):
        if value is not None:
            run[key] = value
    config = FitConfig(**run)
    model = load_model(model_path)
    logs = [load_log(path, map_path=map_path) for path in log_paths]
    param_set = parse_params(params, model, overrides=config_file.params)
    outputs = {(pathlib.Path(out) / name).resolve() for name in OUTPUT_FILES}
    for path in [model_path, *log_paths, *(p for p in (map_path, config_path) if p)]:
        if pathlib.Path(path).resolve() in outputs:
            raise UserError(f"--out {out}: writing there would overwrite the input file {path}")
    result = fit(model, logs, param_set, config, progress=progress)
    summary = write_outputs(out, model_path=model_path, model=model, log_paths=log_paths, result=result, config=config)
    if result.interrupted:
        print("sysid: interrupted: wrote the best result so far", file=sys.stderr)
    return summary


def format_summary(summary: dict, truth: dict[str, float] | None = None) -> str:
    """A readable table of result.json: one row per parameter (and the truth, when known)."""
    header = f"{'parameter':<26}{'initial':>11}{'fitted':>11}{'std':>10}"
    header += f"{'truth':>11}{'error':>9}" if truth else ""
    lines = [header]
    for name, p in summary["params"].items():
        row = f"{name:<26}{p['initial']:>11.4g}{p['value']:>11.4g}{_fmt(p['std']):>10}"
        if truth and name in truth:
            row += f"{truth[name]:>11.4g}{100 * (p['value'] / truth[name] - 1):>+8.2f}%"
        lines.append(row)
    loss = summary["loss"]
    lines.append(f"loss {loss['initial']:.4g} -> {loss['final']:.4g} over {summary['rmse_horizon_s']:g} s windows; "
                 f"{summary['evaluations']} evaluations, {summary['sim_steps']:,} steps, {summary['wall_time_s']:.1f} s")
    lines.append("RMSE " + ", ".join(f"{k} {_fmt(summary['rmse_initial'].get(k))} -> {_fmt(v)}" for k, v in summary["rmse"].items()))
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "nan" if value is None else f"{value:.3g}"


def _run_demo(args: argparse.Namespace) -> int:
    if not DEMO_DIR.is_dir():
        raise UserError(f"the demo needs the repository's datasets folder, not found at {DEMO_DIR}")
    truth = json.loads((DEMO_DIR / "truth.json").read_text())
    logs = [str(DEMO_DIR / "run1.csv"), str(DEMO_DIR / "run2.csv")]
    print(f"sysid demo: fitting {DEMO_PARAMS} of {DEMO_DIR / 'arm2.xml'} to {len(logs)} logs (12 s in all)")
    summary = fit_files(model_path=str(DEMO_DIR / "arm2.xml"), log_paths=logs, params=DEMO_PARAMS, out=args.out, seed=args.seed)
    print(format_summary(summary, truth))
    worst = max(abs(summary["params"][n]["value"] / truth[n] - 1) for n in truth)
    print(f"worst error vs truth: {100 * worst:.2f}%; outputs in {args.out}/")
    return 0


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"sysid: warning: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
