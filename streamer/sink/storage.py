"""Durable files on a local disk or any filesystem pyarrow reaches (``s3://``, ``gs://``, ``hdfs://``, ...).

A roll's files are first all written under temporary names, then renamed one by one. On a local disk each
temporary file is fsynced before its rename and its directory after it (and every directory the sink
creates, in its parent), so a renamed file survives a power cut, not only a killed process. On an object
store a file appears whole when its upload completes; a rename there is a server-side copy, and the store
gives the durability.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.fs as pafs

__all__ = ["Storage", "StoredFile"]


@dataclass(frozen=True, slots=True)
class StoredFile:
    path: str
    size_bytes: int

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


class Storage:
    """The files under ``base`` of one filesystem. No I/O in the constructor."""

    def __init__(self, filesystem: pafs.FileSystem, base: str) -> None:
        self.fs = filesystem
        self.base = base.rstrip("/") or "/"
        self.local = isinstance(filesystem, pafs.LocalFileSystem)

    @classmethod
    def from_uri(cls, uri: str) -> Storage:
        """A local path (relative or absolute) or a URL pyarrow supports. Raises ValueError."""
        if "://" not in uri:
            return cls(pafs.LocalFileSystem(), os.path.abspath(uri))
        try:
            filesystem, path = pafs.FileSystem.from_uri(uri)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
            raise ValueError(f"unsupported output {uri!r}: {exc}") from None
        return cls(filesystem, path)

    def files(self, under: str) -> list[StoredFile]:
        """Every file below ``under`` (recursively); none if it does not exist."""
        selector = pafs.FileSelector(under, recursive=True, allow_not_found=True)
        return [
            StoredFile(info.path, info.size or 0)
            for info in self.fs.get_file_info(selector)
            if info.type == pafs.FileType.File
        ]

    def delete(self, path: str) -> None:
        self.fs.delete_file(path)
        if self.local:
            _fsync_dir(os.path.dirname(path))

    def make_dirs(self, directory: str) -> None:
        if not self.local:
            self.fs.create_dir(directory, recursive=True)
            return
        missing = []
        current = directory
        while not os.path.isdir(current):
            missing.append(current)
            current = os.path.dirname(current)
        for path in reversed(missing):
            os.makedirs(path, exist_ok=True)
            _fsync_dir(os.path.dirname(path))

    def write_temp(self, path: str, data: bytes) -> None:
        """Write ``data`` to ``path`` (a temporary name) and make it durable."""
        if not self.local:
            with self.fs.open_output_stream(path) as stream:
                stream.write(data)
            return
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)

    def publish(self, temp: str, final: str) -> None:
        """Rename a durable temporary file to its final name, durably."""
        if self.local:
            os.replace(temp, final)
            _fsync_dir(os.path.dirname(final))
        else:
            self.fs.move(temp, final)


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
