"""What the logs can identify: the Fisher information of the parameters at the model's values.

The sensitivities are those `sysid excite` plans with (`sysid.excite.information.fisher`): the
logs are cut into the fit's windows, every window is simulated from its logged state at the
model's values and at one parameter moved, the residuals are divided by each signal's estimated
noise, and the window start states (which the fit refines) are marginalised out. The inverse of
the information predicts the covariance of the fitted values, so each parameter gets a predicted
standard error, a verdict, and its share of the excitation; near-null directions of the
information name the groups of parameters the data cannot separate, and the combination it can.
"""

from __future__ import annotations

import dataclasses

import mujoco
import numpy as np

from sysid.excite.information import fisher, predicted_std
from sysid.params import ParamSet
from sysid.sim import Simulator
from sysid.track import Track
from sysid.uncertainty import CORRELATION_LIMIT

IDENTIFIABLE = 0.1  # predicted std / scale at or below this: identifiable
WEAK = 0.5  # above IDENTIFIABLE and at or below this: weak; above: not identifiable
MEMBER = 0.3  # a parameter whose weight in a weak direction of the information exceeds this belongs to its group
VERDICTS = ("identifiable", "weak", "not identifiable")


@dataclasses.dataclass(frozen=True)
class Identifiability:
    """The predicted precision of a fit of `params` to some logs.

    Attributes:
      names: (n,) parameter names.
      values: (n,) the values the information was computed at.
      scale: (n,) what a relative error is relative to: |value|, or the bounds' span where the value is 0.
      std: (n,) predicted standard errors in the parameters' units (inf: the logs cannot see it).
      verdict: (n,) one of VERDICTS.
      share: (n,) each parameter's share of the excitation: its diagonal information (in relative
        units) over the trace.
      by_log: (n, P) the fraction of each parameter's information that each log gives.
      groups: parameters the data cannot separate: {"params", "determined" (name -> coefficient of the
        best-determined combination, in relative units), "determined_std" (relative), "undetermined" and
        "undetermined_std" (the combination the logs see least)}.
      diverged: sources of the logs where a window diverged at the model's values.
      correlation: (n, n) predicted correlation of the fitted values (0 where a variance is infinite).
    """

    names: tuple[str, ...]
    values: np.ndarray
    scale: np.ndarray
    std: np.ndarray
    verdict: tuple[str, ...]
    share: np.ndarray
    by_log: np.ndarray
    groups: tuple[dict, ...]
    diverged: tuple[str, ...]
    correlation: np.ndarray

    def __post_init__(self):
        n = len(self.names)
        for field in ("values", "scale", "std", "share"):
            if np.shape(getattr(self, field)) != (n,):
                raise ValueError(f"Identifiability.{field} has shape {np.shape(getattr(self, field))}, expected ({n},)")
        if any(v not in VERDICTS for v in self.verdict):
            raise ValueError(f"Identifiability: verdicts must be among {VERDICTS}, got {self.verdict}")

    @property
    def relative_std(self) -> np.ndarray:
        """(n,) predicted std / scale."""
        return self.std / self.scale


def identifiability(model: mujoco.MjModel, tracks: list[Track], params: ParamSet, *, horizon: float,
                    prior: np.ndarray | None = None, nthread: int | None = None) -> Identifiability:
    """Predicted standard errors, verdicts, shares and inseparable groups at `params.initial`.

    Args:
      model: the compiled model.
      tracks: the bound logs (`sysid.track.bind_log`), all logging the same signals.
      params: the parameters to fit; their initial values are where the information is computed.
      horizon: s, the fit's window length (its last stage).
      prior: optional (n, n) unit-box information of priors (`sysid.excite.information.prior_information`).
    """
    values = params.initial
    sim = Simulator(model, params, nthread=nthread)
    try:
        per_log, good = _per_track(sim, values, tracks, horizon)
    finally:
        sim.close()
    total = per_log.sum(axis=0) + (0.0 if prior is None else prior)
    std = predicted_std(params, values, total)
    scale = np.where(np.abs(values) > 0, np.abs(values), params.upper - params.lower)
    d = scale / np.abs(params.value_per_unit(values))  # unit box -> relative units
    rel_info = total * np.outer(d, d)
    diag = np.diag(rel_info).clip(min=0)
    share = diag / diag.sum() if diag.sum() > 0 else np.zeros(len(params))
    log_diag = np.stack([np.diag(i) * d ** 2 for i in per_log], axis=1).clip(min=0)  # (n, P)
    by_log = log_diag / np.where(log_diag.sum(axis=1, keepdims=True) > 0, log_diag.sum(axis=1, keepdims=True), 1.0)
    rel = std / scale
    verdict = tuple("identifiable" if r <= IDENTIFIABLE else "weak" if r <= WEAK else "not identifiable" for r in rel)
    corr = _correlation(rel_info)
    return Identifiability(tuple(params.names), values, scale, std, verdict, share, by_log, _groups(params.names, rel_info, corr),
                           tuple(t.source for t, ok in zip(tracks, good) if not ok), corr)


