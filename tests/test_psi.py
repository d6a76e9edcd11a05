"""PSI on reference deciles: bin edges, fractions, the index and its bands."""

from __future__ import annotations

import numpy as np
import pytest

from riskserve import psi


def test_continuous_edges_are_the_nine_deciles():
    values = np.arange(1, 1001, dtype=float)  # 1..1000: deciles at 100.9, 200.8, ...
    edges = psi.decile_edges(values)
    np.testing.assert_allclose(edges, np.quantile(values, np.arange(1, 10) / 10))
    np.testing.assert_allclose(psi.bin_fractions(values, edges), np.full(10, 0.1))


def test_discrete_edges_are_unique_and_values_stay_in_their_bin():
    counts = np.random.default_rng(0).poisson(1.5, 4000)
    edges = psi.decile_edges(counts)
    assert len(edges) < 9
    assert np.all(np.diff(edges) > 0)
    fractions = psi.bin_fractions(counts, edges)
    # Right-closed bins: the first bin holds exactly the values at or below the first edge.
    assert fractions[0] == pytest.approx(np.mean(counts <= edges[0]))
    assert fractions.sum() == pytest.approx(1.0)


def test_outer_bins_are_open():
    edges = psi.decile_edges(np.arange(100, dtype=float))
    fractions = psi.bin_fractions(np.array([-1e9, 1e9]), edges)
    assert fractions[0] == fractions[-1] == 0.5


def test_empty_sample_is_refused():
    with pytest.raises(ValueError, match="empty"):
        psi.bin_fractions(np.array([]), np.array([1.0]))


def test_identical_samples_have_zero_psi():
    values = np.random.default_rng(1).lognormal(10.5, 0.8, 5000)
    edges = psi.decile_edges(values)
    fractions = psi.bin_fractions(values, edges)
    assert psi.psi(fractions, fractions) == pytest.approx(0.0, abs=1e-12)


def test_same_distribution_is_stable_and_a_shift_is_significant():
    rng = np.random.default_rng(2)
    reference = rng.normal(0, 1, 4000)
    edges = psi.decile_edges(reference)
    expected = psi.bin_fractions(reference, edges)
    same = psi.psi(expected, psi.bin_fractions(rng.normal(0, 1, 4000), edges))
    shifted = psi.psi(expected, psi.bin_fractions(rng.normal(1, 1, 4000), edges))
    assert psi.psi_band(same) == "stable"
    assert psi.psi_band(shifted) == "significant"


def test_empty_bin_is_finite():
    assert np.isfinite(psi.psi(np.array([0.5, 0.5]), np.array([1.0, 0.0])))


@pytest.mark.parametrize(
    ("value", "band"),
    [
        (0.0, "stable"),
        (0.0999, "stable"),
        (0.10, "moderate"),
        (0.25, "moderate"),
        (0.2501, "significant"),
        (3.0, "significant"),
    ],
)
def test_bands_follow_the_spec(value, band):
    assert psi.psi_band(value) == band
