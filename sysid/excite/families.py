"""Parametrised signal families: coefficients in the unit box -> excursions of every joint.

A family turns a coefficient vector theta in [0, 1]^dim into an unscaled excursion (N, J) on
its time grid that starts and ends at rest; the design scales each joint's excursion onto
the limits. `joint_space` says what the excursion is: a joint trajectory (rad or m) or an
offset of the command from its rest value (command units); `smooth` that it has bounded
derivatives (not so for PRBS steps).

* `FourierFamily`: Swevers' finite Fourier series, 2 L coefficients per joint, all joints on
  the same L harmonics of 1 / duration, exactly at rest at both ends (plus, for position servos,
  how much inverse-dynamics feedforward their targets get).
* `MultisineFamily`: L amplitudes per joint with Schroeder (or given) phases; the joints get
  interleaved frequency lines, so their excitations are uncorrelated.
* `ChirpFamily`: a start and an end frequency per joint.
* `PrbsFamily`: a clock frequency per joint.
"""

from __future__ import annotations

import dataclasses
from typing import Literal, Protocol

import numpy as np

from sysid.errors import UserError
from sysid.excite import signals

FamilyName = Literal["fourier", "multisine", "chirp", "prbs"]
FAMILIES: tuple[str, ...] = ("fourier", "multisine", "chirp", "prbs")
RAMP_FRACTION = 0.1  # command-space signals ramp in and out over this fraction of the duration
MAX_RAMP = 1.0  # s


class Family(Protocol):
    """What the design needs from a family."""

    name: str
    joint_space: bool
    smooth: bool
    dim: int

    def initial(self, rng: np.random.Generator) -> np.ndarray:
        """(dim,) a starting point in [0, 1]^dim."""

    def excursion(self, theta: np.ndarray) -> np.ndarray:
        """(dim,) coefficients -> (N, J) unscaled excursion on the family's time grid."""

    def feedforward(self, theta: np.ndarray) -> np.ndarray | None:
        """(dim,) coefficients -> (J,) the fraction in [0, 1] of the inverse-dynamics feedforward
        that position servos following a joint-space excursion get; None: none (bare targets)."""


def harmonic_grid(duration: float, f_lo: float, f_hi: float, count: int) -> np.ndarray:
    """(<= count,) distinct integer harmonics of 1 / duration, log-spaced over [f_lo, f_hi] Hz."""
    k_lo, k_hi = max(1, int(np.ceil(f_lo * duration - 1e-9))), int(np.floor(f_hi * duration + 1e-9))
    if k_hi < k_lo:
        raise UserError(f"no frequency line of a {duration:g} s plan lies in [{f_lo:g}, {f_hi:g}] Hz; "
                        f"lengthen --duration or widen --min-freq / --max-freq")
    return np.unique(np.round(np.geomspace(k_lo, k_hi, count)).astype(int))


