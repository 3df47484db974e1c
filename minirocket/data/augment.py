"""CIFAR-style augmentation, vectorised over a batch and driven by an explicit Generator.

Notation
--------
B : batch size
H, W : input height and width; C : channels
p : padding (4); h, w : crop size (32 x 32)

:func:`augment_batch` applies, per image, the training augmentation of the Rocket
Launching authors' CIFAR-10 code:

1. horizontal flip with probability 0.5;
2. padding by ``p`` pixels on every side with OpenCV's ``BORDER_REFLECT``, which repeats
   the edge pixel (``abc|cba``; identical to ``numpy.pad(mode="symmetric")``, not to
   ``mode="reflect"``);
3. a random ``h x w`` crop of the padded image (offsets uniform in ``0 .. 2p``);
4. per-channel normalisation ``(x - mean) / std`` with ``mean = (125.3, 123.0, 113.9)`` and
   ``std = (63.0, 62.1, 66.7)`` on the 0-255 scale;
5. HWC -> CHW, float32.

No padded copy is built: each output pixel's source coordinate is computed (shift by the
crop offset, mirror for the flip, fold back into the image for the symmetric border) and
the whole batch is gathered with one fancy-indexing operation.

Random draws, in this order, from the ``numpy.random.Generator`` passed in: ``B`` uniforms
for the flips, ``B`` row offsets, ``B`` column offsets. The same generator state therefore
gives the same batch.
"""
import numpy as np

from minirocket.errors import ArgumentError, ArgumentTypeError, arg_error
from minirocket.validate import check_array, check_float, check_int

CIFAR10_MEAN = (125.3, 123.0, 113.9)
CIFAR10_STD = (63.0, 62.1, 66.7)


def symmetric_index(i, n):
    """Fold indexes into ``0 .. n-1`` as ``numpy.pad(mode="symmetric")`` does.

    Parameters
    ----------
    i : numpy.ndarray of int
        Indexes into a padded axis, shifted so that 0 is the first real pixel (so padding
        pixels are negative or >= n).
    n : int
        Length of the real axis.

    Returns
    -------
    numpy.ndarray of int
        Source indexes: ``-1 -> 0``, ``-2 -> 1``, ``n -> n-1``, ``n+1 -> n-2``, ...
        (period ``2n``, so pads wider than the image also work).
    """
    m = np.mod(i, 2 * n)
    return np.where(m < n, m, 2 * n - 1 - m)


def _check_stats(name, values, channels):
    try:
        arr = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise arg_error(name, f"{channels} numbers (one per channel)", values,
                        ArgumentTypeError) from None
    if arr.shape != (channels,) or not np.isfinite(arr).all():
        raise arg_error(name, f"{channels} finite numbers (one per channel)", values)
    return arr


def _check_images(images):
    check_array("images", images, ndim=4, dtype_kind="uif")
    if images.shape[0] == 0:
        raise ArgumentError("argument 'images': expected at least one image, got shape "
                            f"{tuple(images.shape)}")
    return images


def normalize(images, mean=CIFAR10_MEAN, std=CIFAR10_STD):
    """Per-channel normalisation and HWC -> CHW, without augmentation (for evaluation).

    Parameters
    ----------
    images : numpy.ndarray, shape (B, H, W, C)
        Pixels on the 0-255 scale (uint8 or float).
    mean, std : sequence of float, length C
        Per-channel statistics on the 0-255 scale.

    Returns
    -------
    numpy.ndarray of float32, shape (B, C, H, W)
        ``(images - mean) / std``, channels first, C-contiguous.
    """
    images = _check_images(images)
    c = images.shape[3]
    mean = _check_stats("mean", mean, c).astype(np.float32)
    std = _check_stats("std", std, c)
    if (std <= 0).any():
        raise arg_error("std", "positive numbers", std.tolist())
    inv = (1.0 / std).astype(np.float32)
    out = np.empty((images.shape[0], c) + images.shape[1:3], np.float32)
    for k in range(c):
        # Per channel so no (B, H, W, C) float temporary is built.
        np.subtract(images[..., k], mean[k], out=out[:, k], dtype=np.float32)
        out[:, k] *= inv[k]
    return out


