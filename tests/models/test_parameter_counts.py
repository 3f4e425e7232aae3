"""Parameter counts of every GM cell of Table 3 and of the dynamics models (Tables 1–2).

Exact where the issue asks for it; every other Table 3 cell within 2% of the paper, except
the cells listed in :data:`EXPLAINED`, whose counts docs/reproduction.md explains.
"""

from __future__ import annotations

import pytest

from gmcnn.experiments.config import load_config
from gmcnn.metrics import parameter_count
from gmcnn.models import InputSpec, build_model

#: (channels, side, classes) of the datasets as this project loads them.
IMAGES = {
    "rectangles": (1, 28, 2),
    "rotated-mnist": (1, 28, 10),
    "mnist-noise": (1, 28, 10),
    "mnist-bg-rot": (1, 28, 10),
    "cifar10": (3, 32, 10),
    "norb": (1, 32, 6),
    "smallnorb": (1, 24, 5),
}
GRIDS = {"jetflow": (62, 23)}

#: Cells whose paper count does not follow from App. A.2's arithmetic: the project's count.
EXPLAINED = {
    "mnist-bg-rot/gm-n3": 13_451,  # the paper repeats the 2-class count 12,483
    "rectangles/gm-n1-pe": 5_459,  # the paper repeats the 10-class count 5,915
    **{
        f"{d}/gm-n2-pe": n
        for d, n in [
            ("mnist-bg-rot", 10_523),
            ("mnist-noise", 10_523),
            ("cifar10", 10_611),
            ("norb", 10_295),
            ("smallnorb", 10_238),
            ("rectangles", 10_067),
            ("rot-mnist", 10_523),
        ]
    },
    **{
        f"{d}/gm-n3-pe": n
        for d, n in [
            ("mnist-bg-rot", 17_435),
            ("mnist-noise", 17_435),
            ("cifar10", 17_523),
            ("norb", 17_207),
            ("smallnorb", 17_150),
            ("rectangles", 16_979),
            ("rot-mnist", 17_435),
        ]
    },
}
TABLE3 = [
    f"{d}/{m}"
    for d in (
        "mnist-bg-rot",
        "mnist-noise",
        "cifar10",
        "norb",
        "smallnorb",
        "rectangles",
        "rot-mnist",
    )
    for m in ("gm-n3", "gm-n3-e", "gm-n1-pe", "gm-n2-pe", "gm-n3-pe")
]


def count(experiment: str) -> int:
    config = load_config(experiment)
    if config.task == "classification":
        channels, side, classes = IMAGES[config.data.name]
        inputs = InputSpec("classification", channels, (side, side), classes)
    else:
        inputs = InputSpec("dynamics", 20, GRIDS.get(config.data.name, (64, 64)), 2)
    return parameter_count(build_model(config.model.name, inputs, **config.model.options))


@pytest.mark.parametrize(
    ("experiment", "expected"),
    [
        ("rectangles/gm-n3", 12_483),
        ("mnist-noise/gm-n1-pe", 5_915),
        ("rot-mnist/gm-n1-pe", 5_915),
        ("rot-mnist/gm-n3", 48_731),
        ("cifar10/gm-n1-pe", 6_003),
        ("norb/gm-n3", 12_967),
        ("norb/gm-n1-pe", 5_687),
        ("rectangles/gm-n3-e", 24_243),
    ],
)
def test_counts_that_match_the_paper_exactly(experiment: str, expected: int) -> None:
    assert count(experiment) == expected


@pytest.mark.parametrize("experiment", TABLE3)
def test_table3_cells_within_two_percent_or_explained(experiment: str) -> None:
    ours = count(experiment)
    if experiment in EXPLAINED:
        assert ours == EXPLAINED[experiment]
        return
    paper = load_config(experiment).paper.parameters
    assert paper is not None
    assert abs(ours - paper) <= 0.02 * paper, (ours, paper)


@pytest.mark.parametrize(
    ("experiment", "ours", "paper"),
    [
        ("plumes-translation/gm", 24_454, 19_267),
        ("plumes-rotation/gm", 24_454, 19_267),
        ("plumes-scaling/gm", 24_454, 19_267),
        ("jetflow-translation/gm", 13_774, 26_325),
        ("jetflow-rotation/gm", 18_382, 29_583),
        ("jetflow-scaling/gm", 13_774, 26_325),
    ],
)
def test_dynamics_counts(experiment: str, ours: int, paper: int) -> None:
    """App. A.1's architecture; the paper's counts are not reproducible from its description
    (docs/reproduction.md): the same order of magnitude, far below every baseline."""
    assert count(experiment) == ours
    assert load_config(experiment).paper.parameters == paper
    assert 0.5 < ours / paper < 1.3


@pytest.mark.parametrize(
    ("experiment", "positions", "taps"),
    [
        ("plumes-rotation/gm", 64 * 64, 3 * 3),  # C64 × C64, radius 1: a 3×3 square
        ("jetflow-translation/gm", 62 * 23, 3 * 3),  # C62 × C23
        ("jetflow-rotation/gm", 62 * 23, 6 * 3),  # D31 (r^i, f·r^i, |i| <= 1) × C23
    ],
)
def test_dynamics_count_is_the_public_codes_arithmetic(
    experiment: str, positions: int, taps: int
) -> None:
    """1×1 lift 20→128 with bias; four shared-kernel GMConv layers (``128·|B_1|`` weights,
    128 biases, one output scale per position) each with its own one-slope PReLU; a 1×1
    head 128→2 with bias — the network of the public regression code.

    No reading of App. A.1 reaches the paper's counts: 19,267, 26,325 and 29,583 are odd,
    while with four PReLUs every term is even; JetFlow rotation and translation differ only
    in the group (same 1,426 positions), so their counts should differ by a multiple of
    ``4·128 = 512`` kernel weights, but 29,583 − 26,325 = 3,258 is not one; and plumes and
    JetFlow translation differ only in the number of positions (4,096 vs 1,426), yet the
    paper's smaller grid has 7,058 *more* parameters.
    """
    lift, head = 20 * 128 + 128, 128 * 2 + 2
    layers = 4 * (128 * taps + 128 + positions + 1)
    assert count(experiment) == lift + layers + head
    assert load_config(experiment).paper.parameters % 2 == 1
