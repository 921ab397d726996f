"""Spatio-temporal GNN backbones; all map (B, P, N, F) inputs to (B, Q, N, C) forecasts.

``BACKBONES`` is the registry used by :mod:`traffic_ai.training`: name → class taking
``(adjacency, in_features, out_channels, history, horizon, hidden=...)``.
"""

from __future__ import annotations

from torch import nn

from traffic_ai.models.agcrn import AGCRN
from traffic_ai.models.dcrnn import DCRNN
from traffic_ai.models.graph_wavenet import GraphWaveNet
from traffic_ai.models.stgcn import STGCN

__all__ = ["AGCRN", "BACKBONES", "DCRNN", "STGCN", "GraphWaveNet"]

BACKBONES: dict[str, type[nn.Module]] = {
    "stgcn": STGCN,
    "dcrnn": DCRNN,
    "graph_wavenet": GraphWaveNet,
    "agcrn": AGCRN,
}
