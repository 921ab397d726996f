"""Save and load a trained :class:`~traffic_ai.ensemble.TrafficModel`.

A model folder holds ``model.json`` (format, version, training configuration, segments,
channels, graph signature, scaler, meta-learner, member names) and ``weights.pt``
(``torch.save`` of a dict of tensors: the adjacency and every member's state dict).
Loading uses ``torch.load(..., weights_only=True)``, so nothing is unpickled. A model
refuses (:class:`~safety_val.errors.ValidationError`) a graph whose signature differs from
the one it was trained on.

The combiner is stored as its weights and intercepts, which alone define the forecast, and
the evidence of its choice: ``selected`` (a key of :data:`traffic_ai.combiners.COMBINERS`
or a member index), the out-of-fold MAE and Diebold-Mariano p-value of every candidate
(``null`` where a candidate does not exist or was not tested) and the number of blocks. A
model of an earlier format version is refused with a request to retrain it.
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
from traffic_ai.combiners import CombinerSelection
from traffic_ai.ensemble import TrafficModel
from traffic_ai.network import RoadGraph
from traffic_ai.training import Scaler, TrainConfig

__all__ = ["FORMAT", "check_graph", "load_model", "save_model"]

FORMAT = "safety-val-traffic-model"
VERSION = 3


def _to_json(values: np.ndarray) -> Any:
    """Nested lists with ``None`` for NaN (JSON has no NaN)."""
    array = np.asarray(values, dtype=float)
    out = array.astype(object)
    out[~np.isfinite(array)] = None
    return out.tolist()


def _from_json(values: Any, dtype: type = float) -> np.ndarray:
    """Inverse of :func:`_to_json`."""
    return np.asarray(np.asarray(values, dtype=float), dtype=dtype)


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
        "combiner": {
            "weights": _to_json(model.meta.weights_),
            "intercept": _to_json(model.meta.intercept_),
            "selected": model.meta.selected_.tolist(),
            "candidate_mae": _to_json(model.meta.candidate_mae_),
            "p_values": _to_json(model.meta.p_values_),
            "p_worse": _to_json(model.meta.p_worse_),
            "blocks": model.meta.blocks_.tolist(),
            "significance": model.meta.significance,
            "min_blocks": model.meta.min_blocks,
        },
        "members": list(model.members),
        "training_seconds": model.training_seconds,
        "training_log": model.training_log,
    }
    buffer = io.BytesIO()
    torch.save({"adjacency": torch.as_tensor(model.adjacency), "members": model.state()}, buffer)
    atomic_write_bytes(folder / "weights.pt", buffer.getvalue())
    atomic_write_text(folder / "model.json", json.dumps(meta, indent=1, allow_nan=False))
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
    try:
        config = TrainConfig.from_dict(meta["config"])
        combiner = meta["combiner"]
    except ValidationError as exc:
        raise exc.with_context(file=meta_file, field_prefix="config") from exc
    except (KeyError, TypeError) as exc:
        raise ValidationError(
            "incomplete model description", file=meta_file, field=str(exc), expected=FORMAT
        ) from exc
    model = TrafficModel(
        config=config,
        segments=tuple(meta["segments"]),
        channels=tuple(meta["channels"]),
        adjacency=tensors["adjacency"].numpy(),
        signature=str(meta["signature"]),
        scaler=Scaler(np.asarray(meta["scaler"]["mean"]), np.asarray(meta["scaler"]["std"])),
        meta=CombinerSelection(
            significance=float(combiner["significance"]),
            min_blocks=int(combiner["min_blocks"]),
            weights_=_from_json(combiner["weights"]),
            intercept_=_from_json(combiner["intercept"]),
            selected_=_from_json(combiner["selected"], int),
            candidate_mae_=_from_json(combiner["candidate_mae"]),
            p_values_=_from_json(combiner["p_values"]),
            p_worse_=_from_json(combiner["p_worse"])
            if "p_worse" in combiner
            else np.zeros((0, 0, 0)),
            blocks_=_from_json(combiner["blocks"], int),
        ),
        training_seconds=float(meta.get("training_seconds", 0.0)),
        training_log=dict(meta.get("training_log", {})),
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
