"""Report files: plot labels and titles, file modes."""

from __future__ import annotations

import stat
from pathlib import Path

from gmcnn.experiments.files import write_json
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


def test_atomic_writes_get_a_new_files_mode(tmp_path: Path) -> None:
    """Files written atomically (run folders, reports) are readable as any new file would
    be under the umask, not 0600 like the temporary file they start as."""
    write_json(tmp_path / "summary.json", {"a": 1})
    (tmp_path / "plain.txt").write_text("a")
    mode = stat.S_IMODE((tmp_path / "summary.json").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode)
