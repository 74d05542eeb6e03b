"""File-system errors of `ragops backup` as a user meets them (real processes, real OS errors):
a backup folder that cannot be written, a backup file that is missing, a folder or unreadable.
Each is one `error:` line naming the path and what the operating system said, never a Python
exception class; exit 1; nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli

EXCEPTION_CLASSES = ("Error:", "PermissionError", "FileNotFoundError", "IsADirectoryError")


def _refusal(path: Path, probe: str) -> str | None:
    """What the OS says when this process tries `probe` on `path`, None when it succeeds."""
    try:
        if probe == "write":
            (path / ".probe").mkdir()  # what a backup writes first
            (path / ".probe").rmdir()
        else:
            path.open("rb").close()
    except OSError as exc:
        return (exc.strerror or "").lower()
    return None


def unwritable_dir(tmp_path: Path) -> tuple[Path, str]:
    """A folder this process cannot write into, and the OS's reason. Permissions stop a
    normal user; root passes them, so it gets a sysfs folder instead."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    for candidate in (folder, Path("/sys/kernel")):
        if candidate.is_dir() and (reason := _refusal(candidate, "write")):
            return candidate, reason
    pytest.skip("no folder this process cannot write into")


def unreadable_file(tmp_path: Path) -> tuple[Path, str]:
    """A file this process cannot open, and the OS's reason (root: a write-only sysfs file,
    which even root cannot open for reading)."""
    locked = tmp_path / "locked.tar.gz"
    locked.write_bytes(b"x")
    locked.chmod(0)
    for candidate in (locked, Path("/sys/bus/pci/rescan")):
        if candidate.is_file() and (reason := _refusal(candidate, "read")):
            return candidate, reason
    pytest.skip("no file this process cannot read")


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert not any(name in lines[0] for name in EXCEPTION_CLASSES), lines[0]
    return lines[0]


def _backup_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if "ragops-backup" in p.name)


def test_a_backup_folder_that_cannot_be_written(tmp_path: Path) -> None:
    folder, reason = unwritable_dir(tmp_path)
    before = _backup_names(folder)
    refused = run_cli(tmp_path / "var", "backup", "create", "--to", str(folder), check=False)
    assert refused.returncode == 1
    line = _one_line(refused.stderr)
    assert line == f"error: cannot write backups to {folder}: {reason}; nothing written", line
    assert _backup_names(folder) == before

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings_dir = run_cli(
        tmp_path / "var", "backup", "create", check=False, env={"RAGOPS_BACKUP_DIR": str(blocker)}
    )
    assert settings_dir.returncode == 1
    assert _one_line(settings_dir.stderr) == (
        f"error: cannot write backups to {blocker}: not a directory; nothing written"
    )


@pytest.mark.parametrize("command", ["verify", "restore"])
def test_a_backup_file_that_cannot_be_read(tmp_path: Path, command: str) -> None:
    data_dir = tmp_path / "var"
    missing = tmp_path / "no-such-backup.tar.gz"
    gone = run_cli(data_dir, "backup", command, str(missing), check=False)
    assert gone.returncode == 1
    assert _one_line(gone.stderr) == (
        f"error: cannot read the backup {missing}: no such file or directory"
    )

    folder = run_cli(data_dir, "backup", command, str(tmp_path), check=False)
    assert folder.returncode == 1
    assert _one_line(folder.stderr) == (
        f"error: cannot read the backup {tmp_path}: it is a directory"
    )

    locked, reason = unreadable_file(tmp_path)
    refused = run_cli(data_dir, "backup", command, str(locked), check=False)
    assert refused.returncode == 1
    assert _one_line(refused.stderr) == f"error: cannot read the backup {locked}: {reason}"
    assert not any(p.name.endswith("-restored") for p in tmp_path.iterdir())  # nothing made
