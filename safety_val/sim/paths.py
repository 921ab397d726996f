"""Paths of road users through a junction and the conflict areas where they cross.

A path is a straight line, a circular arc and a straight line again (a straight path
has no arc): the lane centre line of a through movement or of a turn. A road user
moves along its path (path coordinate ``s`` of its centre) with its body, a
rectangle, aligned with the path's heading. All functions work on arrays of ``n``
scenarios at once.

The *conflict area* of two paths is where their swept regions (the union of the
bodies along each path) intersect. :func:`conflict_intervals` gives, in each road
user's own path coordinate, the interval of centre positions in which its body
overlaps the other's swept region: it *occupies* the conflict area there. These
intervals define the post-encroachment time, the encroachment time and the
conflict-area TTC of the junction templates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "PathGeometry",
    "Paths",
    "conflict_intervals",
    "obb_overlap",
    "segment_hits_box",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Spacing (m) of the path samples used to find the conflict intervals (before bisection).
SAMPLE_STEP = 0.05
_BISECTIONS = 16
_CHUNK = 256
#: Poses of road user 0 over its own interval from which road user 1's is found (the
#: same for every scene, so that a scene's intervals do not depend on its batch).
_FINE = 401


@dataclass(frozen=True)
class Paths:
    """Paths of ``A`` road users in ``n`` scenarios, arrays of shape ``(n, A)``.

    Attributes
    ----------
    x0, y0, psi0
        Centre position (m) and heading (rad, counter-clockwise from ``x``) at ``s = 0``.
    arc_start
        Path coordinate (m) where the arc begins; ``inf`` for a straight path.
    curvature
        Signed curvature of the arc (1/m): positive turns left, 0 for a straight path.
    arc_angle
        Heading change of the arc (rad, ``>= 0``).

    Notes
    -----
    With ``s1 = arc_start``, ``k = curvature`` and arc length ``La = arc_angle / |k|``,
    the centre at ``s`` is ``p0 + min(s, s1) h(psi0)`` plus, along the arc
    (``a = clip(s - s1, 0, La)``), ``(sin(k a) / k) h(psi0) + ((1 - cos(k a)) / k)
    n(psi0)``, plus ``max(s - s1 - La, 0) h(psi0 + k La)`` on the final straight;
    the heading is ``psi0 + k a``. ``h`` is the unit heading, ``n`` its left normal.

    Examples
    --------
    A left turn of radius 10 m starting at ``s = 5``:

    >>> p = Paths(*(np.array([[v]]) for v in (0.0, 0.0, 0.0, 5.0, 0.1, np.pi / 2)))
    >>> x, y, psi = p.pose(np.array([[5.0 + 5.0 * np.pi + 3.0]]))
    >>> [round(float(v), 6) for v in (x[0, 0], y[0, 0], psi[0, 0])]
    [15.0, 13.0, 1.570796]
    """

    x0: FloatArray
    y0: FloatArray
    psi0: FloatArray
    arc_start: FloatArray
    curvature: FloatArray
    arc_angle: FloatArray

    @property
    def arc_length(self) -> FloatArray:
        """Length of each arc (m), 0 for straight paths."""
        k = np.abs(self.curvature)
        return np.asarray(np.where(k > 0.0, self.arc_angle / np.where(k > 0.0, k, 1.0), 0.0),
                          dtype=np.float64)

    @property
    def arc_end(self) -> FloatArray:
        """Path coordinate where the final straight begins (``inf`` for straight paths)."""
        return np.asarray(self.arc_start + self.arc_length, dtype=np.float64)

    def column(self, j: int) -> Paths:
        """The paths of road user ``j`` only, shape ``(n, 1)``."""
        return Paths(*(getattr(self, f)[:, j:j + 1] for f in _FIELDS))

    def take(self, rows: npt.NDArray[np.intp] | slice) -> Paths:
        """The paths of the scenarios ``rows``."""
        return Paths(*(getattr(self, f)[rows] for f in _FIELDS))

    def pose(self, s: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Centre ``x``, ``y`` and heading at path coordinates ``s``.

        ``s`` has the shape of the paths, ``(n, A)``, or ``(n, A, k)`` for ``k``
        positions per path.
        """
        s = np.asarray(s, dtype=np.float64)
        extra = tuple(range(self.x0.ndim, s.ndim))
        return PathGeometry(*(np.expand_dims(getattr(self, f), extra) if extra
                              else getattr(self, f) for f in _FIELDS)).pose(s)

    def curvature_at(self, s: npt.ArrayLike) -> FloatArray:
        """Signed curvature (1/m) of each path at ``s`` (on the arc, else 0)."""
        s = np.asarray(s, dtype=np.float64)
        on_arc = (s >= self.arc_start) & (s <= self.arc_end)
        return np.asarray(np.where(on_arc, self.curvature, 0.0), dtype=np.float64)


