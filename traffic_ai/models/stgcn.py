"""STGCN: spatio-temporal graph convolution with gated temporal convolutions."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch_geometric.nn import ChebConv

__all__ = ["STGCN"]


class TemporalGatedConv(nn.Module):
    r"""Gated temporal convolution: :math:`(P + R) \odot \sigma(Q)`, ``[P, Q] = \Gamma * X``.

    Shapes: (B, C_in, T, N) → (B, C_out, T - k + 1, N); ``R`` is the (aligned) input.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int):
        super().__init__()
        self.kernel = kernel
        self.conv = nn.Conv2d(in_channels, 2 * out_channels, (kernel, 1))
        self.align = (
            nn.Identity()
            if in_channels == out_channels
            else nn.Conv2d(in_channels, out_channels, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the gated convolution along time."""
        p, q = self.conv(x).chunk(2, dim=1)
        residual = self.align(x)[:, :, self.kernel - 1 :]
        return (p + residual) * torch.sigmoid(q)


class STConvBlock(nn.Module):
    """Temporal gated conv → Chebyshev graph conv (PyG ``ChebConv``) → temporal gated conv."""

    def __init__(self, in_channels: int, hidden: int, kernel: int, cheb_order: int):
        super().__init__()
        self.temporal1 = TemporalGatedConv(in_channels, hidden, kernel)
        self.graph = ChebConv(hidden, hidden, K=cheb_order)
        self.temporal2 = TemporalGatedConv(hidden, hidden, kernel)
        self.norm = nn.LayerNorm(hidden)

    def forward(
        self, x: torch.Tensor, edge_index: torch.Tensor, edge_weight: torch.Tensor
    ) -> torch.Tensor:
        """(B, C_in, T, N) → (B, hidden, T - 2(k - 1), N)."""
        h = self.temporal1(x)
        b, c, t, n = h.shape
        nodes = h.permute(0, 2, 3, 1).reshape(b * t, n, c)
        nodes = torch.relu(self.graph(nodes, edge_index, edge_weight))
        h = nodes.reshape(b, t, n, c).permute(0, 3, 1, 2)
        h = self.temporal2(h)
        return self.norm(h.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class STGCN(nn.Module):
    r"""STGCN (Yu, Yin, Zhu 2018): two ST-conv blocks and a fully connected output layer.

    Shapes: ``x`` (B, P, N, F) → (B, Q, N, C), with P the history and Q the horizon.
    The graph is the undirected version of the road graph (ChebConv needs a symmetric
    Laplacian).

    References
    ----------
    Yu, Yin, Zhu (2018). Spatio-temporal graph convolutional networks: a deep learning
    framework for traffic forecasting. IJCAI. https://doi.org/10.24963/ijcai.2018/505
    """

    def __init__(
        self,
        adjacency: np.ndarray,
        in_features: int,
        out_channels: int,
        history: int,
        horizon: int,
        hidden: int = 32,
        kernel: int = 3,
        cheb_order: int = 2,
    ):
        super().__init__()
        symmetric = np.maximum(adjacency, adjacency.T)
        rows, cols = np.nonzero(symmetric)
        self.register_buffer(
            "edge_index", torch.as_tensor(np.stack([rows, cols]), dtype=torch.long)
        )
        self.register_buffer(
            "edge_weight", torch.as_tensor(symmetric[rows, cols], dtype=torch.float32)
        )
        self.blocks = nn.ModuleList(
            [
                STConvBlock(in_features, hidden, kernel, cheb_order),
                STConvBlock(hidden, hidden, kernel, cheb_order),
            ]
        )
        remaining = history - 4 * (kernel - 1)
        if remaining < 1:
            raise ValueError(f"history {history} too short for temporal kernel {kernel}")
        self.horizon, self.out_channels = horizon, out_channels
        self.output = nn.Sequential(
            nn.Linear(hidden * remaining, hidden),
            nn.ReLU(),
            nn.Linear(hidden, horizon * out_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Forecast; see the class docstring for shapes."""
        h = x.permute(0, 3, 1, 2)
        for block in self.blocks:
            h = block(h, self.edge_index, self.edge_weight)
        b, c, t, n = h.shape
        out = self.output(h.permute(0, 3, 1, 2).reshape(b, n, c * t))
        return out.reshape(b, n, self.horizon, self.out_channels).permute(0, 2, 1, 3)
