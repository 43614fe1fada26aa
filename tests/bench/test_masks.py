"""How mask files are read (bench/masks.py): the options' checks, and nothing at their defaults."""

from __future__ import annotations

import pytest

from bench.masks import MaskReading, MaskReadingError


def test_the_defaults_read_masks_as_stored_and_add_nothing_to_a_name() -> None:
    reading = MaskReading()
    assert reading.default and reading.settings() == {} and reading.tag() == ""
    assert reading.mask_id("a_segmentation") == "a_segmentation" and reading.mask_name("a") == "a"


def test_a_threshold_and_a_suffix_are_part_of_the_settings() -> None:
    reading = MaskReading(127, "_segmentation")
    assert not reading.default
    assert reading.settings() == {"mask_threshold": 127, "mask_suffix": "_segmentation"}
    assert reading.tag() == "mask_threshold=127,mask_suffix=_segmentation"
    assert reading.mask_id("ISIC_0001_segmentation") == "ISIC_0001" and reading.mask_name("a") == "a_segmentation"
    assert reading.mask_id("ISIC_0001") is None and reading.mask_id("_segmentation") is None


@pytest.mark.parametrize("value", [-1, 255, 300, 1.5, True, "127"])
def test_a_threshold_outside_0_to_254_is_refused_naming_the_option(value) -> None:
    with pytest.raises(MaskReadingError, match=r"^--mask-threshold must be an integer in 0\.\.254"):
        MaskReading(threshold=value)


@pytest.mark.parametrize("value", ["a/b", "..\\x", "_seg mentation"])
def test_a_suffix_with_separators_or_spaces_is_refused(value) -> None:
    with pytest.raises(MaskReadingError, match="^--mask-suffix"):
        MaskReading(suffix=value)


@pytest.mark.parametrize("reading", [MaskReading(), MaskReading(127), MaskReading(None, "_seg"), MaskReading(3, "_x")])
def test_a_recorded_reading_tag_gives_the_same_reading_back(reading):
    assert MaskReading.from_tag(reading.tag()) == reading
