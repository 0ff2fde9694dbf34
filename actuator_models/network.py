"""Actuator networks (Hwangbo et al. 2019; Isaac Lab's ActuatorNetMLP / ActuatorNetLSTM): modules,
the TorchScript + JSON file pair, and the `net:FOLDER` actuator model that runs one in the loop.

A network folder holds `net.pt` (TorchScript; the JSON is also embedded as the extra file
"sysid.json") and `net.json`: its kind, sample period `sample_dt` (s), `history`, input scaling
(`input_mean`, `input_std` of [position error (rad), velocity (rad/s)]) and output scaling
(`output_mean`, `output_std`, N m), plus how it was trained. The scaling is also inside the
TorchScript module, which takes physical units:
  mlp:  (B, 2 * history) = [error_t, error_t-1, ..., velocity_t, velocity_t-1, ...] -> (B,) N m
  lstm: (B, T, 2) [error, velocity] per step, h, c (layers, B, hidden) -> (B, T) N m, h, c
(the MLP input order is Isaac Lab's "pos_vel" with error = target - position).
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import warnings
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

FORMAT = "sysid-actuator-net"
NET_FILE, META_FILE = "net.pt", "net.json"


class ActuatorNetMLP(nn.Module):
    """MLP over a history of (position error, velocity) -> joint torque, with built-in scaling.

    Args:
      history: samples of each input, newest first.
      hidden: widths of the hidden layers (softsign activations, as Hwangbo et al.).
      input_mean, input_std: (2,) scaling of [error, velocity].
      output_mean, output_std: torque scaling, N m.
    """

    def __init__(self, history: int, hidden: tuple[int, ...] = (32, 32), input_mean=(0.0, 0.0), input_std=(1.0, 1.0),
                 output_mean: float = 0.0, output_std: float = 1.0):
        super().__init__()
        layers: list[nn.Module] = []
        width = 2 * history
        for h in hidden:
            layers += [nn.Linear(width, h), nn.Softsign()]
            width = h
        layers.append(nn.Linear(width, 1))
        self.layers = nn.Sequential(*layers)
        mean = torch.tensor(input_mean, dtype=torch.float32).repeat_interleave(history)
        std = torch.tensor(input_std, dtype=torch.float32).repeat_interleave(history)
        self.register_buffer("input_mean", mean)
        self.register_buffer("input_std", std)
        self.register_buffer("output_mean", torch.tensor(float(output_mean)))
        self.register_buffer("output_std", torch.tensor(float(output_std)))

    def normalized(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 2H) scaled inputs -> (B,) scaled torque (what training fits)."""
        return self.layers(x).squeeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 2H) physical inputs -> (B,) torque in N m."""
        return self.normalized((x - self.input_mean) / self.input_std) * self.output_std + self.output_mean


class ActuatorNetLSTM(nn.Module):
    """LSTM over the sequence of (position error, velocity) -> joint torque, with built-in scaling."""

    def __init__(self, hidden: int = 32, layers: int = 2, input_mean=(0.0, 0.0), input_std=(1.0, 1.0),
                 output_mean: float = 0.0, output_std: float = 1.0):
        super().__init__()
        self.lstm = nn.LSTM(2, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, 1)
        self.register_buffer("input_mean", torch.tensor(input_mean, dtype=torch.float32))
        self.register_buffer("input_std", torch.tensor(input_std, dtype=torch.float32))
        self.register_buffer("output_mean", torch.tensor(float(output_mean)))
        self.register_buffer("output_std", torch.tensor(float(output_std)))

    def normalized(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out, (h, c) = self.lstm(x, (h, c))
        return self.head(out).squeeze(-1), h, c

    def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, T, 2) physical inputs, (layers, B, hidden) states -> (B, T) torque in N m and new states."""
        y, h, c = self.normalized((x - self.input_mean) / self.input_std, h, c)
        return y * self.output_std + self.output_mean, h, c


def save_network(folder: str | os.PathLike, module: nn.Module, meta: dict) -> None:
    """Write `net.pt` (TorchScript, the JSON embedded) and `net.json` into `folder`."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"format": FORMAT, **meta}, indent=2)
    with warnings.catch_warnings():  # TorchScript is deprecated in torch 2.x but still the exchange format
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(module.eval())
        torch.jit.save(scripted, str(folder / NET_FILE), _extra_files={"sysid.json": text})
    (folder / META_FILE).write_text(text + "\n")


def load_network(folder: str | os.PathLike) -> tuple[torch.jit.ScriptModule, dict]:
    """Read a network folder (or its net.pt / net.json). Raises sysid's UserError naming the file."""
    from actuator_models.folder import load_torchscript, read_description
    from sysid.errors import UserError

    meta, meta_path, net_path = read_description(folder, NET_FILE, META_FILE, what="actuator network", trained_by="sysid actuator train")
    if meta.get("format") != FORMAT or meta.get("net") not in ("mlp", "lstm"):
        raise UserError(f"{meta_path}: not a sysid actuator network description (format {meta.get('format')!r})")
    return load_torchscript(net_path), meta


