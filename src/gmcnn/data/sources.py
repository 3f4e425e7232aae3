"""The vocabulary of the registry: a dataset, the sources it can be built from, a build.

A :class:`DatasetSpec` names one dataset of the paper's experiments; each of its
:class:`Source` entries is one way to obtain it — generated here, embedded in an installed
package, installed by a system package, or read from the original files a user provides —
with the options that build accepts and their defaults. The first source is the default.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from torch.utils.data import Dataset

from gmcnn.data.storage import Manifest

SourceKind = Literal["generated", "embedded", "system package", "user files"]


@dataclass(frozen=True)
class BuildContext:
    """What a build gets: the folder to fill, the folder of input files, the options.

    ``workers`` is how many processes a build may use (``None``: one per core); it changes
    how fast a build runs, never what it makes.
    """

    folder: Path
    raw_dir: Path | None
    options: Mapping[str, Any]
    progress: bool
    workers: int | None = None


def check_workers(workers: object) -> None:
    """Raise ``ValueError`` unless ``workers`` is ``None`` or a positive process count."""
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise ValueError(f"workers={workers!r}: expected a positive number of processes")


@dataclass
class BuildResult:
    """What a build made: files (relative to its folder), split metadata, inputs used."""

    files: list[str]
    splits: dict[str, dict[str, Any]]
    inputs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    """One way to build a dataset.

    ``raw_dir`` is where the build looks for input files: relative to the data root (e.g.
    ``"mnist/raw"``) or absolute (a system package's folder); ``needs`` says in words which
    files go there. ``expensive`` sources (minutes to hours of simulation) are never built
    implicitly by :func:`gmcnn.data.load`. ``check`` raises ``ValueError`` for options the
    build would refuse, so that they are refused before any folder is made.
    """

    name: str
    kind: SourceKind
    description: str
    build: Callable[[BuildContext], BuildResult]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    raw_dir: str | None = None
    needs: str = ""
    expensive: bool = False
    check: Callable[[Mapping[str, Any]], None] | None = None


Opener = Callable[[Path, Manifest, str, Mapping[str, Any]], Dataset[Any]]


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset of the paper: its task, where it comes from and how a split is opened.

    ``view_defaults`` are the options of :func:`gmcnn.data.load` that shape the returned
    dataset without changing what is prepared (e.g. the window layout of dynamics data).
    """

    name: str
    task: Literal["classification", "dynamics"]
    description: str
    paper: str
    sources: tuple[Source, ...]
    splits: tuple[str, ...]
    open: Opener
    view_defaults: Mapping[str, Any] = field(default_factory=dict)

    def source(self, name: str | None) -> Source:
        """The source called ``name``, or the default one for ``None``."""
        if name is None:
            return self.sources[0]
        for source in self.sources:
            if source.name == name:
                return source
        choices = ", ".join(s.name for s in self.sources)
        raise ValueError(f"dataset {self.name!r} has no source {name!r}: choose {choices}")
