"""File-level work behind `sysid actuator train` and `sysid fit --actuator` (called by sysid.cli)."""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Sequence

import numpy as np

from sysid import io
from sysid.errors import UserError
from sysid.version import __version__


def train_files(*, log_paths: Sequence[str], joint: str, out: str, command: str | None = None, map_path: str | None = None,
                net: str = "mlp", history: int = 3, hidden: Sequence[int] = (32, 32), rate: float | None = None,
                val_fraction: float = 0.2, epochs: int = 300, patience: int = 30, seed: int = 0, progress: bool = True) -> dict:
    """Everything `sysid actuator train` does: read logs, train, write net.npz, net.json, net.pt and loss.png.

    Returns the network's metadata (net.json's content).
    """
    from actuator_models.network import save_network
    from actuator_models.train import TrainConfig, log_segment, median_step, train_network
    from sysid.data import load_log

    if rate is not None and not (0 < rate < float("inf")):
        raise UserError(f"--rate must be a positive number of Hz, got {rate:g}")
    logs = [load_log(path, map_path=map_path) for path in log_paths]
    config = TrainConfig(net=net, history=history, hidden=tuple(hidden), sample_dt=None if rate is None else 1.0 / rate,
                         val_fraction=val_fraction, epochs=epochs, patience=patience, seed=seed)
    sample_dt = config.sample_dt or median_step(logs)
    segments = [log_segment(log, joint, command, sample_dt) for log in logs]
    result = train_network(segments, sample_dt, config, progress=progress)
    meta = {**result.meta, "joint": joint, "command": command, "logs": [str(p) for p in log_paths], "sysid_version": __version__}
    with io.output_set(out, names=NET_SET) as stage:  # the folder holds the old network or the new one
        save_network(stage, result.module, meta)
        plot_learning_curves(stage / "loss.png", result.train_rmse, result.val_rmse, meta["training"]["best_epoch"])
    return meta


NET_SET = ("net.npz", "net.json", "net.pt", "loss.png")
RESIDUAL_SET = ("residual.npz", "residual.json", "residual.pt", "loss.png")


def residual_files(*, model_path: str, log_paths: Sequence[str], out: str, result_path: str | None = None,
                   map_path: str | None = None, inputs: Sequence[str] = ("qpos", "qvel", "ctrl"), members: int = 5,
                   hidden: Sequence[int] = (64, 64), val_fraction: float = 0.2, epochs: int = 300, patience: int = 30,
                   val_log_paths: Sequence[str] = (), horizon: float = 1.0, seed: int = 0, progress: bool = True) -> dict:
    """Everything `sysid residual train` does: read the (fitted) model and logs, train the residual
    ensemble, score it on validation logs, write residual.npz, residual.json, residual.pt and loss.png.

    `result_path` (the fit's result.json) gives the fitted actuation delay (s), which the
    training targets and every validation rollout then apply, as the fit and the policy env do.
    Validation (with `val_log_paths`): position and velocity RMSE of rollouts with and without the
    residual in the loop, over `horizon`-second windows started from the logged states and open loop.
    Returns residual.json's content.
    """
    from actuator_models.residual import ResidualConfig, input_columns, residual_targets, save_residual, train_residual
    from sysid import native
    from sysid.closedloop import ClosedLoop
    from sysid.data import load_log
    from sysid.model import load_model
    from sysid.params import ParamSet, parse_params
    from sysid.validate import prediction_errors, rmse

    if not 0 < val_fraction < 1:
        raise UserError(f"--val {val_fraction}: the validation fraction must be between 0 and 1 (e.g. 0.2)")
    if not horizon > 0:
        raise UserError(f"--horizon {horizon}: the validation window must be positive seconds (e.g. 1.0)")
    if members < 2 or epochs < 1:
        raise UserError(f"--members must be at least 2 (their spread is the disagreement) and --epochs at least 1, got {members} and {epochs}")
    delay = fitted_delay(result_path) if result_path else 0.0
    outputs = {(pathlib.Path(out) / name).resolve() for name in RESIDUAL_SET}
    for path in (model_path, *log_paths, *val_log_paths, *((map_path,) if map_path else ())):
        if pathlib.Path(path).resolve() in outputs:
            raise UserError(f"--out {out}: writing there would overwrite the input file {path}")
    model = load_model(model_path)
    native.strip_delay(model, delay)  # calibrated.xml carries it natively; residual_targets delays the commands
    input_columns(model, inputs)  # bad --inputs fail before the slow work
    logs = [load_log(path, map_path=map_path) for path in log_paths]
    val_logs = [load_log(path, map_path=map_path) for path in val_log_paths]
    x, y = residual_targets(model, logs, delay=delay)
    config = ResidualConfig(members=members, hidden=tuple(hidden), epochs=epochs, patience=patience, val_fraction=val_fraction,
                            inputs=tuple(inputs), seed=seed)
    ensemble = train_residual(x, y, config, model=model, progress=progress)
    validation = {}
    if val_logs:
        validation = {"logs": [str(p) for p in val_log_paths], "horizon_s": horizon}
        # The delay is a fixed "parameter" of the validation rollouts: ShootingLoss applies it to the logged commands.
        params, values = (parse_params("delay", model), np.array([[delay]])) if delay > 0 else (ParamSet([], model=model), np.zeros((1, 0)))
        for key, window in (("horizon", horizon), ("open_loop", None)):
            for label, loop in (("without", None), ("with", ClosedLoop(model, [], residual=ensemble))):
                errors = prediction_errors(model, params, values, val_logs, horizon=window, loop=loop)
                validation[f"rmse_{key}_{label}_residual"] = rmse(errors)[0]
        validation["rollouts"] = ensemble.report()  # disagreement and share of states outside the training range
    provenance = {"model": str(model_path), "result": None if result_path is None else str(result_path), "delay": delay,
                  "logs": [str(p) for p in log_paths], "sysid_version": __version__, "validation": validation}
    training = ensemble.meta
    with io.output_set(out, names=RESIDUAL_SET) as stage:  # the folder holds the old residual or the new one
        meta = save_residual(stage, ensemble, model, provenance)
        plot_learning_curves(stage / "loss.png", np.sqrt(training["train_mse_normalized_per_epoch"]),
                             np.sqrt(training["val_mse_normalized_per_epoch"]), training["best_epoch"],
                             ylabel="force RMSE [target std]")
    return meta