def _correlation(info: np.ndarray) -> np.ndarray:
    """(n, n) correlation of the estimates from the (n, n) information (0 for blind parameters)."""
    eig, vec = np.linalg.eigh(0.5 * (info + info.T))
    seen = eig > max(eig[-1], 0.0) * 1e-12
    cov = (vec[:, seen] / eig[seen]) @ vec[:, seen].T
    blind = (vec[:, ~seen] ** 2).sum(axis=1) > 1e-6
    sd = np.sqrt(np.clip(np.diag(cov), 1e-300, None))
    corr = np.where(np.outer(~blind, ~blind), cov / np.outer(sd, sd), 0.0)
    np.fill_diagonal(corr, 1.0)
    return corr


def _per_track(sim: Simulator, values: np.ndarray, tracks: list[Track], horizon: float) -> tuple[np.ndarray, np.ndarray]:
    """(P, n, n) unit-box information of each track and (P,) False where a window diverged; logs
    with other signals than the first are grouped separately (the loss needs equal signals)."""
    info = np.zeros((len(tracks), len(values), len(values)))
    good = np.ones(len(tracks), bool)
    for signals in dict.fromkeys(t.signals for t in tracks):
        idx = [i for i, t in enumerate(tracks) if t.signals == signals]
        info[idx], good[idx] = fisher(sim, values, [tracks[i] for i in idx], horizon)
    return info, good


def _groups(names: list[str], rel_info: np.ndarray, corr: np.ndarray) -> tuple[dict, ...]:
    """Sets of two or more parameters that share a direction of the (n, n) relative information
    the logs barely see (predicted relative std above WEAK), joined by the parameters correlated
    above CORRELATION_LIMIT with a member, with the combination they do see."""
    eig, vec = np.linalg.eigh(0.5 * (rel_info + rel_info.T))
    found: list[set[int]] = []
    for k in np.flatnonzero(~(eig > WEAK ** -2)):
        members = set(np.flatnonzero(np.abs(vec[:, k]) > MEMBER).tolist())
        if len(members) < 2:
            continue
        members |= set(np.flatnonzero((np.abs(corr[sorted(members)]) > CORRELATION_LIMIT).any(axis=0)).tolist())
        for g in [g for g in found if g & members]:
            members |= g
            found.remove(g)
        found.append(members)
    out = []
    for members in found:
        g = sorted(members)
        rest = [i for i in range(len(names)) if i not in members]
        block = rel_info[np.ix_(g, g)]
        if rest:  # what the logs say about the group once the others are estimated too (Schur complement)
            cross = rel_info[np.ix_(g, rest)]
            block = block - cross @ np.linalg.pinv(rel_info[np.ix_(rest, rest)]) @ cross.T
        w, v = np.linalg.eigh(0.5 * (block + block.T))
        top, low = (v[:, k] * np.sign(v[np.argmax(np.abs(v[:, k])), k]) for k in (-1, 0))
        out.append({"params": [names[i] for i in g], "determined": {names[i]: float(c) for i, c in zip(g, top)},
                    "determined_std": float(1 / np.sqrt(w[-1])) if w[-1] > 0 else float("inf"),
                    "undetermined": {names[i]: float(c) for i, c in zip(g, low)},
                    "undetermined_std": float(1 / np.sqrt(w[0])) if w[0] > 0 else float("inf")})
    return tuple(out)


__all__ = ["IDENTIFIABLE", "VERDICTS", "WEAK", "Identifiability", "identifiability"]
