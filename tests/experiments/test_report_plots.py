"""Report plots: labels and titles."""

from __future__ import annotations

from gmcnn.experiments.report import shared_dataset


def test_plots_of_one_dataset_name_it_once() -> None:
    """Labels of one dataset lose the shared ``DATASET/`` prefix (it becomes the title);
    mixed datasets or labels without a dataset keep their labels."""
    assert shared_dataset(["rot-mnist/gm-n3", "rot-mnist/circulant (paper)"]) == (
        "rot-mnist",
        ["gm-n3", "circulant (paper)"],
    )
    assert shared_dataset(["rot-mnist/gm-n3", "rectangles/gm-n3"])[0] is None
    assert shared_dataset(["rot-mnist/gm-n3", "gm-n3"]) == (None, ["rot-mnist/gm-n3", "gm-n3"])