def fitted_delay(result_path: str) -> float:
    """The fitted actuation delay (s) in a fit's result.json (0 when the fit did not fit one).

    A fit with actuator models in the loop is refused: the residual's targets are computed with
    the MJCF's own actuators."""
    from sysid.inputs import load_json

    try:
        result = load_json(result_path, what="file")
    except UserError as error:
        raise UserError(f"{result_path}: cannot read the fit's result.json ({str(error).split(': ', 1)[-1]})") from None
    if not isinstance(result, dict) or not isinstance(result.get("params"), dict):
        raise UserError(f"{result_path}: not a sysid result.json (no 'params')")
    if result.get("actuator_models"):
        raise UserError(f"{result_path}: the fit ran actuator models in the loop; a residual is trained on the MJCF's own "
                        "actuators, so train it after a fit without --actuator")
    delay = result["params"].get("delay", {}).get("value", 0.0)
    if not isinstance(delay, (int, float)) or not delay >= 0:
        raise UserError(f"{result_path}: params.delay.value must be a non-negative number of seconds, got {delay!r}")
    return float(delay)


def plot_learning_curves(path: str | os.PathLike, train: Sequence[float], val: Sequence[float], best: int, *,
                         ylabel: str = "torque RMSE [N m]") -> None:
    """Training and validation RMSE per epoch (default: torque, N m), log scale, best epoch marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.semilogy(np.arange(1, len(train) + 1), train, label="train")
    ax.semilogy(np.arange(1, len(val) + 1), val, label="validation")
    ax.axvline(best + 1, color="gray", linestyle=":", label=f"best epoch {best + 1}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.legend()
    fig.tight_layout()
    io.save_figure(fig, path, dpi=100)
    plt.close(fig)


def actuators_summary(loop, names: Sequence[str], values: np.ndarray) -> dict:
    """actuators.json: every actuator model of a fit with its settings and fitted values written in."""
    from sysid.closedloop import param_name

    out = {"control_dt": loop.control_dt, "version": __version__, "models": []}
    value_of = dict(zip(names, np.asarray(values, float)))
    for b in loop.bindings:
        settings = {k: v for k, v in dataclasses.asdict(b.config).items()}
        for name in b.fitted:
            if param_name(name, b.target) in value_of:
                settings[name] = float(value_of[param_name(name, b.target)])
        out["models"].append({"model": b.kind, "target": b.target, "settings": settings, "fitted": list(b.fitted),
                              "per_log": {k: dict(v) for k, v in b.per_log.items()}, "enable": b.enable,
                              "inputs": dict(b.inputs)})
    return out


def parse_hidden(text: str) -> tuple[int, ...]:
    """"32,32" -> (32, 32); a UserError for anything else."""
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        raise UserError(f"--hidden must be comma-separated layer widths like 32,32, got {text[:60]!r}") from None
    if not widths or not all(1 <= w <= 4096 for w in widths) or len(widths) > 16:
        raise UserError(f"--hidden: at most 16 layers of widths from 1 to 4096, got {text[:60]!r}")
    return widths
