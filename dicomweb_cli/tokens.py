"""Access tokens for the `dicomweb` command line, with msal and azure-identity.

`client`: a service principal (client credentials from AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET).
`device`: a person signs in once with a device code. Both keep msal's token cache in a file (mode 600): a
script calling the command many times signs in once, the service principal's token reused until shortly before
it expires (msal takes a new one in its last 5 minutes), a person's refreshed silently.
`cli`: the existing `az login` (where Conditional Access blocks device codes); `managed-identity`: the machine's
or pod's identity; `default`: azure-identity's DefaultAzureCredential order (environment, workload identity,
managed identity, Azure CLI, ...). `none`: no token, for a local service with authentication off.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msal

DEFAULT_CACHE = Path.home() / ".dicomweb" / "msal_token_cache.json"
AZURE_IDENTITY = ("cli", "managed-identity", "default")  # signed in by azure-identity's credentials
MODES = ("none", "client", "device", *AZURE_IDENTITY)


class TokenError(Exception):
    """No token could be had; the message says why, never the token or secret."""


class TokenProvider:
    def __init__(
        self,
        mode: str,
        scope: str | None,
        tenant: str | None,
        client_id: str | None,
        client_secret: str | None = None,
        cache_path: Path = DEFAULT_CACHE,
        prompt: Callable[[str], None] = print,
        http_client: Any = None,
    ) -> None:
        self.mode = mode
        self.scope = scope
        self.tenant = tenant
        self.client_id = client_id
        self.client_secret = client_secret
        self.cache_path = cache_path
        self.prompt = prompt
        self.http_client = http_client  # msal's network access; tests hand in a stand-in for Entra ID
        self._app: msal.ClientApplication | None = None
        self._cache = msal.SerializableTokenCache()

    @classmethod
    def from_environment(cls, mode: str, **overrides: Any) -> TokenProvider:
        env = os.environ
        return cls(
            mode=mode,
            scope=overrides.pop("scope", None) or env.get("DICOMWEB_SCOPE"),
            tenant=env.get("AZURE_TENANT_ID"),
            client_id=env.get("DICOMWEB_CLIENT_ID") or env.get("AZURE_CLIENT_ID"),
            client_secret=env.get("AZURE_CLIENT_SECRET"),
            cache_path=Path(env.get("DICOMWEB_TOKEN_CACHE", str(DEFAULT_CACHE))),
            **overrides,
        )

    def token(self) -> str | None:
        if self.mode == "none":
            return None
        if self.mode in AZURE_IDENTITY:
            return self._azure_identity_token()
        missing = [n for n, v in (("DICOMWEB_SCOPE", self.scope), ("AZURE_TENANT_ID", self.tenant),
                                  ("AZURE_CLIENT_ID", self.client_id)) if not v]  # fmt: skip
        if self.mode == "client" and not self.client_secret:
            missing.append("AZURE_CLIENT_SECRET")
        if missing:
            raise TokenError(f"--auth {self.mode} needs {', '.join(missing)} in the environment.")
        result = self._acquire()
        self._save_cache()
        if "access_token" not in result:
            raise TokenError(f"Sign-in failed: {result.get('error')}: {result.get('error_description', '')}")
        return result["access_token"]

    def _azure_identity_token(self) -> str:
        """A token from azure-identity's credential for the mode (az and managed identity keep their own caches)."""
        if not self.scope:
            raise TokenError(f"--auth {self.mode} needs DICOMWEB_SCOPE (or --scope), e.g. api://<app-id>/.default")
        from azure.core.exceptions import ClientAuthenticationError  # imported only when used: it is slow
        from azure.identity import AzureCliCredential, DefaultAzureCredential, ManagedIdentityCredential

        kind = {"cli": AzureCliCredential, "managed-identity": ManagedIdentityCredential}
        credential = kind.get(self.mode, DefaultAzureCredential)()
        try:
            return credential.get_token(self.scope).token
        except ClientAuthenticationError as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            hint = {"cli": "run `az login` first", "managed-identity": "run where a managed identity is assigned"}
            advice = hint.get(self.mode, "sign in with az login or set AZURE_* variables")
            raise TokenError(f"{first} ({advice})") from error

    def _application(self) -> msal.ClientApplication:
        """Built lazily: constructing an msal application fetches the tenant's metadata over the network."""
        if self._app is None:
            authority = f"https://login.microsoftonline.com/{self.tenant}"
            options: dict[str, Any] = {"authority": authority, "token_cache": self._cache}
            if self.http_client is not None:
                options["http_client"] = self.http_client
            self._load_cache()
            if self.mode == "client":
                self._app = msal.ConfidentialClientApplication(
                    self.client_id, client_credential=self.client_secret, **options
                )
            else:
                self._app = msal.PublicClientApplication(self.client_id, **options)
        return self._app

    def _acquire(self) -> dict:
        app = self._application()
        scopes = [self.scope]
        if isinstance(app, msal.ConfidentialClientApplication):
            return app.acquire_token_for_client(scopes=scopes)
        for account in app.get_accounts():
            result = app.acquire_token_silent(scopes, account=account)
            if result and "access_token" in result:
                return result
        flow = app.initiate_device_flow(scopes=scopes)
        if "user_code" not in flow:
            raise TokenError(f"Device sign-in could not start: {flow.get('error_description', flow.get('error'))}")
        self.prompt(flow["message"])
        return app.acquire_token_by_device_flow(flow)

    def _load_cache(self) -> None:
        if self.cache_path.exists():
            _owner_only(self.cache_path)  # a cache left readable by others (older versions, a copy) is closed first
            self._cache.deserialize(self.cache_path.read_text())

    def _save_cache(self) -> None:
        """Written to a private temporary file that replaces the cache, so the cache is never readable by others
        (even when the file existed with wider permissions) nor half-written."""
        if not self._cache.has_state_changed:
            return
        self.cache_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor, temporary = tempfile.mkstemp(dir=self.cache_path.parent, prefix=".msal-", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "w") as cache_file:  # mkstemp creates it with mode 600
                cache_file.write(self._cache.serialize())
            os.replace(temporary, self.cache_path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _owner_only(path: Path) -> None:
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
