"""Settings: where Lynn is, who we are to it, and how the server behaves.

Values come from `LYNN_*` environment variables, a `.env` file, and CLI flags (which win, because
the CLI passes them as init arguments). Missing credentials never stop the server from starting:
`Settings.missing()` names what is absent and every call then fails with `config_error` saying which
variable to set, so an IDE still lists the tools and the user sees a readable message.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_BASE_URL = "https://premium-production.lynn.cx"
TOOLSET_NAMES = ("campaigns", "contacts", "dnd", "data")

# Bulk loads: the defaults of LYNN_CHUNK_SIZE, LYNN_MAX_IN_FLIGHT, LYNN_MAX_PENDING_TASKS and
# LYNN_MAX_FILE_MB, and of `lynn_mcp.bulk.loader.LoadOptions` for callers without settings.
DEFAULT_CHUNK_SIZE = 1000
DEFAULT_MAX_IN_FLIGHT = 4
DEFAULT_MAX_PENDING_TASKS = 16
DEFAULT_MAX_FILE_MB = 200
BYTES_PER_MB = 1_000_000
DEFAULT_MAX_FILE_BYTES = DEFAULT_MAX_FILE_MB * BYTES_PER_MB

DEFAULT_SHUTDOWN_GRACE_S = 30

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


def is_loopback_host(host: str | None) -> bool:
    """True for localhost names and loopback addresses (127.0.0.0/8, ::1)."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(url: str, *, origin: bool = False) -> str | None:
    """Why `url` cannot name a server we trust (Lynn, an authorization server, our own public URL),
    or None: an http(s) URL with a host, without credentials or fragment (nor a query for an
    `origin`), and HTTPS unless the host is loopback."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http(s) URL"
    if origin and (parts.username or parts.password or parts.query or parts.fragment):
        return "must be a plain origin, without credentials, query or fragment"
    if parts.username or parts.password or parts.fragment:
        return "must be a URL without credentials or fragment"
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        return "must use https (plain http is only allowed for a loopback address)"
    return None


def split_names(raw: str | None) -> list[str] | None:
    """Parse a comma-separated list (`a, b,c`); None or blank means "not set"."""
    if raw is None or not raw.strip():
        return None
    return [name.strip() for name in raw.split(",") if name.strip()]


class Settings(BaseSettings):
    """Everything the server reads from its environment. Secrets stay `SecretStr` end to end."""

    model_config = SettingsConfigDict(
        env_prefix="LYNN_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    base_url: str = Field(default=DEFAULT_BASE_URL, description="Lynn API origin.")
    tenant: int | None = Field(default=None, ge=1, le=9_999_999_999, description="Lynn tenant number.")
    token: SecretStr | None = Field(default=None, description="A ready bearer token.")
    access_token: SecretStr | None = None
    access_token_secret: SecretStr | None = None
    subscription_key: SecretStr | None = None
    timeout: float = Field(default=30.0, gt=0, le=600, description="Read/write timeout in seconds.")
    connect_timeout: float = Field(default=5.0, gt=0, le=120)
    max_retries: int = Field(default=2, ge=0, le=10)
    log_level: LogLevel = "INFO"
    operations_file: Path | None = None

    toolsets: str | None = Field(default=None, description="Comma-separated toolsets; default all.")
    tools: str | None = Field(default=None, description="Comma-separated tool allowlist.")
    read_only: bool = False

    confirm: Literal["auto", "never"] = "auto"
    signing_key: SecretStr | None = None
    http_token: SecretStr | None = None
    oauth_issuer: str | None = None
    """OAuth resource-server mode over HTTP (server/oauth/): the authorization server whose access
    tokens are accepted, exactly as its metadata names itself (`iss`)."""
    oauth_jwks_url: str | None = None
    """Where its signing keys are; unset, found through the issuer's metadata."""
    oauth_audience: str | None = None
    """The `aud` tokens must carry when the authorization server does not use LYNN_PUBLIC_URL."""
    public_url: str | None = None
    """This server's public `/mcp` URL: the protected resource clients sign in for."""
    allowed_origins: str | None = None
    audit_log: Path | None = None
    file_root: Path | None = None
    """The only directory the file tools read (see file_access.py); absolute and symlink-free."""

    chunk_size: int = Field(default=DEFAULT_CHUNK_SIZE, ge=1, le=1000)
    max_in_flight: int = Field(default=DEFAULT_MAX_IN_FLIGHT, ge=1, le=16)
    max_pending_tasks: int = Field(default=DEFAULT_MAX_PENDING_TASKS, ge=1, le=64)
    max_file_mb: int = Field(default=DEFAULT_MAX_FILE_MB, ge=1, le=10_000)

    shutdown_grace_s: int = Field(default=DEFAULT_SHUTDOWN_GRACE_S, ge=0, le=3600)
    """On SIGTERM/SIGINT over HTTP: how long calls in flight may take to finish (bulk loads stop a
    little earlier and answer with their report and resume handle; see server/http.py)."""

    @property
    def max_file_bytes(self) -> int:
        """LYNN_MAX_FILE_MB in bytes: the largest input file the bulk tools take."""
        return self.max_file_mb * BYTES_PER_MB

    @field_validator("base_url")
    @classmethod
    def _strip_base_url(cls, value: str) -> str:
        return value.strip().rstrip("/")

    @field_validator("file_root", mode="before")
    @classmethod
    def _blank_file_root_is_unset(cls, value: object) -> object:
        # An empty LYNN_FILE_ROOT= would otherwise become Path("."): the working directory.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("file_root")
    @classmethod
    def _existing_directory(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        root = Path(os.path.realpath(value.expanduser()))
        if not root.is_dir():
            raise ValueError(f"{root} is not an existing directory")
        return root

    @field_validator("oauth_issuer", "oauth_jwks_url", "oauth_audience", "public_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip() or None
        return value

    @field_validator("oauth_issuer", "oauth_jwks_url", "public_url")
    @classmethod
    def _secure_url(cls, value: str | None) -> str | None:
        if value is not None:
            problem = url_problem(value)
            if problem:
                raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _one_way_to_sign_in(self) -> Settings:
        if self.http_token is not None and self.oauth_issuer is not None:
            raise ValueError(
                "LYNN_HTTP_TOKEN and LYNN_OAUTH_ISSUER are both set: choose one way for HTTP clients to "
                "sign in (LYNN_HTTP_TOKEN, one shared bearer, for a single user; LYNN_OAUTH_ISSUER, "
                "each person through your identity provider, for a team) and unset the other"
            )
        if self.oauth_issuer is not None and self.public_url is None:
            raise ValueError(
                "LYNN_OAUTH_ISSUER needs LYNN_PUBLIC_URL: this server's public /mcp URL, such as "
                "https://mcp.example.com/mcp (clients sign in for it and tokens must name it)"
            )
        if self.oauth_issuer is None:
            for name, value in (("JWKS_URL", self.oauth_jwks_url), ("AUDIENCE", self.oauth_audience)):
                if value is not None:
                    raise ValueError(f"LYNN_OAUTH_{name} is set without LYNN_OAUTH_ISSUER")
        return self

    @property
    def token_audience(self) -> str | None:
        """The `aud` an OAuth access token must carry: LYNN_OAUTH_AUDIENCE, else LYNN_PUBLIC_URL."""
        return self.oauth_audience or self.public_url

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def base_url_problem(self) -> str | None:
        """Why the base URL is unusable, or None. HTTPS is required except on loopback."""
        problem = url_problem(self.base_url, origin=True)
        return f"LYNN_BASE_URL {problem}" if problem else None

    def missing(self) -> list[str]:
        """Plain-words list of what must be set before Lynn can be called (empty when ready)."""
        problems: list[str] = []
        url_problem = self.base_url_problem()
        if url_problem:
            problems.append(url_problem)
        if self.tenant is None:
            problems.append("set LYNN_TENANT to your Lynn tenant number")
        if self.token is None:
            if self.access_token is None and self.access_token_secret is None:
                problems.append(
                    "set LYNN_ACCESS_TOKEN and LYNN_ACCESS_TOKEN_SECRET (or a ready LYNN_TOKEN); "
                    "an administrator creates them in Lynn's admin screen"
                )
            elif self.access_token is None:
                problems.append("set LYNN_ACCESS_TOKEN (LYNN_ACCESS_TOKEN_SECRET is set without it)")
            elif self.access_token_secret is None:
                problems.append("set LYNN_ACCESS_TOKEN_SECRET (LYNN_ACCESS_TOKEN is set without it)")
        return problems

    def secret_values(self) -> list[str]:
        """Every configured secret, so the log redactor can register them."""
        secrets = (
            self.token,
            self.access_token,
            self.access_token_secret,
            self.subscription_key,
            self.http_token,
            self.signing_key,
        )
        return [s.get_secret_value() for s in secrets if s is not None and s.get_secret_value()]

    def masked(self) -> dict[str, str]:
        """Configuration for display (doctor): secrets shown only as set/unset."""

        def mask(secret: SecretStr | None) -> str:
            return "set" if secret is not None and secret.get_secret_value() else "not set"

        return {
            "LYNN_BASE_URL": self.base_url,
            "LYNN_TENANT": str(self.tenant) if self.tenant is not None else "not set",
            "LYNN_TOKEN": mask(self.token),
            "LYNN_ACCESS_TOKEN": mask(self.access_token),
            "LYNN_ACCESS_TOKEN_SECRET": mask(self.access_token_secret),
            "LYNN_SUBSCRIPTION_KEY": mask(self.subscription_key),
            "LYNN_OPERATIONS_FILE": str(self.operations_file) if self.operations_file else "built-in table",
            "LYNN_FILE_ROOT": str(self.file_root)
            if self.file_root
            else "not set (stdio: any file you can read; HTTP: file_path refused)",
            "HTTP sign-in": self.http_sign_in(),
        }

    def http_sign_in(self) -> str:
        """How HTTP clients prove who they are, in words (doctor, the start-up log)."""
        if self.oauth_issuer is not None:
            return f"OAuth: access tokens from {self.oauth_issuer} for {self.token_audience}"
        if self.http_token is not None:
            return "LYNN_HTTP_TOKEN (one shared bearer)"
        return "none (loopback only)"


class InvalidSettings(ValueError):
    """A variable or flag has an unusable value; the message names each one (never its value, except
    a directory that does not exist: a path, shown absolute so a relative one is understood)."""


def load_settings(overrides: Mapping[str, Any]) -> Settings:
    """Settings from the environment and `.env`, with `overrides` (CLI flags; None = not given) on top."""
    try:
        return Settings(**{key: value for key, value in overrides.items() if value is not None})
    except ValidationError as exc:
        # A rule across several variables (a model validator) has no location; its message names them.
        problems = "; ".join(
            f"LYNN_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            if err["loc"]
            else str(err["msg"]).removeprefix("Value error, ")
            for err in exc.errors()
        )
        raise InvalidSettings(problems) from None
