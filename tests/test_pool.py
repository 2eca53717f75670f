"""The image pool's invariants, as properties."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cyclegan.model.pool import ImagePool


@settings(max_examples=30, deadline=None)
@given(
    size=st.integers(0, 6),
    batches=st.lists(st.integers(1, 3), min_size=1, max_size=8),
    seed=st.integers(0, 1000),
)
def test_pool_returns_batches_of_seen_images(size, batches, seed):
    pool = ImagePool(size, seed=seed)
    seen, counter = [], 0
    for n in batches:
        batch = torch.arange(counter, counter + n, dtype=torch.float32).view(n, 1, 1, 1)
        counter += n
        seen += batch.flatten().tolist()
        out = pool.query(batch)
        assert out.shape == batch.shape
        assert set(out.flatten().tolist()) <= set(seen)  # only images it was given
        assert len(pool.images) <= size


def test_pool_returns_inputs_until_full():
    pool = ImagePool(3, seed=0)
    for i in range(3):
        x = torch.full((1, 1, 2, 2), float(i))
        assert torch.equal(pool.query(x), x)


def test_pool_state_round_trip_continues_identically():
    a, b = ImagePool(2, seed=5), ImagePool(2, seed=99)
    for i in range(4):
        a.query(torch.full((1, 1, 1, 1), float(i)))
    b.load_state_dict(a.state_dict())
    for i in range(4, 20):
        x = torch.full((1, 1, 1, 1), float(i))
        assert torch.equal(a.query(x), b.query(x))


def test_without_a_pool_training_steps_run_and_the_fakes_are_cut_from_the_graph():
    """--pool-size 0 once handed the discriminators the generators' graph, and the second
    backward through it failed: the newest fakes come back detached."""
    from cyclegan.config import NetworkConfig, TrainConfig
    from cyclegan.model.networks import CycleGANNetworks
    from cyclegan.model.step import CycleGANStep

    fake = torch.ones(1, 3, 4, 4, requires_grad=True) * 2
    assert not ImagePool(0).query(fake).requires_grad
    cfg = NetworkConfig(net_g="resnet_6blocks", ngf=4, ndf=4)
    torch.manual_seed(0)
    nets = CycleGANNetworks(cfg)
    nets.init_weights(cfg)
    step = CycleGANStep(nets, TrainConfig(network=cfg, pool_size=0))
    a, b = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    for _ in range(2):
        losses = step(a, b)
    assert all(torch.isfinite(v) for v in losses.values())
