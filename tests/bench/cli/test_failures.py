"""Failures only a run can meet (disk full, out of memory) end in one line naming the file or stage and the cause."""

from __future__ import annotations

import shutil
from collections import namedtuple

import pytest
import torch
from cli_checks import assert_refused, invoke, run_args

import bench.report.rows
import bench.report.tables
import bench.runner.downstream
from bench.files import StorageError, save_torch

TORCH_DISK_FULL = (
    "[enforce fail at inline_container.cc:626] . PytorchStreamWriter failed writing file data/0: file write failed"
)
Usage = namedtuple("Usage", "total used free")


@pytest.fixture
def full_disk(monkeypatch):
    """``torch.save`` fails as it does on a full disk, and the disk reports almost no free space."""
    real_save = torch.save
    saves = []

    def save(obj, f, *args, **kwargs):
        saves.append(f)
        if len(saves) > 1:
            raise RuntimeError(TORCH_DISK_FULL)
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(10**9, 10**9 - 4096, 4096))
    return saves


def test_disk_full_during_a_checkpoint_keeps_the_last_good_one(tmp_path, full_disk):
    path = tmp_path / "stage" / "checkpoint.pt"
    save_torch(path, {"step": 10, "w": torch.ones(3)})
    with pytest.raises(StorageError) as info:
        save_torch(path, {"step": 20, "w": torch.zeros(3)})
    assert info.value.strerror.startswith(f"{path}: no space left on device; free some space")
    assert torch.load(path)["step"] == 10  # the last good checkpoint is intact and loads
    assert [p.name for p in path.parent.iterdir()] == ["checkpoint.pt"]  # no temporary file left behind


def test_disk_full_in_a_run_is_one_line_naming_the_file(discs, tmp_path, monkeypatch, full_disk):
    def train_with_checkpoints(cfg, rdir, *args, **kwargs):
        save_torch(rdir / "checkpoint.pt", {"epoch": 1})
        save_torch(rdir / "checkpoint.pt", {"epoch": 2})

    monkeypatch.setattr(bench.runner.downstream, "train_and_evaluate", train_with_checkpoints)
    out = tmp_path / "runs"
    res = invoke(*run_args(discs, out))
    line = assert_refused(res, "checkpoint.pt: no space left on device")
    assert str(out) in line and not list(out.rglob("results.json"))


def test_unwritable_file_met_during_a_run_is_one_line(discs, tmp_path, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "/somewhere/model.pt")

    monkeypatch.setattr(bench.runner.downstream, "train_and_evaluate", denied)
    assert_refused(invoke(*run_args(discs, tmp_path / "runs")), "/somewhere/model.pt: permission denied")


def test_out_of_memory_names_the_stage(discs, tmp_path, monkeypatch):
    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore details")

    monkeypatch.setattr(bench.runner.downstream, "train_and_evaluate", oom)
    out = tmp_path / "runs"
    line = assert_refused(invoke(*run_args(discs, out)), "out of memory while training unet (seed 0)", "2.00 GiB")
    assert "more details" not in line and not list(out.rglob("results.json"))


def test_report_into_a_read_only_folder_is_one_line(tmp_path, monkeypatch):
    import errno

    (tmp_path / "runs").mkdir()
    monkeypatch.setattr(bench.report.rows, "find_results", lambda root: [tmp_path / "r.json"])
    monkeypatch.setattr(bench.report.rows, "load_results", lambda f: {})
    monkeypatch.setattr(bench.report.rows, "make_rows", lambda results, sources=None: [])

    def read_only(path, text):
        raise StorageError(errno.EROFS, f"{path}: read-only file system", str(path))

    monkeypatch.setattr(bench.report.tables, "write_text", read_only)
    assert_refused(invoke("report", "--runs", tmp_path / "runs", "--out", tmp_path / "rep"), "read-only file system")


def test_an_unreadable_results_json_is_one_line_naming_it(tmp_path, monkeypatch):
    """A results.json that cannot be read (permissions, a vanished mount) names the file, not a traceback."""
    (tmp_path / "runs").mkdir()
    bad = tmp_path / "runs" / "r" / "results.json"
    monkeypatch.setattr(bench.report.rows, "find_results", lambda root: [bad])

    def denied(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(bench.report.rows, "load_results", denied)
    assert_refused(
        invoke("report", "--runs", tmp_path / "runs", "--out", tmp_path / "rep"), f"{bad}: permission denied"
    )


def test_a_full_disk_no_verb_expected_is_still_one_line(monkeypatch, capsys):
    """A writer added later that words a full disk its own way (as safetensors does) still ends in one line."""
    import importlib

    cli = importlib.import_module("bench.cli.app")  # the module: ``bench.cli.app`` is the Typer app

    class SafetensorError(Exception):
        pass

    def app(**kwargs):
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(cli, "app", app)
    monkeypatch.setattr(cli.interrupts, "raise_on_signals", lambda: None)
    with pytest.raises(SystemExit) as info:
        cli.main()
    out = capsys.readouterr().out
    assert info.value.code == 2 and "Traceback" not in out
    assert out.strip().splitlines() == [
        "error: no space left on device; free some space and run the same command again (finished work is kept) "
        "(while writing a file the writer did not name)"
    ]
