"""Actuator networks (Hwangbo et al. 2019; Isaac Lab's ActuatorNetMLP / ActuatorNetLSTM): modules,
the network folder, and the `net:FOLDER` actuator model that runs one in the loop.

A network folder holds `net.npz` (the weights), `net.json` and `net.pt` (a TorchScript export for
other tools, the JSON embedded as the extra file "sysid.json"; sysid loads it only with
`trust_code`). `net.json` holds the architecture, the weights' sha256, the kind, sample period
`sample_dt` (s), `history`, input scaling (`input_mean`, `input_std` of [position error (rad),
velocity (rad/s)]) and output scaling (`output_mean`, `output_std`, N m), plus how it was trained.
The scaling is also inside the module, which takes physical units:
  mlp:  (B, 2 * history) = [error_t, error_t-1, ..., velocity_t, velocity_t-1, ...] -> (B,) N m
  lstm: (B, T, 2) [error, velocity] per step, h, c (layers, B, hidden) -> (B, T) N m, h, c
(the MLP input order is Isaac Lab's "pos_vel" with error = target - position).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pathlib
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

logger = logging.getLogger(__name__)

FORMAT = "sysid-actuator-net"
NET_FILE, META_FILE, WEIGHTS_FILE = "net.pt", "net.json", "net.npz"


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


def architecture(module: nn.Module) -> dict | None:
    """The JSON architecture of a built-in network (`ActuatorNetMLP` of Linear / Softsign layers,
    `ActuatorNetLSTM`), from which `build_network` makes it again; None for any other module."""
    if type(module) is ActuatorNetMLP:
        layers = list(module.layers)
        linear = layers[0::2]
        if not all(type(m) is nn.Linear for m in linear) or not all(type(m) is nn.Softsign for m in layers[1::2]) \
                or len(layers) % 2 == 0:
            return None
        return {"class": "ActuatorNetMLP", "history": linear[0].in_features // 2, "hidden": [m.out_features for m in linear[:-1]]}
    if type(module) is ActuatorNetLSTM:
        return {"class": "ActuatorNetLSTM", "hidden": module.lstm.hidden_size, "layers": module.lstm.num_layers}
    return None


def build_network(arch: object, meta_path: pathlib.Path) -> nn.Module:
    """A fresh built-in network from its JSON architecture (see `architecture`); UserError naming the file otherwise."""
    from actuator_models.folder import checked_ints
    from sysid.errors import UserError

    if not isinstance(arch, dict) or arch.get("class") not in ("ActuatorNetMLP", "ActuatorNetLSTM"):
        raise UserError(f"{meta_path}: architecture must be {{class: ActuatorNetMLP or ActuatorNetLSTM, ...}}, got {str(arch)[:60]}")
    if arch["class"] == "ActuatorNetMLP":
        sizes = checked_ints(arch, meta_path, ("history",))
        hidden = arch.get("hidden")
        if hidden != []:
            checked_ints(arch, meta_path, ("hidden",))
        return ActuatorNetMLP(sizes["history"], tuple(hidden))
    sizes = checked_ints(arch, meta_path, ("hidden", "layers"))
    return ActuatorNetLSTM(sizes["hidden"], sizes["layers"])


def save_network(folder: str | os.PathLike, module: nn.Module, meta: dict) -> None:
    """Write a network folder: `net.npz` (weights) with the architecture in `net.json`, and `net.pt`
    (TorchScript, the JSON embedded as "sysid.json"), an export for other tools. A module of another
    structure than the built-in ones is written as TorchScript only (loading it needs trust_code)."""
    from actuator_models.folder import save_torchscript, save_weights
    from sysid import io

    folder = pathlib.Path(folder)
    description = {"format": FORMAT, **meta}
    arch = architecture(module)
    if arch is not None:
        description["architecture"] = arch
        description["weights"] = save_weights(folder / WEIGHTS_FILE, module)
    text = json.dumps(description, indent=2)
    save_torchscript(folder / NET_FILE, module, extra={"sysid.json": text})
    io.write_text(folder / META_FILE, text + "\n")  # last: it names the weights it was written with


def load_network(folder: str | os.PathLike, *, trust_code: bool = False) -> tuple[nn.Module, dict]:
    """Read a network folder (or one of its files): the built-in architecture from net.json with
    its weights from net.npz (checked against the sha256 in net.json). A folder with TorchScript
    only (net.pt) loads only with `trust_code`, since loading TorchScript runs its code.
    Raises sysid's UserError naming the file."""
    from actuator_models.folder import load_torchscript, load_weights, read_description
    from sysid.errors import UserError

    meta, meta_path = read_description(folder, META_FILE, what="actuator network", trained_by="sysid actuator train")
    if meta.get("format") != FORMAT or meta.get("net") not in ("mlp", "lstm"):
        raise UserError(f"{meta_path}: not a sysid actuator network description (format {str(meta.get('format'))[:40]!r})")
    if "architecture" in meta:
        return load_weights(build_network(meta["architecture"], meta_path), meta, meta_path), meta
    net_path = meta_path.parent / NET_FILE
    if not net_path.is_file():
        raise UserError(f"{net_path}: actuator network file not found (train one with `sysid actuator train`)")
    return load_torchscript(net_path, trust_code=trust_code), meta


