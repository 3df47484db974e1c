"""CIFAR augmentation against a naive per-image reference."""
import numpy as np
import pytest

from minirocket.data.augment import (CIFAR10_MEAN, CIFAR10_STD, augment_batch, normalize,
                                     random_flip_crop, symmetric_index)
from minirocket.errors import ArgumentError


def _naive(images, rng, flip_prob=0.5, pad=4, crop=None):
    """Per-image loop: same draws, np.pad(mode='symmetric'), slicing."""
    b, h, w, _ = images.shape
    ch, cw = (h, w) if crop is None else (crop, crop)
    flips = rng.random(b) < flip_prob
    oy = rng.integers(0, h + 2 * pad - ch + 1, size=b)
    ox = rng.integers(0, w + 2 * pad - cw + 1, size=b)
    out = []
    for i in range(b):
        x = images[i][:, ::-1] if flips[i] else images[i]
        p = np.pad(x, ((pad, pad), (pad, pad), (0, 0)), mode="symmetric")
        out.append(p[oy[i]:oy[i] + ch, ox[i]:ox[i] + cw])
    return np.stack(out), flips


def test_symmetric_pad_semantics_match_opencv_border_reflect():
    # OpenCV BORDER_REFLECT: fedcba|abcdefgh|hgfedcb, i.e. the edge pixel is repeated.
    row = np.array([10, 20, 30, 40])
    padded = np.pad(row, 3, mode="symmetric")
    np.testing.assert_array_equal(padded, [30, 20, 10, 10, 20, 30, 40, 40, 30, 20])
    idx = symmetric_index(np.arange(-3, 7), 4)
    np.testing.assert_array_equal(row[idx], padded)
    # 'reflect' (BORDER_REFLECT_101) would differ: the edge pixel is not repeated.
    assert not np.array_equal(np.pad(row, 3, mode="reflect"), padded)


def test_symmetric_index_for_pads_wider_than_the_image():
    row = np.array([1, 2, 3])
    np.testing.assert_array_equal(row[symmetric_index(np.arange(-7, 10), 3)],
                                  np.pad(row, 7, mode="symmetric"))


@pytest.mark.parametrize("shape,pad,crop", [((16, 32, 32, 3), 4, None),
                                            ((9, 7, 5, 2), 3, 4),
                                            ((5, 6, 6, 1), 9, 6)])
def test_flip_and_crop_equal_the_naive_loop(shape, pad, crop):
    images = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    got = random_flip_crop(images, np.random.default_rng(7), pad=pad, crop=crop)
    want, flips = _naive(images, np.random.default_rng(7), pad=pad, crop=crop)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, want)
    assert flips.any() and not flips.all()  # both branches exercised


def test_no_pad_no_flip_is_identity_and_always_flip_mirrors():
    images = np.random.default_rng(1).integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(random_flip_crop(images, rng, flip_prob=0.0, pad=0), images)
    np.testing.assert_array_equal(random_flip_crop(images, rng, flip_prob=1.0, pad=0),
                                  images[:, :, ::-1])


def test_augment_batch_normalises_and_transposes():
    images = np.random.default_rng(2).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    out = augment_batch(images, np.random.default_rng(3))
    assert out.dtype == np.float32 and out.shape == (6, 3, 32, 32)
    assert out.flags.c_contiguous
    cropped, _ = _naive(images, np.random.default_rng(3))
    want = ((cropped - np.array(CIFAR10_MEAN)) / np.array(CIFAR10_STD)).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(out, want, rtol=1e-6, atol=1e-6)


def test_normalize_values():
    x = np.zeros((1, 1, 1, 3), np.uint8)
    x[0, 0, 0] = [125, 123, 114]
    out = normalize(x)
    np.testing.assert_allclose(out[0, :, 0, 0], [(125 - 125.3) / 63.0, 0.0,
                                                 (114 - 113.9) / 66.7], rtol=1e-5, atol=1e-7)


def test_same_generator_state_same_batch():
    images = np.random.default_rng(4).integers(0, 256, (32, 32, 32, 3), dtype=np.uint8)
    a = augment_batch(images, np.random.default_rng(11))
    b = augment_batch(images, np.random.default_rng(11))
    c = augment_batch(images, np.random.default_rng(12))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_draw_count_is_fixed_per_batch():
    # Three draws of size B: a following draw sees the same stream state as the reference.
    images = np.zeros((5, 4, 4, 3), np.uint8)
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    augment_batch(images, rng_a)
    _naive(images, rng_b)
    assert rng_a.random() == rng_b.random()


def test_bad_arguments():
    x = np.zeros((2, 4, 4, 3), np.uint8)
    rng = np.random.default_rng(0)
    with pytest.raises(TypeError, match="rng"):
        augment_batch(x, 0)
    with pytest.raises(ArgumentError, match="images"):
        augment_batch(np.zeros((4, 4, 3), np.uint8), rng)
    with pytest.raises(ArgumentError, match="crop"):
        augment_batch(x, rng, crop=13)
    with pytest.raises(ArgumentError, match="mean"):
        augment_batch(x, rng, mean=(1.0, 2.0))
    with pytest.raises(ArgumentError, match="std"):
        augment_batch(x, rng, std=(1.0, 0.0, 1.0))
    with pytest.raises(ArgumentError, match="flip_prob"):
        augment_batch(x, rng, flip_prob=1.5)
