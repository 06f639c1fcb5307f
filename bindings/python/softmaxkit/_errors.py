"""Exceptions: one class per status family, all derived from :class:`Error`."""
from __future__ import annotations


class Error(Exception):
    """Base class of every error SoftmaxKit raises."""

    status: int = -1


class ArgumentError(Error, ValueError):
    """A bad argument: value, shape, dtype, axis, index, size."""


class ComplexInputError(ArgumentError, TypeError):
    """Complex input: the kernels are real-valued (scipy.special handles complex)."""


class FileError(Error, OSError):
    """A model file could not be opened or read."""


class OutOfMemoryError(Error, MemoryError):
    """The library could not allocate memory."""


class InternalError(Error, RuntimeError):
    """A bug in SoftmaxKit; please report it with the message."""


# Status code -> (constant name, exception class). Tests/abi checks this table
# against the header's `smk_status` enum, one for one.
STATUS = {
    0: ("SMK_OK", None),
    1: ("SMK_ERROR_INVALID_ARGUMENT", ArgumentError),
    2: ("SMK_ERROR_NULL_POINTER", ArgumentError),
    3: ("SMK_ERROR_SIZE_OVERFLOW", ArgumentError),
    4: ("SMK_ERROR_SHAPE_MISMATCH", ArgumentError),
    5: ("SMK_ERROR_INDEX_OUT_OF_RANGE", ArgumentError),
    6: ("SMK_ERROR_OUT_OF_MEMORY", OutOfMemoryError),
    7: ("SMK_ERROR_IO", FileError),
    8: ("SMK_ERROR_FORMAT", ArgumentError),
    9: ("SMK_ERROR_UNSUPPORTED", ArgumentError),
    10: ("SMK_ERROR_INTERNAL", InternalError),
}


def error_for(status: int, message: str) -> Error:
    name, cls = STATUS.get(status, ("SMK_ERROR_UNKNOWN", InternalError))
    err = (cls or InternalError)(f"{message} [{name}]")
    err.status = status
    return err
