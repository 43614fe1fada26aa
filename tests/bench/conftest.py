"""A pair-set folder with every kind of problem the integrity check and the loader must name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pair_files import SIZE, gradient, pair_folder, put, square_mask


@pytest.fixture
def broken_folder(tmp_path: Path) -> Path:
    """Two good pairs plus a corrupt image, an image without mask and a mask with values 0/1/2/7."""
    pair_folder(tmp_path, ["good1", "good2"])
    (tmp_path / "images" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not image data")
    put(tmp_path, "masks", "corrupt.png", square_mask())
    put(tmp_path, "images", "lonely.png", gradient(5))
    labels = np.zeros((SIZE, SIZE), np.uint8)
    labels[0:4], labels[4:8], labels[8:12] = 1, 2, 7
    put(tmp_path, "images", "badvalues.png", gradient(6))
    put(tmp_path, "masks", "badvalues.png", labels)
    return tmp_path
