"""Save and load a trained :class:`~traffic_ai.ensemble.TrafficModel`.

A model folder holds ``model.json`` (format, version, training configuration, segments,
channels, graph signature, scaler, meta-learner, member names) and ``weights.pt``
(``torch.save`` of a dict of tensors: the adjacency and every member's state dict).
Loading uses ``torch.load(..., weights_only=True)``, so nothing is unpickled. A model
refuses (:class:`~safety_val.errors.ValidationError`) a graph whose signature differs from
the one it was trained on.

The meta-learner is stored as its weights and intercepts, which alone define the forecast;
``selected`` records the choice (a key of :data:`traffic_ai.ensemble.COMBINERS` or a member
index). Models saved before the convex combination and the backbone mean were candidates use
only ``-1`` and member indices, and load and forecast as before (same format version).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from safety_val._io import atomic_write_bytes, atomic_write_text
from safety_val.errors import ValidationError
from traffic_ai.ensemble import StackingMetaLearner, TrafficModel
from traffic_ai.network import RoadGraph
from traffic_ai.training import Scaler, TrainConfig

__all__ = ["FORMAT", "check_graph", "load_model", "save_model"]

FORMAT = "safety-val-traffic-model"
VERSION = 2


def save_model(model: TrafficModel, folder: str | Path) -> Path:
    """Write ``model`` to ``folder`` (created) and return the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "config": model.config.to_dict(),
        "segments": list(model.segments),
        "channels": list(model.channels),
        "signature": model.signature,
        "scaler": {"mean": model.scaler.mean.tolist(), "std": model.scaler.std.tolist()},
        "meta_learner": {
            "weights": model.meta.weights_.tolist(),
            "intercept": model.meta.intercept_.tolist(),
            "selected": model.meta.selected_.tolist(),
            "oof_mae": model.meta.oof_mae_.tolist(),
        },
        "members": list(model.members),
        "training_seconds": model.training_seconds,
    }
    buffer = io.BytesIO()
    torch.save({"adjacency": torch.as_tensor(model.adjacency), "members": model.state()}, buffer)
    atomic_write_bytes(folder / "weights.pt", buffer.getvalue())
    atomic_write_text(folder / "model.json", json.dumps(meta, indent=1))
    return folder


def load_model(folder: str | Path) -> TrafficModel:
    """Read a model written by :func:`save_model`.

    Raises
    ------
    ValidationError
        Missing files, another format, or weights that do not fit the configuration.
    """
    folder = Path(folder)
    meta_file, weights_file = folder / "model.json", folder / "weights.pt"
    if not meta_file.is_file() or not weights_file.is_file():
        raise ValidationError(
            "not a traffic model folder", file=folder, expected="model.json and weights.pt"
        )
    try:
        meta = json.loads(meta_file.read_text())
    except json.JSONDecodeError as exc:
        raise ValidationError("invalid JSON", file=meta_file, value=str(exc)) from exc
    if meta.get("format") != FORMAT:
        raise ValidationError(
            "not a traffic model",
            file=meta_file,
            field="format",
            value=meta.get("format"),
            expected=FORMAT,
        )
    if meta.get("version") != VERSION:
        raise ValidationError(
            "unsupported model version, retrain the model",
            file=meta_file,
            field="version",
            value=meta.get("version"),
            expected=str(VERSION),
        )
    try:
        tensors = torch.load(weights_file, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, …
        raise ValidationError("unreadable weights", file=weights_file, value=str(exc)) from exc
    config = TrainConfig.from_dict(meta["config"])
    model = TrafficModel(
        config=config,
        segments=tuple(meta["segments"]),
        channels=tuple(meta["channels"]),
        adjacency=tensors["adjacency"].numpy(),
        signature=str(meta["signature"]),
        scaler=Scaler(np.asarray(meta["scaler"]["mean"]), np.asarray(meta["scaler"]["std"])),
        meta=StackingMetaLearner(
            np.asarray(meta["meta_learner"]["weights"]),
            np.asarray(meta["meta_learner"]["intercept"]),
            np.asarray(meta["meta_learner"]["selected"], dtype=int),
            np.asarray(meta["meta_learner"]["oof_mae"]),
        ),
        training_seconds=float(meta.get("training_seconds", 0.0)),
    )
    for name in meta["members"]:
        member = model.new_member(name)
        try:
            member.load_state(tensors["members"][name])
        except (KeyError, RuntimeError) as exc:
            raise ValidationError(
                "weights do not fit the model",
                file=weights_file,
                field=name,
                value=str(exc).splitlines()[0],
            ) from exc
        model.members[name] = member
    return model


def check_graph(model: TrafficModel, graph: RoadGraph | str) -> None:
    """Raise :class:`ValidationError` unless ``graph`` (or a signature) is the model's graph."""
    signature = graph if isinstance(graph, str) else graph.signature()
    if signature != model.signature:
        where = None if isinstance(graph, str) else graph.net_file
        raise ValidationError(
            "the model was trained on another network",
            file=where,
            field="signature",
            value=signature[:12],
            expected=f"the network with signature {model.signature[:12]}",
        )
