"""Supervised training of actuator networks from logs with measured effort (`sysid actuator train`).

Each log gives, on a uniform grid at `sample_dt` (irregular logs are interpolated onto it), the
position error (command - position, rad), the velocity (rad/s) and the measured torque (N m).
The last `val_fraction` of every log is held out for validation (contiguous, so neighbouring
samples do not leak); training stops when the validation loss has not improved for `patience`
epochs and keeps the best epoch.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from actuator_models.network import ActuatorNetLSTM, ActuatorNetMLP
from sysid.data import Log, velocity
from sysid.errors import UserError


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How a network is trained.

    Attributes:
      net: "mlp" (history of inputs) or "lstm" (recurrent).
      history: MLP input samples of each signal, newest first.
      hidden: hidden widths (MLP layers; the LSTM uses hidden[0] units in `layers` layers).
      layers: LSTM layers.
      sample_dt: s, the network's sample period (default: the logs' median step).
      val_fraction: held-out tail of every log, in (0, 1).
      epochs, patience: at most `epochs`; stop after `patience` epochs without a better validation loss.
      batch_size: samples (MLP) or sequences (LSTM) per step.
      lr: Adam learning rate.
      seq_len: LSTM training sequence length in samples.
      seed: seeds initialisation and shuffling.
    """

    net: Literal["mlp", "lstm"] = "mlp"
    history: int = 3
    hidden: tuple[int, ...] = (32, 32)
    layers: int = 2
    sample_dt: float | None = None
    val_fraction: float = 0.2
    epochs: int = 300
    patience: int = 30
    batch_size: int = 256
    lr: float = 3e-3
    seq_len: int = 64
    seed: int = 0

    def __post_init__(self):
        if self.net not in ("mlp", "lstm"):
            raise UserError(f"--net must be mlp or lstm, got {self.net!r}")
        if self.history < 1 or not self.hidden or min(self.hidden) < 1:
            raise UserError(f"--history and the hidden widths must be >= 1, got {self.history}, {list(self.hidden)}")
        if not 0 < self.val_fraction < 1:
            raise UserError(f"the validation fraction must be in (0, 1), got {self.val_fraction}")
        if self.sample_dt is not None and not self.sample_dt > 0:
            raise UserError(f"--rate must be positive, got a sample period of {self.sample_dt}")


@dataclasses.dataclass(frozen=True)
class Segment:
    """One log on the uniform grid: (N,) error (rad), velocity (rad/s), torque (N m)."""

    error: np.ndarray
    velocity: np.ndarray
    torque: np.ndarray


def log_segment(log: Log, joint: str, command: str | None, sample_dt: float) -> Segment:
    """A log's joint on the grid `time[0] + k * sample_dt`: positions, velocities and torques are
    interpolated linearly; the command is held (zero-order) as the log timing convention says.

    `command`: the actuator whose `.ctrl` is the position target (None: the only `.ctrl` column,
    or the one named like the joint).
    """
    if joint not in log.pos:
        raise UserError(f"{log.source}: no column '{joint}.pos'; joints: {', '.join(log.pos) or '(none)'}")
    if joint not in log.effort:
        raise UserError(f"{log.source}: no column '{joint}.effort': supervised training needs measured torque "
                        f"(without it, fit a model by trajectory matching: sysid fit --actuator ...)")
    if command is None:
        if len(log.ctrl) == 1:
            command = next(iter(log.ctrl))
        elif joint in log.ctrl:
            command = joint
        else:
            raise UserError(f"{log.source}: cannot tell which '.ctrl' column commands {joint!r} "
                            f"({', '.join(log.ctrl) or 'none'}); give --command ACTUATOR")
    if command not in log.ctrl:
        raise UserError(f"{log.source}: no column '{command}.ctrl'; commands: {', '.join(log.ctrl) or '(none)'}")
    grid = log.time[0] + np.arange(int(math.floor(log.duration / sample_dt + 1e-9)) + 1) * sample_dt
    held = np.clip(np.searchsorted(log.time, grid + 1e-9 * sample_dt, side="right") - 1, 0, len(log.time) - 1)
    pos = np.interp(grid, log.time, log.pos[joint])
    return Segment(log.ctrl[command][held] - pos, np.interp(grid, log.time, velocity(log, joint)),
                   np.interp(grid, log.time, log.effort[joint]))


