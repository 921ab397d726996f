import numpy as np
import pytest
import torch
from scipy.optimize import nnls

from tests.traffic_ai.conftest import synthetic_table
from traffic_ai.combiners import (
    COMBINATION,
    CONVEX,
    CombinerSelection,
    Moments,
    block_weights,
    choose_candidate,
    convex_weights,
    diebold_mariano,
    stacked_weights,
)
from traffic_ai.dataset import MacroDataset
from traffic_ai.ensemble import TrafficModel, blocked_folds, time_blocks
from traffic_ai.training import FoldAverage, TrainConfig, prepare_dataset

MAE_OF_UNIT_NORMAL = np.sqrt(2 / np.pi)


def test_blocked_folds_purge_every_overlapping_window() -> None:
    origins = np.arange(24, 500)
    gap = 24
    for train, held_out in blocked_folds(origins, 3, gap):
        # no training window [t-12, t+12) shares an interval with a held-out window
        assert np.min(np.abs(train[:, None] - held_out[None, :])) > gap
    assert np.array_equal(
        np.sort(np.concatenate([h for _, h in blocked_folds(origins, 3, gap)])), origins
    )
    with pytest.raises(ValueError, match="folds"):
        blocked_folds(origins, 1, gap)


def test_time_blocks_cut_origins_into_consecutive_spans() -> None:
    origins = np.arange(100, 400, 3)  # every 15 minutes, 100 origins
    blocks = time_blocks(origins, 72)  # 6-hour blocks: 24 origins each, 4 left over
    assert [len(b) for b in blocks] == [24, 24, 24, 28]
    assert np.array_equal(np.concatenate(blocks), np.arange(100))
    assert time_blocks(np.array([], dtype=int), 72) == []


def test_diebold_mariano_keeps_its_level_and_detects_a_consistent_gain() -> None:
    # under the null (independent blocks, mean difference 0) p < 0.05 in 5 % of the series:
    # 2000 series, binomial sd sqrt(0.05 * 0.95 / 2000) = 0.0049, allow 3 sd
    rng = np.random.default_rng(0)
    p = np.array([diebold_mariano(rng.normal(size=20)) for _ in range(2000)])
    assert abs((p < 0.05).mean() - 0.05) < 3 * 0.0049
    # a gain of one standard deviation on 20 blocks: t about 4.5
    assert diebold_mariano(rng.normal(size=20) - 1.0) < 0.01
    assert diebold_mariano(np.array([0.0, 0.0, 0.0])) == 1.0
    assert diebold_mariano(np.array([-0.1, -0.1, -0.1])) == 0.0
    assert diebold_mariano(np.array([-1.0, -1.0])) == 1.0  # too few blocks to judge


def test_moment_fits_equal_direct_least_squares() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(500, 3)) + np.array([0.0, 1.0, -1.0])
    y = x @ [0.6, 0.0, 0.3] + 2.0 + 0.1 * rng.normal(size=500)
    weights, intercept = stacked_weights(500, x.sum(0), y.sum(), x.T @ x, x.T @ y)
    direct, _ = nnls(np.column_stack([x, np.ones(500), -np.ones(500)]), y)
    np.testing.assert_allclose(weights, direct[:3], atol=1e-8)
    assert intercept == pytest.approx(direct[3] - direct[4], abs=1e-8)
    convex = convex_weights(x.T @ x, x.T @ y)
    assert convex.sum() == pytest.approx(1.0) and (convex >= 0).all()


