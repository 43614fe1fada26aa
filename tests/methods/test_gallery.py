import numpy as np
from PIL import Image
from synthetic_pairs import disc_pairs

from methods.gallery import DECISION_COLOURS, GENERATED_COLOUR, LEGEND_HEIGHT, save_gallery


def test_gallery_carries_its_colour_legend(tmp_path):
    pairs = disc_pairs(3)
    save_gallery(tmp_path / "decided.png", pairs.images, pairs.masks, ["kept", "relabelled", "dropped"])
    save_gallery(tmp_path / "plain.png", pairs.images, pairs.masks)
    for name, colours in (("decided", DECISION_COLOURS.values()), ("plain", [GENERATED_COLOUR])):
        image = np.asarray(Image.open(tmp_path / f"{name}.png").convert("RGB"))
        strip = image[-LEGEND_HEIGHT:].reshape(-1, 3)
        for colour in colours:
            assert (strip == colour).all(axis=1).sum() >= 100, (name, colour)  # a swatch of each colour
    assert Image.open(tmp_path / "plain.png").height == 2 + 128 + 2 + LEGEND_HEIGHT