@dataclasses.dataclass(frozen=True)
class NetConfig:
    """A trained actuator network in the loop (`--actuator net:FOLDER@TARGET`).

    Attributes:
      path: the network folder written by `sysid actuator train`.
      resample: allow a control period other than the network's sample period: the MLP's input
        history is then interpolated at its own sample times. Without it a mismatch is an error.
      gain: multiplier of the position error fed to the network (a firmware gain; per log).
      trust_code: load a TorchScript-only folder (runs its code; `--trust-code`).
    """

    path: str
    resample: bool = False
    gain: float = 1.0
    trust_code: bool = False

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
        self.module, self.meta = load_network(config.path, trust_code=config.trust_code)
        self.sample_dt = float(self.meta["sample_dt"])
        self.history = int(self.meta.get("history", 1))
        self._forward = mlp_in_numpy(self.module) if self.meta["net"] == "mlp" else None

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
        self.inputs: np.ndarray | None = None  # (B, keep, 2), when the history is resampled
        self._x: np.ndarray | None = None  # (B, 2 history) float32, when it is not
        # The history's sample times in control steps: a whole step lo plus a fraction frac.
        lags = np.arange(self.history) * (1.0 if same else self.sample_dt / self.dt)
        self._lo = np.floor(lags).astype(int)
        self._hi = np.minimum(self._lo + 1, self.keep - 1)
        self._frac = (lags - self._lo)[None, :, None]
        self._shift = bool(np.array_equal(self._lo, np.arange(self.history)) and not self._frac.any())
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
        (position errors newest first, then velocities); advances the input history. The array
        returned may be overwritten by the next call."""
        error = self.gain * (command - q)
        if self._shift:  # the history is the last `history` control steps: shift it in place
            if self._x is None:
                self._x = np.repeat(np.stack([error, qd], axis=1), self.history, axis=1).astype(np.float32)
            else:
                h, x = self.history, self._x
                x[:, 1:h] = x[:, : h - 1]
                x[:, h + 1 :] = x[:, h : 2 * h - 1]
                x[:, 0], x[:, h] = error, qd
            return self._x
        if self.inputs is None:
            self.inputs = np.empty((len(q), self.keep, 2))
            self.inputs[:, :, 0] = error[:, None]
            self.inputs[:, :, 1] = qd[:, None]
        else:
            self.inputs[:, 1:] = self.inputs[:, :-1]
            self.inputs[:, 0, 0] = error
            self.inputs[:, 0, 1] = qd
        hist = self.inputs[:, self._lo]  # (B, H, 2), interpolated at the network's sample times
        hist += self._frac * (self.inputs[:, self._hi] - hist)
        return hist.transpose(0, 2, 1).reshape(len(q), -1).astype(np.float32)

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        """(R, 2 history) float32 MLP inputs -> (R,) torques in N m."""
        if self._forward is not None:
            return self._forward(x).astype(float)
        with torch.inference_mode():
            return self.module(torch.from_numpy(x)).numpy().astype(float)


def mlp_in_numpy(module: nn.Module, *, probe_rows: int = 64):
    """The forward pass of an `ActuatorNetMLP` (or its TorchScript) as float32 numpy matrix products, or None
    for any other module.

    In the loop the network runs once per control step on a few dozen rows, where a torch
    call's fixed cost (tens of us) is several times the arithmetic; numpy's is a few us per layer.
    The input and output scaling are folded into the first and last layers. The result is checked
    against the module on random inputs; on any difference beyond float32 rounding the module runs.
    Returns: (R, 2 history) float32 -> (R,) float32 N m.
    """
    try:
        kinds = [getattr(child, "original_name", type(child).__name__) for _, child in module.layers.named_children()]
        n = (len(kinds) + 1) // 2
        if kinds != ["Linear", "Softsign"] * (n - 1) + ["Linear"]:
            return None
        state = {name: value.detach().cpu().numpy().astype(np.float64) for name, value in module.state_dict().items()}
        weights = [state[f"layers.{2 * i}.weight"].T for i in range(n)]  # (in, out)
        biases = [state[f"layers.{2 * i}.bias"] for i in range(n)]
        mean, std = state["input_mean"], state["input_std"]
        biases[0] = biases[0] - (mean / std) @ weights[0]  # ((x - mean) / std) W + b = x (W / std) + (b - (mean / std) W)
        weights[0] = weights[0] / std[:, None]
        weights[-1], biases[-1] = weights[-1] * state["output_std"], biases[-1] * state["output_std"] + state["output_mean"]
        hidden = [(w.astype(np.float32), b.astype(np.float32)) for w, b in zip(weights[:-1], biases[:-1])]
        last, offset = weights[-1][:, 0].astype(np.float32), np.float32(biases[-1][0])

        def forward(x: np.ndarray) -> np.ndarray:
            h = x
            for w, b in hidden:
                h = h @ w
                h += b
                h /= 1.0 + np.abs(h)  # softsign
            return h @ last + offset

        x = (np.random.default_rng(0).normal(size=(probe_rows, len(mean))) * 3 * std + mean).astype(np.float32)
        with torch.inference_mode():
            expected = module(torch.from_numpy(x)).numpy()
        scale = max(1.0, float(np.abs(expected).max()))
        if np.allclose(forward(x), expected, rtol=1e-4, atol=1e-5 * scale):
            return forward
    except (AttributeError, KeyError, IndexError, ValueError, RuntimeError):  # not the layout ActuatorNetMLP writes
        pass
    if getattr(module, "original_name", type(module).__name__) == "ActuatorNetMLP":
        logger.warning("actuator network: the numpy forward pass does not match the TorchScript module; running it in torch (slower)")
    return None
