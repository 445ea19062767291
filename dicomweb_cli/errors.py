"""Exit codes and one-line error messages of the `dicomweb` command, so scripts can tell failures apart.

0 ok; 1 failed in part (some files of an upload) or for a reason below none of these names; 2 usage (the command
or the request as written was refused); 3 sign-in failed or not allowed; 4 not found; 5 service unreachable or
unavailable (after the retries).
"""

from __future__ import annotations

import httpx

OK, PARTIAL, USAGE, AUTH, NOT_FOUND, UNAVAILABLE = 0, 1, 2, 3, 4, 5
INTERRUPTED = 130  # Ctrl-C, as shells report it


class ServiceError(Exception):
    """The command cannot go on; the message says what failed and what to try. Exit code: usage (2)."""

    exit_code = USAGE


class HttpError(ServiceError):
    """The service answered a request with an error status."""

    def __init__(self, status: int, detail: str, url: str) -> None:
        self.status, self.detail, self.url = status, " ".join(detail.split()).rstrip("."), url
        super().__init__(self._message())

    @classmethod
    def of(cls, response: httpx.Response) -> HttpError:
        try:
            detail = response.json().get("detail", "")
        except (ValueError, AttributeError):
            detail = response.text[:300]
        return cls(response.status_code, str(detail), str(response.request.url.copy_with(query=None)))

    @property
    def exit_code(self) -> int:  # type: ignore[override]
        if self.status in (401, 403):
            return AUTH
        if self.status in (404, 410):
            return NOT_FOUND
        if self.status in (408, 429) or self.status >= 500:
            return UNAVAILABLE
        return USAGE

    def _message(self) -> str:
        hint = {
            AUTH: "sign in with --auth client|device, or ask for a role that allows this",
            NOT_FOUND: "check the UIDs, e.g. with `dicomweb search`",
            UNAVAILABLE: "the service is busy or failing; try again later",
            USAGE: "change the arguments as the service says",
        }[self.exit_code]
        what = {401: "not signed in", 403: "not allowed", 404: "not found", 410: "gone"}.get(self.status, "refused")
        detail = f": {self.detail}" if self.detail else ""
        return f"{what} (HTTP {self.status} from {self.url}){detail}; {hint}"


def explain(error: BaseException, url: str) -> tuple[int, str]:
    """The exit code and the one line said on stderr for an error that ended the command."""
    from .tokens import TokenError  # tokens imports msal; kept out of this module's import time

    if isinstance(error, ServiceError):
        return error.exit_code, str(error)
    if isinstance(error, TokenError):
        return AUTH, f"sign-in failed: {error}"
    if isinstance(error, httpx.TimeoutException):
        return UNAVAILABLE, f"the service at {url} did not answer in time ({type(error).__name__}); try again later"
    if isinstance(error, httpx.TransportError):
        reason = str(error) or type(error).__name__
        return UNAVAILABLE, (
            f"cannot reach the service at {url} ({reason}); is it running? Check --url or DICOMWEB_URL"
        )
    if isinstance(error, KeyboardInterrupt):
        return INTERRUPTED, "interrupted"
    return PARTIAL, f"unexpected {type(error).__name__}: {error}; rerun with --debug for the details"
