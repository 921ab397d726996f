import numpy as np
import pandas as pd
import pytest
import torch

from safety_val.errors import ValidationError
from tests.traffic_ai.conftest import synthetic_table
from traffic_ai.dataset import MacroDataset
from traffic_ai.models import BACKBONES
from traffic_ai.models.agcrn import AGCRN, NodeAdaptiveGraphConv, chebyshev_supports
from traffic_ai.training import BackboneMember, Scaler, TrainConfig, prepare_dataset

RING = np.roll(np.eye(5), 1, axis=1)  # segment i feeds segment i + 1


def tiny_dataset() -> MacroDataset:
    """A smooth daily cycle with one disturbance travelling round the ring."""
    segments = tuple(f"s{i}" for i in range(5))
    table = synthetic_table(segments, RING, days=0.3, pulse_rate=0.0)
    return MacroDataset.from_frame(table, adjacency=RING)


def test_the_registry_has_four_backbones() -> None:
    assert list(BACKBONES) == ["stgcn", "dcrnn", "graph_wavenet", "agcrn"]
    assert TrainConfig().backbones == tuple(BACKBONES)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_backbone_shapes(name: str) -> None:
    model = BACKBONES[name](RING, 6, 3, 12, 12, hidden=8)
    out = model(torch.zeros(2, 12, 5, 6))
    assert out.shape == (2, 12, 5, 3)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_backbone_overfits_a_tiny_dataset(name: str) -> None:
    dataset = tiny_dataset()
    config = TrainConfig(
        hidden=16, batch_size=4, learning_rate=2e-2, weight_decay=0.0, origin_stride=1, device="cpu"
    )
    prepared = prepare_dataset(dataset, Scaler.fit(dataset.values), config)
    origins = np.arange(12, 16)
    member = BackboneMember(name, RING, 3, config).fit(prepared, origins, epochs=100)
    first, last = member.losses_[0], min(member.losses_[-5:])
    assert last < first / 10, (first, last)
    assert member.best_epoch_ == 100 and member.validation_mae_ == []


def test_early_stopping_keeps_the_best_epoch_and_waits_patience_epochs() -> None:
    # a learning rate far too high makes the validation MAE rise after a few epochs: the fit
    # stops `patience` epochs after the best one and restores that epoch's weights
    dataset = tiny_dataset()
    config = TrainConfig(
        hidden=8, batch_size=8, learning_rate=0.3, epochs=40, patience=3, origin_stride=1,
        device="cpu",
    )
    prepared = prepare_dataset(dataset, Scaler.fit(dataset.values), config)
    train, validation = np.arange(12, 40), np.arange(64, 75)
    member = BackboneMember("stgcn", RING, 3, config).fit(prepared, train, validation)
    history = member.validation_mae_
    assert len(history) < 40  # stopped early
    assert len(history) == member.best_epoch_ + config.patience
    assert history[member.best_epoch_ - 1] == min(history)
    assert min(history[member.best_epoch_ :]) >= min(history)
    kept = member.predict(prepared, validation) - prepared.window_targets(validation)
    assert float(np.nanmean(np.abs(kept))) == pytest.approx(min(history), rel=1e-5)


def test_train_config_refuses_bad_options() -> None:
    with pytest.raises(ValidationError, match=r"backbones: must be one of 'stgcn'.*got 'gman'"):
        TrainConfig(backbones=("gman",))
    with pytest.raises(ValidationError, match=r"folds: must be an int >= 2 \(got 1"):
        TrainConfig(folds=1)
    with pytest.raises(ValidationError, match=r"significance: must be a number in \(0, 1\)"):
        TrainConfig(significance=1.5)
    with pytest.raises(ValidationError, match=r"history: must be an int >= 9 \(got 6"):
        TrainConfig(history=6)  # STGCN's two blocks of two kernel-3 convolutions
    assert TrainConfig(history=6, backbones=("dcrnn",)).history == 6


