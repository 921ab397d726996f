"""Failure modes: failing points clustered by their direction in standard normal space."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import openturns as ot
import pandas as pd
from scipy import stats

from safety_val._random import derive_seed

_Array = np.ndarray[Any, np.dtype[np.float64]]

_U_CLIP = 8.0
"""Standard-normal coordinates are clipped to ±this (OpenTURNS maps CDF 1 to about 8.1)."""


def _to_standard(distribution: ot.Distribution, x: _Array) -> _Array:
    """Iso-probabilistic transform; discrete marginals at the middle of their step."""
    u = np.array(
        distribution.getIsoProbabilisticTransformation()(ot.Sample(x)), dtype=float, copy=True
    ).reshape(x.shape)
    for j in range(x.shape[1]):
        marginal = distribution.getMarginal(j)
        if marginal.isDiscrete():
            upper = np.asarray(marginal.computeCDF(ot.Sample(x[:, [j]])), dtype=float).ravel()
            probability = np.asarray(marginal.computePDF(ot.Sample(x[:, [j]])), dtype=float).ravel()
            u[:, j] = stats.norm.ppf(np.clip(upper - probability / 2.0, 1e-15, 1.0 - 1e-15))
    u = np.clip(np.nan_to_num(u, nan=0.0, posinf=_U_CLIP, neginf=-_U_CLIP), -_U_CLIP, _U_CLIP)
    return u


def _cluster_directions(
    u: _Array,
    max_modes: int,
    cluster_angle: float,
    notes: list[str],
    rng: np.random.Generator,
    max_points: int = 1000,
) -> np.ndarray:
    """Cluster labels (0..k-1) of failing points in standard space (GMM, BIC, angle merge)."""
    from sklearn.mixture import GaussianMixture

    n, d = u.shape
    if n < 2:
        return np.zeros(n, dtype=np.int64)
    # the points nearest the origin define the modes; the rest are assigned to them
    fit = np.argsort(np.linalg.norm(u, axis=1))[:max_points] if n > max_points else np.arange(n)
    seed = derive_seed(rng)
    best: GaussianMixture | None = None
    best_bic = math.inf
    for k in range(1, max_modes + 1):
        n_parameters = k * (d + d * (d + 1) / 2) + k - 1
        if n_parameters >= len(fit):
            break
        mixture = GaussianMixture(k, covariance_type="full", n_init=1, random_state=seed)
        mixture.fit(u[fit])
        bic = float(mixture.bic(u[fit]))
        if bic < best_bic:
            best, best_bic = mixture, bic
        elif best is not None and k > best.n_components + 1:
            break  # the BIC rose twice in a row
    if best is None:
        return np.zeros(n, dtype=np.int64)
    labels = np.asarray(best.predict(u), dtype=np.int64)
    # merge components whose mean directions are within cluster_angle of each other
    present = np.unique(labels)
    means = np.stack([u[labels == c].mean(axis=0) for c in present])
    directions = means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    cosine = np.clip(directions @ directions.T, -1.0, 1.0)
    parent = list(range(len(present)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    limit = math.cos(math.radians(cluster_angle))
    for i, j in itertools.combinations(range(len(present)), 2):
        if cosine[i, j] >= limit:
            parent[root(j)] = root(i)
    groups = np.array([root(i) for i in range(len(present))])
    if len(np.unique(groups)) < len(present):
        notes.append(
            f"{len(present) - len(np.unique(groups))} mixture component(s) within "
            f"{cluster_angle:g} degrees of another were merged"
        )
    # a curved failure domain is cut into several components by the mixture: components
    # that touch (closest failures no farther apart than twice the typical spacing of the
    # failures) are one connected region, hence one mode
    before = len(np.unique(groups))
    for i, j in _touching(u, labels, present):
        if root(i) != root(j):
            parent[root(j)] = root(i)
    groups = np.array([root(i) for i in range(len(present))])
    if len(np.unique(groups)) < before:
        notes.append(
            f"{before - len(np.unique(groups))} mixture component(s) touching another were "
            "merged (one connected failure region)"
        )
    merged = groups[np.searchsorted(present, labels)]
    # clusters too small to describe join the one whose mean direction is nearest
    counts = pd.Series(merged).value_counts()
    min_size = max(3, math.ceil(0.01 * n))
    big = counts.index[counts >= min_size].to_numpy()
    if big.size == 0:
        big = counts.index[:1].to_numpy()
    unit = u / np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-12)
    centroids = np.stack([unit[merged == c].mean(axis=0) for c in big])
    small = ~np.isin(merged, big)
    if small.any():
        notes.append(
            f"{int(small.sum())} failure(s) in clusters of fewer than {min_size} were joined "
            "to the nearest mode"
        )
        merged[small] = big[np.argmax(unit[small] @ centroids.T, axis=1)]
    return np.asarray(np.searchsorted(np.sort(big), merged), dtype=np.int64)


def _touching(
    u: _Array, labels: np.ndarray, present: np.ndarray, factor: float = 2.0
) -> list[tuple[int, int]]:
    """Pairs of components (indices into ``present``) whose closest points touch.

    Two components touch when the distance between their closest members is at most
    ``factor`` times the median nearest-neighbour distance of all the points.
    """
    from scipy.spatial import cKDTree

    if len(present) < 2 or len(u) < 3:
        return []
    spacing = float(np.median(cKDTree(u).query(u, k=2)[0][:, 1]))
    trees = {i: cKDTree(u[labels == c]) for i, c in enumerate(present)}
    pairs = []
    for i, j in itertools.combinations(range(len(present)), 2):
        distance, _ = trees[j].query(u[labels == present[i]], k=1)
        if float(np.min(distance)) <= factor * spacing:
            pairs.append((i, j))
    return pairs
