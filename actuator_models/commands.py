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
    """Everything `sysid actuator train` does: read logs, train, write net.pt, net.json and loss.png.

    Returns the network's metadata (net.json's content).
    """
    from actuator_models.network import save_network
    from actuator_models.train import TrainConfig, log_segment, median_step, train_network
    from sysid.data import load_log

    logs = [load_log(path, map_path=map_path) for path in log_paths]
    config = TrainConfig(net=net, history=history, hidden=tuple(hidden), sample_dt=None if rate is None else 1.0 / rate,
                         val_fraction=val_fraction, epochs=epochs, patience=patience, seed=seed)
    sample_dt = config.sample_dt or median_step(logs)
    segments = [log_segment(log, joint, command, sample_dt) for log in logs]
    result = train_network(segments, sample_dt, config, progress=progress)
    meta = {**result.meta, "joint": joint, "command": command, "logs": [str(p) for p in log_paths], "sysid_version": __version__}
    save_network(out, result.module, meta)
    plot_learning_curves(pathlib.Path(out) / "loss.png", result.train_rmse, result.val_rmse, meta["training"]["best_epoch"])
    return meta


def plot_learning_curves(path: str | os.PathLike, train: Sequence[float], val: Sequence[float], best: int) -> None:
    """Training and validation torque RMSE (N m) per epoch, log scale, best epoch marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.semilogy(np.arange(1, len(train) + 1), train, label="train")
    ax.semilogy(np.arange(1, len(val) + 1), val, label="validation")
    ax.axvline(best + 1, color="gray", linestyle=":", label=f"best epoch {best + 1}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("torque RMSE [N m]")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
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
                              "per_log": {k: dict(v) for k, v in b.per_log.items()}, "enable": b.enable})
    return out


def write_actuators(out: str | os.PathLike, loop, names: Sequence[str], values: np.ndarray) -> None:
    """Write actuators.json into `out` (see `actuators_summary`)."""
    io.write_json(pathlib.Path(out) / "actuators.json", actuators_summary(loop, names, values))


def parse_hidden(text: str) -> tuple[int, ...]:
    """"32,32" -> (32, 32); a UserError for anything else."""
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        raise UserError(f"--hidden must be comma-separated layer widths like 32,32, got {text!r}") from None
    return widths
