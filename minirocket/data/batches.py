"""Deterministic, resumable mini-batch index sampling.

Notation
--------
n : number of samples; b : batch size; e : epoch number (from 0)

The order of epoch ``e`` is a permutation drawn from ``numpy.random.default_rng((seed, e))``,
so it depends only on the seed and the epoch: the sampler's whole state is four integers
and a few flags (no generator state to pickle), and resuming from a saved state yields
exactly the batches an uninterrupted run would have yielded.
"""
import numpy as np

from minirocket.errors import ArgumentError, CheckpointError
from minirocket.validate import check_bool, check_int

_STATE_FORMAT = "minirocket-batch-sampler"
_STATE_VERSION = 1


class BatchSampler:
    """Yields arrays of sample indexes, epoch after epoch, in a reproducible order.

    Parameters
    ----------
    n : int
        Number of samples, >= 1.
    batch_size : int
        Samples per batch, >= 1.
    rng_seed : int
        Seed (>= 0) of the per-epoch permutations.
    shuffle : bool
        If False, every epoch is ``0 .. n-1`` in order.
    drop_last : bool
        Drop the last batch of an epoch when it has fewer than ``batch_size`` samples.

    Notes
    -----
    Iterating (``for idx in sampler``) yields the remaining batches of the current epoch and
    then moves to the next epoch; :meth:`next_batch` continues across epochs forever. Each
    yielded ``idx`` is an int64 array of shape (b,) (the last batch of an epoch may be
    shorter unless ``drop_last``).
    """

    def __init__(self, n, batch_size, rng_seed, shuffle=True, drop_last=False):
        self.n = check_int("n", n, min_value=1)
        self.batch_size = check_int("batch_size", batch_size, min_value=1)
        self.rng_seed = check_int("rng_seed", rng_seed, min_value=0)
        self.shuffle = check_bool("shuffle", shuffle)
        self.drop_last = check_bool("drop_last", drop_last)
        if self.drop_last and self.batch_size > self.n:
            raise ArgumentError(f"argument 'batch_size': expected at most n={self.n} when "
                                f"drop_last=True (otherwise every epoch is empty), got "
                                f"{self.batch_size}")
        self.epoch = 0
        self.cursor = 0
        self._perm_epoch = None
        self._perm = None

    def __len__(self):
        """Batches per epoch."""
        if self.drop_last:
            return self.n // self.batch_size
        return -(-self.n // self.batch_size)

    def permutation(self, epoch):
        """The sample order of ``epoch``: int64 array of shape (n,)."""
        if not self.shuffle:
            return np.arange(self.n, dtype=np.int64)
        if self._perm_epoch != epoch:
            rng = np.random.default_rng([self.rng_seed, epoch])
            self._perm = rng.permutation(self.n).astype(np.int64)
            self._perm_epoch = epoch
        return self._perm

    def next_batch(self):
        """Return the next batch's indexes, moving to the next epoch when one ends."""
        if self.cursor >= len(self):
            self.epoch += 1
            self.cursor = 0
        start = self.cursor * self.batch_size
        idx = self.permutation(self.epoch)[start:start + self.batch_size].copy()
        self.cursor += 1
        return idx

    def __iter__(self):
        if self.cursor >= len(self):
            self.epoch += 1
            self.cursor = 0
        while self.cursor < len(self):
            yield self.next_batch()

    def state_dict(self):
        """The full state as a JSON-serialisable dict."""
        return {"format": _STATE_FORMAT, "version": _STATE_VERSION, "n": self.n,
                "batch_size": self.batch_size, "rng_seed": self.rng_seed,
                "shuffle": self.shuffle, "drop_last": self.drop_last,
                "epoch": self.epoch, "cursor": self.cursor}

    def load_state_dict(self, state):
        """Resume from :meth:`state_dict` output: the next batch is the one that was due.

        Raises
        ------
        CheckpointError
            If the state is foreign, newer, or was saved for another ``n``, batch size,
            seed or mode (resuming it would silently change the data order).
        """
        state = _check_state(state)
        for key in ("n", "batch_size", "rng_seed", "shuffle", "drop_last"):
            if state[key] != getattr(self, key):
                raise CheckpointError(f"argument 'state': expected {key}={getattr(self, key)!r} "
                                      f"like this sampler, got {state[key]!r}")
        self.epoch, self.cursor = state["epoch"], state["cursor"]
        return self

    @classmethod
    def from_state(cls, state):
        """A new sampler positioned where the saved one was."""
        state = _check_state(state)
        sampler = cls(state["n"], state["batch_size"], state["rng_seed"], state["shuffle"],
                      state["drop_last"])
        return sampler.load_state_dict(state)


def _check_state(state):
    if not isinstance(state, dict) or state.get("format") != _STATE_FORMAT:
        got = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"argument 'state': expected a '{_STATE_FORMAT}' dict, got "
                              f"{got!r}")
    if not isinstance(state.get("version"), int) or state["version"] > _STATE_VERSION:
        raise CheckpointError(f"argument 'state': expected version <= {_STATE_VERSION}, got "
                              f"{state.get('version')!r}")
    keys = ("n", "batch_size", "rng_seed", "shuffle", "drop_last", "epoch", "cursor")
    missing = [k for k in keys if k not in state]
    if missing:
        raise CheckpointError(f"argument 'state': expected keys {', '.join(keys)}, missing "
                              f"{', '.join(missing)}")
    for k in ("epoch", "cursor"):
        v = state[k]
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise CheckpointError(f"argument 'state': expected '{k}' to be an integer >= 0, "
                                  f"got {v!r}")
    return state
