"""Datasets, augmentation and batching.

Loaders (each finds its files through :mod:`minirocket.data.locate`)
--------------------------------------------------------------------
- :func:`load_cifar10` -> ``{"train", "test"}`` of :class:`ImageSet` (uint8 (N, 32, 32, 3)),
  decoded once from the JPEG tar.xz and cached.
- :func:`load_fashion_mnist` -> ``{"train", "test"}`` of :class:`ImageSet` (uint8 (N, 28, 28)).
- :func:`load_adult` -> :class:`TabularDataset` (click-style: categorical ids + dense floats).

Readers for users' own files
----------------------------
- :func:`load_images` / :func:`read_image_archive` / :func:`read_image_folder`:
  ``<split>/<class>/<image>`` in a tar archive or a folder.
- :func:`read_cifar_python`: the official CIFAR-10 python batches.
- :func:`read_idx`, :func:`read_idx_pair`: IDX (MNIST-style) files.
- :func:`read_adult`, :class:`TabularPreprocessor`: comma-separated Adult-style rows.
- :func:`read_criteo`: Criteo-format click logs.

Training helpers
----------------
- :func:`augment_batch`, :func:`random_flip_crop`, :func:`normalize`: CIFAR augmentation.
- :class:`BatchSampler`: deterministic, resumable batch indexes.

See ``docs/data.md``.
"""
from minirocket.data.augment import (CIFAR10_MEAN, CIFAR10_STD, augment_batch, normalize,
                                     random_flip_crop, symmetric_index)
from minirocket.data.batches import BatchSampler
from minirocket.data.cifar_batches import read_cifar_python
from minirocket.data.idx import (FASHION_MNIST_CLASSES, load_fashion_mnist, read_idx,
                                 read_idx_images, read_idx_labels, read_idx_pair)
from minirocket.data.images import (CIFAR10_CLASSES, DatasetSplits, ImageSet, load_cifar10,
                                    load_images, read_image_archive, read_image_folder)
from minirocket.data.locate import (DataDir, DataSource, default_cache_dir, locate_dataset,
                                    resolve_data_dir, shared_datasets_dir)
from minirocket.data.tabular import (ADULT_CATEGORICAL, ADULT_COLUMNS, ADULT_NUMERIC,
                                     CriteoEncoder, CriteoFile, TabularDataset,
                                     TabularPreprocessor, TabularSplit, adult_preprocessor,
                                     field_offsets, load_adult, read_adult, read_criteo,
                                     stable_hash)

__all__ = [
    "ADULT_CATEGORICAL", "ADULT_COLUMNS", "ADULT_NUMERIC", "BatchSampler", "CIFAR10_CLASSES",
    "CIFAR10_MEAN", "CIFAR10_STD", "CriteoEncoder", "CriteoFile", "DataDir", "DataSource",
    "DatasetSplits", "FASHION_MNIST_CLASSES", "ImageSet", "TabularDataset",
    "TabularPreprocessor", "TabularSplit", "adult_preprocessor", "augment_batch",
    "default_cache_dir", "field_offsets", "load_adult", "load_cifar10", "load_fashion_mnist",
    "load_images", "locate_dataset", "normalize", "random_flip_crop", "read_adult",
    "read_cifar_python", "read_criteo", "read_idx", "read_idx_images", "read_idx_labels",
    "read_idx_pair", "read_image_archive", "read_image_folder", "resolve_data_dir",
    "shared_datasets_dir", "stable_hash", "symmetric_index",
]
