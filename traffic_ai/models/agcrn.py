"""AGCRN: node-adaptive graph convolutional recurrent network with a learned graph."""

from __future__ import annotations

import math
from typing import cast

import numpy as np
import torch
from torch import nn

__all__ = ["AGCRN", "AGCRNCell", "NodeAdaptiveGraphConv", "chebyshev_supports"]


def chebyshev_supports(adjacency: torch.Tensor, order: int) -> list[torch.Tensor]:
    r"""Chebyshev polynomials :math:`T_0(A), \dots, T_{K-1}(A)` of an (N, N) matrix.

    :math:`T_0 = I`, :math:`T_1 = A`, :math:`T_k = 2 A T_{k-1} - T_{k-2}`.

    Examples
    --------
    >>> a = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    >>> [t.tolist() for t in chebyshev_supports(a, 3)]
    [[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]]
    """
    supports = [torch.eye(adjacency.shape[0], dtype=adjacency.dtype, device=adjacency.device)]
    if order > 1:
        supports.append(adjacency)
    for _ in range(2, order):
        supports.append(2.0 * adjacency @ supports[-1] - supports[-2])
    return supports


class NodeAdaptiveGraphConv(nn.Module):
    r"""Graph convolution with node-adaptive parameters (NAPL-GCN, Bai et al. 2020).

    Every segment :math:`n` has its own weights, generated from its embedding
    :math:`e_n \in \mathbb{R}^d` by a shared pool, so that N segments cost
    :math:`d` times the parameters of one instead of N times:

    .. math::
        Z_n = \sum_{k=0}^{K-1} \big(T_k(A)\, X\big)_n\, W_n^{(k)} + b_n,\qquad
        W_n^{(k)} = \sum_{j=1}^{d} e_{nj}\, \mathcal{W}_j^{(k)},\quad
        b_n = e_n\, \mathcal{B}

    with :math:`\mathcal{W} \in \mathbb{R}^{d \times K \times C_{in} \times C_{out}}` and
    :math:`\mathcal{B} \in \mathbb{R}^{d \times C_{out}}` the weight and bias pools.

    Shapes: ``x`` (B, N, C_in), ``embeddings`` (N, d), ``supports`` K tensors (N, N)
    → (B, N, C_out).

    Parameters
    ----------
    in_channels, out_channels
        Feature sizes.
    embedding
        Size :math:`d` of the node embeddings.
    order
        Number :math:`K` of Chebyshev terms (supports given to :meth:`forward`).

    References
    ----------
    Bai, Yao, Li, Wang, Wang (2020). Adaptive graph convolutional recurrent network for
    traffic forecasting. NeurIPS 33, 17804-17815. https://doi.org/10.48550/arXiv.2007.02842
    """

    def __init__(self, in_channels: int, out_channels: int, embedding: int, order: int = 2):
        super().__init__()
        self.order = order
        self.weight_pool = nn.Parameter(torch.empty(embedding, order, in_channels, out_channels))
        self.bias_pool = nn.Parameter(torch.empty(embedding, out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot-uniform pools (fan over the K stacked inputs), zero biases."""
        _, k, c_in, c_out = self.weight_pool.shape
        bound = math.sqrt(6.0 / (k * c_in + c_out))
        nn.init.uniform_(self.weight_pool, -bound, bound)
        nn.init.zeros_(self.bias_pool)

    def node_parameters(self, embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-node weights (N, K, C_in, C_out) and biases (N, C_out) of (N, d) embeddings."""
        weights = torch.einsum("nd,dkio->nkio", embeddings, self.weight_pool)
        return weights, embeddings @ self.bias_pool

    def forward(
        self,
        x: torch.Tensor,
        embeddings: torch.Tensor,
        supports: list[torch.Tensor],
        parameters: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Apply the convolution; see the class docstring for shapes.

        ``parameters`` are :meth:`node_parameters` of ``embeddings`` computed beforehand
        (a recurrent model computes them once per sequence, not once per step).
        """
        weights, bias = self.node_parameters(embeddings) if parameters is None else parameters
        graph = torch.stack([torch.matmul(support, x) for support in supports], dim=2)
        return torch.einsum("bnki,nkio->bno", graph, weights) + bias


class AGCRNCell(nn.Module):
    r"""GRU cell whose matrix products are node-adaptive graph convolutions.

    .. math::
        z, r = \sigma(\mathrm{NAGC}_{zr}([x, h])),\quad
        c = \tanh(\mathrm{NAGC}_c([x, z \odot h])),\quad
        h' = r \odot h + (1 - r) \odot c

    (the gate names of the reference implementation). Shapes: ``x`` (B, N, C_in), ``h``
    (B, N, hidden) → (B, N, hidden).
    """

    def __init__(self, in_channels: int, hidden: int, embedding: int, order: int):
        super().__init__()
        self.hidden = hidden
        self.gates = NodeAdaptiveGraphConv(in_channels + hidden, 2 * hidden, embedding, order)
        self.candidate = NodeAdaptiveGraphConv(in_channels + hidden, hidden, embedding, order)

    def forward(
        self,
        x: torch.Tensor,
        h: torch.Tensor,
        embeddings: torch.Tensor,
        supports: list[torch.Tensor],
        parameters: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> torch.Tensor:
        """One recurrent step (``parameters``: :meth:`node_parameters`, precomputed)."""
        gate_parameters, candidate_parameters = parameters or self.node_parameters(embeddings)
        gates = torch.sigmoid(
            self.gates(torch.cat([x, h], dim=-1), embeddings, supports, gate_parameters)
        )
        z, r = gates.chunk(2, dim=-1)
        c = torch.tanh(
            self.candidate(
                torch.cat([x, z * h], dim=-1), embeddings, supports, candidate_parameters
            )
        )
        return r * h + (1.0 - r) * c

    def node_parameters(self, embeddings: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The per-node parameters of the gate and candidate convolutions."""
        return [
            self.gates.node_parameters(embeddings),
            self.candidate.node_parameters(embeddings),
        ]


class AGCRN(nn.Module):
    r"""AGCRN (Bai et al. 2020): node-adaptive GRU layers over a graph learned from data.

    Inductive bias, unlike STGCN, DCRNN and Graph WaveNet: no road graph at all (the
    ``adjacency`` argument only gives N) and no parameters shared by all segments. The graph
    is inferred from node embeddings :math:`E \in \mathbb{R}^{N \times d}` (data-adaptive
    graph generation),

    .. math::
        A = \mathrm{softmax}\big(\mathrm{ReLU}(E E^\top)\big) \quad\text{(row-wise)},

    and every segment's GRU weights are generated from its own embedding
    (:class:`NodeAdaptiveGraphConv`), so that segments with different dynamics (a main road,
    a side street behind a light) get different recurrences. ``layers`` stacked
    :class:`AGCRNCell` read the P input steps; a 1 × hidden convolution maps the last hidden
    state of every segment to all Q × C outputs at once (no decoder).

    Shapes: ``x`` (B, P, N, F) → layer outputs (B, P, N, hidden) → last state (B, N, hidden)
    → (B, Q, N, C); the graph :math:`A` is (N, N), the supports :math:`T_k(A)` K × (N, N).

    Parameters
    ----------
    adjacency
        (N, N) road graph; only its size is used.
    in_features, out_channels
        F input features per segment and step, C forecast channels.
    history, horizon
        P input steps, Q forecast steps.
    hidden
        GRU state size.
    embedding
        Size d of the node embeddings (the paper uses 2-10).
    order
        Chebyshev terms K of the graph convolution (2: :math:`[I, A]`, as the paper).
    layers
        Stacked recurrent layers.

    References
    ----------
    Bai, Yao, Li, Wang, Wang (2020). Adaptive graph convolutional recurrent network for
    traffic forecasting. NeurIPS 33, 17804-17815. https://doi.org/10.48550/arXiv.2007.02842

    Examples
    --------
    >>> model = AGCRN(np.zeros((4, 4)), 6, 3, 12, 12, hidden=8)
    >>> tuple(model(torch.zeros(2, 12, 4, 6)).shape)
    (2, 12, 4, 3)
    >>> tuple(model.adaptive_adjacency().sum(dim=1).round().tolist())
    (1.0, 1.0, 1.0, 1.0)
    """

    def __init__(
        self,
        adjacency: np.ndarray,
        in_features: int,
        out_channels: int,
        history: int,
        horizon: int,
        hidden: int = 32,
        embedding: int = 8,
        order: int = 2,
        layers: int = 2,
    ):
        super().__init__()
        n = int(np.asarray(adjacency).shape[0])
        self.horizon, self.out_channels, self.order = horizon, out_channels, order
        self.hidden = hidden
        self.node_embeddings = nn.Parameter(torch.randn(n, embedding))
        self.cells = nn.ModuleList(
            AGCRNCell(in_features if i == 0 else hidden, hidden, embedding, order)
            for i in range(layers)
        )
        self.end = nn.Conv2d(1, horizon * out_channels, kernel_size=(1, hidden))

    def adaptive_adjacency(self) -> torch.Tensor:
        """The learned (N, N) adjacency, rows summing to one."""
        embeddings = self.node_embeddings
        return torch.softmax(torch.relu(embeddings @ embeddings.T), dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Forecast; see the class docstring for shapes."""
        supports = chebyshev_supports(self.adaptive_adjacency(), self.order)
        sequence = x
        for cell in cast("list[AGCRNCell]", self.cells):
            parameters = cell.node_parameters(self.node_embeddings)
            h = x.new_zeros(x.shape[0], x.shape[2], self.hidden)
            states = []
            for t in range(sequence.shape[1]):
                h = cell(sequence[:, t], h, self.node_embeddings, supports, parameters)
                states.append(h)
            sequence = torch.stack(states, dim=1)
        out = self.end(sequence[:, -1:])  # (B, 1, N, hidden) → (B, Q*C, N, 1)
        b, _, n, _ = out.shape
        return out.reshape(b, self.horizon, self.out_channels, n).permute(0, 1, 3, 2)