@dataclasses.dataclass(frozen=True)
class FourierFamily:
    """Finite Fourier series joint trajectories on `harmonics` of 1 / duration (period = duration).

    theta holds, per joint, L cosine then L sine velocity amplitudes, mapped from [0, 1] to [-1, 1],
    then, with `servo_feedforward`, the fraction of inverse-dynamics feedforward the joint's target
    gets if a position servo follows it: with none the servo lags and rings at its own frequency
    (informative, but the simulated motion overshoots the planned one), with all of it the motion
    is the planned one (`sysid.excite.search` tries both).
    """

    time: np.ndarray
    njoint: int
    harmonics: np.ndarray
    servo_feedforward: bool = False
    name: str = "fourier"
    smooth: bool = True
    joint_space: bool = True

    @property
    def dim(self) -> int:
        return (2 * len(self.harmonics) + self.servo_feedforward) * self.njoint

    def initial(self, rng: np.random.Generator) -> np.ndarray:
        theta = rng.uniform(0.1, 0.9, (self.njoint, self.dim // self.njoint))
        if self.servo_feedforward:
            theta[:, -1] = 1.0
        return theta.ravel()

    def excursion(self, theta: np.ndarray) -> np.ndarray:
        L = len(self.harmonics)
        c = 2.0 * np.asarray(theta).reshape(self.njoint, -1)[:, :2 * L].reshape(self.njoint, 2, L) - 1.0
        a, b = signals.at_rest(c[:, 0], c[:, 1], self.harmonics)
        period = float(self.time[-1] - self.time[0])
        return signals.fourier_trajectory(self.time, a, b, self.harmonics, period)[0]

    def feedforward(self, theta: np.ndarray) -> np.ndarray | None:
        if not self.servo_feedforward:
            return None
        return np.clip(np.asarray(theta).reshape(self.njoint, -1)[:, -1], 0.0, 1.0)


@dataclasses.dataclass(frozen=True)
class MultisineFamily:
    """Multisines with per-joint line amplitudes theta (J, L) and fixed phases (J, L) rad.

    freqs: (J, L) Hz, each joint's lines (interleaved between joints by `multisine_family`).
    """

    time: np.ndarray
    freqs: np.ndarray
    phases: np.ndarray
    name: str = "multisine"
    smooth: bool = True
    joint_space: bool = False

    @property
    def dim(self) -> int:
        return self.freqs.size

    def initial(self, rng: np.random.Generator) -> np.ndarray:
        return np.full(self.dim, 0.7)

    def excursion(self, theta: np.ndarray) -> np.ndarray:
        amp = np.asarray(theta).reshape(self.freqs.shape)
        x = np.stack([signals.multisine(self.time, f, a, p) for f, a, p in zip(self.freqs, amp, self.phases)], axis=1)
        return x * _window(self.time)[:, None]

    def feedforward(self, theta: np.ndarray) -> None:
        return None


@dataclasses.dataclass(frozen=True)
class ChirpFamily:
    """Log sweeps per joint: theta (J, 2) maps log-linearly to start and end frequencies in [f_lo, f_hi] Hz."""

    time: np.ndarray
    njoint: int
    f_lo: float
    f_hi: float
    name: str = "chirp"
    smooth: bool = True
    joint_space: bool = False

    @property
    def dim(self) -> int:
        return 2 * self.njoint

    def initial(self, rng: np.random.Generator) -> np.ndarray:
        return np.tile([0.0, 1.0], self.njoint) * 0.8 + 0.1

    def excursion(self, theta: np.ndarray) -> np.ndarray:
        f = self.f_lo * (self.f_hi / self.f_lo) ** np.clip(np.asarray(theta).reshape(self.njoint, 2), 0, 1)
        x = np.stack([signals.chirp(self.time, f0, f1) for f0, f1 in f], axis=1)
        return x * _window(self.time)[:, None]

    def feedforward(self, theta: np.ndarray) -> None:
        return None


@dataclasses.dataclass(frozen=True)
class PrbsFamily:
    """PRBS per joint: theta (J,) maps log-linearly to a bit rate of 2 f, f in [f_lo, f_hi] Hz; joint j uses seed j + 1."""

    time: np.ndarray
    njoint: int
    f_lo: float
    f_hi: float
    name: str = "prbs"
    smooth: bool = False
    joint_space: bool = False

    @property
    def dim(self) -> int:
        return self.njoint

    def initial(self, rng: np.random.Generator) -> np.ndarray:
        return np.full(self.dim, 0.5)

    def excursion(self, theta: np.ndarray) -> np.ndarray:
        f = self.f_lo * (self.f_hi / self.f_lo) ** np.clip(np.asarray(theta), 0, 1)
        x = np.stack([signals.prbs(self.time, 0.5 / fj, seed=j + 1) for j, fj in enumerate(f)], axis=1)
        return x * _window(self.time)[:, None]

    def feedforward(self, theta: np.ndarray) -> None:
        return None


def multisine_family(time: np.ndarray, njoint: int, f_lo: float, f_hi: float, lines: int, *,
                     phases: Literal["schroeder", "random"] = "schroeder", seed: int = 0) -> MultisineFamily:
    """Multisines with `lines` lines per joint, log-spaced over [f_lo, f_hi] Hz on the harmonics of
    1 / duration and dealt to the joints in turn, with Schroeder or random phases."""
    duration = float(time[-1] - time[0])
    grid = harmonic_grid(duration, f_lo, f_hi, lines * njoint)
    if len(grid) < njoint:
        raise UserError(f"a {duration:g} s plan has only {len(grid)} frequency lines in [{f_lo:g}, {f_hi:g}] Hz "
                        f"for {njoint} joints; lengthen --duration or widen the band")
    per_joint = len(grid) // njoint
    freqs = np.stack([grid[j::njoint][:per_joint] for j in range(njoint)]) / duration
    if phases == "random":
        phase = np.random.default_rng(seed).uniform(0, 2 * np.pi, freqs.shape)
    else:
        phase = np.tile(signals.schroeder_phases(per_joint), (njoint, 1))
    return MultisineFamily(time, freqs, phase)


def make_family(name: FamilyName, time: np.ndarray, njoint: int, *, f_lo: float, f_hi: float, lines: int,
                servo_feedforward: bool = False) -> Family:
    """The family `name` on `time` (N,) s for `njoint` joints over [f_lo, f_hi] Hz with `lines` lines per
    joint; `servo_feedforward`: Fourier coefficients end, per joint, with a position servo's feedforward fraction."""
    duration = float(time[-1] - time[0])
    if name == "fourier":
        return FourierFamily(time, njoint, harmonic_grid(duration, f_lo, f_hi, lines), servo_feedforward)
    if name == "multisine":
        return multisine_family(time, njoint, f_lo, f_hi, lines)
    if name == "chirp":
        return ChirpFamily(time, njoint, f_lo, f_hi)
    if name == "prbs":
        return PrbsFamily(time, njoint, f_lo, f_hi)
    raise UserError(f"--family: unknown family {name!r}; choose one of {', '.join(FAMILIES)}")


def _window(time: np.ndarray) -> np.ndarray:
    return signals.taper(time, min(MAX_RAMP, RAMP_FRACTION * float(time[-1] - time[0])))
