"""Rules for the failure modes: decision-tree leaves and PRIM boxes in physical features.

Features are the parameters, derived differences and time gaps of same-quantity
parameters, and the scenario's derived physical quantities; a leaf is precise enough when
the one-sided Wilson bound of its precision reaches the target.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from safety_val._random import derive_seed

if TYPE_CHECKING:
    from safety_val.scenario import LogicalScenario

_Array = np.ndarray[Any, np.dtype[np.float64]]

_MAX_RULES = 3
"""At most this many rules ("or" alternatives) per mode."""

_MIN_RECALL_GAIN = 0.05
"""A further rule must cover at least this fraction of the mode's failures not yet covered."""

_DERIVED_TOP = 4
"""Derived features combine only the mode's this many most important continuous parameters."""

_MAX_DERIVED = 10
"""At most this many derived features (differences, time gaps) per mode."""

_TIME_CAP = 1e3
"""Time gaps (s) are capped here; a gap that is not closing (difference <= 0) gets this value."""

_BIG = 1e9
"""Stand-in for an infinite derived quantity (a time to an event that never comes)."""

_SURE_Z = 1.645
"""A leaf is precise enough when the one-sided 95 % Wilson bound of its precision is."""

_PEEL_ALPHA = 0.05
"""Share of a box's points removed per PRIM peeling step."""

_PEELED_LEAVES = 5
"""Leaves short of the precision target that are peeled towards it."""

_SELECT_SHARE = 1.0 / 3.0
"""Share of the training points that judges the candidate rules (the rest grows them)."""

_RATIOS = {"m": "m/s"}
"""Length unit -> speed unit whose differences give a time gap ``length / (a - b)`` in s."""


def _format_number(value: float) -> str:
    text = f"{value:.3g}"
    return text if "e" not in text else f"{value:.3e}"


def _condition_text(
    name: str,
    low: float,
    high: float,
    unit: str,
    labels: tuple[str, ...] | None,
) -> str:
    """Text of ``low < name <= high`` (either bound may be infinite)."""
    if labels is not None:
        codes = [c for c in range(len(labels)) if low < c <= high]
        chosen = [labels[c] for c in codes]
        if len(chosen) == 1:
            return f"{name} == {chosen[0]}"
        return f"{name} in {{{', '.join(chosen)}}}"
    suffix = f" {unit}" if unit and unit != "-" else ""
    if math.isfinite(low) and math.isfinite(high):
        return f"{_format_number(low)} < {name} <= {_format_number(high)}{suffix}"
    if math.isfinite(low):
        return f"{name} > {_format_number(low)}{suffix}"
    return f"{name} <= {_format_number(high)}{suffix}"


def _leaf_boxes(tree: Any, d: int) -> dict[int, tuple[_Array, _Array]]:
    """For every leaf: lower and upper bounds per feature (``low < x <= high``)."""
    structure = tree.tree_
    boxes: dict[int, tuple[_Array, _Array]] = {}
    stack = [(0, np.full(d, -np.inf), np.full(d, np.inf))]
    while stack:
        node, low, high = stack.pop()
        left, right = structure.children_left[node], structure.children_right[node]
        if left == right:
            boxes[int(node)] = (low, high)
            continue
        f, t = int(structure.feature[node]), float(structure.threshold[node])
        high_left = high.copy()
        high_left[f] = min(high[f], t)
        low_right = low.copy()
        low_right[f] = max(low[f], t)
        stack.append((int(left), low, high_left))
        stack.append((int(right), low_right, high))
    return boxes


def _in_box(x: _Array, low: _Array, high: _Array) -> np.ndarray:
    return np.asarray(np.all((x > low) & (x <= high), axis=1))


