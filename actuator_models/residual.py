"""Residual dynamics: an MLP ensemble (qpos, qvel, ctrl) -> generalized force that the fitted
simulator misses, trained on what remains after the parametric fit and applied inside rollouts.

Targets: at every logged row, the force that makes the fitted model's acceleration match the
measured one, M(q) (qacc_measured - qacc_model(q, qd, ctrl)), with qacc_measured the derivative of
the smoothed velocity. The members differ by initialisation and bootstrap resampling; rollouts use
their mean, and their spread (disagreement) is recorded. A rollout state outside the range seen in
training (with a 10% margin) is counted and warned about once: the correction is extrapolated.

`save_residual` writes a trained ensemble as `residual.npz` (weights), `residual.json` (architecture,
the weights' sha256, inputs, training range, training record) and `residual.pt` (a TorchScript
export for other tools); `load_residual` builds it back from the JSON and the npz, never running
code from the folder (`sysid residual train`).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import warnings
from collections.abc import Sequence

import mujoco
import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from sysid import io
from sysid.data import Log, smooth, velocity
from sysid.errors import UserError
from sysid.sim import held_controls
from sysid.track import bind_log

MARGIN = 0.1  # fraction of the training range allowed outside it before a state counts as outside
FORMAT = "sysid-residual-1"
NET_FILE, META_FILE, WEIGHTS_FILE = "residual.pt", "residual.json", "residual.npz"
INPUTS = ("qpos", "qvel", "ctrl")


class EnsembleMLP(nn.Module):
    """K MLPs evaluated together: (B, n_in) physical inputs -> (K, B, n_out) physical outputs."""

    def __init__(self, members: int, n_in: int, n_out: int, hidden: tuple[int, ...], x_mean, x_std, y_mean, y_std):
        super().__init__()
        widths = [n_in, *hidden, n_out]
        self.weights = nn.ParameterList([nn.Parameter(torch.randn(members, a, b) / np.sqrt(a)) for a, b in zip(widths[:-1], widths[1:])])
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(members, 1, b)) for b in widths[1:]])
        for name, value in (("x_mean", x_mean), ("x_std", x_std), ("y_mean", y_mean), ("y_std", y_std)):
            self.register_buffer(name, torch.as_tensor(np.asarray(value), dtype=torch.float32))

    def normalized(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_in) or (K, B, n_in) scaled inputs -> (K, B, n_out) scaled outputs."""
        h = x.expand(self.biases[0].shape[0], *x.shape[-2:]) if x.dim() == 2 else x
        n = len(self.weights)
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w)
            if i < n - 1:
                h = torch.tanh(h)
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.normalized((x - self.x_mean) / self.x_std) * self.y_std + self.y_mean


@dataclasses.dataclass(frozen=True)
class ResidualConfig:
    """How the ensemble is trained.

    Attributes:
      members: ensemble size.
      hidden: hidden widths (tanh).
      epochs, patience: at most `epochs`, stop after `patience` epochs without a better validation loss.
      batch_size, lr, weight_decay: Adam settings.
      val_fraction: held-out tail of every log.
      inputs: which of "qpos", "qvel", "ctrl" the members read (all by default; leaving qpos out
        helps when the missing force does not depend on the configuration).
      seed: seeds initialisation and bootstrap.
    """

    members: int = 5
    hidden: tuple[int, ...] = (64, 64)
    epochs: int = 300
    patience: int = 30
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 1e-5
    val_fraction: float = 0.2
    inputs: tuple[str, ...] = ("qpos", "qvel", "ctrl")
    seed: int = 0


