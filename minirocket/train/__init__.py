"""Training runs: configuration and presets, the trainer, checkpoints, the run folder,
learning-curve plots, the exported light-net artifact, and the command-line helpers.

- :mod:`minirocket.train.config` / :mod:`~minirocket.train.presets`: the typed schema,
  TOML files, named presets, the effective configuration and its hash.
- :mod:`minirocket.train.trainer`: :func:`~minirocket.train.trainer.train`,
  :func:`~minirocket.train.trainer.resume` (exact, bit-identical on NumPy).
- :mod:`minirocket.train.checkpoint`: verified checkpoint files.
- :mod:`minirocket.train.artifact`: export and :func:`load_artifact`.
- :mod:`minirocket.train.faults`: fault injection for crash-safety tests.

See ``docs/usage.md``.
"""
