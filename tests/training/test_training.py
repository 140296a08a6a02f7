"""Chunk sampling, schedule, SAM, mixup and the skorch training step."""

import numpy as np
import pytest
import torch

from sk_spotting.training import (
    ChunkSampler,
    ConfidenceCriterion,
    KeepBestWeights,
    LinearDecay,
    SpottingNet,
    ValidationScore,
    mixup_batch,
    perturb_weights,
    restore_weights,
)


def _sampler(lengths, chunk_frames=10, batch_size=64, n_features=2):
    # feature 0 = video index, feature 1 = frame index: a chunk tells where it is from
    videos, targets = [], []
    for i, n in enumerate(lengths):
        frames = np.arange(n, dtype=np.float32)
        videos.append(np.stack([np.full(n, i, np.float32), frames], axis=1))
        targets.append(np.ones((n, 1), np.float32))
    return ChunkSampler(
        videos,
        targets,
        targets,
        chunk_frames=chunk_frames,
        batch_size=batch_size,
        chunks_per_epoch=3 * batch_size,
    )


def test_chunks_are_contiguous_and_inside_their_video():
    torch.manual_seed(0)
    lengths = [30, 55, 12]
    x, target, weight = _sampler(lengths).sample()
    video = x[:, 0, 0].long()
    frames = x[:, :, 1]
    assert torch.all(frames[:, 1:] - frames[:, :-1] == 1)
    ends = frames[:, -1]
    assert torch.all(ends < torch.tensor(lengths)[video])
    assert torch.all(target == 1) and torch.all(weight == 1)


def test_short_video_is_padded_with_zero_weight():
    torch.manual_seed(0)
    x, target, weight = _sampler([4], chunk_frames=10, batch_size=3).sample()
    assert torch.all(weight[:, :4] == 1) and torch.all(weight[:, 4:] == 0)
    assert torch.all(target[:, 4:] == 0) and torch.all(x[:, 4:] == 0)
    assert torch.equal(x[0, :4, 1], torch.arange(4.0))


def test_videos_drawn_in_proportion_to_their_chunk_starts():
    torch.manual_seed(0)
    sampler = _sampler([109, 19], chunk_frames=10, batch_size=20000)
    x, _, _ = sampler.sample()
    share = (x[:, 0, 0] == 0).float().mean().item()
    assert share == pytest.approx(100 / 110, abs=0.01)
    starts = x[x[:, 0, 0] == 0][:, 0, 1]
    assert starts.min() == 0 and starts.max() == 99  # uniform over all starts


def test_epoch_has_ceil_batches():
    sampler = _sampler([40], batch_size=5)
    assert sampler.n_batches == 3 and len(list(sampler)) == 3


def test_linear_decay_matches_keras_polynomial_decay():
    decay = LinearDecay(total_steps=1000, end_fraction=0.01)
    assert decay(0) == 1.0
    assert decay(1000) == pytest.approx(0.01)
    assert decay(500) == pytest.approx(0.505)
    # cycle=True: past S the period doubles
    assert decay(1500) == pytest.approx(0.99 * 0.25 + 0.01)


def test_sam_perturbation_uses_the_global_norm():
    a = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    b = torch.nn.Parameter(torch.tensor([3.0]))
    a.grad, b.grad = torch.tensor([3.0, 0.0]), torch.tensor([4.0])
    perturbation = perturb_weights([a, b], rho=1.0)
    torch.testing.assert_close(a.data, torch.tensor([1.6, 2.0]))
    torch.testing.assert_close(b.data, torch.tensor([3.8]))
    restore_weights([a, b], perturbation)
    torch.testing.assert_close(a.data, torch.tensor([1.0, 2.0]))


def test_mixup_uses_one_lambda_per_example_for_all_tensors():
    torch.manual_seed(0)
    n = 64
    x = torch.arange(n, dtype=torch.float32).view(n, 1, 1).expand(n, 3, 2)
    mixed_x, mixed_t, mixed_w = mixup_batch(
        x, x[..., :1] * 2, x[..., :1] * 3, alpha=0.4
    )
    torch.testing.assert_close(mixed_t, mixed_x[..., :1] * 2)
    torch.testing.assert_close(mixed_w, mixed_x[..., :1] * 3)
    lam_like = mixed_x[:, 0, 0]
    assert not torch.allclose(lam_like, x[:, 0, 0])  # something got mixed


class _Linear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(3, 2)

    def forward(self, x):
        return self.layer(x)


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(4, 5, 3, generator=g)
    target = (torch.rand(4, 5, 2, generator=g) > 0.5).float()
    return x, target, torch.rand(4, 5, 2, generator=g)


def _net(module, **kwargs):
    net = SpottingNet(
        module,
        criterion=ConfidenceCriterion(),
        optimizer=torch.optim.SGD,
        lr=0.1,
        max_epochs=1,
        **kwargs,
    )
    return net.initialize()


def test_sam_train_step_steps_with_the_gradient_at_the_perturbed_weights():
    torch.manual_seed(0)
    module = _Linear()
    reference = _Linear()
    reference.load_state_dict(module.state_dict())
    batch = _batch()
    _net(module, sam_rho=0.3).train_step(batch)

    # by hand: gradient at w, perturb by rho * g / ||g||, gradient there, step at w
    criterion = ConfidenceCriterion()
    params = list(reference.parameters())
    criterion(reference(batch[0]), *batch[1:]).backward()
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params]))
    original = [p.detach().clone() for p in params]
    with torch.no_grad():
        for p in params:
            p += 0.3 * p.grad / (norm + 1e-12)
    for p in params:
        p.grad = None
    criterion(reference(batch[0]), *batch[1:]).backward()
    with torch.no_grad():
        for p, w in zip(params, original):
            p.copy_(w - 0.1 * p.grad)
    for got, expected in zip(module.parameters(), params):
        torch.testing.assert_close(got, expected)


