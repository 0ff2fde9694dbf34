"""Signal families of `sysid excite`: shapes, spectra and start / end at rest."""

from __future__ import annotations

import numpy as np
import pytest

from sysid.errors import UserError
from sysid.excite import families, signals

TIME = np.arange(0, 4.0 + 1e-9, 0.002)


def test_schroeder_phases_lower_the_crest_factor():
    freqs = np.arange(1, 21) / 4.0
    flat = signals.multisine(TIME, freqs, np.ones(20), np.zeros(20))
    schroeder = signals.multisine(TIME, freqs, np.ones(20), signals.schroeder_phases(20))
    crest = lambda x: np.abs(x).max() / np.sqrt(np.mean(x**2))  # noqa: E731
    assert crest(schroeder) < 0.5 * crest(flat)
    assert signals.schroeder_phases(3) == pytest.approx([0.0, -2 * np.pi / 3, -2 * np.pi])


def test_multisine_has_its_lines_only():
    x = signals.multisine(TIME[:-1], np.array([1.0, 3.0]), np.array([2.0, 0.5]), np.zeros(2))
    spectrum = np.abs(np.fft.rfft(x)) * 2 / len(x)
    freqs = np.fft.rfftfreq(len(x), 0.002)
    assert spectrum[np.isclose(freqs, 1.0)] == pytest.approx(2.0, rel=1e-6)
    assert spectrum[np.isclose(freqs, 3.0)] == pytest.approx(0.5, rel=1e-6)
    assert np.sort(spectrum)[-3] < 1e-9


def test_chirp_sweeps_from_start_to_end_frequency():
    x = signals.chirp(TIME, 0.5, 8.0)
    crossing = TIME[1:][np.sign(x[1:]) != np.sign(x[:-1])]
    # Cycles of a log sweep f(t) = 0.5 * 16^(t / 4): 0.72 in the first second, 5.8 in the last.
    assert 20 <= len(crossing) <= 23
    assert 10 <= np.sum(crossing > 3.0) <= 13
    assert np.sum(crossing < 1.0) <= 2
    assert np.abs(x).max() <= 1.0


def test_prbs_is_a_maximum_length_sequence():
    clock = 0.01
    x = signals.prbs(np.arange(0, 127 * clock - 1e-9, clock), clock, seed=5)
    assert set(np.unique(x)) == {-1.0, 1.0}
    assert (x > 0).sum() == 64  # an m-sequence of period 2^7 - 1 has one more 1 than 0s
    held = signals.prbs(TIME, 0.1)
    assert np.all(held[:50] == held[0])  # each bit holds for the clock period


def test_taper_brings_a_signal_to_rest_at_both_ends():
    w = signals.taper(TIME, 0.5)
    assert w[0] == 0 and w[-1] == pytest.approx(0, abs=1e-12) and w[len(w) // 2] == 1
    assert np.gradient(w, TIME)[[0, -1]] == pytest.approx([0, 0], abs=0.05)  # one-sided differences: O(dt)


def test_fourier_trajectory_starts_and_ends_at_rest():
    rng = np.random.default_rng(0)
    harmonics = np.array([1, 2, 5, 9])
    a, b = signals.at_rest(rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), harmonics)
    q, qd, qdd = signals.fourier_trajectory(TIME, a, b, harmonics, period=4.0)
    for x in (q, qd, qdd):
        assert x.shape == (len(TIME), 3)
        assert x[0] == pytest.approx(np.zeros(3), abs=1e-9)
        assert x[-1] == pytest.approx(np.zeros(3), abs=1e-9)
    assert np.gradient(q, TIME, axis=0)[5:-5] == pytest.approx(qd[5:-5], abs=1e-3)
    assert np.gradient(qd, TIME, axis=0)[5:-5] == pytest.approx(qdd[5:-5], abs=1e-2)
    assert np.abs(q).max() > 0.1


@pytest.mark.parametrize("name", families.FAMILIES)
def test_every_family_rests_at_both_ends(name):
    family = families.make_family(name, TIME, 2, f_lo=0.5, f_hi=4.0, lines=5)
    x = family.excursion(family.initial(np.random.default_rng(1)))
    assert x.shape == (len(TIME), 2)
    assert x[[0, -1]] == pytest.approx(np.zeros((2, 2)), abs=1e-9)
    assert np.abs(x).max() > 0


def test_multisine_family_interleaves_the_joints_lines():
    family = families.multisine_family(TIME, 3, 0.25, 5.0, 4)
    lines = family.freqs.ravel()
    assert len(set(lines)) == lines.size  # no line is shared by two joints
    assert np.allclose(lines * 4.0, np.round(lines * 4.0))  # harmonics of 1 / duration: periodic


def test_a_band_without_lines_is_a_user_error():
    with pytest.raises(UserError, match="no frequency line"):
        families.harmonic_grid(1.0, 0.2, 0.6, 5)
