"""Graph WaveNet: adaptive adjacency and dilated gated temporal convolutions."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from traffic_ai.models.layers import DiffusionConv, transition_matrices

__all__ = ["GraphWaveNet"]


class GraphWaveNet(nn.Module):
    r"""Graph WaveNet (Wu et al. 2019), small.

    Each layer :math:`l` applies a dilated gated causal convolution along time and then a
    diffusion convolution over the forward and backward transition matrices and the
    self-adaptive adjacency :math:`\tilde A = \mathrm{softmax}(\mathrm{ReLU}(E_1 E_2^\top))`:

    .. math::
        G^{(l)} = \tanh(\Theta_f \star_{d_l} H^{(l)}) \odot \sigma(\Theta_g \star_{d_l} H^{(l)}),
        \qquad
        Z^{(l)} = \sum_{k=0}^{1} \big(P_f^k G^{(l)} W_{fk} + P_b^k G^{(l)} W_{bk}
        + \tilde A^k G^{(l)} W_{ak}\big),

    :math:`H^{(l+1)} = \mathrm{BN}(Z^{(l)} + H^{(l)})`; the skip connection of every layer
    reads the last time step of :math:`Z^{(l)}`, and their sum feeds a two-layer output
    head that emits all Q steps. The reference implementation takes the skip from
    :math:`G^{(l)}`, before the graph convolution, so that the last layer's graph
    convolution never reaches the forecast and, with a single layer, the adaptive adjacency
    gets no gradient; here the skip follows the graph convolution, so every layer's spatial
    mixing (and :math:`\tilde A`) is trained.

    Shapes: ``x`` (B, P, N, F) → (B, hidden, T, N) with T ≥ the receptive field
    ``1 + sum(dilations)`` (left zero-padded) → skip sum (B, hidden, 1, N) → (B, Q, N, C).

    References
    ----------
    Wu, Pan, Long, Jiang, Zhang (2019). Graph WaveNet for deep spatial-temporal graph
    modeling. IJCAI. https://doi.org/10.24963/ijcai.2019/264
    """

    forward_p: torch.Tensor
    backward_p: torch.Tensor

    def __init__(
        self,
        adjacency: np.ndarray,
        in_features: int,
        out_channels: int,
        history: int,
        horizon: int,
        hidden: int = 32,
        dilations: tuple[int, ...] = (1, 2, 4, 8),
        embedding: int = 10,
    ):
        super().__init__()
        forward_p, backward_p = transition_matrices(adjacency)
        self.register_buffer("forward_p", forward_p)
        self.register_buffer("backward_p", backward_p)
        n = adjacency.shape[0]
        self.source_embedding = nn.Parameter(torch.randn(n, embedding) * 0.1)
        self.target_embedding = nn.Parameter(torch.randn(embedding, n) * 0.1)
        self.receptive_field = 1 + sum(dilations)
        self.history, self.horizon, self.out_channels = history, horizon, out_channels
        self.start = nn.Conv2d(in_features, hidden, 1)
        self.filters = nn.ModuleList(
            nn.Conv2d(hidden, hidden, (2, 1), dilation=(d, 1)) for d in dilations
        )
        self.gates = nn.ModuleList(
            nn.Conv2d(hidden, hidden, (2, 1), dilation=(d, 1)) for d in dilations
        )
        self.graph = nn.ModuleList(DiffusionConv(hidden, hidden, 3, order=1) for _ in dilations)
        self.skips = nn.ModuleList(nn.Conv2d(hidden, hidden, 1) for _ in dilations)
        self.norms = nn.ModuleList(nn.BatchNorm2d(hidden) for _ in dilations)
        self.end = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(hidden, hidden, 1),
            nn.ReLU(),
            nn.Conv2d(hidden, horizon * out_channels, 1),
        )

    def adaptive_adjacency(self) -> torch.Tensor:
        """The learned (N, N) adjacency, rows summing to one."""
        return torch.softmax(torch.relu(self.source_embedding @ self.target_embedding), dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Forecast; see the class docstring for shapes."""
        h = x.permute(0, 3, 1, 2)  # (B, F, P, N)
        if h.shape[2] < self.receptive_field:
            h = nn.functional.pad(h, (0, 0, self.receptive_field - h.shape[2], 0))
        h = self.start(h)
        supports = [
            self.forward_p.to_sparse(),
            self.backward_p.to_sparse(),
            self.adaptive_adjacency(),
        ]
        skip: torch.Tensor | float = 0.0
        for filt, gate, graph, skip_conv, norm in zip(
            self.filters, self.gates, self.graph, self.skips, self.norms, strict=True
        ):
            residual = h
            h = torch.tanh(filt(h)) * torch.sigmoid(gate(h))
            b, c, t, n = h.shape
            nodes = h.permute(0, 2, 3, 1).reshape(b * t, n, c)
            h = graph(nodes, supports).reshape(b, t, n, c).permute(0, 3, 1, 2)
            skip = skip_conv(h[:, :, -1:]) + skip
            h = norm(h + residual[:, :, -t:])
        assert isinstance(skip, torch.Tensor)
        out = self.end(skip)  # (B, Q*C, 1, N)
        b, _, _, n = out.shape
        return out.reshape(b, self.horizon, self.out_channels, n).permute(0, 1, 3, 2)