def test_graph_wavenet_learns_an_adaptive_adjacency() -> None:
    # No given edges: the transition matrices are zero, so the only way for segment 1 to
    # forecast its target (segment 0's last value; its own history is noise) is through the
    # adaptive adjacency. Training must make the entry "1 reads 0" take over row 1. One
    # layer: its graph convolution must reach the forecast through the skip connection.
    torch.manual_seed(0)
    model = BACKBONES["graph_wavenet"](
        np.zeros((5, 5)), 1, 1, 2, 1, hidden=8, dilations=(1,), embedding=4
    )
    with torch.no_grad():  # start every entry of E1 E2^T positive: none in ReLU's flat zero
        model.source_embedding.abs_()
        model.target_embedding.abs_()
    before = model.adaptive_adjacency().detach().clone()  # type: ignore[operator]
    x = torch.randn(64, 2, 5, 1, generator=torch.Generator().manual_seed(1))
    y = torch.zeros(64, 1, 5, 1)
    y[:, 0, 1, 0] = x[:, -1, 0, 0]
    optimiser = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(100):
        optimiser.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimiser.step()
    adjacency = model.adaptive_adjacency().detach()  # type: ignore[operator]
    assert adjacency.shape == (5, 5)
    torch.testing.assert_close(adjacency.sum(dim=1), torch.ones(5))
    assert before[1].max() < 0.21  # initially nearly uniform
    assert adjacency[1, 0] > 0.9, adjacency[1]  # learnt: segment 1 reads segment 0
    assert not torch.allclose(adjacency, before, atol=1e-3)


def test_every_graph_wavenet_layer_reaches_the_forecast() -> None:
    # the skip connection follows the graph convolution: the last layer's graph convolution
    # and the adaptive adjacency get a gradient (with the skip taken before it they got none)
    model = BACKBONES["graph_wavenet"](RING, 2, 1, 4, 2, hidden=4, dilations=(1, 2))
    model(torch.randn(3, 4, 5, 2)).sum().backward()
    last_graph = model.graph[-1].linear.weight.grad  # type: ignore[index,union-attr]
    assert last_graph is not None and float(last_graph.abs().sum()) > 0
    for embedding in (model.source_embedding, model.target_embedding):
        assert embedding.grad is not None and float(embedding.grad.abs().sum()) > 0  # type: ignore[union-attr]


def test_node_adaptive_convolution_is_a_per_node_linear_map() -> None:
    # Z_n = sum_k (T_k(A) X)_n W_n^(k) + b_n with W_n = sum_j e_nj W_pool_j, b_n = e_n B_pool:
    # compare with an explicit loop over nodes
    torch.manual_seed(3)
    conv = NodeAdaptiveGraphConv(3, 2, embedding=4, order=3)
    torch.nn.init.normal_(conv.bias_pool)
    x, embeddings = torch.randn(2, 5, 3), torch.randn(5, 4)
    adjacency = torch.softmax(torch.randn(5, 5), dim=1)
    supports = chebyshev_supports(adjacency, 3)
    torch.testing.assert_close(supports[2], 2 * adjacency @ adjacency - torch.eye(5))
    out = conv(x, embeddings, supports)
    for n in range(5):
        weights = torch.einsum("d,dkio->kio", embeddings[n], conv.weight_pool)
        expected = sum((supports[k] @ x)[:, n] @ weights[k] for k in range(3))
        expected = expected + embeddings[n] @ conv.bias_pool
        torch.testing.assert_close(out[:, n], expected)


def test_agcrn_gives_each_segment_its_own_dynamics() -> None:
    # two isolated segments: segment 0's next value is +0.9 times its last, segment 1's is
    # -0.9 times. Node-adaptive weights learn both (fresh data: mse ~0); with the two
    # embeddings held equal (weights shared by the segments) the model can only memorise the
    # training windows and fails on fresh ones (the best shared map has mse 0.81 var(x))

    def windows(seed: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(size, 3, 2, 1, generator=torch.Generator().manual_seed(seed))
        return x, torch.stack([0.9 * x[:, -1, 0], -0.9 * x[:, -1, 1]], dim=1)[:, None]

    (x, y), (fresh_x, fresh_y) = windows(2, 192), windows(3, 512)
    errors = []
    for shared in (False, True):
        torch.manual_seed(0)
        model = AGCRN(np.zeros((2, 2)), 1, 1, 3, 1, hidden=8, embedding=2, layers=1)
        if shared:
            model.node_embeddings.data[:] = 1.0
            model.node_embeddings.requires_grad_(False)
        optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.04)
        for _ in range(120):
            optimiser.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            optimiser.step()
        with torch.no_grad():
            errors.append(float(torch.nn.functional.mse_loss(model(fresh_x), fresh_y)))
    assert errors[0] < 0.02 and errors[1] > 0.5, errors
    adjacency = model.adaptive_adjacency().detach()
    torch.testing.assert_close(adjacency, torch.full((2, 2), 0.5))  # equal embeddings