def median_step(logs: Sequence[Log]) -> float:
    """s, the median time step over all logs."""
    return float(np.median(np.concatenate([np.diff(log.time) for log in logs])))


def _mlp_samples(seg: Segment, history: int) -> tuple[np.ndarray, np.ndarray]:
    """(N - H + 1, 2H) inputs [errors newest first, velocities newest first] and (N - H + 1,) torques."""
    n = len(seg.torque) - history + 1
    if n < 1:
        return np.zeros((0, 2 * history)), np.zeros(0)
    rows = np.arange(history - 1, len(seg.torque))[:, None] - np.arange(history)[None, :]
    return np.concatenate([seg.error[rows], seg.velocity[rows]], axis=1), seg.torque[history - 1 :]


def _split(seg: Segment, fraction: float) -> tuple[Segment, Segment]:
    cut = int(round(len(seg.torque) * (1 - fraction)))
    part = lambda s: Segment(seg.error[s], seg.velocity[s], seg.torque[s])  # noqa: E731
    return part(slice(0, cut)), part(slice(cut, None))


@dataclasses.dataclass
class TrainResult:
    """A trained network, its file metadata and the learning curves (per epoch, RMSE in N m)."""

    module: torch.nn.Module
    meta: dict
    train_rmse: list[float]
    val_rmse: list[float]


