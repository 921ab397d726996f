"""DCRNN: diffusion-convolution GRU in an encoder-decoder."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from traffic_ai.models.layers import DiffusionConv, transition_matrices

__all__ = ["DCRNN"]


class DCGRUCell(nn.Module):
    r"""GRU cell whose matrix products are diffusion convolutions.

    .. math::
        r, u = \sigma(\Theta_{ru} \star [x, h]),\quad
        c = \tanh(\Theta_c \star [x, r \odot h]),\quad
        h' = u \odot h + (1 - u) \odot c

    Shapes: ``x`` (B, N, C_in), ``h`` (B, N, hidden) → (B, N, hidden).
    """

    def __init__(self, in_channels: int, hidden: int, n_supports: int, order: int):
        super().__init__()
        self.hidden = hidden
        self.gates = DiffusionConv(in_channels + hidden, 2 * hidden, n_supports, order)
        self.candidate = DiffusionConv(in_channels + hidden, hidden, n_supports, order)

    def forward(
        self, x: torch.Tensor, h: torch.Tensor, supports: list[torch.Tensor]
    ) -> torch.Tensor:
        """One recurrent step."""
        r, u = torch.sigmoid(self.gates(torch.cat([x, h], dim=-1), supports)).chunk(2, dim=-1)
        c = torch.tanh(self.candidate(torch.cat([x, r * h], dim=-1), supports))
        return u * h + (1.0 - u) * c


class DCRNN(nn.Module):
    """DCRNN (Li et al. 2018): a DCGRU encoder reads the history, a DCGRU decoder rolls out.

    The decoder starts from the last observed values and feeds back its own forecasts.
    Shapes: ``x`` (B, P, N, F) → (B, Q, N, C); the first C input features are the channels.

    References
    ----------
    Li, Yu, Shahabi, Liu (2018). Diffusion convolutional recurrent neural network:
    data-driven traffic forecasting. ICLR. https://doi.org/10.48550/arXiv.1707.01926
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
        order: int = 2,
    ):
        super().__init__()
        forward_p, backward_p = transition_matrices(adjacency)
        self.register_buffer("forward_p", forward_p)
        self.register_buffer("backward_p", backward_p)
        self.horizon, self.out_channels = horizon, out_channels
        self.encoder = DCGRUCell(in_features, hidden, 2, order)
        self.decoder = DCGRUCell(out_channels, hidden, 2, order)
        self.project = nn.Linear(hidden, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Forecast; see the class docstring for shapes."""
        supports = [self.forward_p.to_sparse(), self.backward_p.to_sparse()]
        b, p, n, _ = x.shape
        h = x.new_zeros(b, n, self.encoder.hidden)
        for t in range(p):
            h = self.encoder(x[:, t], h, supports)
        y = x[:, -1, :, : self.out_channels]
        outputs = []
        for _ in range(self.horizon):
            h = self.decoder(y, h, supports)
            y = self.project(h)
            outputs.append(y)
        return torch.stack(outputs, dim=1)
