"""Counter-based random numbers for the vectorised simulator.

Every random number inside a run is a pure function of ``(scenario key, counter,
stream)``: there is no generator state shared between scenarios, so a scenario's
outcome does not depend on the batch it is simulated in, nor on its position in
that batch.
"""

from __future__ import annotations

import hashlib

import numpy as np
import numpy.typing as npt

__all__ = [
    "mix64",
    "normal_pair",
    "scenario_keys",
    "seed_from_id",
    "uniform",
]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_TWO_M53 = 2.0**-53

U64Array = npt.NDArray[np.uint64]
FloatArray = npt.NDArray[np.float64]


def mix64(z: U64Array) -> U64Array:
    """Apply the SplitMix64 finaliser to an array of ``uint64`` (wrapping arithmetic).

    Parameters
    ----------
    z
        Array of ``uint64``; not modified.

    Returns
    -------
    numpy.ndarray
        The mixed values, same shape.

    Notes
    -----
    ``z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27; z *= 0x94D049BB133111EB;
    z ^= z >> 31`` (Steele, Lea & Flood 2014), a bijection of the 64-bit integers
    with full avalanche.

    References
    ----------
    G. L. Steele, D. Lea, C. H. Flood, "Fast splittable pseudorandom number
    generators", OOPSLA 2014, doi:10.1145/2660193.2660195.

    Examples
    --------
    >>> int(mix64(np.array([0], dtype=np.uint64))[0])
    0
    >>> int(mix64(np.array([1], dtype=np.uint64))[0]) == 0x5692161D100B05E5
    True
    """
    z = np.asarray(z, dtype=np.uint64)
    z = z ^ (z >> _S30)
    z *= _M1
    z ^= z >> _S27
    z *= _M2
    z ^= z >> _S31
    return z


def scenario_keys(seeds: npt.ArrayLike) -> U64Array:
    """Per-scenario keys: the mixed seeds (so that small consecutive seeds are unrelated)."""
    return mix64(np.asarray(seeds, dtype=np.uint64) + _GOLDEN)


def _increment(counter: int, stream: npt.ArrayLike) -> np.uint64 | U64Array:
    """``(64 counter + stream + 1) gamma mod 2^64``, for one stream or an array of them."""
    streams = np.asarray(stream)
    if streams.dtype.kind not in "iu":
        raise ValueError(f"The 'stream' parameter must be an integer. Got {stream!r} instead.")
    if streams.ndim == 0:
        s = int(streams)
        if not 0 <= s < 64:
            raise ValueError(f"The 'stream' parameter must be in [0, 64). Got {s} instead.")
        return np.uint64(((counter * 64 + s + 1) * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
    if streams.size and not (int(streams.min()) >= 0 and int(streams.max()) < 64):
        raise ValueError(
            "The 'stream' parameter must be in [0, 64). "
            f"Got values in [{int(streams.min())}, {int(streams.max())}] instead."
        )
    # Same value as the scalar branch, element by element: uint64 arithmetic wraps
    # modulo 2^64, like the masked Python integers above.
    base = np.uint64((counter * 64 + 1) & 0xFFFFFFFFFFFFFFFF)
    return (streams.astype(np.uint64) + base) * _GOLDEN


def _bits(keys: U64Array, counter: int, stream: npt.ArrayLike) -> U64Array:
    # SplitMix64 indexed directly: state number k of the sequence started at `key`.
    return mix64(keys + _increment(counter, stream))


def uniform(keys: U64Array, counter: int, stream: npt.ArrayLike) -> FloatArray:
    """Uniform numbers in ``(0, 1]``, one per key and stream, for a given counter.

    Parameters
    ----------
    keys
        Scenario keys from :func:`scenario_keys`, any shape.
    counter
        Time counter (for instance the sensor cycle), ``>= 0``.
    stream
        Channel number in ``[0, 64)`` (what the number is used for), or an integer
        array of channel numbers that broadcasts with ``keys`` (for instance
        ``keys[:, None]`` with channels of shape ``(m,)`` gives an ``(n, m)`` array).
        Element by element the result is the same as one call per channel.

    Returns
    -------
    numpy.ndarray
        ``float64`` array of the broadcast shape of ``keys`` and ``stream``.

    Notes
    -----
    The top 53 bits of ``mix64(key + (64 counter + stream + 1) * gamma)`` give
    ``u = (b + 1) 2^-53``; ``gamma`` is the golden-ratio increment of SplitMix64.

    Examples
    --------
    >>> k = scenario_keys(np.arange(3))
    >>> bool(np.all(uniform(k, 5, 0) == uniform(k, 5, 0)))
    True
    >>> bool(np.all((uniform(k, 5, 0) > 0) & (uniform(k, 5, 0) <= 1)))
    True
    >>> u = uniform(k[:, None], 5, np.array([0, 8]))
    >>> u.shape, bool(np.all(u[:, 1] == uniform(k, 5, 8)))
    ((3, 2), True)
    """
    b = _bits(keys, counter, stream) >> _S11
    return (b.astype(np.float64) + 1.0) * _TWO_M53


def normal_pair(
    keys: U64Array, counter: int, stream: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Two independent standard normal arrays from streams ``stream`` and ``stream + 1``.

    ``stream`` may be an integer array that broadcasts with ``keys``, as in
    :func:`uniform`; then ``stream + 1`` is taken element by element.

    Notes
    -----
    Box–Muller: with ``u1, u2`` uniform on ``(0, 1]``,
    ``r = sqrt(-2 ln u1)``, ``z1 = r cos(2 pi u2)``, ``z2 = r sin(2 pi u2)``.

    Examples
    --------
    >>> z1, z2 = normal_pair(scenario_keys(np.arange(20000)), 0, 0)
    >>> abs(float(z1.mean())) < 0.05 and abs(float(z2.std()) - 1.0) < 0.05
    True
    """
    u1 = uniform(keys, counter, stream)
    u2 = uniform(keys, counter, np.asarray(stream) + 1)
    r = np.sqrt(-2.0 * np.log(u1))
    theta = (2.0 * np.pi) * u2
    return r * np.cos(theta), r * np.sin(theta)


def seed_from_id(scenario_id: str) -> int:
    """The 64-bit seed of a concrete scenario id.

    A 16-digit hexadecimal id (what the design of experiments writes) is read as
    the integer it spells; any other string is hashed with BLAKE2b.

    Examples
    --------
    >>> seed_from_id("00000000000000ff")
    255
    >>> seed_from_id("run-1") == seed_from_id("run-1")
    True
    """
    text = str(scenario_id).strip()
    if 0 < len(text) <= 16:
        try:
            return int(text, 16)
        except ValueError:
            pass
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little")