def train_network(segments: Sequence[Segment], sample_dt: float, config: TrainConfig = TrainConfig(), *,
                  progress: bool = True) -> TrainResult:
    """Train an actuator network on `segments` sampled every `sample_dt` seconds.

    Runs torch on one thread: these networks are too small for intra-op threads to pay off.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(segments, sample_dt, config, progress)
    finally:
        torch.set_num_threads(threads)


def _train(segments: Sequence[Segment], sample_dt: float, config: TrainConfig, progress: bool) -> TrainResult:
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    parts = [_split(s, config.val_fraction) for s in segments]
    train, val = [p[0] for p in parts], [p[1] for p in parts]
    stack = lambda f: np.concatenate([f(s) for s in train])  # noqa: E731
    err, vel, tau = stack(lambda s: s.error), stack(lambda s: s.velocity), stack(lambda s: s.torque)
    if len(tau) < max(10, config.history + 1):
        raise UserError(f"only {len(tau)} training samples; record longer logs")
    scale = dict(input_mean=(float(err.mean()), float(vel.mean())), input_std=(float(err.std() + 1e-9), float(vel.std() + 1e-9)),
                 output_mean=float(tau.mean()), output_std=float(tau.std() + 1e-9))
    if config.net == "mlp":
        module: torch.nn.Module = ActuatorNetMLP(config.history, tuple(config.hidden), **scale)
        data = [_mlp_samples(s, config.history) for s in train]
        x_train, y_train = torch.tensor(np.concatenate([d[0] for d in data]), dtype=torch.float32), torch.tensor(np.concatenate([d[1] for d in data]), dtype=torch.float32)
        vdata = [_mlp_samples(s, config.history) for s in val]
        x_val, y_val = torch.tensor(np.concatenate([d[0] for d in vdata]), dtype=torch.float32), torch.tensor(np.concatenate([d[1] for d in vdata]), dtype=torch.float32)
    else:
        module = ActuatorNetLSTM(config.hidden[0], config.layers, **scale)
    optimizer = torch.optim.Adam(module.parameters(), lr=config.lr)
    best, best_state, best_epoch, train_curve, val_curve = math.inf, None, 0, [], []
    bar = tqdm(range(config.epochs), desc=f"training {config.net}", unit="epoch", disable=None if progress else True, leave=False)
    for epoch in bar:
        module.train()
        if config.net == "mlp":
            losses = _mlp_epoch(module, optimizer, x_train, y_train, config.batch_size, rng)
            module.eval()
            with torch.no_grad():
                val_rmse = float(torch.sqrt(torch.mean((module(x_val) - y_val) ** 2)))
        else:
            losses = _lstm_epoch(module, optimizer, train, config, rng)
            module.eval()
            val_rmse = _lstm_rmse(module, val)
        train_curve.append(float(np.sqrt(np.mean(losses))) * scale["output_std"])
        val_curve.append(val_rmse)
        bar.set_postfix(train=f"{train_curve[-1]:.4g}", val=f"{val_rmse:.4g}", refresh=False)
        if val_rmse < best:
            best, best_epoch = val_rmse, epoch
            best_state = {k: v.clone() for k, v in module.state_dict().items()}
        elif epoch - best_epoch >= config.patience:
            break
    bar.close()
    module.load_state_dict(best_state)
    module.eval()
    all_tau = np.concatenate([s.torque for s in segments])
    meta = {
        "net": config.net, "history": config.history if config.net == "mlp" else 1, "sample_dt": sample_dt,
        "hidden": list(config.hidden), "layers": config.layers, "inputs": ["position error (command - position)", "velocity"],
        "input_units": ["rad", "rad/s"], "output_unit": "N m", **{k: (list(v) if isinstance(v, tuple) else v) for k, v in scale.items()},
        "training": {"samples": int(len(tau)), "val_fraction": config.val_fraction, "epochs_run": len(val_curve), "best_epoch": best_epoch,
                     "val_rmse": best, "train_rmse": train_curve[best_epoch], "torque_range": [float(all_tau.min()), float(all_tau.max())],
                     "seed": config.seed, "lr": config.lr},
    }
    return TrainResult(module, meta, train_curve, val_curve)


def _mlp_epoch(module: ActuatorNetMLP, optimizer, x: torch.Tensor, y: torch.Tensor, batch: int, rng: np.random.Generator) -> list[float]:
    xs = (x - module.input_mean) / module.input_std
    ys = (y - module.output_mean) / module.output_std
    order = torch.as_tensor(rng.permutation(len(y)))
    losses = []
    for start in range(0, len(y), batch):
        idx = order[start : start + batch]
        loss = torch.mean((module.normalized(xs[idx]) - ys[idx]) ** 2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def _sequences(segments: Sequence[Segment], length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(S, length, 2) inputs and (S, length) torques cut from the segments."""
    xs, ys = [], []
    for s in segments:
        for start in range(0, len(s.torque) - length + 1, length // 2):
            sl = slice(start, start + length)
            xs.append(np.stack([s.error[sl], s.velocity[sl]], axis=1))
            ys.append(s.torque[sl])
    return torch.tensor(np.array(xs), dtype=torch.float32), torch.tensor(np.array(ys), dtype=torch.float32)


def _lstm_epoch(module: ActuatorNetLSTM, optimizer, train: Sequence[Segment], config: TrainConfig, rng) -> list[float]:
    x, y = _sequences(train, config.seq_len)
    if len(y) == 0:
        raise UserError(f"the logs are shorter than one LSTM training sequence ({config.seq_len} samples)")
    xs, ys = (x - module.input_mean) / module.input_std, (y - module.output_mean) / module.output_std
    warm = config.seq_len // 4  # the first samples of a sequence start from a zero state: not scored
    losses = []
    order = rng.permutation(len(y))
    for start in range(0, len(y), config.batch_size):
        idx = torch.as_tensor(order[start : start + config.batch_size])
        h = torch.zeros(config.layers, len(idx), config.hidden[0])
        out, _, _ = module.normalized(xs[idx], h, torch.zeros_like(h))
        loss = torch.mean((out[:, warm:] - ys[idx, warm:]) ** 2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def _lstm_rmse(module: ActuatorNetLSTM, segments: Sequence[Segment]) -> float:
    errors = []
    with torch.no_grad():
        for s in segments:
            x = torch.tensor(np.stack([s.error, s.velocity], axis=1)[None], dtype=torch.float32)
            h = torch.zeros(module.lstm.num_layers, 1, module.lstm.hidden_size)
            out, _, _ = module(x, h, torch.zeros_like(h))
            errors.append((out[0].numpy() - s.torque)[min(16, len(s.torque) // 4) :])
    return float(np.sqrt(np.mean(np.concatenate(errors) ** 2)))
