"""W&B's offline run files read back: the records of a ``run-<id>.wandb`` file, decoded with wandb's own protobuf
schema (``wandb.proto``). wandb 0.31 ships no Python reader (its writer lives in the Go core), so the framing is
undone here: a 7-byte ``:W&B`` header, then LevelDB log records (CRC, length, type) in 32 KiB blocks."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

from wandb.proto import wandb_internal_pb2 as pb

BLOCK = 32768
HEADER = 7  # the file's header and each record's: 4 bytes CRC, 2 bytes length, 1 byte type
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> list[pb.Record]:
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path}: not a W&B run file"
    out, pos, parts = [], HEADER, b""
    while pos + HEADER <= len(data):
        if BLOCK - pos % BLOCK < HEADER:  # a block's tail too short for a header is padding
            pos += BLOCK - pos % BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        if kind == 0 and length == 0:
            break
        parts += data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        if kind in (FULL, LAST):
            rec = pb.Record()
            rec.ParseFromString(parts)
            out.append(rec)
            parts = b""
    return out


def finished_records(path: Path, wait: float = 30.0) -> list[pb.Record]:
    """The file's records once its run's ``exit`` record is there: W&B's core process writes the file on its own
    schedule, and on a busy machine ``run.finish()`` can return before the file holds every record."""
    deadline = time.monotonic() + wait
    while True:
        try:
            recs = records(path)
        except Exception:  # a record still being written; read again
            if time.monotonic() > deadline:
                raise
            recs = []
        if (recs and recs[-1].WhichOneof("record_type") == "exit") or time.monotonic() > deadline:
            return recs
        time.sleep(0.1)


def _merge(into: dict, items) -> None:
    """Items keyed by ``key``, or by a ``nested_key`` path (``gallery`` / ``_type``), into nested dicts."""
    for i in items:
        path = [i.key] if i.key else list(i.nested_key)
        here = into
        for part in path[:-1]:
            here = here.setdefault(part, {})
        here[path[-1]] = json.loads(i.value_json)


def offline_run(run_dir: Path) -> list[dict]:
    """Config, history keys and summary of every offline W&B run under ``run_dir/wandb``, by folder, in order:
    ``[{"id", "config", "history", "summary"}]`` (the values as W&B stored them, JSON-decoded)."""
    runs = []
    for folder in sorted((Path(run_dir) / "wandb").glob("offline-run-*")):
        (file,) = folder.glob("run-*.wandb")
        seen = {"id": None, "config": {}, "history": {}, "summary": {}}
        for rec in finished_records(file):
            kind = rec.WhichOneof("record_type")
            if kind == "run":
                seen["id"] = rec.run.run_id
                _merge(seen["config"], rec.run.config.update)
            elif kind == "config":
                _merge(seen["config"], rec.config.update)
            elif kind == "history":
                _merge(seen["history"], rec.history.item)
            elif kind == "summary":
                _merge(seen["summary"], rec.summary.update)
        runs.append(seen)
    return runs