def signal_and_members(
    rng: np.random.Generator, shape: tuple[int, ...], noise: list[float], bias: list[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Truth = signal + unpredictable noise (sd 0.5); member j = signal + noise_j + bias_j.

    A member with no noise and no bias is the conditional mean of the truth: no weighting,
    intercept or mix with the others can beat it in expectation.
    """
    signal = rng.normal(size=shape)
    truth = signal + 0.5 * rng.normal(size=shape)
    members = np.stack(
        [signal + s * rng.normal(size=shape) + b for s, b in zip(noise, bias, strict=True)]
    )
    return members, truth


def test_the_combiner_picks_the_member_known_to_be_best() -> None:
    # member 2 is the conditional mean of the truth (exact signal); members 0, 1, 3 add noise
    # (and a bias) to it. 24 blocks: enough evidence; the combiners are no better, so the
    # best member is used alone - and out of sample, on fresh data of the same process, the
    # ensemble's MAE is exactly member 2's
    rng = np.random.default_rng(11)
    noise, bias = [0.6, 0.4, 0.0, 1.0], [0.0, 0.3, 0.0, -0.2]
    members, truth = signal_and_members(rng, (2400, 3, 4, 2), noise, bias)
    blocks = list(np.array_split(np.arange(2400), 24))
    meta = CombinerSelection().fit(members, truth, blocks, backbones=2)
    assert (meta.selected_ == 2).all()
    np.testing.assert_array_equal(meta.weights_, np.broadcast_to([0, 0, 1.0, 0], (3, 2, 4)))
    np.testing.assert_array_equal(meta.intercept_, 0.0)
    assert (meta.blocks_ == 24).all()
    # no combiner's gain is significant (they are not better)
    assert (meta.p_values_[4:] > 0.05).all()
    assert (meta.chosen_mae_ == meta.candidate_mae_[2]).all()
    # MAE of member 2 = MAE of N(0, 0.5^2)
    np.testing.assert_allclose(meta.candidate_mae_[2], 0.5 * MAE_OF_UNIT_NORMAL, rtol=0.03)
    fresh_members, fresh_truth = signal_and_members(rng, (2400, 3, 4, 2), noise, bias)
    ensemble = np.abs(meta.predict(fresh_members) - fresh_truth).mean()
    assert ensemble == np.abs(fresh_members[2] - fresh_truth).mean()
    assert "graph" not in meta.explain(0, 0, ["a", "b", "c", "d"])
    assert meta.explain(0, 0, ["a", "b", "c", "d"]).startswith(
        "c alone: best member out of fold (MAE "
    )


def test_the_best_member_may_differ_per_channel() -> None:
    rng = np.random.default_rng(12)
    first, truth_0 = signal_and_members(rng, (2000, 2, 3, 1), [0.0, 0.5, 0.8], [0, 0, 0])
    second, truth_1 = signal_and_members(rng, (2000, 2, 3, 1), [0.8, 0.5, 0.0], [0, 0, 0])
    members = np.concatenate([first, second], axis=-1)
    truth = np.concatenate([truth_0, truth_1], axis=-1)
    meta = CombinerSelection().fit(members, truth, list(np.array_split(np.arange(2000), 20)))
    assert (meta.selected_[:, 0] == 0).all() and (meta.selected_[:, 1] == 2).all()


def test_a_combination_is_used_where_the_blocks_show_it_is_better() -> None:
    # truth ~ N(0, 1), two members = truth + independent unit noise: alone MSE 1; the
    # posterior mean (stacked regression, weights 1/3 each) MSE 1/3; the mean of the two
    # MSE 1/2. Stacked regression has the lowest out-of-fold MAE with a tiny p-value, and
    # keeps its advantage on fresh data
    rng = np.random.default_rng(13)

    def draw() -> tuple[np.ndarray, np.ndarray]:
        truth = rng.normal(size=(2000, 2, 3, 1))
        return truth + rng.normal(size=(2, *truth.shape)), truth

    members, truth = draw()
    meta = CombinerSelection().fit(members, truth, list(np.array_split(np.arange(2000), 20)))
    assert (meta.selected_ == COMBINATION).all()
    assert (meta.p_values_[-1] < 1e-6).all()
    np.testing.assert_allclose(meta.weights_, 1 / 3, atol=0.03)
    np.testing.assert_allclose(
        meta.chosen_mae_, np.sqrt(1 / 3) * MAE_OF_UNIT_NORMAL, rtol=0.05
    )
    fresh_members, fresh_truth = draw()
    ensemble = np.abs(meta.predict(fresh_members) - fresh_truth).mean()
    best = min(np.abs(m - fresh_truth).mean() for m in fresh_members)
    assert ensemble < 0.62 * best  # sqrt(1/3) = 0.577, about 0.5 % sampling error
    reason = meta.explain(0, 0, ["p", "q"])
    assert reason.startswith("stacked regression: -4") and "over 20 blocks" in reason


def test_thin_evidence_falls_back_to_the_best_member() -> None:
    # the same kind of data, but only 6 blocks (< min_blocks = 8): no combination is judged;
    # member 0 (noise 0.9 against 1.1) is used alone although a combination would be better
    rng = np.random.default_rng(14)
    truth = rng.normal(size=(600, 2, 3, 1))
    members = truth + np.array([0.9, 1.1])[:, None, None, None, None] * rng.normal(
        size=(2, *truth.shape)
    )
    meta = CombinerSelection(min_blocks=8).fit(
        members, truth, list(np.array_split(np.arange(600), 6))
    )
    assert (meta.selected_ == 0).all()
    assert np.isnan(meta.p_values_).all()
    assert (meta.blocks_ == 6).all()
    assert meta.explain(1, 0, ["ridge", "stgcn"]) == (
        "ridge alone: thin evidence, 6 blocks < 8; best member out of fold "
        f"(MAE {meta.candidate_mae_[0, 1, 0]:.4f})"
    )


def test_a_lower_pooled_mae_that_is_noise_does_not_replace_the_best_member() -> None:
    # candidate 2 (a combiner) is lower on average only thanks to one block of 10
    incumbent = np.full(10, 1.0)
    lucky = np.array([1.02] * 9 + [0.5])  # pooled 0.968, but p = 0.4
    per_block = np.stack([incumbent, incumbent + 0.1, lucky])
    chosen, p, worse, blocks = choose_candidate(per_block.mean(1), per_block, 2)
    assert chosen == 0 and blocks == 10 and p[2] > 0.05 and np.isnan(p[0])
    # member 1 is significantly worse than the best candidate: member 0 stands out
    assert worse[1] < 0.05 and worse[0] > 0.05 and np.isnan(worse[2])
    consistent = np.array([0.97, 0.98] * 5)
    per_block[2] = consistent
    assert choose_candidate(per_block.mean(1), per_block, 2)[0] == 2
    # a candidate that does not exist (NaN) is never chosen
    per_block[2] = np.nan
    assert choose_candidate(per_block.mean(1), per_block, 2)[0] == 0


@pytest.mark.parametrize("seed", range(4))
def test_the_chosen_candidate_is_never_significantly_worse_than_the_best_member(
    seed: int,
) -> None:
    # by construction, whatever the data: random members with random noise, bias and scale.
    # Either the chosen candidate's out-of-fold MAE is at most the best member's, or the
    # best candidate is not significantly better than it (it is in the set)
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=(900, 3, 2, 2))
    members = rng.uniform(0.5, 1.5, (4, 1, 1, 1, 1)) * truth + rng.normal(
        size=(4, *truth.shape)
    ) * rng.uniform(0.2, 2.0, (4, 1, 1, 1, 1))
    truth[rng.uniform(size=truth.shape) < 0.1] = np.nan  # missing observations
    meta = CombinerSelection(significance=0.5, min_blocks=3).fit(
        members, truth, list(np.array_split(np.arange(900), 9)), backbones=2
    )
    best_member = np.nanmin(meta.candidate_mae_[:4], axis=0)
    rows = np.vectorize(meta.candidate_row, otypes=[int])(meta.selected_)
    p_worse = np.take_along_axis(meta.p_worse_, rows[None], axis=0)[0]
    assert ((meta.chosen_mae_ <= best_member) | ~(p_worse < 0.5)).all()


def jam(rng: np.random.Generator, rows: int, jammed: bool) -> tuple[np.ndarray, np.ndarray]:
    """Truth = signal + noise (sd 0.5); three backbones (signal + noise sd 0.2) and a
    persistence member (signal + noise sd 0.25): close to each other, backbones better.

    With ``jammed`` the first 100 rows are a jam: the backbones' noise has sd 3 there,
    persistence's sd 0.1.
    """
    signal = rng.normal(size=(rows, 2, 3, 1))
    truth = signal + 0.5 * rng.normal(size=signal.shape)
    noise = np.array([0.2, 0.2, 0.2, 0.25])[:, None, None, None, None] * rng.normal(
        size=(4, *signal.shape)
    )
    if jammed:
        noise[:3, :100] *= 15.0
        noise[3, :100] *= 0.4
    return signal + noise, truth


def test_members_within_noise_of_each_other_are_combined() -> None:
    # one jam block makes persistence the best member out of fold, by a margin that the
    # 24 blocks cannot call significant. Choosing it would choose noise: the rule combines,
    # and on fresh data without a jam the ensemble beats every member
    rng = np.random.default_rng(21)
    members, truth = jam(rng, 2400, jammed=True)
    blocks = list(np.array_split(np.arange(2400), 24))
    meta = CombinerSelection().fit(members, truth, blocks, backbones=3)
    assert (np.nanargmin(meta.candidate_mae_[:4], axis=0) == 3).all()  # persistence best
    assert (meta.p_worse_[:3] > 0.05).all()  # the backbones are within noise of it
    assert (meta.selected_ < 0).all()  # a combiner everywhere
    fresh_members, fresh_truth = jam(rng, 2400, jammed=False)
    ensemble = np.abs(meta.predict(fresh_members) - fresh_truth).mean()
    best = min(np.abs(m - fresh_truth).mean() for m in fresh_members)
    assert ensemble < 0.97 * best  # 0.954 x; persistence alone would be 1.04 x
    reason = meta.explain(0, 0, ["stgcn", "dcrnn", "agcrn", "last_value"])
    assert "against last_value alone out of fold, the best member, with 3 other members " \
        "(stgcn, dcrnn, agcrn) within noise of the best candidate" in reason


def test_block_weighting_keeps_a_jam_from_setting_the_weights() -> None:
    # the convex weights fitted on every block with block weighting are close to those
    # fitted without the jam block; unweighted least squares lets the jam's squared
    # errors put most of the weight on persistence
    rng = np.random.default_rng(22)
    members, truth = jam(rng, 2400, jammed=True)
    blocks = list(np.array_split(np.arange(2400), 24))
    moments = Moments.of_blocks(members, truth, blocks)
    sums = np.stack(
        [
            np.stack([np.abs(members[i, rows] - truth[rows]).sum(axis=(0, 2)) for rows in blocks])
            for i in range(4)
        ]
    )
    counts = np.stack([np.isfinite(truth[rows]).sum(axis=(0, 2)) for rows in blocks])
    weights = block_weights(sums, counts)
    assert weights.shape == (24, 2, 1)
    np.testing.assert_allclose(weights.mean(axis=0), 1.0)
    assert (weights[0] < 0.05).all()  # the jam block: its members' median MAE is 5.6x

    def convex(m: Moments) -> np.ndarray:
        return CombinerSelection.combiner_weights(m.total(), 3)[CONVEX][0][0, 0]

    without_jam = convex(Moments.of_blocks(members, truth, blocks[1:]))
    weighted = convex(moments.weighted(weights))
    unweighted = convex(moments)
    # persistence's weight: 0.22 weighted, 0.17 without the jam, 0.69 unweighted
    assert np.abs(weighted - without_jam).max() < 0.06
    assert weighted[0, 3] < 0.3 and unweighted[0, 3] > 0.6


def test_model_deploys_its_fold_fits_and_combines_them_as_chosen() -> None:
    ring = np.roll(np.eye(5), 1, axis=1)
    segments = tuple(f"s{i}" for i in range(5))
    dataset = MacroDataset.from_frame(synthetic_table(segments, ring, days=2.5), adjacency=ring)
    config = TrainConfig(
        backbones=("stgcn",), epochs=2, hidden=4, epoch_windows=32, min_blocks=4, device="cpu"
    )
    model = TrafficModel.fit(dataset, config)
    assert list(model.members) == ["stgcn", "historical_average", "last_value", "ridge"]
    bag = model.members["stgcn"]
    assert isinstance(bag, FoldAverage) and len(bag.fits) == 2
    train, _ = dataset.split(config.test_share)
    origins = dataset.window_starts(train, config.history, config.horizon)
    prepared = prepare_dataset(dataset, model.scaler, config)
    # the deployed backbone is the mean of the fold fits that made the out-of-fold forecasts
    np.testing.assert_allclose(
        bag.predict(prepared, origins[:40]),
        np.mean([fit.predict(prepared, origins[:40]) for fit in bag.fits], axis=0),
    )
    log = model.training_log["stgcn"]
    assert len(log["best_epochs"]) == 2 and all(1 <= e <= 2 for e in log["best_epochs"])
    # 2 days of training origins (553, every third scored) in 6-hour blocks of 24 origins
    assert len(origins) == 553 and len(time_blocks(origins[::3], 72)) == 8
    assert (model.meta.blocks_ == 8).all()
    assert (model.meta.chosen_mae_ <= np.nanmin(model.meta.candidate_mae_[:4], axis=0)).all()
    # the ensemble's forecast is the chosen weights applied to the deployed members
    forecasts = model.member_forecasts(prepared, origins[:10])
    np.testing.assert_allclose(
        model.predict_prepared(prepared, origins[:10]), model.meta.predict(forecasts), rtol=1e-6
    )
    rows = model.combiner_table()
    assert [(r["channel"], r["horizon"]) for r in rows][:3] == [
        ("flow", "15 min"),
        ("flow", "30 min"),
        ("flow", "60 min"),
    ]
    assert all(r["reason"] for r in rows)


def test_the_model_keeps_the_member_known_to_be_best_alone() -> None:
    # traffic that repeats every day exactly: the historical average forecasts it without
    # error, out of fold too (each 6-hour block's times of day are seen on the other days),
    # so no combination can beat it and the model uses it alone everywhere, with its exact
    # forecasts on the test period
    ring = np.roll(np.eye(5), 1, axis=1)
    segments = tuple(f"s{i}" for i in range(5))
    table = synthetic_table(segments, ring, days=3, pulse_rate=0.0)
    dataset = MacroDataset.from_frame(table, adjacency=ring)
    model = TrafficModel.fit(dataset, TrainConfig(backbones=(), device="cpu"))
    assert model.member_names == ["historical_average", "last_value", "ridge"]
    assert (model.meta.selected_ == 0).all() and (model.meta.blocks_ == 9).all()
    assert (model.meta.candidate_mae_[0] < 1e-6).all()
    assert (model.meta.candidate_mae_[2] > 1e-3).all()  # ridge: close, not exact
    assert {row["combiner"] for row in model.combiner_table()} == {"historical_average alone"}
    assert all(
        row["reason"].startswith("best member out of fold (MAE 0.0000); best combiner ")
        for row in model.combiner_table()
    )
    _, test = dataset.split(model.config.test_share)
    origins = dataset.window_starts(test, 12, 12)
    forecasts = model.predict_all(dataset, origins)
    np.testing.assert_array_equal(forecasts["stacking"], forecasts["historical_average"])
    truth = dataset.values[origins[:, None] + np.arange(12)]
    np.testing.assert_allclose(forecasts["stacking"], truth, rtol=1e-5)


def test_baselines_are_judged_out_of_fold_on_all_but_one_block() -> None:
    from traffic_ai.ensemble import _baseline_splits

    config = TrainConfig()
    origins = np.arange(24, 600)
    scored = origins[::3]
    splits = _baseline_splits(origins, scored, config)
    assert [len(rows) for _, rows in splits] == [24] * 8  # 6-hour blocks
    for train, rows in splits:
        # every origin but those whose windows share an interval with the block's
        block = scored[rows]
        near = (origins >= block.min() - 24) & (origins <= block.max() + 24)
        np.testing.assert_array_equal(train, origins[~near])
    # a history of one block falls back to the backbones' blocked folds
    short = np.arange(24, 130)
    fallback = _baseline_splits(short, short[::3], config)
    assert len(fallback) == 2 and all(len(train) for train, _ in fallback)
    assert np.array_equal(np.concatenate([rows for _, rows in fallback]), np.arange(36))


def test_an_executor_runs_the_costliest_fits_first_and_changes_nothing() -> None:
    from safety_val.execution.registry import make_executor

    ring = np.roll(np.eye(5), 1, axis=1)
    segments = tuple(f"s{i}" for i in range(5))
    dataset = MacroDataset.from_frame(synthetic_table(segments, ring, days=1.5), adjacency=ring)
    config = TrainConfig(
        backbones=("stgcn", "agcrn"), baselines=(), epochs=1, hidden=4, epoch_windows=16,
        min_blocks=4, device="cpu",
    )
    order: list[str] = []
    here = TrafficModel.fit(dataset, config, progress=lambda label, *_: order.append(label))
    with make_executor("serial") as executor:
        there = TrafficModel.fit(dataset, config, executor=executor)
    # in this process one line per epoch in task order; agcrn's epochs cost most, it goes first
    assert order == ["agcrn fold 1/2", "agcrn fold 2/2", "stgcn fold 1/2", "stgcn fold 2/2"]
    np.testing.assert_array_equal(here.meta.selected_, there.meta.selected_)
    np.testing.assert_allclose(here.meta.candidate_mae_, there.meta.candidate_mae_, rtol=1e-6)
    for name in config.backbones:  # fold k's fit is the k-th, whatever ran first
        for mine, theirs in zip(here.members[name].fits, there.members[name].fits, strict=True):
            for key, value in mine.state().items():
                torch.testing.assert_close(value, theirs.state()[key])
