"""Streaming authenticated encryption of backup archives (AES-256-GCM in 1 MiB chunks).

Format: the magic `RAGOPSENC1`, a 12-byte random file id, then chunks, each a 4-byte big-endian
ciphertext length and the AES-GCM ciphertext (with its 16-byte tag). Chunk i's nonce is the
file id's first 8 bytes and i as 4 bytes; its associated data is the header, i and whether it
is the last chunk, so a reordered, dropped, appended or truncated chunk fails to decrypt, as
does any flipped bit or the wrong key. The key is 32 bytes, given url-safe base64 encoded
(`RAGOPS_BACKUP_KEY`; `ragops backup key` prints a new one).
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"RAGOPSENC1"
CHUNK = 1 << 20
_ID_BYTES = 12


class BackupCryptoError(Exception):
    """The key is malformed, or the file is not an intact encrypted backup for this key."""


def new_key() -> str:
    """A new random key, as `RAGOPS_BACKUP_KEY` takes it."""
    return base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)).decode("ascii")


def parse_key(text: str) -> bytes:
    """The 32 key bytes of a base64 key, or `BackupCryptoError`."""
    try:
        key = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (ValueError, binascii.Error) as exc:
        raise BackupCryptoError("RAGOPS_BACKUP_KEY is not base64") from exc
    if len(key) != 32:
        raise BackupCryptoError("RAGOPS_BACKUP_KEY must encode 32 bytes (`ragops backup key`)")
    return key


def is_encrypted(path: Path) -> bool:
    """Whether the file starts with the encrypted format's magic."""
    with path.open("rb") as fh:
        return fh.read(len(MAGIC)) == MAGIC


def _aad(header: bytes, index: int, last: bool) -> bytes:
    return header + struct.pack(">I?", index, last)


def _nonce(file_id: bytes, index: int) -> bytes:
    return file_id[:8] + struct.pack(">I", index)


def encrypt_file(source: Path, dest: Path, key: bytes) -> None:
    """Encrypt `source` into `dest`."""
    aes = AESGCM(key)
    file_id = os.urandom(_ID_BYTES)
    header = MAGIC + file_id
    with source.open("rb") as src, dest.open("wb") as out:
        out.write(header)
        index = 0
        block = src.read(CHUNK)
        while True:
            following = src.read(CHUNK)
            last = not following
            sealed = aes.encrypt(_nonce(file_id, index), block, _aad(header, index, last))
            out.write(struct.pack(">I", len(sealed)) + sealed)
            if last:
                return
            block, index = following, index + 1
            if index >= 1 << 32:
                raise BackupCryptoError("file too large to encrypt")


def _read_exact(fh: BinaryIO, size: int) -> bytes:
    data = fh.read(size)
    if len(data) != size:
        raise BackupCryptoError("the encrypted backup is truncated")
    return data


def decrypt_file(source: Path, dest: Path, key: bytes) -> None:
    """Decrypt `source` into `dest`, or raise `BackupCryptoError` (nothing is left at
    `dest` then)."""
    aes = AESGCM(key)
    try:
        with source.open("rb") as src, dest.open("wb") as out:
            header = _read_exact(src, len(MAGIC) + _ID_BYTES)
            if not header.startswith(MAGIC):
                raise BackupCryptoError("not an encrypted ragops backup")
            file_id = header[len(MAGIC) :]
            index = 0
            while True:
                (length,) = struct.unpack(">I", _read_exact(src, 4))
                if length > CHUNK + 16:
                    raise BackupCryptoError("the encrypted backup is corrupted")
                sealed = _read_exact(src, length)
                last = src.peek(1) == b""
                try:
                    out.write(
                        aes.decrypt(_nonce(file_id, index), sealed, _aad(header, index, last))
                    )
                except InvalidTag as exc:
                    raise BackupCryptoError(
                        "the encrypted backup is corrupted or the key is wrong"
                    ) from exc
                if last:
                    return
                index += 1
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
