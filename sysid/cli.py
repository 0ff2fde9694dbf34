"""The `sysid` command: `sysid fit ...`, `sysid export ...`, `sysid excite ...` and `sysid demo`.

Exit codes: 0 success, 2 user error (one line on stderr, no traceback), 130 / 143 stopped by
SIGINT / SIGTERM (a fit then writes its best result so far, marked interrupted).
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import os
import pathlib
import signal
import sys
import threading
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from sysid.errors import UserError
from sysid.extras import require
from sysid.version import __version__

if TYPE_CHECKING:
    import mujoco

    from sysid.data import Log
    from sysid.data.delay import DelayEstimate
    from sysid.distributed import RayBackend
    from sysid.params import ParamSet

DEMO_DIR = pathlib.Path(__file__).resolve().parent / "demo"  # a copy of datasets/arm2 shipped in the package
DEMO_PARAMS = "mass,damping,frictionloss,armature"
OUTPUT_FILES = ("calibrated.xml", "result.json", "fit.png", "convergence.png", "report.html", "report_data.json")
PLACE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EFBIG}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `sysid` console script.

    SIGINT (Ctrl-C) and SIGTERM stop a fit the same way: the best result so far is written
    (result.json "interrupted": true) and the exit code is 130 or 143; before any result exists
    they end the command with one line and the same codes.
    """
    previous = _catch_signals()
    try:
        args = _parser().parse_args(argv)
        warnings.showwarning = _show_warning
        _check_numbers(args)
        out = getattr(args, "out", None)
        if out:
            from sysid.io import check_writable

            try:
                check_writable(out)  # before any work: a read-only or bad --out fails now, not after the fit
            except UserError as error:
                raise UserError(f"--out {error}") from None
        return args.run(args)
    except UserError as error:
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(error))  # a name with a newline stays one line
        print(f"sysid: error: {text}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sysid: interrupted", file=sys.stderr)
        return 128 + _SIGNAL[0]
    except OSError as error:
        if error.errno not in PLACE_ERRORS:
            raise
        print(f"sysid: error: {error.filename or ''}: {error.strerror}", file=sys.stderr)  # disk full, no permission
        return 2
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


_SIGNAL = [signal.SIGINT]  # the last stop signal received


def _check_numbers(args: argparse.Namespace) -> None:
    """Whole-number options within 32 bits and counts at least 1 (seeds at least 0): one-line errors
    here, not tracebacks from the libraries they reach. Each command checks its other ranges."""
    for name, value in vars(args).items():
        option = "--" + name.replace("_", "-")
        if isinstance(value, int) and not isinstance(value, bool) and not -(2**31) < value < 2**31:
            raise UserError(f"{option} {str(value)[:30]}: out of range (at most {2**31 - 1})")
        if name in ("seed", "threads", "starts", "epochs", "patience", "members", "history", "evaluations", "lines") \
                and isinstance(value, int) and value < (0 if name == "seed" else 1):
            raise UserError(f"{option} {value}: must be at least {0 if name == 'seed' else 1}")


