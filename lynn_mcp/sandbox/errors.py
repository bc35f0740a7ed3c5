"""The one exception handlers raise to answer a request with an error status."""

from __future__ import annotations


class ApiError(Exception):
    """An error answered as ``{"message": ...}`` (or an empty body for 401)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def conflict(message: str) -> ApiError:
    return ApiError(409, message)
