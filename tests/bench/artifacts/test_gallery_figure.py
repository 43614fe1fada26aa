"""The gallery figure (bench.artifacts.gallery) assembled from stored run galleries."""

import pytest
from PIL import Image
from stored_runs import fake_run

from bench.artifacts import build_artifact


def test_gallery_assembles_the_lowest_seed_and_notes_missing(tmp_path):
    runs = tmp_path / "runs"
    chosen = fake_run(runs, "diffuseexpand", 0, 0.9)
    later = fake_run(runs, "diffuseexpand", 1, 0.9)
    other_model = fake_run(runs, "diffuseexpand", 0, 0.9, model="attnunet")
    synthmed = fake_run(runs, "synthmed", 3, 0.5, ablation="dual")
    fake_run(runs, "xlsor", 0, 0.9, ablation="full")  # no gallery.png
    fake_run(runs, "origin", 0, 0.9)  # generates nothing: never listed
    for folder, colour in ((chosen, "red"), (later, "blue"), (other_model, "green"), (synthmed, "white")):
        Image.new("RGB", (24, 16), colour).save(folder / "gallery.png")
    art = build_artifact("gallery", runs, tmp_path / "out")
    assert [p.name for p in art.files] == ["gallery.md", "gallery.png"] and art.figures == [art.files[1]]
    with Image.open(art.figures[0]) as im:
        assert im.size[0] > 100
    md = art.files[0].read_text()
    shown = {f: str((f / "gallery.png").relative_to(tmp_path)) for f in (chosen, later, other_model, synthmed)}
    assert shown[chosen] in md and shown[later] not in md
    assert shown[other_model] not in md and shown[synthmed] in md
    assert [r[2] for r in art.tables["gallery"][1]] == ["synthmed", "diffuseexpand"]
    assert art.notes == ["no gallery.png in any run folder of: xlsor (full), montgomery_lung, cpu"]
    (chosen / "gallery.png").unlink()
    (later / "gallery.png").unlink()
    (other_model / "gallery.png").unlink()
    (synthmed / "gallery.png").unlink()
    with pytest.raises(ValueError, match="no run folder holds gallery.png"):
        build_artifact("gallery", runs, tmp_path / "out2")


def test_gallery_prefers_a_run_whose_settings_are_the_presets_own_values(tmp_path):
    """A τ sweep writes ``tau=1`` explicitly: that run is the preset's, not ``tau=0.5`` (which sorts first)."""
    runs = tmp_path / "runs"
    off = fake_run(runs, "diffuseexpand", 0, 0.9, ablation="cf+cg", tau=0.5, settings="tau=0.5", guidance_scale=0.1)
    on = fake_run(runs, "diffuseexpand", 0, 0.9, ablation="cf+cg", tau=1.0, settings="tau=1", guidance_scale=0.1)
    for folder in (off, on):
        Image.new("RGB", (24, 16), "red").save(folder / "gallery.png")
    md = build_artifact("gallery", runs, tmp_path / "out").files[0].read_text()
    assert str(on.relative_to(tmp_path)) in md and str(off.relative_to(tmp_path)) not in md


def test_gallery_of_a_method_not_registered_here_still_builds(tmp_path):
    runs = tmp_path / "runs"
    run = fake_run(runs, "oldmethod", 0, 0.9, ablation="full", settings="tau=1")
    Image.new("RGB", (24, 16), "red").save(run / "gallery.png")
    md = build_artifact("gallery", runs, tmp_path / "out").files[0].read_text()
    assert "oldmethod" in md
