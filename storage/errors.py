"""Storage errors with stable codes.

The web API maps ``code`` to HTTP statuses and the CLI prints it; the codes are
part of the public contract, so they never change once released. Messages are
for humans and may change.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base of every error storage raises on purpose."""

    code = "storage.error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class RecordingNotFound(StorageError):
    code = "recording.not_found"


class RecordingAssigned(StorageError):
    code = "recording.assigned"


class RecordingDeleted(StorageError):
    code = "recording.deleted"


class RecordNotFound(StorageError):
    code = "record.not_found"


class InvalidNumber(StorageError):
    code = "number.invalid"


class FileMissing(StorageError):
    code = "file.missing"


class FileTruncated(StorageError):
    code = "file.truncated"


class FileCorrupt(StorageError):
    """The stored bytes no longer match the SHA-256 taken when they were stored."""

    code = "file.hash_mismatch"


class PermissionDenied(StorageError):
    code = "permission.denied"


class HoldActive(StorageError):
    code = "hold.active"


class UploadError(StorageError):
    code = "upload.failed"


class HostKeyMismatch(UploadError):
    code = "upload.hostkey_mismatch"


class UploadVerifyFailed(UploadError):
    code = "upload.verify_failed"


class ImportFailed(StorageError):
    code = "crm.import_failed"


class ConfigInvalid(StorageError):
    code = "config.invalid"


class TranscodeFailed(StorageError):
    code = "file.transcode_failed"


ALL_CODES: tuple[str, ...] = tuple(
    cls.code
    for cls in (
        StorageError,
        RecordingNotFound,
        RecordingAssigned,
        RecordingDeleted,
        RecordNotFound,
        InvalidNumber,
        FileMissing,
        FileTruncated,
        FileCorrupt,
        PermissionDenied,
        HoldActive,
        UploadError,
        HostKeyMismatch,
        UploadVerifyFailed,
        ImportFailed,
        ConfigInvalid,
        TranscodeFailed,
    )
)