@dataclasses.dataclass(frozen=True)
class NetConfig:
    """A trained actuator network in the loop (`--actuator net:FOLDER@TARGET`).

    Attributes:
      path: the network folder written by `sysid actuator train`.
      resample: allow a control period other than the network's sample period: the MLP's input
        history is then interpolated at its own sample times. Without it a mismatch is an error.
      gain: multiplier of the position error fed to the network (a firmware gain; per log).
    """

    path: str
    resample: bool = False
    gain: float = 1.0

    def param_info(self) -> dict:
        return {}

    def default_fit(self) -> tuple[str, ...]:
        return ()

    def build(self) -> "NetActuator":
        return NetActuator(self)


class NetActuator:
    """Runs a trained network on a batch of rows once per control step (see `NetConfig`)."""

    def __init__(self, config: NetConfig):
        self.config = config
        self.module, self.meta = load_network(config.path)
        self.sample_dt = float(self.meta["sample_dt"])
        self.history = int(self.meta.get("history", 1))

    def reset(self, batch: int, dt: float, params: Mapping[str, np.ndarray] | None = None) -> None:
        from sysid.errors import UserError

        same = abs(dt - self.sample_dt) <= 1e-6 * self.sample_dt
        if not same and (not self.config.resample or self.meta["net"] == "lstm"):
            hint = "set the control period (config actuators: control_dt) to the network's" if self.meta["net"] == "lstm" else \
                "set control_dt to it, or resample: true to interpolate the MLP's input history"
            raise UserError(f"{self.config.path}: the network was trained at {1 / self.sample_dt:g} Hz "
                            f"(sample_dt {self.sample_dt:g} s) but runs every {dt:g} s; {hint}")
        self.dt = dt
        self.gain = np.full(batch, self.config.gain) if params is None or "gain" not in params else np.asarray(params["gain"], float)
        # Inputs kept at the control period, newest first; enough to cover the history at sample_dt.
        self.keep = int(np.ceil((self.history - 1) * self.sample_dt / dt)) + 2
        self.inputs: np.ndarray | None = None  # (B, keep, 2)
        # The history's sample times in control steps: a whole step lo plus a fraction frac.
        lags = np.arange(self.history) * self.sample_dt / self.dt
        self._lo = np.floor(lags).astype(int)
        self._hi = np.minimum(self._lo + 1, self.keep - 1)
        self._frac = (lags - self._lo)[None, :, None]
        if self.meta["net"] == "lstm":
            layers, hidden = int(self.meta["layers"]), int(self.meta["hidden"][0])
            self.h = torch.zeros(layers, batch, hidden)
            self.c = torch.zeros(layers, batch, hidden)

    def compute(self, command: np.ndarray, q: np.ndarray, qd: np.ndarray) -> np.ndarray:
        if self.meta["net"] == "lstm":
            now = np.stack([self.gain * (command - q), qd], axis=1)
            with torch.inference_mode():
                x = torch.as_tensor(now[:, None, :], dtype=torch.float32)
                y, self.h, self.c = self.module(x, self.h, self.c)
            return y[:, 0].double().numpy()
        return self.evaluate(self.network_input(command, q, qd))

    def network_input(self, command: np.ndarray, q: np.ndarray, qd: np.ndarray) -> np.ndarray:
        """(B,) command, position, velocity at a control step -> (B, 2 history) float32 MLP input
        (position errors newest first, then velocities); advances the input history."""
        if self.inputs is None:
            self.inputs = np.empty((len(q), self.keep, 2))
            self.inputs[:, :, 0] = (self.gain * (command - q))[:, None]
            self.inputs[:, :, 1] = qd[:, None]
        else:
            self.inputs[:, 1:] = self.inputs[:, :-1]
            self.inputs[:, 0, 0] = self.gain * (command - q)
            self.inputs[:, 0, 1] = qd
        hist = self.inputs[:, self._lo]  # (B, H, 2)
        if self._frac.any():
            hist += self._frac * (self.inputs[:, self._hi] - hist)
        return hist.transpose(0, 2, 1).reshape(len(q), -1).astype(np.float32)

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        """(R, 2 history) float32 MLP inputs -> (R,) torques in N m."""
        with torch.inference_mode():
            return self.module(torch.from_numpy(x)).numpy().astype(float)
