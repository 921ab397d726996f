"""Graph layers shared by the backbones: transition matrices and diffusion convolution."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["DiffusionConv", "propagate", "transition_matrices"]


def transition_matrices(adjacency: np.ndarray) -> list[torch.Tensor]:
    r"""Forward and backward random-walk transition matrices of a directed graph.

    With :math:`W` the adjacency (``W[i, j] > 0`` when ``i`` feeds ``j``), the supports are
    :math:`P_f = D_{in}^{-1} W^\top` (each segment averages the segments feeding it) and
    :math:`P_b = D_{out}^{-1} W` (each segment averages the segments it feeds); rows of
    isolated segments are zero.

    Returns
    -------
    list of torch.Tensor
        ``[P_f, P_b]``, each (N, N) float32.
    """
    weights = np.asarray(adjacency, dtype=np.float64)
    supports = []
    for matrix in (weights.T, weights):
        degree = matrix.sum(axis=1, keepdims=True)
        normalised = np.divide(matrix, degree, out=np.zeros_like(matrix), where=degree > 0)
        supports.append(torch.as_tensor(normalised, dtype=torch.float32))
    return supports


class DiffusionConv(nn.Module):
    r"""Diffusion convolution (Li et al. 2018, DCRNN), :math:`K` steps over each support.

    .. math::
        H = \Big[X, P_1 X, \dots, P_1^K X, \dots, P_S^K X\Big]\,\Theta

    Shapes: ``x`` (B, N, C_in), each support (N, N) → (B, N, C_out). A support may be a
    sparse COO tensor (a road graph's transition matrix has a few entries per row): it is
    then applied with a sparse product, in O(nnz) instead of O(N²).

    Parameters
    ----------
    in_channels, out_channels
        Feature sizes.
    n_supports
        Number of supports given to :meth:`forward`.
    order
        Diffusion steps :math:`K`.

    References
    ----------
    Li, Yu, Shahabi, Liu (2018). Diffusion convolutional recurrent neural network:
    data-driven traffic forecasting. ICLR. https://doi.org/10.48550/arXiv.1707.01926
    """

    def __init__(self, in_channels: int, out_channels: int, n_supports: int, order: int = 2):
        super().__init__()
        self.order = order
        self.linear = nn.Linear(in_channels * (1 + n_supports * order), out_channels)

    def reset_parameters(self) -> None:
        """Re-initialise the weights."""
        self.linear.reset_parameters()

    def forward(self, x: torch.Tensor, supports: list[torch.Tensor]) -> torch.Tensor:
        """Apply the convolution; see the class docstring for shapes."""
        terms = [x]
        for support in supports:
            diffused = x
            for _ in range(self.order):
                diffused = propagate(support, diffused)
                terms.append(diffused)
        return self.linear(torch.cat(terms, dim=-1))


def propagate(support: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``support @ x`` for an (N, N) support, dense or sparse COO, and ``x`` (..., N, C).

    Examples
    --------
    >>> a = torch.tensor([[0.0, 1.0], [0.5, 0.5]])
    >>> x = torch.arange(12.0).reshape(3, 2, 2)
    >>> torch.equal(propagate(a.to_sparse(), x), a @ x)
    True
    """
    if not support.is_sparse:
        return torch.matmul(support, x)
    *batch, n, c = x.shape
    flat = x.reshape(-1, n, c).transpose(0, 1).reshape(n, -1)
    out = torch.sparse.mm(support, flat).reshape(n, -1, c).transpose(0, 1)
    return out.reshape(*batch, n, c)