def random_flip_crop(images, rng, *, flip_prob=0.5, pad=4, crop=None):
    """Random horizontal flip, symmetric padding and random crop of a batch (no normalising).

    Parameters
    ----------
    images : numpy.ndarray, shape (B, H, W, C)
        Any dtype; the output keeps it.
    rng : numpy.random.Generator
        Source of all randomness (see the module notes for the order of draws).
    flip_prob : float
        Probability of a horizontal flip, in [0, 1].
    pad : int
        Symmetric padding on every side, >= 0.
    crop : int or (int, int), optional
        Crop height and width, at most ``(H + 2 pad, W + 2 pad)``; default ``(H, W)``.

    Returns
    -------
    numpy.ndarray, shape (B, h, w, C), same dtype as ``images``
        ``out[b, i, j] = x_b[fold(oy_b + i - pad, H), fold(ox_b + j - pad, W)]`` where
        ``x_b`` is image ``b``, flipped left-right when its flip was drawn,
        ``(oy_b, ox_b)`` are its crop offsets in the padded image and ``fold`` is
        :func:`symmetric_index`.
    """
    images = _check_images(images)
    if not isinstance(rng, np.random.Generator):
        raise arg_error("rng", "a numpy.random.Generator (numpy.random.default_rng(seed))",
                        rng, ArgumentTypeError)
    flip_prob = check_float("flip_prob", flip_prob, min_value=0.0, max_value=1.0)
    pad = check_int("pad", pad, min_value=0)
    b, h_in, w_in, _ = images.shape
    if crop is None:
        ch, cw = h_in, w_in
    else:
        size = tuple(crop) if isinstance(crop, (tuple, list)) else (crop, crop)
        if len(size) != 2:
            raise arg_error("crop", "an int or a (height, width) pair", crop)
        ch = check_int("crop", size[0], min_value=1, max_value=h_in + 2 * pad)
        cw = check_int("crop", size[1], min_value=1, max_value=w_in + 2 * pad)

    flips = rng.random(b) < flip_prob
    oy = rng.integers(0, h_in + 2 * pad - ch + 1, size=b)
    ox = rng.integers(0, w_in + 2 * pad - cw + 1, size=b)

    # Coordinates in the unpadded image; padding pixels fold back symmetrically.
    rows = symmetric_index(oy[:, None] + np.arange(ch)[None, :] - pad, h_in)      # (B, h)
    cols = symmetric_index(ox[:, None] + np.arange(cw)[None, :] - pad, w_in)      # (B, w)
    # Column s of a flipped image is column W-1-s of the original.
    cols = np.where(flips[:, None], w_in - 1 - cols, cols)
    return images[np.arange(b)[:, None, None], rows[:, :, None], cols[:, None, :]]


def augment_batch(images, rng, *, flip_prob=0.5, pad=4, crop=None, mean=CIFAR10_MEAN,
                  std=CIFAR10_STD):
    """Random flip, symmetric pad, random crop, normalise and transpose a batch.

    Parameters
    ----------
    images : numpy.ndarray, shape (B, H, W, C)
        Pixels on the 0-255 scale (uint8 or float).
    rng : numpy.random.Generator
        Source of all randomness (see the module notes for the order of draws).
    flip_prob, pad, crop
        As in :func:`random_flip_crop`.
    mean, std : sequence of float, length C
        Normalisation statistics on the 0-255 scale.

    Returns
    -------
    numpy.ndarray of float32, shape (B, C, h, w)
        ``normalize(random_flip_crop(images, rng, ...), mean, std)``.
    """
    images = _check_images(images)
    c = images.shape[3]
    # Checked before any random draw so that a bad argument leaves rng untouched.
    _check_stats("mean", mean, c)
    if (_check_stats("std", std, c) <= 0).any():
        raise arg_error("std", "positive numbers", std)
    cropped = random_flip_crop(images, rng, flip_prob=flip_prob, pad=pad, crop=crop)
    return normalize(cropped, mean, std)
