"""A tiny MLP actuator whose weights are fit parameters: for trajectory matching without torque labels.

Each row of the batch carries its own weights (one candidate of the fit each), so the forward pass
is a batched matrix product over rows. With H = history, the input is the last H samples of the
scaled position error gain * (command - q) / error_scale and velocity qd / vel_scale, newest first;
tau = torque_scale * (tanh(x W1 + b1) w2 + b2). Weights are searched linearly in
[-weight_bound, weight_bound]; CMA-ES handles a few dozen of them (hidden <= 8, history <= 2).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from actuator_models.base import ParamInfo, row_values


@dataclasses.dataclass(frozen=True)
class TinyNetConfig:
    """Settings of `TinyNet`.

    Attributes:
      hidden: hidden units (tanh).
      history: control steps of (error, velocity) input, newest first.
      error_scale: rad (x gain), position error giving an input of 1.
      vel_scale: rad/s, velocity giving an input of 1.
      torque_scale: N m, output of 1.
      gain: multiplier of the position error (a servo's firmware gain; per log).
      weight_bound: bound of every weight in the search.
      init_std: standard deviation of the seeded random starting weights.
      seed: seeds the starting weights.
    """

    hidden: int = 6
    history: int = 1
    error_scale: float = 0.5
    vel_scale: float = 5.0
    torque_scale: float = 1.0
    gain: float = 1.0
    weight_bound: float = 3.0
    init_std: float = 0.3
    seed: int = 0

    def __post_init__(self):
        if self.hidden < 1 or self.history < 1 or min(self.error_scale, self.vel_scale, self.torque_scale, self.weight_bound) <= 0:
            raise ValueError(f"TinyNetConfig: need hidden, history >= 1 and positive scales, got {self}")

    @property
    def n_weights(self) -> int:
        n_in = 2 * self.history
        return n_in * self.hidden + self.hidden + self.hidden + 1

    def initial_weights(self) -> np.ndarray:
        """(n_weights,) seeded starting weights, clipped inside the bounds."""
        w = np.random.default_rng(self.seed).normal(0.0, self.init_std, self.n_weights)
        return np.clip(w, -0.9 * self.weight_bound, 0.9 * self.weight_bound)

    def param_info(self) -> dict[str, ParamInfo]:
        return {f"tinynet.w{i}": ParamInfo("1", -self.weight_bound, self.weight_bound, log=False) for i in range(self.n_weights)}

    def default_fit(self) -> tuple[str, ...]:
        return tuple(self.param_info())

    def __getattr__(self, name: str) -> float:
        # Starting values of the weights, read like the other models' fields: config.tinynet.w3.
        if name.startswith("tinynet.w"):
            return float(self.initial_weights()[int(name[len("tinynet.w"):])])
        raise AttributeError(name)

    def build(self) -> "TinyNet":
        return TinyNet(self)


class TinyNet:
    """See `TinyNetConfig`."""

    def __init__(self, config: TinyNetConfig):
        self.config = config

    def reset(self, batch: int, dt: float, params: Mapping[str, np.ndarray] | None = None) -> None:
        c = self.config
        start = c.initial_weights()
        w = np.stack([row_values(c, params, f"tinynet.w{i}", batch) if params and f"tinynet.w{i}" in params
                      else np.full(batch, start[i]) for i in range(c.n_weights)], axis=1)  # (B, n_weights)
        n_in, h = 2 * c.history, c.hidden
        self.w1 = w[:, : n_in * h].reshape(batch, n_in, h)
        self.b1 = w[:, n_in * h : n_in * h + h]
        self.w2 = w[:, n_in * h + h : n_in * h + 2 * h]
        self.b2 = w[:, -1]
        self.gain = row_values(c, params, "gain", batch)
        self.inputs: np.ndarray | None = None  # (B, history, 2), newest first

    def compute(self, command: np.ndarray, q: np.ndarray, qd: np.ndarray) -> np.ndarray:
        c = self.config
        now = np.stack([self.gain * (command - q) / c.error_scale, qd / c.vel_scale], axis=1)
        if self.inputs is None:
            self.inputs = np.repeat(now[:, None], c.history, axis=1)
        else:
            self.inputs = np.concatenate([now[:, None], self.inputs[:, :-1]], axis=1)
        x = self.inputs.reshape(len(now), -1)
        hidden = np.tanh(np.einsum("bi,bih->bh", x, self.w1) + self.b1)
        return c.torque_scale * (np.einsum("bh,bh->b", hidden, self.w2) + self.b2)
