"""Files that are never half-written, and locks for folders that two runs may share.

Every writer here writes to a temporary name in the target's folder and renames it over the target at the
end, so a reader (or a resumed run) sees either the old file or the whole new one, never a torn one. New
files get the usual permissions (``0666`` less the umask), not the private ``0600`` of ``mkstemp``. A full
disk or an unwritable folder becomes a :class:`StorageError` that names the file, whichever library was
writing (``torch.save`` reports a full disk as a ``RuntimeError`` from its zip writer).
"""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import filelock


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()
_DIR_MODE = 0o777 & ~_umask()


class StorageError(OSError):
    """A file or folder could not be written: disk full, read-only or permission denied. Names the path."""


def storage_error(exc: BaseException, path: Path) -> StorageError | None:
    """The :class:`StorageError` that ``exc`` raised while writing ``path`` stands for, or None."""
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT) or (
        isinstance(exc, RuntimeError) and "file write failed" in str(exc) and _nearly_full(path)
    ):
        return StorageError(errno.ENOSPC, f"disk full while writing {path}", str(path))
    if code in (errno.EROFS, errno.EACCES, errno.EPERM):
        reason = "read-only file system" if code == errno.EROFS else "permission denied"
        return StorageError(code, f"cannot write {path}: {reason}", str(path))
    return None


def _nearly_full(path: Path) -> bool:
    for folder in (path, *path.parents):
        if folder.exists():
            return shutil.disk_usage(folder).free < 16 * 2**20
    return False


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary file path beside ``path``; rename it over ``path`` when the block succeeds.

    Args:
        path: the final file.
        suffix: suffix of the temporary name (some writers pick a format by it, e.g. ``.png``).

    Raises:
        StorageError: the disk is full or the folder cannot be written (the temporary file is removed).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    except OSError as e:
        raise (storage_error(e, path) or e) from e
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        error = storage_error(e, path)
        if error is not None:
            raise error from e
        raise


@contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging folder beside ``path``; it replaces ``path`` (whole) when the block succeeds.

    Raises:
        StorageError: as :func:`atomic_path`; the staging folder is removed.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    except OSError as e:
        raise (storage_error(e, path) or e) from e
    try:
        yield tmp
        os.chmod(tmp, _DIR_MODE)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        error = storage_error(e, path)
        if error is not None:
            raise error from e
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj: Any, sort_keys: bool = True) -> None:
    """Write indented JSON atomically (values JSON cannot hold are written as ``str``)."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=sort_keys, default=str) + "\n")


def write_csv(path: str | os.PathLike, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Write a CSV file (header row, then ``rows``) atomically."""
    with atomic_path(path) as tmp, tmp.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def copy_file(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Copy a file atomically."""
    with atomic_path(dst, suffix=Path(dst).suffix) as tmp:
        shutil.copyfile(src, tmp)


def save_torch(path: str | os.PathLike, obj: Any) -> None:
    """``torch.save`` atomically."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


@contextmanager
def locked(path: str | os.PathLike, timeout: float = -1) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (a file or a folder) across processes, waiting for it.

    The lock file is ``<path>.lock`` beside it, so locking a folder does not put anything inside it.
    Another process that asks for the same lock waits until this block ends; a crashed holder releases the
    lock with its process.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(path.with_name(path.name + ".lock")), timeout=timeout):
        yield