def test_train_step_without_sam_is_a_plain_step():
    torch.manual_seed(0)
    module, reference = _Linear(), _Linear()
    reference.load_state_dict(module.state_dict())
    batch = _batch(1)
    step = _net(module).train_step(batch)
    loss = ConfidenceCriterion()(reference(batch[0]), *batch[1:])
    loss.backward()
    torch.testing.assert_close(step["loss"], loss.detach())
    with torch.no_grad():
        for p in reference.parameters():
            p -= 0.1 * p.grad
    for got, expected in zip(module.parameters(), reference.parameters()):
        torch.testing.assert_close(got, expected)


def test_validation_score_and_best_weights_restore_the_best_epoch():
    torch.manual_seed(0)
    scores = iter([0.2, 0.9, 0.1])
    snapshots = []

    def score_fn(net):
        snapshots.append(net.module_[0].weight.detach().clone())
        return next(scores)

    sampler = _sampler([40], chunk_frames=5, batch_size=4, n_features=2)
    module = torch.nn.Sequential(torch.nn.Linear(2, 1))
    net = SpottingNet(
        module,
        criterion=ConfidenceCriterion(),
        optimizer=torch.optim.SGD,
        lr=0.1,
        max_epochs=3,
        callbacks=[
            ("validation", ValidationScore(score_fn, interval=1)),
            ("best", KeepBestWeights()),
        ],
    )
    net.fit(sampler)
    assert net.history[:, "valid_average_map"] == [0.2, 0.9, 0.1]
    assert net.history[-1, "best_epoch"] == 2
    torch.testing.assert_close(net.module_[0].weight, snapshots[1])
    # the closure over validation data is dropped so that the net pickles
    assert dict(net.callbacks_)["validation"].score_fn is None


def test_bfloat16_storage_and_storage_choice():
    videos = [np.random.default_rng(0).normal(size=(30, 2)).astype(np.float32)]
    targets = [np.ones((30, 1), np.float32)]
    sampler = ChunkSampler(
        videos,
        targets,
        targets,
        chunk_frames=10,
        batch_size=4,
        chunks_per_epoch=4,
        feature_dtype=torch.bfloat16,
        storage="device",
    )
    x, target, _ = sampler.sample()
    assert x.dtype == torch.bfloat16 and target.dtype == torch.float32
    torch.testing.assert_close(
        sampler.store.features.float(),
        torch.from_numpy(videos[0]),
        atol=0.02,
        rtol=0.01,
    )
    with pytest.raises(ValueError, match="storage"):
        ChunkSampler(
            videos,
            targets,
            targets,
            chunk_frames=10,
            batch_size=4,
            chunks_per_epoch=4,
            storage="disk",
        )


def test_compiled_sam_step_equals_the_eager_step_and_compiles_once():
    # aot_eager traces forward + backward through dynamo and AOTAutograd (what
    # the default inductor backend compiles) without generating C++ code
    from torch._dynamo.testing import CompileCounterWithBackend

    torch.manual_seed(0)
    module, reference = _Linear(), _Linear()
    reference.load_state_dict(module.state_dict())
    counter = CompileCounterWithBackend("aot_eager")
    compiled = _net(module, sam_rho=0.3, train_compile={"backend": counter})
    eager = _net(reference, sam_rho=0.3)
    for seed in range(3):
        got = compiled.train_step(_batch(seed))["loss"]
        expected = eager.train_step(_batch(seed))["loss"]
        torch.testing.assert_close(got, expected)
    for got, expected in zip(module.parameters(), reference.parameters()):
        torch.testing.assert_close(got, expected)
    # SAM's second pass at the perturbed weights reuses the first graph
    assert counter.frame_count == 1
    # the plain module stays the fitted module: no compiled wrapper leaks out
    assert compiled.module_ is module


def test_compiled_net_pickles_without_its_graph_and_recompiles_after_loading():
    import pickle

    from torch._dynamo.testing import CompileCounterWithBackend

    torch.manual_seed(0)
    counter = CompileCounterWithBackend("aot_eager")
    net = _net(_Linear(), train_compile={"backend": "aot_eager"})
    net.train_step(_batch(0))
    assert "_compiled_loss" in net.__dict__
    loaded = pickle.loads(pickle.dumps(net))
    assert "_compiled_loss" not in loaded.__dict__
    loaded.train_compile = {"backend": counter}
    net.train_compile = None  # the same step, eagerly, for comparison
    torch.testing.assert_close(
        loaded.train_step(_batch(1))["loss"], net.train_step(_batch(1))["loss"]
    )
    assert counter.frame_count == 1
    # a new module_ is the one trained, not the stale one of the cached graph
    old = loaded.module_
    loaded.set_params(module=_Linear())
    assert loaded.module_ is not old
    with torch.no_grad():
        expected = ConfidenceCriterion()(loaded.module_(_batch(2)[0]), *_batch(2)[1:])
    torch.testing.assert_close(loaded.train_step(_batch(2))["loss"], expected)
    assert loaded.__dict__["_compiled_loss"][0] is loaded.module_
