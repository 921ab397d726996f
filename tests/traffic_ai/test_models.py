import numpy as np
import pytest
import torch

from tests.traffic_ai.conftest import synthetic_table
from traffic_ai.dataset import MacroDataset
from traffic_ai.models import BACKBONES
from traffic_ai.training import BackboneMember, Scaler, TrainConfig, prepare_dataset

RING = np.roll(np.eye(5), 1, axis=1)  # segment i feeds segment i + 1


def tiny_dataset() -> MacroDataset:
    """A smooth daily cycle with one disturbance travelling round the ring."""
    segments = tuple(f"s{i}" for i in range(5))
    table = synthetic_table(segments, RING, days=0.3, pulse_rate=0.0)
    return MacroDataset.from_frame(table, adjacency=RING)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_backbone_shapes(name: str) -> None:
    model = BACKBONES[name](RING, 6, 3, 12, 12, hidden=8)
    out = model(torch.zeros(2, 12, 5, 6))
    assert out.shape == (2, 12, 5, 3)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_backbone_overfits_a_tiny_dataset(name: str) -> None:
    dataset = tiny_dataset()
    config = TrainConfig(
        hidden=16, batch_size=4, learning_rate=1e-2, weight_decay=0.0, origin_stride=1, device="cpu"
    )
    prepared = prepare_dataset(dataset, Scaler.fit(dataset.values), config)
    origins = np.arange(12, 16)
    member = BackboneMember(name, RING, 3, config).fit(prepared, origins, epochs=200)
    first, last = member.losses_[0], min(member.losses_[-5:])
    assert last < first / 10, (first, last)


def test_graph_wavenet_learns_an_adaptive_adjacency() -> None:
    # No given edges: the transition matrices are zero, so the only way for segment 1 to
    # forecast its target (segment 0's last value; its own history is noise) is through the
    # adaptive adjacency. Training must make the entry "1 reads 0" take over row 1.
    torch.manual_seed(0)
    model = BACKBONES["graph_wavenet"](
        np.zeros((5, 5)), 1, 1, 2, 1, hidden=8, dilations=(1, 2), embedding=4
    )
    with torch.no_grad():  # start every entry of E1 E2^T positive: none in ReLU's flat zero
        model.source_embedding.abs_()
        model.target_embedding.abs_()
    before = model.adaptive_adjacency().detach().clone()  # type: ignore[operator]
    x = torch.randn(64, 2, 5, 1, generator=torch.Generator().manual_seed(1))
    y = torch.zeros(64, 1, 5, 1)
    y[:, 0, 1, 0] = x[:, -1, 0, 0]
    optimiser = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(60):
        optimiser.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimiser.step()
    adjacency = model.adaptive_adjacency().detach()  # type: ignore[operator]
    assert adjacency.shape == (5, 5)
    torch.testing.assert_close(adjacency.sum(dim=1), torch.ones(5))
    assert before[1].max() < 0.21  # initially nearly uniform
    assert adjacency[1, 0] > 0.9, adjacency[1]  # learnt: segment 1 reads segment 0
    assert not torch.allclose(adjacency, before, atol=1e-3)