def test_ridge_per_segment_equals_scikit_learn_ridge_on_each_segment() -> None:
    from sklearn.linear_model import Ridge

    from traffic_ai.training import RidgePerSegment

    dataset = tiny_dataset()
    dataset.values[40:50, 2, 1] = np.nan  # segment 2 loses the windows over these intervals
    prepared = prepare_dataset(dataset, Scaler.fit(dataset.values), TrainConfig())
    origins = np.arange(12, 70)
    ridge = RidgePerSegment(5, 3, alpha=2.0).fit(prepared, origins)
    assert ridge.coef_ is not None and ridge.intercept_ is not None
    features = ridge._features(prepared, origins)
    targets = prepared.window_targets(origins).transpose(0, 2, 1, 3).reshape(len(origins), 5, 36)
    for segment in range(5):
        rows = np.isfinite(targets[:, segment]).all(axis=1)
        assert rows.sum() == (58 - 21 if segment == 2 else 58)
        reference = Ridge(alpha=2.0).fit(features[rows, segment], targets[rows, segment])
        np.testing.assert_allclose(ridge.coef_[segment], reference.coef_, atol=1e-3)
        np.testing.assert_allclose(ridge.intercept_[segment], reference.intercept_, atol=1e-4)


def test_ridge_from_moments_less_left_out_windows_equals_a_fit_without_them() -> None:
    from traffic_ai.training import RidgePerSegment

    dataset = tiny_dataset()
    dataset.values[40:50, 2, 1] = np.nan
    prepared = prepare_dataset(dataset, Scaler.fit(dataset.values), TrainConfig())
    origins = np.arange(12, 74)
    train = origins[(origins < 30) | (origins > 55)]
    ridge = RidgePerSegment(5, 3)
    total = ridge.moments(prepared, origins)
    assert total.count.tolist() == [62, 62, 62 - 21, 62, 62]  # complete rows per segment
    left_out = ridge.moments(prepared, np.setdiff1d(origins, train))
    by_moments = RidgePerSegment(5, 3).fit_moments(total - left_out)
    direct = RidgePerSegment(5, 3).fit(prepared, train)
    assert by_moments.coef_ is not None and direct.coef_ is not None
    np.testing.assert_allclose(by_moments.coef_, direct.coef_, atol=1e-5)
    np.testing.assert_allclose(by_moments.intercept_, direct.intercept_, atol=1e-5)


def test_historical_average_is_the_slot_mean_falling_back_to_the_day_type() -> None:
    from traffic_ai.training import HistoricalAverage, prepare

    times = pd.date_range("2024-01-01", periods=2 * 288, freq="5min")  # Monday, Tuesday
    minute = np.arange(len(times)) % 288
    day = np.arange(len(times)) // 288
    values = (minute + 1000.0 * day)[:, None, None].repeat(2, axis=1)  # (T, 2, 1)
    values[5, 1, 0] = np.nan  # Monday 00:25 unobserved on segment 1
    prepared = prepare(values, times, Scaler(np.zeros(1), np.ones(1)), 12, 12)
    origins = np.arange(12, len(times) - 12)  # inputs: all but Tuesday from 22:55
    table = HistoricalAverage(2, 1).fit(prepared, origins).table_[..., 0]
    assert table[7, 0] == 7 and table[288 + 7, 1] == 1007  # seen: the slot's value
    # unobserved on Monday: the weekday mean at 00:25 (Tuesday's 1005 alone)
    assert table[5, 1] == 1005 and table[5, 0] == 5
    # Tuesday 23:00 never covered: Monday's value; Wednesday: the mean of the two days
    assert table[288 + 276, 0] == 276 and table[2 * 288 + 7, 0] == 507
    # the weekend was never seen: the overall mean of the segment
    seen = np.r_[np.arange(288), 1000 + np.arange(275)]
    assert table[5 * 288, 0] == pytest.approx(seen.mean(), rel=1e-6)