def _catch_signals() -> dict:
    """Make SIGINT and SIGTERM raise KeyboardInterrupt (the fit's stop), remembering which one
    arrived; returns the previous handlers (none off the main thread, where Python allows none)."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def stop(signum, frame):
        _SIGNAL[0] = signum
        raise KeyboardInterrupt(signal.Signals(signum).name)

    _SIGNAL[0] = signal.SIGINT
    return {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}


class _Parser(argparse.ArgumentParser):
    """argparse with its errors as sysid's one-line UserError (exit 2), not a usage block."""

    def error(self, message: str):
        raise UserError(f"{message} (see {self.prog} --help)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sysid", description="System identification and Real2Sim calibration on MuJoCo.")
    parser.add_argument("--version", action="version", version=f"sysid {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    fit = sub.add_parser("fit", help="fit model parameters to robot logs", description="Fit simulator parameters to logs under a multiple-shooting rollout loss.")
    fit.add_argument("--model", required=True, help="MJCF model of the robot (or a URDF, with --actuators)")
    fit.add_argument("--actuators", help="with a URDF --model: YAML of its actuators (motor, position, velocity per joint), "
                     "joint armature and options (docs/sensors-and-fields.md)")
    fit.add_argument("--log", action="append", required=True, help="a log file (repeat for several logs; a quoted glob 'runs/*.csv' for many)")
    fit.add_argument("--params", help="comma-separated KIND[@TARGET], e.g. friction,mass@upper,damping@* (required unless "
                     "--structures gives every candidate's)")
    fit.add_argument("--map", help="YAML map from the log's columns to sysid's schema (rename, scale)")
    fit.add_argument("--format", choices=["csv", "parquet", "mcap", "lerobot", "servo-json"], help="log format (default: by extension; a folder is a LeRobot dataset)")
    fit.add_argument("--episode", help="episodes of a LeRobot dataset: N, a range 0-49, a list 0-9,20, or all (default 0); "
                     "each is its own log")
    fit.add_argument("--config", help="YAML fit config: parameter bounds, horizons, optimizer options")
    fit.add_argument("--optimizer", help="cmaes, lsq, bayes, mjx, names joined by '+' (cmaes+lsq), or auto (default: config, else cmaes+lsq)")
    fit.add_argument("--seed", type=int, help="random seed (default: config, else 0)")
    fit.add_argument("--starts", type=int, help="independent fits from seeds SEED, SEED+1, ...; the lowest final loss is kept (default: config, else 1)")
    fit.add_argument("--threads", type=int, help="rollout threads (default: all usable cores)")
    fit.add_argument("--val", type=float, help="keep the last FRACTION of each log's duration for validation, e.g. 0.2")
    fit.add_argument("--val-log", action="append", default=[], help="a log used only for validation (repeatable)")
    fit.add_argument("--cv", type=int, metavar="K", help="K-fold cross-validation: leave logs out (several logs) or K contiguous "
                     "time blocks (one log); held-out error of the initial and fitted model per fold and horizon goes to result.json (cv)")
    fit.add_argument("--horizons", help="held-out prediction horizons for --val, --val-log and --cv: seconds or 'open' "
                                        "(default 0.5,1,open, less those longer than a held-out log)")
    fit.add_argument("--shrink", help="shrinkage toward the initial model: a strength >= 0 (0 none; 1: moving every parameter "
                                      "across its range costs the initial misfit), or 'auto' (chosen by held-out error)")
    fit.add_argument("--structures", help="YAML file of candidate structures (params, actuator, horizons, ...); the one with "
                                          "the lowest held-out error is fitted on all the data (needs --cv, --val or --val-log)")
    fit.add_argument("--select", choices=("best", "1se"), default="best",
                     help="how --structures / --shrink auto choose, the initial model (nothing fitted) being one more candidate: "
                          "'best' the lowest held-out score (default), '1se' the simplest within one standard error (over "
                          "folds) of the lowest (for 5 or more folds)")
    fit.add_argument("--trim-idle", action="store_true", help="drop the idle rows (no motion, no command change) at each log's start and end")
    fit.add_argument("--actuator", help="actuator models in the loop, MODEL@TARGET[,...], e.g. dcmotor@knee,friction@knee; "
                     "their numbers join the fit (models: pd, delayed_pd, dcmotor, friction, tinynet, net:FOLDER)")
    fit.add_argument("--loss", choices=["linear", "huber", "soft_l1", "cauchy"],
                     help="robust loss against outliers in the logs (default: config, else linear least squares)")
    fit.add_argument("--objective", choices=["forward", "inverse", "forward+inverse"],
                     help="what the fit matches: forward rollouts of the logged states (default), the logged joint torques "
                          "('<joint>.effort') through inverse dynamics (inertial@BODY, damping, frictionloss, armature; "
                          "physically consistent bodies), or both (docs/inverse-dynamics.md)")
    fit.add_argument("--trust-code", action="store_true", help="let net:FOLDER load a TorchScript-only network (loading "
                     "TorchScript runs its code: only for files you trust)")
    fit.add_argument("--check", choices=["strict", "summary", "off"], default="summary", help="check the logs first (sysid check): "
                     "summary prints its verdict, strict refuses logs that fail it, off skips it (default summary)")
    _add_ray(fit, "the starts, folds and candidate structures as Ray tasks, large CMA-ES generations across Ray actors")
    fit.add_argument("--out", required=True, help="output folder")
    fit.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    fit.set_defaults(run=_run_fit)

    demo = sub.add_parser("demo", help="fit the bundled 2-link arm example and compare with the truth")
    demo.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(run=_run_demo)
    _add_eval(sub)
    _add_export(sub)
    _add_actuator(sub)
    _add_residual(sub)
    _add_excite(sub)
    _add_check(sub)
    _add_report(sub)
    _add_fleet(sub)
    return parser


def _add_ray(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--ray", nargs="?", const="auto", metavar="auto|local|ADDRESS",
                        help=f"run on Ray ({what}): auto (the cluster `ray start` runs here, else a local one; the default "
                             f"when --ray has no value), local, or a cluster's HOST:PORT; same numbers as without --ray "
                             f'(needs pip install "sysid[ray]")')


def _add_fleet(sub) -> None:
    fleet = sub.add_parser("fleet", help="fit one calibration per robot of a fleet and table the values across it",
                           description="Fit every robot of FLEET.yaml (robots: [{name, model, logs, params, config, map}], "
                                       "optional defaults: {...}) into OUT/NAME/ as sysid fit does; write OUT/summary.json and "
                                       "OUT/summary.md: every parameter across the fleet, outliers flagged (robust z-score).")
    fleet.add_argument("fleet", help="the fleet file (YAML); relative paths in it are relative to its folder")
    fleet.add_argument("--seed", type=int, help="random seed of every robot's fit (default: each config's, else 0)")
    _add_ray(fleet, "the robots' fits as Ray tasks")
    fleet.add_argument("--out", required=True, help="output folder: one folder per robot, summary.json, summary.md")
    fleet.add_argument("--quiet", action="store_true", help="no progress or table")
    fleet.set_defaults(run=_run_fleet)


def _run_fleet(args: argparse.Namespace) -> int:
    from sysid.fleet import fit_fleet, format_table, load_fleet

    load_fleet(args.fleet)  # a bad fleet file fails before Ray starts
    if args.ray is None:
        summary = fit_fleet(args.fleet, args.out, seed=args.seed, progress=not args.quiet)
    else:
        from sysid.distributed import ray_session

        with ray_session(args.ray) as backend:
            summary = fit_fleet(args.fleet, args.out, seed=args.seed, backend=backend, progress=not args.quiet)
    if not args.quiet:
        print(format_table(summary))
        print(f"wrote {len(summary['robots'])} fit folders, summary.json and summary.md to {args.out}/")
    return 0


def _add_eval(sub) -> None:
    ev = sub.add_parser("eval", help="score models on logs at several prediction horizons (no fitting)",
                        description="Replay logs with each model (MJCF files and fit folders) and report the prediction "
                                    "RMSE per horizon and signal; writes eval.json, eval_horizons.png and eval_traces.png.")
    ev.add_argument("--model", action="append", default=[], help="LABEL=robot.xml: an MJCF model as it is (repeatable)")
    ev.add_argument("--fit", action="append", default=[], help="LABEL=calib/: a sysid fit folder, with its fitted delay and "
                                                              "actuator models (repeatable)")
    ev.add_argument("--log", action="append", required=True, help="a log file (repeatable)")
    ev.add_argument("--map", help="YAML map from the log's columns to sysid's schema (rename, scale)")
    ev.add_argument("--format", choices=["csv", "parquet", "mcap", "lerobot", "servo-json"], help="log format (default: by extension)")
    ev.add_argument("--episode", type=int, help="episode of a LeRobot dataset (default 0)")
    ev.add_argument("--horizons", default="0.5,1,open", help="prediction horizons: seconds or 'open' (default 0.5,1,open)")
    ev.add_argument("--reference", help="the label the other models are compared with (default: the first --model, else --fit)")
    ev.add_argument("--threads", type=int, help="rollout threads (default: all usable cores)")
    _add_ray(ev, "each model scored as a Ray task")
    ev.add_argument("--out", required=True, help="output folder")
    ev.add_argument("--quiet", action="store_true", help="no table")
    ev.set_defaults(run=_run_eval)


def _run_eval(args: argparse.Namespace) -> int:
    from sysid.evaluate import beaten_warnings, eval_files, format_table
    from sysid.validate import parse_horizons

    report = eval_files(models=args.model, fits=args.fit, log_paths=args.log, out=args.out,
                        horizons=parse_horizons(args.horizons), map_path=args.map, log_format=args.format,
                        episode=args.episode, reference=args.reference, nthread=args.threads, ray=args.ray)
    for text in beaten_warnings(report):
        warnings.warn(text)
    if not args.quiet:
        print(format_table(report))
        print(f"wrote {os.path.join(args.out, 'eval.json')}, eval_horizons.png, eval_traces.png")
    return 0


def _add_report(sub) -> None:
    rep = sub.add_parser("report", help="write a fit's self-contained HTML report (report.html)",
                         description="Rebuild report.html from a fit folder (result.json, report_data.json, figures); "
                                     "optionally draw open-loop predictions of further logs and an eval folder's table.")
    rep.add_argument("calib", help="the output folder of `sysid fit`")
    rep.add_argument("--out", dest="html", help="the HTML file to write (default: CALIB/report.html)")
    rep.add_argument("--log", action="append", default=[], help="a (held-out) log to predict open loop (repeatable)")
    rep.add_argument("--map", help="YAML map from the logs' columns to sysid's schema")
    rep.add_argument("--eval", help="an output folder of `sysid eval` (its eval.json is tabled)")
    rep.set_defaults(run=_run_report)


def _run_report(args: argparse.Namespace) -> int:
    from sysid.htmlreport import predict_logs, write_report

    folder = pathlib.Path(args.calib)
    summary = _read_json(folder / "result.json", what="result.json of a sysid fit folder")
    eval_report = _read_json(pathlib.Path(args.eval) / "eval.json", what="eval.json of a sysid eval folder") if args.eval else None
    predictions = predict_logs(folder, args.log, map_path=args.map) if args.log else ()
    path = write_report(folder, summary, eval_report=eval_report, predictions=predictions, out=args.html)
    print(f"wrote {path}")
    return 0


def _read_json(path: pathlib.Path, *, what: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: not found (expected the {what})") from None
    except (OSError, ValueError) as error:
        raise UserError(f"{path}: not readable JSON ({error})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: not the {what} (expected a JSON object)")
    return data


def _add_export(sub) -> None:
    export = sub.add_parser("export", help="bundle a fit for a policy trainer: model, randomization ranges, manifest",
                            description="Write calibrated.xml, randomization.yaml and manifest.json from a fit's output folder.")
    export.add_argument("calib", help="the output folder of `sysid fit` (calibrated.xml, result.json)")
    export.add_argument("--out", required=True, help="bundle folder")
    export.add_argument("--widen", type=float, default=2.0, help="factor on the fit's standard errors for the randomization scales (default 2.0)")
    export.add_argument("--min-width", type=float, help="floor of every randomization scale relative to the fitted value "
                                                        "(default 0.01: 1%%; see docs/handoff.md)")
    export.add_argument("--residual", help="a folder written by `sysid residual train` for this fit, run in the env's loop")
    export.set_defaults(run=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from sysid.bundle import export_bundle
    from sysid.randomization import MIN_WIDTH

    manifest = export_bundle(args.calib, args.out, widen=args.widen, min_width=MIN_WIDTH if args.min_width is None else args.min_width, residual=args.residual)
    print(f"wrote {', '.join(manifest['files'])}, manifest.json to {args.out}/")
    return 0


def _add_actuator(sub) -> None:
    actuator = sub.add_parser("actuator", help="actuator networks: train from logs with measured torque")
    commands = actuator.add_subparsers(dest="actuator_command", required=True)
    train = commands.add_parser("train", help="train an actuator network (MLP or LSTM) on logged torque",
                                description="Train a network from (position error, velocity) to joint torque; writes net.npz "
                                            "(weights), net.json, net.pt (TorchScript export) and loss.png into --out.")
    train.add_argument("--log", action="append", required=True, help="a log with JOINT.pos, JOINT.effort and a .ctrl target (repeatable)")
    train.add_argument("--joint", required=True, help="the joint whose torque is learned")
    train.add_argument("--command", help="the actuator whose .ctrl is the position target (default: the only one)")
    train.add_argument("--net", choices=["mlp", "lstm"], default="mlp")
    train.add_argument("--history", type=int, default=3, help="MLP input samples per signal (default 3)")
    train.add_argument("--hidden", default="32,32", help="hidden widths (default 32,32; the LSTM uses the first)")
    train.add_argument("--rate", type=float, help="Hz, the network's sample rate (default: the logs' median rate)")
    train.add_argument("--val", type=float, default=0.2, help="held-out tail fraction of each log (default 0.2)")
    train.add_argument("--map", help="YAML map from the log's columns to sysid's schema")
    _add_training_options(train)
    train.set_defaults(run=_run_actuator_train)


def _add_training_options(train: argparse.ArgumentParser) -> None:
    """Options every network-training command shares: epochs, early stopping, seed, output."""
    train.add_argument("--epochs", type=int, default=300)
    train.add_argument("--patience", type=int, default=30, help="stop after this many epochs without a better validation loss")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", required=True, help="output folder")
    train.add_argument("--quiet", action="store_true")


def _run_actuator_train(args: argparse.Namespace) -> int:
    require("torch", extra="torch", feature="sysid actuator train")
    from actuator_models.commands import parse_hidden, train_files

    meta = train_files(log_paths=args.log, joint=args.joint, out=args.out, command=args.command, map_path=args.map,
                       net=args.net, history=args.history, hidden=parse_hidden(args.hidden), rate=args.rate,
                       val_fraction=args.val, epochs=args.epochs, patience=args.patience, seed=args.seed, progress=not args.quiet)
    if not args.quiet:
        t = meta["training"]
        span = t["torque_range"][1] - t["torque_range"][0]
        print(f"{meta['net']} at {1 / meta['sample_dt']:g} Hz: validation torque RMSE {t['val_rmse']:.4g} N m "
              f"({100 * t['val_rmse'] / max(span, 1e-12):.2f}% of the range) at epoch {t['best_epoch'] + 1}")
        print(f"wrote {os.path.join(args.out, 'net.npz')}, net.json, net.pt, loss.png")
    return 0


def _add_residual(sub) -> None:
    residual = sub.add_parser("residual", help="residual dynamics: learn what the fitted model still misses")
    commands = residual.add_subparsers(dest="residual_command", required=True)
    train = commands.add_parser("train", help="train a residual-force MLP ensemble on logs, for the fitted model",
                                description="Train an MLP ensemble from (qpos, qvel, ctrl) to the generalized force the fitted model "
                                            "misses; writes residual.npz (weights), residual.json, residual.pt (TorchScript export) and loss.png into --out.")
    train.add_argument("--model", required=True, help="the fitted model, e.g. calib/calibrated.xml")
    train.add_argument("--result", help="the fit's result.json: its fitted delay is applied to the logged commands")
    train.add_argument("--log", action="append", required=True, help="a training log (repeatable)")
    train.add_argument("--val-log", action="append", default=[], help="a log to score rollouts with and without the residual (repeatable)")
    train.add_argument("--map", help="YAML map from the logs' columns to sysid's schema")
    train.add_argument("--inputs", default="qpos,qvel,ctrl", help="what the ensemble reads (default qpos,qvel,ctrl; "
                                                                 "leave qpos out when the missing force does not depend on the configuration)")
    train.add_argument("--members", type=int, default=5, help="ensemble size (default 5)")
    train.add_argument("--hidden", default="64,64", help="hidden widths (default 64,64)")
    train.add_argument("--val", type=float, default=0.2, help="held-out tail of the training rows for early stopping (default 0.2)")
    train.add_argument("--horizon", type=float, default=1.0, help="s, window length of the --val-log rollouts (default 1)")
    _add_training_options(train)
    train.set_defaults(run=_run_residual_train)


def _run_residual_train(args: argparse.Namespace) -> int:
    require("torch", extra="torch", feature="sysid residual train")
    from actuator_models.commands import parse_hidden, residual_files

    meta = residual_files(model_path=args.model, log_paths=args.log, out=args.out, result_path=args.result, map_path=args.map,
                          inputs=[k.strip() for k in args.inputs.split(",") if k.strip()], members=args.members,
                          hidden=parse_hidden(args.hidden), val_fraction=args.val, epochs=args.epochs, patience=args.patience,
                          val_log_paths=args.val_log, horizon=args.horizon, seed=args.seed, progress=not args.quiet)
    if not args.quiet:
        t = meta["training"]
        print(f"residual ensemble of {t['members']}: held-out force RMSE {np.sqrt(t['val_mse_normalized']):.3g} x the target std "
              f"at epoch {t['best_epoch'] + 1}")
        v = meta["validation"]
        for key, label in (("horizon", f"{v.get('horizon_s', 0):g} s windows"), ("open_loop", "open loop")):
            if f"rmse_{key}_with_residual" in v:
                without, with_ = v[f"rmse_{key}_without_residual"], v[f"rmse_{key}_with_residual"]
                print(f"validation RMSE, {label}: " + ", ".join(f"{s} {without[s]:.4g} -> {with_[s]:.4g}" for s in with_))
        print(f"wrote {os.path.join(args.out, 'residual.npz')}, residual.json, residual.pt, loss.png")
    return 0


def _add_excite(sub) -> None:
    excite = sub.add_parser("excite", help="plan an excitation trajectory that makes the parameters identifiable",
                            description="Optimise a command trajectory (D-optimal by default) for the parameters around the "
                                        "model's current values; writes plan.csv, baseline.csv, plan.png and excite.json into --out.")
    excite.add_argument("--model", required=True, help="MJCF model at the current estimate (e.g. calib/calibrated.xml)")
    excite.add_argument("--params", required=True, help="comma-separated KIND[@TARGET], as for sysid fit")
    excite.add_argument("--duration", type=float, required=True, help="s, length of the experiment")
    excite.add_argument("--out", required=True, help="output folder")
    excite.add_argument("--family", default="fourier", help="fourier (joint trajectories), multisine, chirp or prbs (default fourier)")
    excite.add_argument("--criterion", default="d",
                        help="marginal (mean log of the parameters' predicted variances), d (log det of the information) "
                             "or cond (its condition number) (default d)")
    excite.add_argument("--lines", type=int, default=6, help="harmonics / frequency lines per joint (default 6)")
    excite.add_argument("--min-freq", type=float, help="Hz, lowest frequency (default 1 / duration)")
    excite.add_argument("--max-freq", type=float, default=2.0, help="Hz, highest frequency (default 2)")
    excite.add_argument("--max-vel", type=float, default=float("inf"), help="rad/s (m/s), bound on every joint's speed")
    excite.add_argument("--max-acc", type=float, default=float("inf"), help="rad/s^2 (m/s^2), bound on every joint's acceleration")
    excite.add_argument("--amplitude", type=float, default=float("inf"), help="rad (m), bound on every joint's excursion from qpos0")
    excite.add_argument("--rate", type=float, help="Hz, command rows per second (default: one per model timestep)")
    excite.add_argument("--pos-noise", type=float, default=1e-3, help="rad (m), position noise of the recording (default 1e-3)")
    excite.add_argument("--vel-noise", type=float, default=1e-2, help="rad/s (m/s), velocity noise of the recording (default 1e-2)")
    excite.add_argument("--evaluations", type=int, default=200, help="candidate plans to score (default 200)")
    excite.add_argument("--config", help="the fit's YAML config: parameter bounds and horizons")
    excite.add_argument("--prior", help="result.json of an earlier fit: plan the next experiment around what it already knows")
    excite.add_argument("--seed", type=int, default=0)
    excite.add_argument("--threads", type=int, help="rollout threads (default: all usable cores)")
    excite.add_argument("--quiet", action="store_true", help="no progress bar or table")
    excite.set_defaults(run=_run_excite)


def _run_excite(args: argparse.Namespace) -> int:
    from sysid.excite.command import excite_files, format_table
    from sysid.excite.config import ExciteConfig

    config = ExciteConfig(
        duration=args.duration, family=args.family, criterion=args.criterion, lines=args.lines, min_freq=args.min_freq,
        max_freq=args.max_freq, max_vel=args.max_vel, max_acc=args.max_acc, amplitude=args.amplitude, rate=args.rate,
        pos_noise=args.pos_noise, vel_noise=args.vel_noise, evaluations=args.evaluations, seed=args.seed, nthread=args.threads,
    )
    summary = excite_files(model_path=args.model, params=args.params, out=args.out, config=config, config_path=args.config,
                           prior_path=args.prior, progress=not args.quiet)
    if not args.quiet:
        print(format_table(summary))
        print(f"wrote {os.path.join(args.out, 'plan.csv')}, baseline.csv, plan.png, excite.json")
    return 0


def _add_check(sub) -> None:
    check = sub.add_parser("check", help="judge logs before fitting: data quality, identifiability, what to record",
                           description="Score the logs' data quality and what they can identify of the parameters at the "
                                       "model's values (no fit); writes check.json, std.png and data_K.png into --out. "
                                       "Exit code 1 when the check fails.")
    check.add_argument("--model", required=True, help="MJCF model at the values to judge (e.g. the nominal model)")
    check.add_argument("--log", action="append", required=True, help="a log file (repeatable)")
    check.add_argument("--params", help="comma-separated KIND[@TARGET], as for sysid fit (none: data quality only)")
    check.add_argument("--map", help="YAML map from the log's columns to sysid's schema (rename, scale)")
    check.add_argument("--format", choices=["csv", "parquet", "mcap", "lerobot"], help="log format (default: by extension)")
    check.add_argument("--episode", type=int, help="episode of a LeRobot dataset (default 0)")
    check.add_argument("--config", help="the fit's YAML config: parameter bounds and initial values, horizons, priors")
    check.add_argument("--threads", type=int, help="rollout threads (default: all usable cores)")
    check.add_argument("--out", required=True, help="output folder")
    check.add_argument("--quiet", action="store_true", help="no report on stdout")
    check.set_defaults(run=_run_check)


def _run_check(args: argparse.Namespace) -> int:
    from sysid.check import check_files, format_report

    report = check_files(model_path=args.model, log_paths=args.log, params=args.params, out=args.out, map_path=args.map,
                         config_path=args.config, log_format=args.format, episode=args.episode, nthread=args.threads)
    if not args.quiet:
        print(format_report(report))
        print(f"wrote {os.path.join(args.out, 'check.json')}" + (", std.png" if report.params else "") + ", data_*.png")
    return 0 if report.passed else 1


def _run_fit(args: argparse.Namespace) -> int:
    summary = fit_files(
        model_path=args.model, log_paths=args.log, params=args.params, map_path=args.map, config_path=args.config,
        optimizer=args.optimizer, seed=args.seed, starts=args.starts, nthread=args.threads, out=args.out, progress=not args.quiet,
        val=args.val, val_log_paths=args.val_log, trim_idle=args.trim_idle, log_format=args.format, episode=args.episode,
        actuator=args.actuator, cv=args.cv, horizons=args.horizons, shrink=args.shrink, structures_path=args.structures, select=args.select,
        trust_code=args.trust_code, loss=args.loss, check=args.check, ray=args.ray, actuators_path=args.actuators,
        objective=args.objective,
    )
    if summary.get("interrupted"):
        return 128 + _SIGNAL[0]  # fit_files said so in one line
    if not args.quiet:
        print(format_summary(summary))
        print(f"wrote {os.path.join(args.out, 'calibrated.xml')}, result.json, fit.png, convergence.png")
    return 0


def fit_files(*, model_path: str, log_paths: Sequence[str], params: str | None, out: str, map_path: str | None = None,
              config_path: str | None = None, optimizer: str | None = None, seed: int | None = None,
              starts: int | None = None, nthread: int | None = None, progress: bool = True, val: float | None = None,
              val_log_paths: Sequence[str] = (), trim_idle: bool = False, log_format: str | None = None,
              episode: int | str | None = None, actuator: str | None = None, cv: int | None = None, horizons: str | None = None,
              shrink: str | float | None = None, structures_path: str | None = None, select: str = "best", trust_code: bool = False,
              loss: str | None = None, check: str = "summary", ray: "str | RayBackend | None" = None,
              actuators_path: str | None = None, objective: str | None = None) -> dict:
    """Everything `sysid fit` does, from file names to written outputs; returns result.json's dict.

    A URDF `model_path` is compiled with `actuators_path` (`sysid.urdf`) into `out/URDF_MJCF`, which
    the fit then uses as its model.

    `val` keeps the last fraction of each log for validation, `val_log_paths` are validation-only
    logs; their RMSE at every horizon of `horizons` goes to result.json's `validation`. `cv` adds a
    K-fold cross-validation (`cv`). `shrink` is a strength or "auto"; `structures_path` a YAML file
    of candidate structures; both choose by held-out error (`sysid.heldout`), recorded in
    `structures`. `trim_idle` drops each log's idle start and end. The delay estimated from the logs
    is reported (`delay_estimate`) and starts a fitted `delay` unless the config sets its initial value.
    `check` ("strict", "summary", "off") runs `sysid check` on the training logs first (`sysid.check.fit_check`).
    `ray` ("auto", "local", HOST:PORT, or a connected `sysid.distributed.RayBackend`) runs the
    independent fits and large candidate batches on Ray, with the same numbers.
    `objective` "inverse" or "forward+inverse" fits the logged joint torques through inverse dynamics
    (`sysid.inverse.run`; options in the config's `inverse:`), recorded in result.json's `inverse`.
    """
    if isinstance(ray, str):  # connect for the fit, then run it with the connection
        arguments = dict(locals())
        from sysid.distributed import ray_session

        with ray_session(ray) as backend:
            return fit_files(**{**arguments, "ray": backend})
    backend = ray
    from sysid.config import RUN_KEYS, load_config
    from sysid.data import load_log
    from sysid.data.align import split_time, trim_idle as trim
    from sysid.data.episodes import expand_logs, parse_episodes
    from sysid.data.meta import resolve_meta
    from sysid.export import write_outputs
    from sysid.fit import FitConfig
    from sysid.heldout import COMMAND_LINE, INITIAL, Structure, load_structures, make_folds, shrink_structures
    from sysid.optim import NONE
    from sysid.model import load_model

    model_path = _urdf_to_mjcf(model_path, actuators_path, out)
    config_file = load_config(config_path)
    run = dict(config_file.run)
    for key, value in (("optimizer", optimizer), ("seed", seed), ("starts", starts), ("nthread", nthread), ("loss", loss)):
        if value is not None:
            run[key] = value
    auto_shrink = isinstance(shrink, str) and shrink.strip() == "auto"
    if shrink is not None and not auto_shrink:
        try:
            run["shrink"] = float(shrink)
        except ValueError:
            raise UserError(f"--shrink {str(shrink)[:20]!r}: give a strength >= 0 (e.g. 0.1) or 'auto'") from None
    config = FitConfig(**run)
    objective = objective or "forward"
    if objective != "forward":
        from sysid.inverse import InverseOptions

        inverse_options = InverseOptions.from_config(config_file.inverse, seed=config.seed)
        inverse_weight = (config_file.inverse or {}).get("weight", 1.0)
        if isinstance(inverse_weight, bool) or not isinstance(inverse_weight, (int, float)) or not inverse_weight > 0:
            raise UserError(f"config: inverse.weight must be a positive number, got {inverse_weight!r}")
        if actuator:
            raise UserError(f"--objective {objective}: --actuator models are not part of the inverse-dynamics torque model; "
                            "leave out --actuator or use --objective forward")
    if not params and not structures_path and not actuator:
        raise UserError("--params is required (or --actuator, or --structures with each candidate's params)")
    if config_file.convert:  # actuators turned into MuJoCo dcmotor / pid ones (sysid.native)
        from sysid.mjcf import converted_model

        model = converted_model(model_path, config_file.convert)[0]
    else:
        model = load_model(model_path)
    episodes = parse_episodes(episode)
    named = expand_logs(log_paths, episodes=episodes, format=log_format)
    val_named = expand_logs(val_log_paths, episodes=episodes, format=log_format)
    logs = [_renamed(load_log(path, map_path=map_path, format=log_format, episode=k), name) for name, path, k in named]
    val_logs = [_renamed(load_log(path, map_path=map_path, format=log_format, episode=k), name) for name, path, k in val_named]
    log_names = [name for name, _, _ in named]
    logs, val_logs, repairs = _repair_logs(logs, val_logs, config_file.repair, say=progress)
    config = dataclasses.replace(config, actuators=resolve_meta(config.actuators, [*logs, *val_logs]))
    if trim_idle:
        logs, val_logs = [trim(log) for log in logs], [trim(log) for log in val_logs]
    val_names = [name for name, _, _ in val_named]
    if val is not None:
        pairs = [split_time(log, val) for log in logs]
        logs = [train for train, _ in pairs]
        val_logs += [held for _, held in pairs]
        val_names += [f"{name} (last {val:g})" for name in log_names]
    folds = make_folds(logs, log_names, cv) if cv is not None else None
    held_out = [*val_logs, *(log for fold in folds or () for log in fold.held)]
    eval_horizons = _held_out_horizons(horizons, held_out)
    outputs = {(pathlib.Path(out) / name).resolve() for name in OUTPUT_FILES}
    for path in [model_path, *(p for _, p, _ in named + val_named), *(p for p in (map_path, config_path, structures_path) if p)]:
        if pathlib.Path(path).resolve() in outputs:
            raise UserError(f"--out {out}: writing there would overwrite the input file {path}")
    from sysid.check import fit_check, format_report

    # --objective inverse: the data checks only (the check's sensitivities are the rollout's, not the torques')
    checked = fit_check(model=model, logs=logs, params=params if objective == "forward" else None, config=config_file, mode=check,
                        model_path=model_path, config_path=config_path, actuator=actuator,
                        nthread=config.nthread) if params or actuator else None
    pending = [f"sysid: {line}" for line in format_report(checked, brief=True).splitlines()] if checked and progress else []
    base = Structure(COMMAND_LINE, params or "", actuator, {})
    current: dict = {}  # the delay estimate and actuator loop of the fit in progress

    def flush_pending() -> None:
        for line in pending:  # the check's summary, once the inputs have passed every test
            print(line, file=sys.stderr)
        pending.clear()

    def fit_one(structure: Structure, train: list, *, quiet: bool, choose=None, backend=None):
        from sysid.fit import fit

        flush_pending()
        cfg = dataclasses.replace(config, **structure.run)
        loop = None
        if structure.actuator:
            from sysid.closedloop import parse_actuators

            loop = parse_actuators(structure.actuator, model, cfg.actuators, trust_code=trust_code)
        param_set = _parse_structure_params(structure, model, config_file.params, loop, strict=structure is base)
        current["loop"] = loop
        if objective != "forward":  # no delay in the inverse-dynamics torque model: no delay estimate either
            current["extra"], current["estimate"] = {}, None
            from sysid.inverse.run import fit_objective, inverse_report

            result, inverse = fit_objective(objective, model, train, param_set, cfg, inverse_options, weight=inverse_weight,
                                            progress=progress and not quiet)
            current["extra"]["inverse"] = inverse_report(inverse, objective=objective, weight=inverse_weight)
            if not quiet:
                for message in result.warnings:
                    warnings.warn(message)
            return result, loop
        current["extra"], param_set, current["estimate"] = _delay_estimate(model, train, param_set, config_file.params)
        result = fit(model, train, param_set, cfg, progress=progress and not quiet, loop=loop, choose=choose, quiet=True,
                     backend=backend)
        if not quiet:  # the final fit: default bounds it ended at are widened (`sysid.bounds`; not when nothing was searched)
            from sysid.bounds import adapt_bounds

            refit = lambda ps: fit(model, train, ps, cfg, progress=False, loop=loop, choose=choose, quiet=True,  # noqa: E731
                                   backend=backend)
            if cfg.optimizer != NONE:
                result, current["bounds"] = adapt_bounds(result, refit, config_file.params, model=model, say=say)
            for message in result.warnings:
                warnings.warn(message)
        return result, loop

    def fit_job(job: tuple) -> tuple:  # a held-out fit on a Ray worker: its fit, loop and `current`
        structure, train = job
        result, loop = fit_one(structure, list(train), quiet=True)
        return result, loop, dict(current)

    def fit_many(jobs: list[tuple]) -> list[tuple]:
        """The held-out fits [(structure, train logs)] as Ray tasks, in order."""
        flush_pending()
        answers = backend.map(fit_job, jobs)
        current.update(answers[-1][2])  # as fitting them one after another leaves it
        return [(result, loop) for result, loop, _ in answers]

    many = fit_many if backend is not None else None
    say = (lambda text: print(f"sysid: {text}", file=sys.stderr)) if progress else None
    structures = load_structures(structures_path, base, keys=sorted(RUN_KEYS)) if structures_path else None
    if auto_shrink:
        structures = [c for s in (structures or [base]) for c in shrink_structures(s)]
    extra: dict = {} if checked is None else {"check": checked.as_dict()}
    chosen, kept = base, {}
    fold_fits: dict[str, list[tuple]] = {}  # structure name -> its folds' (index, fold, fit, loop), for report.html

    def on_fold(structure, i, fold, result, loop) -> None:
        fold_fits.setdefault(structure.name, []).append((i, fold, result, loop))

    if structures:
        from sysid.heldout import rank_structures

        chosen, ranking, kept = rank_structures(fit_one, structures, model, eval_horizons, folds=folds, train=logs, held=val_logs,
                                                held_names=val_names, nthread=config.nthread, rule=select, progress=say, fit_many=many,
                                                on_fold=on_fold)
        extra["structures"] = {"chosen": chosen.name, "by": "cross-validation" if folds else "validation", "rule": select,
                               "ranking": ranking}
        if auto_shrink:  # "initial": the initial values kept, as if the strength were infinite
            extra["shrink"] = {"chosen": chosen.run.get("shrink", "initial" if chosen.name == INITIAL else 0.0), "auto": True}
        elif "shrink" in chosen.run:
            extra["shrink"] = {"chosen": chosen.run["shrink"], "auto": False}
        row = next(r for r in ranking if r["chosen"])
        if "cv" in row:  # the initial model's fold scores are in every candidate's `cv` (score_initial)
            extra["cv"] = row["cv"]
    elif folds is not None:
        from sysid.heldout import cross_validate

        extra["cv"] = cross_validate(fit_one, base, folds, model, eval_horizons, nthread=config.nthread, progress=say,
                                     fit_many=many, on_fold=on_fold)
    choose = None
    if val_logs and dataclasses.replace(config, **chosen.run).starts > 1:
        def choose(results):  # the start that predicts the held-out logs best
            return int(np.argmin([_held_out_score(model, r, current["loop"], val_logs, val_names, eval_horizons, config.nthread)
                                  for r in results]))
    if chosen.name in kept:
        result, loop = kept[chosen.name]
        for message in result.warnings:
            warnings.warn(message)
    else:
        result, loop = fit_one(chosen, logs, quiet=False, choose=choose, backend=backend)
    extra.update(current.get("extra", {}))
    if len(logs) >= 2 and not result.interrupted and chosen.name != INITIAL:  # how much the values move between logs
        from sysid.spread import per_log_spread

        if say:
            say(f"spread: refitting each of the {len(logs)} logs from the joint fit's values")
        spread = per_log_spread(model, logs, log_names, result, dataclasses.replace(config, **chosen.run), loop=loop)
        if spread is not None:
            extra["spread"] = spread
    estimate = current.get("estimate")
    if estimate is not None and result.params.delay_index is not None and "delay_estimate" in extra:  # the fit against the estimate
        from sysid.data.delay import compare_with_fit

        i = result.params.delay_index
        disagreement = compare_with_fit(estimate, float(result.values[i]), float(result.uncertainty.std[i]))
        extra["delay_estimate"]["agrees_with_fit"] = disagreement is None
        if disagreement:
            warnings.warn(disagreement, stacklevel=1)
    extra["repairs"] = repairs
    if "bounds" in current:
        extra["bounds_widened"] = list(current["bounds"].widened)
        extra["at_user_bound"] = list(current["bounds"].at_user_bound)
    if val_logs:
        from sysid.validate import validation_report

        extra["validation"] = {"fraction": val, **validation_report(
            model, result.params, result.params.initial, result.values, val_logs, horizon=result.horizon,
            nthread=config.nthread, names=val_names, loop=loop, horizons=eval_horizons)}
        extra["validation"]["starts_chosen_by"] = "validation" if choose is not None else "training loss"
    from sysid.reportdata import held_out_predictions

    heldout = [p for i, fold, r, fold_loop in fold_fits.get(chosen.name, [])  # the chosen structure's folds only
               for p in held_out_predictions(model, r, fold_loop, fold.held, fold.held_names, fold=i + 1, nthread=config.nthread)]
    if val_logs:
        heldout = held_out_predictions(model, result, loop, val_logs, val_names, nthread=config.nthread) + heldout
    _warn_held_out(extra)
    if result.at_bound:
        extra["at_bound"] = list(result.at_bound)
    extra["warnings"] = list(dict.fromkeys([*result.warnings, *extra.get("held_out_warnings", [])]))
    if loop is not None:
        extra["actuator_models"] = ["actuators.json"]  # `sysid export` copies the files listed here
    files = {}
    if loop is not None:
        from actuator_models.commands import actuators_summary

        files["actuators.json"] = actuators_summary(loop, result.params.names, result.values)
    run_config = dataclasses.replace(config, **chosen.run)
    summary = write_outputs(out, model_path=model_path, model=model, log_paths=log_names, result=result, config=run_config,
                            extra=extra, files=files, conversions=config_file.convert, heldout=heldout)
    if result.interrupted:
        print(f"sysid: interrupted: wrote the best result so far to {out} (result.json \"interrupted\": true)", file=sys.stderr)
    return summary


URDF_MJCF = "model_from_urdf.xml"  # the MJCF a fit of a URDF builds and runs on, in its --out folder


def _urdf_to_mjcf(model_path: str, actuators_path: str | None, out: str) -> str:
    """`model_path`, or for a URDF the MJCF built from it and `actuators_path`, written into `out`."""
    from sysid import io
    from sysid.urdf import load_urdf

    if not str(model_path).lower().endswith(".urdf"):
        if actuators_path is not None:
            raise UserError(f"--actuators {actuators_path}: goes with a URDF --model; an MJCF model states its own actuators")
        return model_path
    if actuators_path is None:
        raise UserError(f"--model {model_path}: a URDF has no actuators; give them with --actuators actuators.yaml")
    xml = load_urdf(model_path, actuators_path)
    pathlib.Path(out).mkdir(parents=True, exist_ok=True)
    generated = pathlib.Path(out) / URDF_MJCF
    io.write_text(generated, f"<!-- built by sysid from {model_path} and {actuators_path} -->\n{xml}")
    return str(generated)


def _repair_logs(logs: list, val_logs: list, rules, *, say: bool) -> tuple[list, list, list[dict]]:
    """The logs with their defects repaired by the config's `repair:` rules (`sysid.data.repair`),
    and every finding for result.json's `repairs`, each printed."""
    from sysid.data.repair import parse_rules, repair_logs

    rules = parse_rules(rules)
    logs, found = repair_logs(logs, rules)
    val_logs, found_val = repair_logs(val_logs, rules)
    for finding in [*found, *found_val]:
        if say and finding.action != "none":  # unrepaired ones are warnings already
            print(f"sysid: repair: {finding.line()}", file=sys.stderr)
    return logs, val_logs, [f.to_json() for f in [*found, *found_val]]


def _parse_structure_params(structure, model, overrides: dict, loop, *, strict: bool):
    """The ParamSet of a candidate structure; config entries that match none of its parameters are
    an error for the command line's own params (`strict`) and skipped for other candidates."""
    import fnmatch

    from sysid.params import parse_params

    extra = loop.params() if loop else ()
    if not strict and overrides:
        names = parse_params(structure.params, model, extra=extra).names
        overrides = {k: v for k, v in overrides.items() if any(fnmatch.fnmatchcase(n, k) for n in names)}
    return parse_params(structure.params, model, overrides=overrides, extra=extra)


def _held_out_score(model, result, loop, logs, names, horizons, nthread) -> float:
    from sysid.heldout import score_held_out

    return score_held_out(model, result, loop, logs, names, horizons, nthread=nthread)["score"]


def _held_out_horizons(text: str | None, held_out: "list[Log]") -> tuple[str, ...]:
    """`--horizons` as given (checked against the held-out logs), or the default less the horizons
    longer than the shortest held-out log."""
    from sysid.validate import DEFAULT_HORIZONS, OPEN, check_horizons, parse_horizons

    if text is not None:
        horizons = parse_horizons(text)
        check_horizons(horizons, held_out)
        return horizons
    shortest = min((log.duration for log in held_out), default=np.inf)
    return tuple(h for h in DEFAULT_HORIZONS if h == OPEN or float(h) <= shortest)


def _warn_held_out(extra: dict) -> None:
    """Warn wherever the fit predicts held-out data worse than the initial model (validation, cv),
    and when no candidate structure beats the initial model; the texts go to extra["held_out_warnings"]."""
    from sysid.heldout import INITIAL, describe_worse

    texts = []
    if "validation" in extra:
        texts += describe_worse(extra["validation"]["worse_than_initial"], where="validation")
    if "cv" in extra:
        texts += describe_worse(extra["cv"]["worse_than_initial"], where="cross-validation")
    ranking = extra.get("structures", {}).get("ranking", [])
    fitted = [r for r in ranking if r["name"] != INITIAL]
    chosen = next((r for r in ranking if r.get("chosen")), None)
    if chosen is not None and chosen["name"] == INITIAL:
        best = fitted[0]
        texts.append(f"no candidate structure predicts held-out data clearly better than the initial model (best {best['name']!r}: "
                     f"{best['score']:.3g} +- {best['score_se']:.2g} vs initial {chosen['score']:.3g} in noise units): kept the "
                     f"initial values, nothing fitted (calibrated.xml holds the starting values); the logs may not determine these "
                     f"parameters, or the model lacks what the robot does (--select best keeps the lowest score anyway)")
    elif fitted and not fitted[0]["score"] < fitted[0]["score_initial"]:
        texts.append(f"no candidate structure predicts held-out data better than the initial model (best {fitted[0]['name']!r}: "
                     f"{fitted[0]['score']:.3g} vs {fitted[0]['score_initial']:.3g} in noise units); keep the initial model's values")
    shown = texts if len(texts) <= 12 else [*texts[:12], f"... and {len(texts) - 12} more held-out comparisons where the fit "
                                                       f"predicts worse than the initial model (result.json)"]
    for text in shown:
        warnings.warn(text)
    extra["held_out_warnings"] = texts


def _renamed(log: "Log", name: str) -> "Log":
    """The log with source `name` (an episode of a dataset: 'DATASET#episode N')."""
    import dataclasses

    return log if log.source == name else dataclasses.replace(log, source=name)


def _delay_estimate(model: "mujoco.MjModel", logs: "list[Log]", param_set: "ParamSet",
                    overrides: dict) -> "tuple[dict, ParamSet, DelayEstimate | None]":
    """({"delay_estimate": ...} or {}, param_set with the estimate as the delay's initial value
    when the delay is fitted, the config does not set its initial value and the estimate is informative,
    the estimate)."""
    import dataclasses
    import fnmatch

    from sysid.data.delay import actuated_joints, estimate_delay
    from sysid.params import ParamSet

    estimate = estimate_delay(logs, actuated_joints(model), timestep=model.opt.timestep)
    if estimate is None:
        return {}, param_set, None
    user_set = any(fnmatch.fnmatchcase("delay", k) and "initial" in v for k, v in overrides.items())
    use = param_set.delay_index is not None and not user_set and estimate.informative
    if use:
        param_set = ParamSet([
            dataclasses.replace(p, initial=float(np.clip(estimate.delay, p.lower, p.upper))) if p.kind == "delay" else p
            for p in param_set
        ])
    return {"delay_estimate": {**estimate.as_dict(), "used_as_initial": use}}, param_set, estimate


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
    combos = summary.get("combinations") or []
    if len(combos) > 1:  # what the data pins down even when single parameters are not
        from sysid.uncertainty import describe_combination

        lines.append(f"best-determined combination (d: change / scale): {describe_combination(combos[0])}; "
                     f"least-determined: {describe_combination(combos[-1])}")
    if summary.get("optimizer_reason"):
        lines.append(f"optimizer {summary['optimizer']}: {summary['optimizer_reason']}")
    if "inverse" in summary:  # --objective inverse | forward+inverse
        inv = summary["inverse"]
        lines.append(f"inverse dynamics ({inv['filter']['method']} {inv['filter']['cutoff_hz']:g} Hz, zero phase): torque RMSE "
                     + ", ".join(f"{j} {_fmt(inv['torque_rmse_initial'][j])} -> {_fmt(v)} N m" for j, v in inv["torque_rmse"].items())
                     + f"; {inv['rank']} base parameters of {inv['columns']}; bodies consistent: "
                     + ("all" if all(b["consistent"] for b in inv["bodies"].values()) else
                        ", ".join(n for n, b in inv["bodies"].items() if not b["consistent"]) + " NOT"))
    if "delay_estimate" in summary:
        estimate = summary["delay_estimate"]
        lines.append("delay estimated from the logs: " + (estimate.get("summary") or f"{1e3 * estimate['value']:.2f} ms"))
    if "validation" in summary:
        val = summary["validation"]
        for h, row in val["by_horizon"].items():
            label = "open loop" if h == "open" else f"{h} s windows"
            lines.append(f"validation RMSE ({label}) " + ", ".join(
                f"{k} {_fmt(row['initial'].get(k))} -> {_fmt(v)}" for k, v in row["fitted"].items())
                + f"; score {row['score_initial']:.3g} -> {row['score_fitted']:.3g}")
    if "cv" in summary:
        cv = summary["cv"]
        lines.append(f"cross-validation, {cv['k']} folds by {cv['split']} (held-out score in noise units, initial -> fitted, "
                     f"mean +- spread over folds):")
        for h, row in cv["by_horizon"].items():
            label = "open loop" if h == "open" else f"{h} s windows"
            lines.append(f"  {label}: {row['score_initial']:.3g} -> {row['score_fitted']:.3g} +- {row['score_fitted_std']:.2g}")
    if "structures" in summary:
        st = summary["structures"]
        rule = {"1se": "the simplest within one standard error of the lowest", "best": "the lowest"}.get(st.get("rule"), "the lowest")
        lines.append(f"candidate structures by held-out score in noise units ({st['by']}; chosen: {rule}):")
        for row in st["ranking"]:
            mark = "  <- chosen" if row["name"] == st["chosen"] else ""
            se = f" +- {row['score_se']:.2g}" if row.get("score_se") else ""
            lines.append(f"  {row['name']:<24} {row['score']:.4g}{se} ({row.get('n_params', '?')} fitted){mark}")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "nan" if value is None else f"{value:.3g}"


def _run_demo(args: argparse.Namespace) -> int:
    if not DEMO_DIR.is_dir():
        raise UserError(f"the demo's model and logs are missing from the installed package (expected {DEMO_DIR})")
    truth = json.loads((DEMO_DIR / "truth.json").read_text())
    logs = [str(DEMO_DIR / "run1.csv"), str(DEMO_DIR / "run2.csv")]
    print(f"sysid demo: fitting {DEMO_PARAMS} of {DEMO_DIR / 'arm2.xml'} to {len(logs)} logs (12 s in all)")
    summary = fit_files(model_path=str(DEMO_DIR / "arm2.xml"), log_paths=logs, params=DEMO_PARAMS, out=args.out, seed=args.seed)
    print(format_summary(summary, truth))
    worst = max(abs(summary["params"][n]["value"] / truth[n] - 1) for n in truth)
    print(f"worst error vs truth: {100 * worst:.2f}%; outputs in {args.out}/")
    return 0


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    text = str(message)
    if issubclass(category, RuntimeWarning) and "encountered in" in text:  # numpy floating-point warnings: once per kind
        kind = text.split(" encountered")[0]
        if kind in _NUMPY_WARNED:
            return
        _NUMPY_WARNED.add(kind)
        text = (f"a computation met {kind.replace('value', 'values')} (numpy: {text}); the logs or the model may hold extreme "
                "or non-finite values, or a candidate diverged (shown once)")
    print(f"sysid: warning: {text}", file=sys.stderr)


_NUMPY_WARNED: set[str] = set()


if __name__ == "__main__":
    sys.exit(main())
