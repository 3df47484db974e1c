"""BatchSampler: coverage, determinism and exact resumption."""
import json

import numpy as np
import pytest

from minirocket.data.batches import BatchSampler
from minirocket.errors import ArgumentError, CheckpointError


def _take(sampler, k):
    return [sampler.next_batch() for _ in range(k)]


@pytest.mark.parametrize("n,b,drop_last", [(10, 3, False), (10, 3, True), (12, 4, False),
                                           (1, 5, False)])
def test_each_epoch_is_a_permutation(n, b, drop_last):
    s = BatchSampler(n, b, rng_seed=0, drop_last=drop_last)
    batches = list(s)
    assert len(batches) == len(s)
    sizes = [len(x) for x in batches]
    assert all(x.dtype == np.int64 for x in batches)
    if drop_last:
        assert all(k == b for k in sizes) and sum(sizes) == (n // b) * b
    else:
        assert sizes[:-1] == [b] * (len(sizes) - 1)
        np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(n))


def test_epochs_differ_and_same_seed_repeats():
    a = BatchSampler(50, 50, rng_seed=3)
    e0, e1 = a.next_batch(), a.next_batch()
    assert a.epoch == 1 and not np.array_equal(e0, e1)
    b = BatchSampler(50, 50, rng_seed=3)
    np.testing.assert_array_equal(b.next_batch(), e0)
    c = BatchSampler(50, 50, rng_seed=4)
    assert not np.array_equal(c.next_batch(), e0)


def test_no_shuffle_is_in_order():
    s = BatchSampler(5, 2, rng_seed=0, shuffle=False)
    assert [x.tolist() for x in s] == [[0, 1], [2, 3], [4]]


def test_save_and_restore_resumes_exactly():
    # 17 batches straight, versus 8 + JSON save/restore + 9, across epoch boundaries.
    n_batches = 17
    straight = _take(BatchSampler(23, 5, rng_seed=42), n_batches)
    first = BatchSampler(23, 5, rng_seed=42)
    part1 = _take(first, n_batches // 2)
    state = json.loads(json.dumps(first.state_dict()))
    resumed = BatchSampler.from_state(state)
    part2 = _take(resumed, n_batches - n_batches // 2)
    assert len(part1) + len(part2) == len(straight)
    for x, y in zip(straight, part1 + part2):
        np.testing.assert_array_equal(x, y)
    # Also through load_state_dict on a fresh sampler, and via epoch iteration.
    other = BatchSampler(23, 5, rng_seed=42).load_state_dict(state)
    np.testing.assert_array_equal(other.next_batch(), part2[0])


def test_iteration_continues_a_partial_epoch():
    s = BatchSampler(20, 3, rng_seed=1)
    full_epoch0 = list(BatchSampler(20, 3, rng_seed=1))
    it = iter(s)
    head = [next(it) for _ in range(2)]
    state = s.state_dict()
    assert state["epoch"] == 0 and state["cursor"] == 2
    rest = list(BatchSampler.from_state(state))
    for x, y in zip(full_epoch0, head + rest):
        np.testing.assert_array_equal(x, y)
    assert len(head) + len(rest) == len(full_epoch0)


def test_state_mismatch_and_bad_state():
    s = BatchSampler(10, 2, rng_seed=0)
    state = s.state_dict()
    with pytest.raises(CheckpointError, match="n=11"):
        BatchSampler(11, 2, rng_seed=0).load_state_dict(state)
    with pytest.raises(CheckpointError, match="version"):
        BatchSampler.from_state(dict(state, version=7))
    with pytest.raises(CheckpointError, match="cursor"):
        BatchSampler.from_state(dict(state, cursor=-1))
    with pytest.raises(CheckpointError):
        BatchSampler.from_state([1, 2])


def test_bad_arguments():
    with pytest.raises(ArgumentError, match="batch_size"):
        BatchSampler(3, 5, rng_seed=0, drop_last=True)
    with pytest.raises(ArgumentError, match="argument 'n'"):
        BatchSampler(0, 1, rng_seed=0)
    with pytest.raises(TypeError, match="shuffle"):
        BatchSampler(3, 1, rng_seed=0, shuffle="yes")