class PathGeometry:
    """The constants of :meth:`Paths.pose`, computed once for many evaluations."""

    def __init__(self, x0: FloatArray, y0: FloatArray, psi0: FloatArray, arc_start: FloatArray,
                 curvature: FloatArray, arc_angle: FloatArray) -> None:
        curved = curvature != 0.0
        self.x0, self.y0, self.psi0, self.s1, self.k = x0, y0, psi0, arc_start, curvature
        self.safe_k = np.where(curved, curvature, 1.0)
        self.length = np.where(curved, arc_angle / np.abs(self.safe_k), 0.0)
        self.end = arc_start + self.length
        self.c, self.s = np.cos(psi0), np.sin(psi0)
        psi_end = psi0 + curvature * self.length
        self.c_end, self.s_end = np.cos(psi_end), np.sin(psi_end)

    def pose(self, s: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Centre ``x``, ``y`` and heading at ``s`` (broadcast with the constants)."""
        # a straight path has s1 = inf: s - s1 = -inf, so the arc and final parts are 0
        first = np.minimum(s, self.s1)
        a = np.clip(s - self.s1, 0.0, self.length)
        after = np.maximum(s - self.end, 0.0)
        turn = self.k * a
        along = first + np.sin(turn) / self.safe_k
        across = (1.0 - np.cos(turn)) / self.safe_k
        x = self.x0 + along * self.c - across * self.s + after * self.c_end
        y = self.y0 + along * self.s + across * self.c + after * self.s_end
        return x, y, self.psi0 + turn

    def curvature_at(self, s: FloatArray) -> FloatArray:
        """Signed curvature at ``s`` (on the arc, else 0)."""
        return np.asarray(np.where((s >= self.s1) & (s <= self.end), self.k, 0.0),
                          dtype=np.float64)


_FIELDS = ("x0", "y0", "psi0", "arc_start", "curvature", "arc_angle")


def _corners(x: FloatArray, y: FloatArray, psi: FloatArray, length: FloatArray,
             width: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Corner coordinates, shape ``x.shape + (4,)``, in order around the rectangle."""
    c, s = np.cos(psi)[..., None], np.sin(psi)[..., None]
    along = (np.array([0.5, 0.5, -0.5, -0.5]) * length[..., None])
    across = (np.array([0.5, -0.5, -0.5, 0.5]) * width[..., None])
    return x[..., None] + along * c - across * s, y[..., None] + along * s + across * c


def obb_overlap(
    x1: FloatArray, y1: FloatArray, psi1: FloatArray, l1: FloatArray, w1: FloatArray,
    x2: FloatArray, y2: FloatArray, psi2: FloatArray, l2: FloatArray, w2: FloatArray,
) -> BoolArray:
    """Whether two oriented rectangles overlap (or touch), element by element.

    Notes
    -----
    Separating axis theorem: two convex polygons are disjoint iff their projections
    on some edge normal are; for rectangles the candidates are the four axes
    ``h1, n1, h2, n2``. On axis ``u`` the projections are ``|d . u|`` apart (``d``
    the centre offset) and have half lengths ``l/2 |h . u| + w/2 |n . u|``.

    Examples
    --------
    >>> one = np.array([0.0])
    >>> [obb_overlap(one * 0, one * 0, one * 0, one + 3, one + 1,
    ...              one * 0 + x, one * 0, one + np.pi / 2, one + 3, one + 1).tolist()
    ...  for x in (1.9, 2.1)]
    [[True], [False]]
    """
    c1, s1, c2, s2 = np.cos(psi1), np.sin(psi1), np.cos(psi2), np.sin(psi2)
    dx, dy = x2 - x1, y2 - y1
    separated = np.zeros(np.broadcast(x1, x2).shape, dtype=bool)
    for ux, uy in ((c1, s1), (-s1, c1), (c2, s2), (-s2, c2)):
        gap = np.abs(dx * ux + dy * uy)
        r1 = 0.5 * l1 * np.abs(c1 * ux + s1 * uy) + 0.5 * w1 * np.abs(-s1 * ux + c1 * uy)
        r2 = 0.5 * l2 * np.abs(c2 * ux + s2 * uy) + 0.5 * w2 * np.abs(-s2 * ux + c2 * uy)
        separated |= gap > r1 + r2
    return ~separated


def segment_hits_box(
    ax: FloatArray, ay: FloatArray, bx: FloatArray, by: FloatArray, box: FloatArray
) -> BoolArray:
    """Whether the segment ``a -> b`` passes through an axis-aligned box (line of sight).

    Parameters
    ----------
    ax, ay, bx, by
        Segment end points, shape ``(n,)``.
    box
        ``(n, 4)``: ``xmin, ymin, xmax, ymax``; an empty box (``xmin > xmax``) hides
        nothing.

    Notes
    -----
    Liang-Barsky clipping: the segment ``a + t (b - a)``, ``t`` in ``[0, 1]``, meets the
    box iff the intersection of the slabs' parameter intervals is not empty.

    Examples
    --------
    >>> box = np.array([[-1.0, -1.0, 1.0, 1.0]])
    >>> z = np.zeros(1)
    >>> segment_hits_box(z - 5, z, z + 5, z, box).tolist(), segment_hits_box(
    ...     z - 5, z + 2, z + 5, z + 2, box).tolist()
    ([True], [False])
    """
    lo = np.zeros_like(ax)
    hi = np.ones_like(ax)
    for start, delta, bmin, bmax in ((ax, bx - ax, box[:, 0], box[:, 2]),
                                     (ay, by - ay, box[:, 1], box[:, 3])):
        flat = np.abs(delta) < 1e-12
        safe = np.where(flat, 1.0, delta)
        t1, t2 = (bmin - start) / safe, (bmax - start) / safe
        near, far = np.minimum(t1, t2), np.maximum(t1, t2)
        inside = (start >= bmin) & (start <= bmax)
        lo = np.where(flat, np.where(inside, lo, np.inf), np.maximum(lo, near))
        hi = np.where(flat, np.where(inside, hi, -np.inf), np.minimum(hi, far))
    return np.asarray((lo <= hi) & (box[:, 0] <= box[:, 2]), dtype=bool)


def _straight_intervals(paths: Paths, length: FloatArray, width: FloatArray,
                        ) -> tuple[FloatArray, FloatArray]:
    """Exact intervals of two straight paths (each body against the other's strip).

    With ``a = n_j . h_i`` and the half extent ``e = l_i / 2 |n_j . h_i| + w_i / 2
    |n_j . n_i|`` of body ``i`` across strip ``j``, body ``i`` at ``s`` overlaps the
    strip iff ``|n_j . (p_i0 - p_j0) + a s| <= w_j / 2 + e``.
    """
    entry = np.empty_like(length)
    exit_ = np.empty_like(length)
    c, s = np.cos(paths.psi0), np.sin(paths.psi0)
    for i, j in ((0, 1), (1, 0)):
        nx, ny = -s[:, j], c[:, j]
        a = nx * c[:, i] + ny * s[:, i]
        across = np.abs(nx * -s[:, i] + ny * c[:, i])
        e = 0.5 * length[:, i] * np.abs(a) + 0.5 * width[:, i] * across
        w0 = nx * (paths.x0[:, i] - paths.x0[:, j]) + ny * (paths.y0[:, i] - paths.y0[:, j])
        reach = 0.5 * width[:, j] + e
        safe = np.where(np.abs(a) > 1e-12, a, np.nan)
        s1, s2 = (-reach - w0) / safe, (reach - w0) / safe
        entry[:, i], exit_[:, i] = np.minimum(s1, s2), np.maximum(s1, s2)
    return entry, exit_


def conflict_intervals(
    paths: Paths,
    length: FloatArray,
    width: FloatArray,
    window: FloatArray,
    *,
    step: float = SAMPLE_STEP,
) -> tuple[FloatArray, FloatArray]:
    """Centre intervals in which each of two road users occupies their conflict area.

    Parameters
    ----------
    paths
        Paths of two road users, ``(n, 2)``; in every scenario road user 1's path
        must be straight (road user 0 may turn).
    length, width
        Body sizes (m), ``(n, 2)``.
    window
        ``(n, 2)``: the stretch of road user 0's path coordinate that crosses the
        other path (the conflict must lie inside, and only one crossing).
    step
        Sample spacing (m) of road user 0's path before the bisection.

    Returns
    -------
    (ndarray, ndarray)
        ``entry`` and ``exit``, ``(n, 2)``: path coordinates of each road user's
        centre at which its body first touches and last leaves the conflict area
        (``nan`` when the paths do not meet in the window).

    Notes
    -----
    Road user 1 is straight, so its swept region is the strip ``|n1 . (p - p1)| <=
    w1 / 2``. Where road user 0 is straight too, both intervals follow in closed form
    from the half extent of each body across the other's strip. Where it turns, its
    body overlaps the strip when the projections of its four corners on ``n1``
    straddle ``[-w1/2, w1/2]``: entry and exit are found on samples ``5 step`` apart
    and refined by bisection (to ``5 step / 2^16``). Road user 1's interval is then the
    extent, along its heading, of the union of road user 0's bodies (401 poses over
    its own interval) clipped to the strip (corners inside plus edge-strip
    intersections), widened by ``l1 / 2`` on each side: within a 400th of road user
    0's interval (a few centimetres). Every scene is computed on its own grid, so
    its intervals do not depend on the batch.

    Examples
    --------
    Two perpendicular straight paths crossing at the origin, 4.5 m x 1.8 m cars:

    >>> p = Paths(np.array([[-30.0, 0.0]]), np.array([[0.0, -30.0]]),
    ...           np.array([[0.0, np.pi / 2]]), np.full((1, 2), np.inf),
    ...           np.zeros((1, 2)), np.zeros((1, 2)))
    >>> entry, exit_ = conflict_intervals(p, np.full((1, 2), 4.5), np.full((1, 2), 1.8),
    ...                                   np.array([[0.0, 60.0]]))
    >>> [round(float(v), 6) for v in (*entry[0], *exit_[0])]
    [26.85, 26.85, 33.15, 33.15]
    """
    entry, exit_ = _straight_intervals(paths, length, width)
    turning = np.flatnonzero(paths.curvature[:, 0] != 0.0)
    for lo in range(0, turning.size, _CHUNK):
        rows = turning[lo:lo + _CHUNK]
        e, x = _intervals(paths.take(rows), length[rows], width[rows], window[rows], step)
        entry[rows], exit_[rows] = e, x
    return entry, exit_


def _strip_frame(paths: Paths) -> tuple[FloatArray, ...]:
    """Origin, heading and left normal of road user 1's straight path, ``(n, 1)`` each."""
    psi = paths.psi0[:, 1:2]
    return paths.x0[:, 1:2], paths.y0[:, 1:2], np.cos(psi), np.sin(psi)


def _in_strip(paths: Paths, s: FloatArray, length: FloatArray, width: FloatArray,
              ) -> BoolArray:
    """Whether road user 0's body at ``s`` (``(n, k)``) overlaps road user 1's strip."""
    ox, oy, hx, hy = _strip_frame(paths)
    x, y, psi = paths.column(0).pose(s)
    cx, cy = _corners(x, y, psi, np.broadcast_to(length[:, :1], s.shape),
                      np.broadcast_to(width[:, :1], s.shape))
    w = -(cx - ox[..., None]) * hy[..., None] + (cy - oy[..., None]) * hx[..., None]
    half = 0.5 * width[:, 1:2, None]
    return np.asarray((w.min(axis=-1) <= half[..., 0]) & (w.max(axis=-1) >= -half[..., 0]),
                      dtype=bool)


def _bisect(paths: Paths, lo: FloatArray, hi: FloatArray, length: FloatArray,
            width: FloatArray, rising: bool) -> FloatArray:
    """Boundary of the strip overlap between ``lo`` and ``hi`` (``(n, 1)``)."""
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo + hi)
        inside = _in_strip(paths, mid, length, width)
        if rising:
            lo, hi = np.where(inside, lo, mid), np.where(inside, mid, hi)
        else:
            lo, hi = np.where(inside, mid, lo), np.where(inside, hi, mid)
    return np.asarray(0.5 * (lo + hi), dtype=np.float64)


