"""Stored runs as the artifacts read them (bench.artifacts.cells)."""

from PIL import Image
from stored_runs import fake_run

from bench.artifacts import build_artifact


def test_written_files_name_run_folders_relative_to_runs(tmp_path, monkeypatch):
    """A committed report must not carry one machine's absolute paths: run folders show as ``runs/...``, whether
    --runs was given absolute or relative."""
    runs = tmp_path / "runs"
    fake_run(runs, "origin", 0, 0.9)
    preset = fake_run(runs, "diffuseexpand", 0, 0.96)
    fake_run(runs, "diffuseexpand", 0, 0.97, settings="tau=1")  # a second run of seed 0: the note names both folders
    Image.new("RGB", (24, 16), "red").save(preset / "gallery.png")
    monkeypatch.chdir(tmp_path)
    for kind, note in (("table1", "used runs/montgomery_lung/diffuseexpand__"), ("gallery", "`runs/montgomery_lung/")):
        given = build_artifact(kind, runs.resolve(), tmp_path / "absolute" / kind)
        relative = build_artifact(kind, runs.relative_to(tmp_path), tmp_path / "relative" / kind)
        texts = [f.read_text() for f in given.files if f.suffix in (".md", ".csv", ".tex")]
        assert texts == [f.read_text() for f in relative.files if f.suffix in (".md", ".csv", ".tex")]
        assert note in texts[0]
        assert not any(str(tmp_path) in t or str(tmp_path.resolve()) in t for t in [*texts, *given.notes])
