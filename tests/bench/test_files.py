"""Every writer the bench uses, on a real full file system (a small tmpfs): its failure becomes one StorageError that
names the file, and nothing torn is left under the final name. Readers: a torn file is a CorruptFileError naming it."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import uuid
from fractions import Fraction
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from bench.files import (
    CorruptFileError,
    StorageError,
    atomic_path,
    load_torch,
    reading,
    save_torch,
    storage_error,
    write_json,
    writing,
)

matplotlib.use("Agg")


@pytest.fixture
def full_disk(tmp_path):
    """A 4 MiB tmpfs with all but 8 KiB taken (root only); unmounted after the test."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not allowed here ({done.stderr.decode().strip() or 'not root'})")
    with (mount / f"filler-{uuid.uuid4().hex}").open("wb") as fh:
        os.posix_fallocate(fh.fileno(), 0, shutil.disk_usage(mount).free - (8 << 10))
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


BIG = torch.zeros(256, 1024)  # 1 MiB


def _save_png(path: Path) -> None:
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (512, 512), dtype=np.uint8)).save(path)


def _save_figure(path: Path) -> None:
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(20, 20))
    plt.imshow(np.random.default_rng(0).random((512, 512)))
    fig.savefig(path, format="png")
    plt.close(fig)


@pytest.mark.parametrize(
    "name, write",
    [
        ("model.safetensors", lambda p: save_file({"w": BIG}, str(p))),
        ("checkpoint.pt", lambda p: torch.save({"w": BIG}, p)),
        ("gallery.png", _save_png),
        ("figure.png", _save_figure),
        ("results.json", lambda p: p.write_text("x" * (1 << 20))),
    ],
)
def test_every_writer_on_a_full_disk_is_one_storage_error_naming_the_file(full_disk, name, write):
    path = full_disk / "run" / name
    with pytest.raises(StorageError) as info, atomic_path(path, suffix=path.suffix) as tmp:
        write(tmp)
    assert str(info.value) == f"{path}: no space left on device; free some space and run the same command again " + (
        "(finished work is kept)"
    )
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(path)
    assert list(path.parent.iterdir()) == []  # nothing torn left, not even the temporary file


def test_a_writer_that_writes_in_place_is_named_too(full_disk):
    """safetensors words a full disk as a SafetensorError (no OSError, no file name): ``writing`` names the file."""
    target = full_disk / "denoiser" / "diffusion_pytorch_model.safetensors"
    target.parent.mkdir()
    with pytest.raises(StorageError, match=f"^{target}: no space left on device"), writing(target):
        save_file({"w": BIG}, str(target))


def test_torch_save_keeps_the_last_good_file_when_the_disk_fills(full_disk):
    path = full_disk / "filter" / "model.pt"
    save_torch(path, {"step": 1})
    with pytest.raises(StorageError, match="no space left on device"):
        save_torch(path, {"step": 2, "w": BIG})
    assert torch.load(path)["step"] == 1


def test_read_only_and_denied_folders_name_the_file(tmp_path):
    for code, words in ((errno.EROFS, "read-only file system"), (errno.EACCES, "permission denied")):
        error = storage_error(OSError(code, os.strerror(code)), tmp_path / "results.json")
        assert str(error) == f"{tmp_path / 'results.json'}: {words}"


def test_a_library_error_names_the_os_error_in_its_text():
    class RustError(Exception):
        pass

    error = storage_error(RustError("I/O error: Disk quota exceeded (os error 122)"), Path("/r/x.safetensors"))
    assert error is not None and error.errno == errno.EDQUOT and str(error).startswith("/r/x.safetensors: disk quota")


def test_other_failures_are_not_called_storage_failures(tmp_path):
    assert storage_error(RuntimeError("shape mismatch"), tmp_path / "x.pt") is None  # plenty of space here
    assert storage_error(TypeError("bad argument"), tmp_path / "x.pt") is None
    with pytest.raises(ValueError, match="not mine"), writing(tmp_path / "x"):
        raise ValueError("not mine")


def test_write_json_into_a_read_only_mount_is_one_line(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    done = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"bind-mounting a folder is not allowed here ({done.stderr.decode().strip() or 'not root'})")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True)
        with pytest.raises(StorageError) as info:
            write_json(folder / "results.json", {"a": 1})
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
    assert str(info.value) == f"{folder / 'results.json'}: read-only file system"


def test_reading_a_torn_file_names_it_what_it_should_hold_and_the_remedy(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"\x80\x02 torn")
    with pytest.raises(CorruptFileError) as info, reading(path, "a network's weights", "delete it", "--opt"):
        load_torch(path)
    assert str(info.value) == (
        f"--opt: {path}: not a network's weights (it cannot be unpickled: torn, or no torch file); delete it"
    )
    assert isinstance(info.value, ValueError)  # callers that refuse bad values refuse it too
    with pytest.raises(FileNotFoundError), reading(tmp_path / "missing.pt", "weights"):
        load_torch(tmp_path / "missing.pt")


@pytest.mark.parametrize(
    "content, words",
    [
        (b"\x80\x02torn", "it cannot be unpickled: torn, or no torch file"),
        (b"plain text", "it cannot be unpickled: torn, or no torch file"),
        (None, "it holds Python objects, not only tensors"),
    ],
)
def test_load_torch_words_a_file_it_cannot_read(tmp_path, content, words):
    path = tmp_path / "x.pt"
    path.write_bytes(content) if content is not None else torch.save({"f": Fraction(1, 2)}, path)
    with pytest.raises(ValueError, match=f"^{words}"):
        load_torch(path)