def _intervals(paths: Paths, length: FloatArray, width: FloatArray, window: FloatArray,
               step: float) -> tuple[FloatArray, FloatArray]:
    n = paths.x0.shape[0]
    span = window[:, 1] - window[:, 0]
    coarse = 5.0 * step
    k = int(np.ceil(float(np.max(span, initial=0.0)) / coarse)) + 1
    s = window[:, :1] + coarse * np.arange(k)[None, :]
    s = np.minimum(s, window[:, 1:2])
    inside = _in_strip(paths, s, length, width)
    found = inside.any(axis=1)
    first = np.argmax(inside, axis=1)
    last = k - 1 - np.argmax(inside[:, ::-1], axis=1)
    rows = np.arange(n)
    entry = np.full((n, 2), np.nan)
    exit_ = np.full((n, 2), np.nan)
    s_first, s_last = s[rows, first][:, None], s[rows, last][:, None]
    before = s[rows, np.maximum(first - 1, 0)][:, None]
    after = s[rows, np.minimum(last + 1, k - 1)][:, None]
    e0 = np.where(first[:, None] > 0, _bisect(paths, before, s_first, length, width, True),
                  s_first)
    x0 = np.where(last[:, None] < k - 1, _bisect(paths, s_last, after, length, width, False),
                  s_last)
    entry[:, 0] = np.where(found, e0[:, 0], np.nan)
    exit_[:, 0] = np.where(found, x0[:, 0], np.nan)

    # road user 1: extent along its heading of road user 0's bodies clipped to the strip,
    # over road user 0's poses in its own interval (the only ones that reach the strip)
    ox, oy, hx, hy = _strip_frame(paths)
    samples = e0 + (x0 - e0) * np.linspace(0.0, 1.0, _FINE)[None, :]
    x, y, psi = paths.column(0).pose(samples)
    cx, cy = _corners(x, y, psi, np.broadcast_to(length[:, :1], samples.shape),
                      np.broadcast_to(width[:, :1], samples.shape))
    rx, ry = cx - ox[..., None], cy - oy[..., None]
    u = rx * hx[..., None] + ry * hy[..., None]
    w = -rx * hy[..., None] + ry * hx[..., None]
    half = 0.5 * width[:, 1:2, None]
    candidates = [np.where(np.abs(w) <= half + 1e-9, u, np.nan)]
    u2, w2 = np.roll(u, -1, axis=-1), np.roll(w, -1, axis=-1)
    for line in (-half, half):
        crosses = (w - line) * (w2 - line) <= 0.0
        denom = np.where(np.abs(w2 - w) < 1e-12, 1.0, w2 - w)
        candidates.append(np.where(crosses & (np.abs(w2 - w) >= 1e-12),
                                   u + (u2 - u) * (line - w) / denom, np.nan))
    stacked = np.concatenate(candidates, axis=-1)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            u_min = np.nanmin(stacked, axis=(1, 2))
            u_max = np.nanmax(stacked, axis=(1, 2))
    half_l1 = 0.5 * length[:, 1]
    entry[:, 1] = np.where(found, u_min - half_l1, np.nan)
    exit_[:, 1] = np.where(found, u_max + half_l1, np.nan)
    return entry, exit_
