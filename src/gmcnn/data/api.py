"""One entry point for every dataset: :func:`load`, :func:`prepare` and :func:`datasets`.

Data lives under ``$GMCNN_DATA`` (default ``~/.cache/gmcnn``), one folder per dataset and
source: ``<root>/<name>/<source>/``. Preparing checks a folder's manifest first and does no
work when it is complete and was built with the same options. Nothing is ever downloaded:
user-file sources read what the user put in ``<root>/<name>/raw/`` (or ``raw_dir``).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from gmcnn.data.classification_catalog import CLASSIFICATION_SPECS
from gmcnn.data.dynamics_catalog import DYNAMICS_SPECS
from gmcnn.data.sources import BuildContext, DatasetSpec, Source, check_workers
from gmcnn.data.storage import (
    MANIFEST,
    IntegrityError,
    Manifest,
    clean_interrupted,
    data_root,
    folder_bytes,
    manifest_problems,
    read_manifest,
    replace_folder,
    staging_folder,
    verify_manifest,
    write_manifest,
)

PathLike = str | os.PathLike[str]

#: Every dataset of the paper's experiments (and the Fashion-MNIST stand-ins), by name.
REGISTRY: dict[str, DatasetSpec] = {
    spec.name: spec for spec in CLASSIFICATION_SPECS + DYNAMICS_SPECS
}


def dataset_spec(name: str) -> DatasetSpec:
    """The registry entry of ``name``."""
    if name not in REGISTRY:
        raise ValueError(f"unknown dataset {name!r}: choose one of {', '.join(REGISTRY)}")
    return REGISTRY[name]


def prepared_folder(name: str, source: str | None = None, root: PathLike | None = None) -> Path:
    """``<root>/<name>/<source>``, where the prepared files of that source live."""
    spec = dataset_spec(name)
    return data_root(root) / spec.name / spec.source(source).name


def _normalise(options: Mapping[str, Any]) -> dict[str, Any]:
    """Options as a manifest stores them (JSON round trip: tuples become lists)."""
    return dict(json.loads(json.dumps(dict(options), sort_keys=True)))


def _check_option(spec: DatasetSpec, source: Source, key: str, value: Any) -> None:
    """Raise ``ValueError`` unless ``value`` has the type of the option's default.

    Every numeric build option (counts, sizes, seeds, levels, amplitudes) is a finite,
    non-negative number: a negative count would cut overlapping splits, a NaN amplitude
    poison every image.
    """
    default = source.defaults[key]
    where = f"option {key}={value!r} of {spec.name} (source {source.name})"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{where}: expected true or false")
    elif isinstance(default, int | float):
        integer = isinstance(default, int)
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise ValueError(
                f"{where}: expected a non-negative {'integer' if integer else 'number'}"
            )
        if not math.isfinite(value) or value < 0:
            raise ValueError(
                f"{where}: expected a non-negative {'integer' if integer else 'finite number'}"
            )
    elif isinstance(default, str) and not isinstance(value, str):
        raise ValueError(f"{where}: expected a string")


def _build_options(spec: DatasetSpec, source: Source, options: Mapping[str, Any]) -> dict[str, Any]:
    """The options of a build (defaults filled in); every name and value is checked here."""
    unknown = set(options) - set(source.defaults)
    if unknown:
        accepted = ", ".join(source.defaults) or "none"
        raise ValueError(
            f"option(s) {', '.join(sorted(unknown))} are not accepted by {spec.name} "
            f"(source {source.name}); accepted: {accepted}"
        )
    for key, value in options.items():
        _check_option(spec, source, key, value)
    resolved = _normalise({**source.defaults, **options})
    if source.check is not None:
        source.check(resolved)
    return resolved


#: Source kinds that read input files (from ``raw_dir`` / ``--from``).
FILE_KINDS = ("user files", "system package")


def _raw_dir(source: Source, root: Path, raw_dir: PathLike | None) -> Path | None:
    if raw_dir is not None:
        return Path(raw_dir).expanduser()
    if source.raw_dir is None:
        return None
    path = Path(source.raw_dir)
    return path if path.is_absolute() else root / path


def _remedy(spec: DatasetSpec, source: Source) -> str:
    return f"run `gmcnn data prepare {spec.name} --source {source.name}` to build it again"


def prepare(
    name: str,
    source: str | None = None,
    root: PathLike | None = None,
    *,
    force: bool = False,
    raw_dir: PathLike | None = None,
    progress: bool = True,
    workers: int | None = None,
    **options: Any,
) -> Manifest:
    """Build dataset ``name`` from ``source`` (default: its first) and return its manifest.

    A complete folder built with the same options is verified and returned without work;
    one built with other options is refused unless ``force`` (which rebuilds from scratch).
    A folder left incomplete (an interrupted plume generation) is resumed. ``raw_dir``
    overrides where user files are read from.

    Every option is checked before anything is touched. ``force`` on a complete folder
    builds the new one beside it (``.SOURCE.rebuild-PID``) and swaps it in when it is done,
    so a failing or interrupted rebuild leaves the prepared data as it was. Temporaries
    left by killed builds are removed first (:func:`~gmcnn.data.storage.clean_interrupted`).
    A complete folder whose files no longer match its manifest (missing, truncated,
    altered) is reported on stderr and repaired: the bad files are built again (for plume
    simulations, only those). ``workers`` is how many processes a build may use (plume
    simulations; default one per core).
    """
    check_workers(workers)
    spec = dataset_spec(name)
    src = spec.source(source)
    if raw_dir is not None and src.kind not in FILE_KINDS:
        readers = [s.name for s in spec.sources if s.kind in FILE_KINDS]
        raise ValueError(
            f"{spec.name} ({src.name}) is {src.kind} and reads no input files, so --from / "
            f"raw_dir {str(raw_dir)!r} would be ignored; "
            + (
                f"the sources that read files: {', '.join(readers)} (--source NAME)"
                if readers
                else f"{spec.name} has no source that reads files"
            )
        )
    resolved = _build_options(spec, src, options)
    base = data_root(root)
    folder = base / spec.name / src.name
    raw = _raw_dir(src, base, raw_dir)
    clean_interrupted(folder)
    complete = False
    if force:
        try:
            complete = read_manifest(folder) is not None
        except IntegrityError:  # a broken manifest: nothing worth keeping
            complete = False
    else:
        try:
            manifest = read_manifest(folder)
        except IntegrityError as error:  # its files are checked by the build, like a partial
            print(f"{spec.name}: {error}; building again", file=sys.stderr)
            (folder / MANIFEST).unlink()
            manifest = None
        if manifest is not None:
            if manifest.options != resolved:
                raise ValueError(
                    f"{folder} was prepared with options {manifest.options}, not {resolved}; "
                    "pass force=True (--force) to rebuild it"
                )
            problems = manifest_problems(folder, manifest)
            if not problems:
                return manifest
            for rel, problem in problems.items():
                print(f"{spec.name}: {problem}; building it again", file=sys.stderr)
                (folder / rel).unlink(missing_ok=True)
            (folder / MANIFEST).unlink()
    if src.kind in FILE_KINDS and (raw is None or not raw.is_dir()):
        raise FileNotFoundError(
            f"{spec.name} ({src.name}) needs {src.needs}: put them in {raw} or pass raw_dir "
            "(--from DIR); gmcnn never downloads data"
        )
    if force and not complete and folder.exists():
        shutil.rmtree(folder)  # a partial or broken folder: rebuilt from scratch in place
    target = staging_folder(folder) if complete else folder
    if complete and target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        try:
            result = src.build(BuildContext(target, raw, resolved, progress, workers))
        except FileNotFoundError as error:
            raise FileNotFoundError(
                f"{error}; {spec.name} ({src.name}) needs {src.needs} in {raw} (or pass "
                "raw_dir / --from DIR)"
            ) from error
        manifest = write_manifest(
            target,
            name=spec.name,
            source=src.name,
            options=resolved,
            files=result.files,
            splits=result.splits,
            inputs=result.inputs,
            prepare_seconds=time.perf_counter() - start,
        )
    except BaseException:
        if complete:  # the prepared folder stays as it was
            shutil.rmtree(target, ignore_errors=True)
        raise
    if complete:
        replace_folder(target, folder)
    return manifest


def load(
    name: str,
    split: str,
    root: PathLike | None = None,
    *,
    source: str | None = None,
    **options: Any,
) -> Dataset[Any]:
    """The torch dataset of split ``split`` of ``name``.

    Classification splits (``train``, ``valid``, ``test``) give ``(image (C, H, W), label)``;
    dynamics splits (``train``, ``valid``, ``test-future``, ``test-domain``) give
    ``(input (2·input_frames, H, W), target (target_frames, 2, H, W))``. ``options`` are
    either build options of the source (checked against what is prepared) or view options of
    the dataset (window layout, ``times``, ``level``). Embedded, generated image and
    system-package datasets are prepared on first use; plume simulations and user files must
    be prepared first with ``gmcnn data prepare``. Every file is verified against the
    manifest before it is read.
    """
    spec = dataset_spec(name)
    src = spec.source(source)
    if split not in spec.splits:
        raise ValueError(
            f"dataset {name!r} has no split {split!r}: choose {', '.join(spec.splits)}"
        )
    view = {key: options.pop(key) for key in list(options) if key in spec.view_defaults}
    view_options = {**spec.view_defaults, **view}
    folder = data_root(root) / spec.name / src.name
    manifest = read_manifest(folder)
    if manifest is None:
        if src.expensive or src.kind == "user files":
            raise FileNotFoundError(
                f"{spec.name} ({src.name}) is not prepared in {folder}: run `gmcnn data prepare "
                f"{spec.name} --source {src.name}`"
                + (
                    f" after putting {src.needs} in {_raw_dir(src, data_root(root), None)}"
                    if src.kind == "user files"
                    else ""
                )
            )
        print(
            f"gmcnn: building {spec.name} ({src.name}) in {folder} on first use",
            file=sys.stderr,
            flush=True,
        )
        manifest = prepare(spec.name, src.name, root, progress=False, **options)
    else:
        requested = _build_options(spec, src, options)
        if options and requested != manifest.options:
            raise ValueError(
                f"{folder} was prepared with options {manifest.options}, not {requested}; run "
                f"`gmcnn data prepare {spec.name} --source {src.name} --force` with the new "
                "options"
            )
        verify_manifest(folder, manifest, _remedy(spec, src))
    return spec.open(folder, manifest, split, view_options)


@dataclass(frozen=True)
class DatasetStatus:
    """One row of :func:`datasets`: a dataset source and the state of its folder."""

    name: str
    source: str
    kind: str
    task: str
    paper: str
    description: str
    status: str
    bytes: int | None
    prepare_seconds: float | None


def _status(spec: DatasetSpec, source: Source, root: Path) -> DatasetStatus:
    folder = root / spec.name / source.name
    clean_interrupted(folder)
    size: int | None = None
    try:
        manifest = read_manifest(folder)
    except ValueError as error:
        manifest, state = None, f"broken manifest ({error})"
    else:
        state = "not prepared"
    if manifest is not None:
        state = "prepared"
        size = manifest.total_bytes
    elif state.startswith("broken"):
        state += "; prepare again to repair"
    elif folder.is_dir() and any(folder.iterdir()):
        state = "partial (prepare again to resume)"
        size = folder_bytes(folder)
    elif source.kind in FILE_KINDS:
        raw = _raw_dir(source, root, None)
        if raw is None or not raw.is_dir():
            state = f"missing input files in {raw}"
    return DatasetStatus(
        spec.name,
        source.name,
        source.kind,
        spec.task,
        spec.paper,
        source.description,
        state,
        size,
        manifest.prepare_seconds if manifest else None,
    )


def datasets(root: PathLike | None = None) -> list[DatasetStatus]:
    """Every dataset and source of the registry with its status under ``root``.

    The status reads manifests only (no hashing), so it is instant; :func:`load` and
    :func:`prepare` do the full verification. Temporaries of builds whose process was
    killed are removed on the way (:func:`~gmcnn.data.storage.clean_interrupted`); the size
    of a partial folder is what it holds on disk.
    """
    base = data_root(root)
    return [_status(spec, source, base) for spec in REGISTRY.values() for source in spec.sources]
