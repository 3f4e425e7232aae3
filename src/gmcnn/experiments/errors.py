"""The errors of training that are not the user's input: importable without torch or Lightning.

Input errors are ``ValueError`` subclasses (:class:`~gmcnn.experiments.config.ConfigError`,
:class:`~gmcnn.experiments.runs.RunFolderError`,
:class:`~gmcnn.experiments.training.CheckpointError`); the command line prints each as one
line with exit status 2. The errors here are failures of a run, exit status 1.
"""

from __future__ import annotations


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the run stops, checkpoints stay as they were."""