def _precision_recall(covered: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    hits = int((covered & positive).sum())
    precision = hits / int(covered.sum()) if covered.any() else math.nan
    recall = hits / int(positive.sum()) if positive.any() else math.nan
    return precision, recall


@dataclass(frozen=True)
class _Feature:
    """A feature of the rule trees: a parameter, a difference, a time gap or a quantity.

    ``kind`` is ``"raw"`` (parameter ``a``), ``"difference"`` (``x[a] - x[b]``, unit of
    ``a``), ``"time"`` (``x[gap] / (x[a] - x[b])`` in s where the difference is > 0,
    :data:`_TIME_CAP` elsewhere and above) or ``"quantity"`` (a derived physical quantity
    of the scenario, :mod:`safety_val.quantities`, computed by ``compute`` from the
    parameters ``inputs``).
    """

    kind: str
    name: str
    unit: str
    a: int
    b: int = -1
    gap: int = -1
    inputs: tuple[int, ...] = ()
    compute: Callable[[_Array], _Array] | None = field(default=None, compare=False)

    @property
    def parameters(self) -> tuple[int, ...]:
        if self.kind == "quantity":
            return self.inputs
        return tuple(i for i in (self.a, self.b, self.gap) if i >= 0)

    def values(self, x: _Array) -> _Array:
        if self.compute is not None:
            return np.nan_to_num(self.compute(x), nan=0.0, posinf=_BIG, neginf=-_BIG)
        if self.kind == "raw":
            return np.asarray(x[:, self.a], dtype=float)
        difference = x[:, self.a] - x[:, self.b]
        if self.kind == "difference":
            return np.asarray(difference, dtype=float)
        closing = difference > 0.0
        time = np.full(len(x), _TIME_CAP)
        time[closing] = x[closing, self.gap] / difference[closing]
        return np.asarray(np.clip(time, -_TIME_CAP, _TIME_CAP), dtype=float)


def _quantity(scenario: LogicalScenario | None, name: str) -> str:
    """The quantity a parameter measures: its ODD attribute's name without ``agent_``."""
    if scenario is None:
        return ""
    attribute = scenario.parameter(name).odd_attribute
    if not attribute:
        return ""
    leaf = attribute.rsplit(".", 1)[-1]
    return leaf.removeprefix("agent_")


def _derived_features(
    x: _Array,
    u: _Array,
    positive: np.ndarray,
    names: Sequence[str],
    units: Mapping[str, str],
    continuous: Sequence[bool],
    quantities: Mapping[str, str] | None = None,
) -> list[_Feature]:
    """Differences and time gaps of the mode's most important same-quantity parameters.

    Two parameters are differenced only if they measure the same quantity: the same unit
    and, when both map to ODD attributes, the same attribute name (``speed`` of the
    subject vehicle and ``agent_speed`` of traffic are both speeds; a lateral speed is
    not a longitudinal one).

    Parameters are ranked by the absolute components of the mean direction (standard
    space) of the mode's failures; of the :data:`_DERIVED_TOP` first continuous ones with a
    unit, every same-unit pair gives a difference, oriented so that it is positive on most
    of the mode's failures, and every length over a speed difference a time gap.
    """
    direction = np.abs(u[positive].mean(axis=0)) if positive.any() else np.zeros(len(names))
    eligible = [
        j
        for j in np.argsort(-direction, kind="stable")
        if continuous[j] and units.get(names[j], "") not in ("", "-")
    ][:_DERIVED_TOP]
    features: list[_Feature] = []
    differences: list[_Feature] = []
    for i, j in itertools.combinations(eligible, 2):
        unit = units[names[i]]
        if units[names[j]] != unit:
            continue
        kinds = quantities or {}
        if kinds.get(names[i]) and kinds.get(names[j]) and kinds[names[i]] != kinds[names[j]]:
            continue
        a, b = (i, j) if np.median(x[positive, i] - x[positive, j]) >= 0.0 else (j, i)
        feature = _Feature("difference", f"{names[a]} - {names[b]}", unit, int(a), int(b))
        differences.append(feature)
        features.append(feature)
    for gap in eligible:
        speed = _RATIOS.get(units[names[gap]])
        for diff in differences:
            if speed is not None and diff.unit == speed:
                name = f"{names[gap]} / ({diff.name})"
                features.append(_Feature("time", name, "s", diff.a, diff.b, int(gap)))
    # time gaps first: they are the ones that straighten an oblique boundary
    features.sort(key=lambda f: f.kind != "time")
    return features[:_MAX_DERIVED]


def _quantity_features(
    scenario: LogicalScenario | None, names: Sequence[str]
) -> list[_Feature]:
    """The scenario's derived physical quantities that read at least one parameter."""
    if scenario is None:
        return []
    from safety_val.quantities import quantity_values, scenario_quantities

    index = {name: j for j, name in enumerate(names)}
    probe = quantity_values(scenario, np.zeros((1, len(names))), names)
    features = []
    for quantity in scenario_quantities(scenario):
        inputs = tuple(index[n] for n in quantity.inputs if n in index)
        if quantity.name not in probe or not inputs:
            continue

        def compute(x: _Array, name: str = quantity.name) -> _Array:
            return quantity_values(scenario, x, names, only=(name,))[name]

        features.append(
            _Feature("quantity", quantity.name, quantity.unit, -1, inputs=inputs, compute=compute)
        )
    return features


def _feature_condition(
    feature: _Feature,
    low: float,
    high: float,
    names: Sequence[str],
    categories: Mapping[str, tuple[str, ...]],
) -> str:
    """Text of ``low < feature <= high``; time gaps spell out "not closing"."""
    if feature.kind != "time":
        labels = categories.get(feature.name) if feature.kind == "raw" else None
        return _condition_text(feature.name, low, high, feature.unit, labels)
    a, b = names[feature.a], names[feature.b]
    not_closing = f"{a} <= {b}"
    if math.isfinite(high) and high < _TIME_CAP:
        lower = _format_number(low) if math.isfinite(low) and low > 0.0 else "0"
        return f"{lower} < {feature.name} <= {_format_number(high)} s"
    if math.isfinite(low) and low < _TIME_CAP:
        return f"({feature.name} > {_format_number(low)} s or {not_closing})"
    return f"({feature.name} >= {_format_number(_TIME_CAP)} s or {not_closing})"


def _judge(
    xf: _Array, positive: np.ndarray, min_precision: float, low: _Array, high: _Array
) -> tuple[float, float, float, _Array, _Array, bool]:
    """A candidate box judged on ``xf``: (precision bound, precision, recall, box, sure)."""
    covered = _in_box(xf, low, high)
    precision, recall = _precision_recall(covered, positive)
    hits = int((covered & positive).sum())
    bound = _wilson_lower(hits, int(covered.sum()), z=_SURE_Z)
    return bound, precision, recall, low, high, bound >= min_precision


def _split(
    index: np.ndarray, positive: np.ndarray, share: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``index`` into (grow, judge) parts, stratified by ``positive`` when possible.

    With too few points of either class to split, both parts are the whole index.
    """
    from sklearn.model_selection import train_test_split

    labels = positive[index]
    if min(int(labels.sum()), int((~labels).sum())) < 6:
        return index, index
    grow, judge = train_test_split(
        index, test_size=share, random_state=derive_seed(rng), stratify=labels
    )
    return np.asarray(grow), np.asarray(judge)


def _peel(
    xf: _Array,
    positive: np.ndarray,
    low: _Array,
    high: _Array,
    min_precision: float,
    max_conditions: int,
    alpha: float = _PEEL_ALPHA,
) -> tuple[_Array, _Array]:
    """Shrink a box by PRIM peeling until its precision is surely ``min_precision``.

    Each step removes the ``alpha`` share of the covered points at one end of one
    feature (a new feature only while the box has fewer than ``max_conditions``
    conditions), choosing the peel that raises the precision most; it stops when the
    one-sided 95 % Wilson bound of the precision reaches ``min_precision``, when no peel
    helps, or when fewer than 10 failures remain (Friedman and Fisher, 1999).
    """
    low, high = low.copy(), high.copy()
    while True:
        bounded = [j for j in range(xf.shape[1]) if np.isfinite(low[j]) or np.isfinite(high[j])]
        # a new condition only while the rule stays short
        features = bounded if len(bounded) >= max_conditions else range(xf.shape[1])
        covered = _in_box(xf, low, high)
        n, hits = int(covered.sum()), int((covered & positive).sum())
        if n == 0 or hits < 10 or _wilson_lower(hits, n, z=_SURE_Z) >= min_precision:
            return low, high
        current = hits / n
        best: tuple[float, int, int, float] | None = None
        for j in features:
            values = xf[covered, j]
            for side, cut in ((0, float(np.quantile(values, alpha))),
                              (1, float(np.quantile(values, 1.0 - alpha)))):
                keep = covered & ((xf[:, j] > cut) if side == 0 else (xf[:, j] <= cut))
                kept = int(keep.sum())
                if 0 < kept < n:
                    precision = int((keep & positive).sum()) / kept
                    if best is None or precision > best[0]:
                        best = (precision, j, side, cut)
        if best is None or best[0] <= current:
            return low, high
        _, j, side, cut = best
        if side == 0:
            low[j] = cut
        else:
            high[j] = cut


def _wilson_lower(hits: int, n: int, z: float = 1.0) -> float:
    """Wilson score lower bound of a proportion (z = 1: a one-sided 84 % bound)."""
    if n == 0:
        return 0.0
    p = hits / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)


def _mode_rules(
    x: _Array,
    u: _Array,
    mode: np.ndarray,
    n_modes: int,
    names: Sequence[str],
    units: Mapping[str, str],
    quantities: Mapping[str, str],
    categories: Mapping[str, tuple[str, ...]],
    continuous: Sequence[bool],
    max_depth: int,
    holdout: float,
    min_precision: float,
    rng: np.random.Generator,
    physical: Sequence[_Feature] = (),
) -> tuple[pd.DataFrame, pd.Series]:
    """Rules per mode from shallow trees on the parameters and derived physical features.

    A leaf qualifies when the lower Wilson bound of its training precision reaches
    ``min_precision`` (a small pure leaf does not); qualified leaves are taken by recall,
    then the rest by precision x recall. Held-out precision and recall are reported only.
    """
    from sklearn.model_selection import train_test_split
    from sklearn.tree import DecisionTreeClassifier

    d = len(names)
    rows: list[dict[str, Any]] = []
    importance = np.zeros(d)
    index = np.arange(len(x))
    raw = [_Feature("raw", n, units.get(n, ""), j) for j, n in enumerate(names)]
    for k in range(n_modes):
        positive = mode == k
        n_pos = int(positive.sum())
        stratify = positive if n_pos >= 4 and (~positive).sum() >= 4 else None
        if stratify is not None:
            train, test = train_test_split(
                index, test_size=holdout, random_state=derive_seed(rng), stratify=stratify
            )
        else:
            train, test = index, index[:0]
        features = [
            *raw,
            *physical,
            *_derived_features(
                x[train], u[train], positive[train], names, units, continuous, quantities
            ),
        ]
        xf = np.column_stack([f.values(x) for f in features])
        # leaves are grown on one part of the training points and judged on the other, so
        # that picking the best of many leaves does not flatter their precision
        fit, select = _split(train, positive, _SELECT_SHARE, rng)
        n_fit_pos = int(positive[fit].sum())
        n_select_pos = int(positive[select].sum())
        ratio = max(1.0, (len(fit) - n_fit_pos) / max(n_fit_pos, 1))

        judge = functools.partial(_judge, xf[select], positive[select], min_precision)
        candidates = []
        # trees from precision-leaning (failures down-weighted) to recall-leaning (balanced)
        for class_weight in (
            {False: 1.0, True: 0.25}, None, {False: 1.0, True: math.sqrt(ratio)}, "balanced"
        ):
            tree = DecisionTreeClassifier(
                max_depth=max_depth,
                class_weight=class_weight,
                min_samples_leaf=max(3, min(10, n_fit_pos // 10)),
                random_state=derive_seed(rng),
            )
            tree.fit(xf[fit], positive[fit])
            for low, high in _leaf_boxes(tree, len(features)).values():
                covered = _in_box(xf[fit], low, high)
                precision, _ = _precision_recall(covered, positive[fit])
                if covered.any() and precision > positive[fit].mean():
                    candidates.append(judge(low, high))
        for f, value in zip(features, tree.feature_importances_, strict=True):
            for j in f.parameters:
                importance[j] += value * n_pos / len(f.parameters)
        # leaves not yet precise enough are peeled (PRIM) towards min_precision
        unsure = sorted((c for c in candidates if not c[5]), key=lambda c: -c[0])
        for _, _, _, low, high, _ in unsure[:_PEELED_LEAVES]:
            candidates.append(judge(*_peel(xf[fit], positive[fit], low, high, min_precision,
                                           max_depth)))
        candidates = [c for c in candidates if math.isfinite(c[1])]
        # precise leaves first (by recall), then the rest by their precision's lower bound
        candidates.sort(key=lambda c: (not c[5], -c[2] if c[5] else -c[0]))
        chosen: list[tuple[float, float, float, _Array, _Array, bool]] = []
        union = np.zeros(len(select), dtype=bool)
        for candidate in candidates:
            box = _in_box(xf[select], candidate[3], candidate[4])
            gain = int((box & ~union & positive[select]).sum()) / max(n_select_pos, 1)
            if not chosen or (candidate[5] and gain >= _MIN_RECALL_GAIN):
                chosen.append(candidate)
                union |= box
            if len(chosen) >= _MAX_RULES:
                break
        for _, precision_train, recall_train, low, high, _ in chosen:
            score = precision_train * recall_train
            conditions = [
                _feature_condition(f, low[j], high[j], names, categories)
                for j, f in enumerate(features)
                if math.isfinite(low[j]) or math.isfinite(high[j])
            ]
            covered_all = _in_box(xf, low, high)
            precision, recall = _precision_recall(covered_all, positive)
            precision_test, recall_test = _precision_recall(covered_all[test], positive[test])
            rows.append(
                {
                    "mode": k,
                    "rule": " and ".join(conditions) if conditions else "always",
                    "precision": precision,
                    "recall": recall,
                    "precision_holdout": precision_test,
                    "recall_holdout": recall_test,
                    "n_covered": int(covered_all.sum()),
                    "score": float(score),
                }
            )
    frame = pd.DataFrame(
        rows,
        columns=[
            "mode",
            "rule",
            "precision",
            "recall",
            "precision_holdout",
            "recall_holdout",
            "n_covered",
            "score",
        ],
    )
    total = importance.sum()
    series = pd.Series(importance / total if total > 0 else importance, index=list(names))
    return frame, series
