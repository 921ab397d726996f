"""The one randomness rule: every stochastic function takes ``seed`` and normalises it here."""

from __future__ import annotations

import numpy as np

__all__ = ["SeedLike", "as_generator", "derive_seed", "seed_openturns"]

SeedLike = int | np.random.Generator | None


def as_generator(seed: SeedLike) -> np.random.Generator:
    """Normalise ``seed`` to a :class:`numpy.random.Generator`.

    Parameters
    ----------
    seed
        ``None`` (fresh entropy), an ``int``, or a generator (returned as is).

    Examples
    --------
    >>> bool(as_generator(3).integers(0, 10**6) == as_generator(3).integers(0, 10**6))
    True
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, int | np.integer):
        if seed is not None and int(seed) < 0:
            raise ValueError(
                f"The 'seed' parameter must be a non-negative int. Got {seed} instead."
            )
        return np.random.default_rng(None if seed is None else int(seed))
    raise TypeError(
        "The 'seed' parameter must be an int, a numpy.random.Generator or None. "
        f"Got {type(seed).__name__} instead."
    )


def derive_seed(rng: np.random.Generator) -> int:
    """Draw a 31-bit integer seed from ``rng`` (for libraries that take an int)."""
    return int(rng.integers(0, 2**31 - 1))


def seed_openturns(rng: np.random.Generator) -> None:
    """Seed OpenTURNS' global generator from ``rng`` just before an OpenTURNS call."""
    import openturns as ot

    ot.RandomGenerator.SetSeed(derive_seed(rng))