def residual_targets(model: mujoco.MjModel, logs: Sequence[Log], *, delay: float = 0.0,
                     window_s: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Training pairs from logs and the FITTED model (values written in).

    The measured acceleration is the Savitzky-Golay derivative (window `window_s` s) of the raw
    logged velocity (or of the position's derivative).

    Returns:
      x: (N, nq + nv + nu) [qpos, qvel, ctrl] at the logged rows (filtered states, applied ctrl).
      y: (N, nv) generalized force (N m or N) missing from the model at those rows.
    """
    data = mujoco.MjData(model)
    xs, ys = [], []
    for log in logs:
        track = bind_log(log, model)
        qacc = np.zeros((len(track.time), model.nv))
        for name in log.pos:
            dof = model.jnt_dofadr[model.joint(name).id]
            qacc[:, dof] = smooth(track.time, velocity(log, name), window_s=window_s)[1]
        ctrl = held_controls(track.time, track.ctrl, track.time, 1, model.opt.timestep, delay)[:, 0]
        y = np.empty((len(track.time), model.nv))
        for i in range(len(track.time)):
            data.qpos[:], data.qvel[:], data.ctrl[:] = track.qpos[i], track.qvel[i], ctrl[i]
            mujoco.mj_forward(model, data)
            mujoco.mj_mulM(model, data, y[i], qacc[i] - data.qacc)
        xs.append(np.concatenate([track.qpos, track.qvel, ctrl], axis=1))
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


class ResidualEnsemble:
    """The trained ensemble as a `sysid.closedloop` residual: `start(batch)`, `compute(qpos, qvel, ctrl)`.

    Attributes after rollouts: `disagreement` (mean over computed rows of the members' standard
    deviation, in units of the training targets' standard deviation), `outside_fraction` (share
    of computed rows outside the training range).
    """

    def __init__(self, module: EnsembleMLP, lower: np.ndarray, upper: np.ndarray, meta: dict | None = None,
                 columns: np.ndarray | None = None):
        self.module = module.eval()
        self.columns = columns  # which of [qpos, qvel, ctrl] the members read (None: all)
        self.train_lower, self.train_upper = lower, upper  # (n_in,) range of the training inputs
        span = upper - lower
        self.lower, self.upper = lower - MARGIN * span, upper + MARGIN * span
        self.meta = meta or {}
        self.rows = self.outside = 0
        self.spread = 0.0
        self.warned = False

    def start(self, batch: int) -> None:
        """A new rollout of `batch` rows begins (statistics accumulate over rollouts)."""

    def compute(self, qpos: np.ndarray, qvel: np.ndarray, ctrl: np.ndarray) -> np.ndarray:
        """(B, nq), (B, nv), (B, nu) -> (B, nv) mean correction of the members (N m or N)."""
        x = np.concatenate([qpos, qvel, ctrl], axis=1)
        if self.columns is not None:
            x = x[:, self.columns]
        with torch.inference_mode():
            out = self.module(torch.as_tensor(x, dtype=torch.float32))  # (K, B, nv)
            spread = (out.std(dim=0) / self.module.y_std).mean(dim=1)
            mean = out.mean(dim=0).double().numpy()
        finite = np.isfinite(x).all(axis=1)
        outside = finite & ((x < self.lower) | (x > self.upper)).any(axis=1)
        self.rows += int(finite.sum())
        self.outside += int(outside.sum())
        self.spread += float(spread.double().numpy()[finite].sum())
        if outside.any() and not self.warned:
            self.warned = True
            warnings.warn("residual model: a rollout left the state range seen in training; its correction is "
                          "extrapolated there (see ResidualEnsemble.report())", stacklevel=2)
        return np.where(finite[:, None], mean, 0.0)

    @property
    def disagreement(self) -> float:
        return self.spread / max(self.rows, 1)

    @property
    def outside_fraction(self) -> float:
        return self.outside / max(self.rows, 1)

    def report(self) -> dict:
        """Plain-data statistics of every rollout since construction."""
        return {"rows": self.rows, "disagreement": self.disagreement, "outside_fraction": self.outside_fraction}


def train_residual(x: np.ndarray, y: np.ndarray, config: ResidualConfig = ResidualConfig(), *,
                   model: mujoco.MjModel | None = None, progress: bool = False) -> ResidualEnsemble:
    """Fit the ensemble to (N, nq + nv + nu) inputs and (N, nv) targets (`residual_targets`); the
    last `val_fraction` of the rows is held out for early stopping. `model` tells the input layout
    when `config.inputs` leaves some out; `progress` shows a bar over the epochs."""
    columns = None
    if set(config.inputs) != set(INPUTS):
        columns = input_columns(model, config.inputs)
        x = x[:, columns]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(config.seed)
        rng = np.random.default_rng(config.seed)
        cut = int(len(y) * (1 - config.val_fraction))
        x_mean, x_std = x[:cut].mean(0), x[:cut].std(0) + 1e-6
        y_mean, y_std = y[:cut].mean(0), y[:cut].std(0) + 1e-9
        module = EnsembleMLP(config.members, x.shape[1], y.shape[1], config.hidden, x_mean, x_std, y_mean, y_std)
        xs = torch.as_tensor((x - x_mean) / x_std, dtype=torch.float32)
        ys = torch.as_tensor((y - y_mean) / y_std, dtype=torch.float32)
        optimizer = torch.optim.Adam(module.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        best, best_state, best_epoch = np.inf, None, 0
        train_curve, val_curve = [], []
        bar = tqdm(range(config.epochs), desc="training residual", unit="epoch", disable=None if progress else True, leave=False)
        for epoch in bar:
            module.train()
            losses = []
            for start in range(0, cut, config.batch_size):
                # Bootstrap: every member draws its own rows.
                idx = torch.as_tensor(rng.integers(0, cut, (config.members, min(config.batch_size, cut))))
                loss = torch.mean((module.normalized(xs[idx]) - ys[idx]) ** 2)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(float(loss.detach()))
            with torch.no_grad():
                val = float(torch.mean((module.normalized(xs[cut:]) - ys[cut:]) ** 2))
            train_curve.append(float(np.mean(losses)))
            val_curve.append(val)
            bar.set_postfix(val=f"{val:.3g}")
            if val < best:
                best, best_epoch, best_state = val, epoch, {k: v.clone() for k, v in module.state_dict().items()}
            elif epoch - best_epoch >= config.patience:
                break
        bar.close()
        module.load_state_dict(best_state)
    finally:
        torch.set_num_threads(threads)
    meta = {"val_mse_normalized": best, "best_epoch": best_epoch, "members": config.members, "hidden": list(config.hidden),
            "inputs": list(config.inputs), "train_mse_normalized_per_epoch": train_curve, "val_mse_normalized_per_epoch": val_curve}
    return ResidualEnsemble(module, x[:cut].min(0), x[:cut].max(0), meta, columns)


def input_columns(model: mujoco.MjModel, inputs: Sequence[str]) -> np.ndarray:
    """Columns of [qpos, qvel, ctrl] (the `residual_targets` layout) that `inputs` name, in that order."""
    unknown = [k for k in inputs if k not in INPUTS]
    if unknown or not inputs or len(set(inputs)) < len(inputs):
        raise UserError(f"residual inputs must be some of {', '.join(INPUTS)}, each once, got {', '.join(inputs) or 'none'}")
    sizes = {"qpos": model.nq, "qvel": model.nv, "ctrl": model.nu}
    start = {"qpos": 0, "qvel": model.nq, "ctrl": model.nq + model.nv}
    return np.concatenate([np.arange(start[k], start[k] + sizes[k]) for k in inputs])


def save_residual(folder: str | os.PathLike, ensemble: ResidualEnsemble, model: mujoco.MjModel, provenance: dict | None = None) -> dict:
    """Write `residual.npz` (weights), `residual.json` and `residual.pt` (TorchScript export) into `folder`.

    Returns residual.json's content: the format, the architecture, the weights' file and sha256,
    the model sizes it expects (nq, nv, nu), the inputs and their training range, the training
    record and `provenance` (what produced it).
    """
    from actuator_models.folder import save_torchscript, save_weights

    folder = pathlib.Path(folder)
    module = ensemble.module
    n_in = len(ensemble.train_lower)
    arch = {"class": "EnsembleMLP", "members": int(module.biases[0].shape[0]), "n_in": n_in,
            "n_out": int(module.biases[-1].shape[-1]), "hidden": [int(b.shape[-1]) for b in module.biases[:-1]]}
    meta = {"format": FORMAT, "architecture": arch, "nq": model.nq, "nv": model.nv, "nu": model.nu,
            "columns": None if ensemble.columns is None else ensemble.columns.tolist(),
            "train_lower": ensemble.train_lower.tolist(), "train_upper": ensemble.train_upper.tolist(),
            "training": ensemble.meta, **(provenance or {})}
    meta["weights"] = save_weights(folder / WEIGHTS_FILE, module)
    save_torchscript(folder / NET_FILE, module, example=torch.zeros(2, n_in))
    io.write_json(folder / META_FILE, meta)  # last: it names the weights it was written with
    return meta


def load_residual(folder: str | os.PathLike, model: mujoco.MjModel) -> ResidualEnsemble:
    """Read a folder written by `save_residual` for `model` (its nq, nv, nu must match): the
    ensemble is built from residual.json's architecture and its weights read from residual.npz
    (checked against the sha256 recorded there). Raises sysid's UserError naming the file."""
    from actuator_models.folder import checked_ints, load_weights, read_description

    meta, meta_path = read_description(folder, META_FILE, what="residual model", trained_by="sysid residual train")
    if meta.get("format") != FORMAT:
        raise UserError(f"{meta_path}: not a sysid residual model description (format {str(meta.get('format'))[:40]!r})")
    if [meta.get(k) for k in ("nq", "nv", "nu")] != [model.nq, model.nv, model.nu]:
        raise UserError(f"{meta_path}: trained for a model with nq, nv, nu = {meta.get('nq')}, {meta.get('nv')}, {meta.get('nu')}; "
                        f"this model has {model.nq}, {model.nv}, {model.nu}")
    try:
        columns = None if meta.get("columns") is None else np.array(meta["columns"], dtype=int)
        lower, upper = np.array(meta["train_lower"], dtype=float), np.array(meta["train_upper"], dtype=float)
        n_in = model.nq + model.nv + model.nu if columns is None else len(columns)
        if lower.shape != (n_in,) or upper.shape != (n_in,) or (columns is not None and not np.all((0 <= columns) & (columns < model.nq + model.nv + model.nu))):
            raise ValueError(f"{n_in} inputs, training range of {lower.size} and {upper.size}")
    except (KeyError, TypeError, ValueError) as error:
        raise UserError(f"{meta_path}: broken residual description ({str(error)[:200]})") from None
    arch = meta.get("architecture")
    if not isinstance(arch, dict) or arch.get("class") != "EnsembleMLP":
        raise UserError(f"{meta_path}: no EnsembleMLP architecture in this description (written by an older sysid? train it again)")
    sizes = checked_ints(arch, meta_path, ("members", "n_in", "n_out"))
    if arch.get("hidden") != []:
        checked_ints(arch, meta_path, ("hidden",))
    if sizes["n_in"] != n_in or sizes["n_out"] != model.nv:
        raise UserError(f"{meta_path}: architecture reads {sizes['n_in']} inputs and writes {sizes['n_out']} forces; "
                        f"this model needs {n_in} and {model.nv}")
    x0, y0 = np.zeros(n_in), np.zeros(model.nv)  # the scaling buffers are read from the weights
    module = EnsembleMLP(sizes["members"], n_in, model.nv, tuple(arch["hidden"]), x0, x0, y0, y0)
    return ResidualEnsemble(load_weights(module, meta, meta_path), lower, upper, meta.get("training"), columns)
