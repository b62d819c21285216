# SPDX-License-Identifier: MIT
"""Drive a course server as a learner's browser does: log in, start the server, run cells.

Used by the hub's tests and its benchmark, and handy for an administrator's smoke test.
It logs in through the login form (so PAM really checks the password), starts the
learner's server through the hub's REST API, and runs code in a kernel over the Jupyter
server's kernel API and its websocket, all through the hub's proxy.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import requests
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

__all__ = ["CellResult", "HubClient", "HubClientError", "RemoteKernel"]

_XSRF_INPUT = re.compile(r'name="_xsrf"\s+value="([^"]+)"')


class HubClientError(Exception):
    """The hub or a learner's server did not do what was asked."""


@dataclass
class CellResult:
    """What one executed cell produced, as text."""

    status: str
    text: str = ""
    error: str | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class HubClient:
    """One learner's session with the hub (cookies, then a token of their own)."""

    def __init__(self, base_url: str, user: str) -> None:
        self.base = base_url.rstrip("/")
        self.user = user
        self.http = requests.Session()
        self.token: str | None = None

    def _xsrf_headers(self) -> dict[str, str]:
        """The hub's XSRF cookie (a learner's server sets one of its own, on another path)."""
        hub = [c.value for c in self.http.cookies if c.name == "_xsrf" and c.path == "/hub/"]
        other = [c.value for c in self.http.cookies if c.name == "_xsrf"]
        return {"X-XSRFToken": (hub or other or [""])[0] or ""}

    def login(self, password: str) -> None:
        """Fill in and send the login form, as a browser does."""
        page = self.http.get(f"{self.base}/hub/login", timeout=30)
        m = _XSRF_INPUT.search(page.text)
        data = {"username": self.user, "password": password}
        if m:
            data["_xsrf"] = m.group(1)
        reply = self.http.post(f"{self.base}/hub/login", data=data, timeout=60)
        if "jupyterhub-session-id" not in self.http.cookies or "/hub/login" in reply.url:
            raise HubClientError(f"login of {self.user} refused (HTTP {reply.status_code})")

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A hub REST call with the learner's cookies (JupyterHub checks the XSRF token)."""
        headers = {**self._xsrf_headers(), **kwargs.pop("headers", {})}
        return self.http.request(method, f"{self.base}/hub/api{path}", headers=headers,
                                 timeout=60, **kwargs)  # fmt: skip

    def start_server(self, timeout: float = 180.0) -> float:
        """Ask for the learner's server and wait until the hub says it is ready; seconds taken."""
        began = time.monotonic()
        reply = self.api("POST", f"/users/{self.user}/server")
        if reply.status_code not in (201, 202, 400):  # 400: already running
            raise HubClientError(f"starting {self.user}'s server: HTTP {reply.status_code} "
                                 f"{reply.text[:300]}")  # fmt: skip
        while time.monotonic() - began < timeout:
            model = self.api("GET", f"/users/{self.user}").json()
            server = (model.get("servers") or {}).get("")
            if server and server.get("ready"):
                return time.monotonic() - began
            time.sleep(0.5)
        raise HubClientError(f"{self.user}'s server was not ready after {timeout:.0f} s")

    def stop_server(self, timeout: float = 60.0) -> None:
        self.api("DELETE", f"/users/{self.user}/server")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not (self.api("GET", f"/users/{self.user}").json().get("servers") or {}):
                return
            time.sleep(0.5)
        raise HubClientError(f"{self.user}'s server did not stop within {timeout:.0f} s")

    def new_token(self) -> str:
        """A token of the learner's own, for the Jupyter server's API and websocket."""
        reply = self.api("POST", f"/users/{self.user}/tokens",
                         json={"note": "kernelmagic hub client", "expires_in": 7200})  # fmt: skip
        if reply.status_code != 201:
            raise HubClientError(f"no token for {self.user}: HTTP {reply.status_code}")
        self.token = reply.json()["token"]
        return self.token

    @property
    def server_url(self) -> str:
        return f"{self.base}/user/{self.user}"

    def server_api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A call to the learner's Jupyter server, through the proxy, with their token."""
        token = self.token or self.new_token()
        headers = {"Authorization": f"token {token}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.server_url}/api{path}", headers=headers,
                                timeout=60, **kwargs)  # fmt: skip

    def start_kernel(self, name: str = "kernelmagic") -> RemoteKernel:
        reply = self.server_api("POST", "/kernels", json={"name": name})
        if reply.status_code != 201:
            raise HubClientError(f"no {name} kernel: HTTP {reply.status_code} {reply.text[:300]}")
        return RemoteKernel(self, reply.json()["id"])


class RemoteKernel:
    """A kernel in a learner's server, reached over its websocket."""

    def __init__(self, client: HubClient, kernel_id: str) -> None:
        self.client = client
        self.id = kernel_id
        self.session = uuid.uuid4().hex

    def execute(self, code: str, timeout: float = 300.0) -> CellResult:
        """Run one cell and collect its output until the kernel is idle again."""
        return asyncio.run(asyncio.wait_for(self._execute(code), timeout))

    async def _execute(self, code: str) -> CellResult:
        ws_base = self.client.server_url.replace("http", "ws", 1)
        request = HTTPRequest(
            f"{ws_base}/api/kernels/{self.id}/channels?session_id={self.session}",
            headers={"Authorization": f"token {self.client.token}"},
        )
        conn = await websocket_connect(request)
        msg_id = uuid.uuid4().hex
        conn.write_message(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": self.session,
                       "username": self.client.user, "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
        }))  # fmt: skip
        result = CellResult(status="unknown")
        idle = replied = False
        try:
            while not (idle and replied):
                raw = await conn.read_message()
                if raw is None:
                    raise HubClientError("the kernel's websocket closed during a cell")
                msg = json.loads(raw)
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind, content = msg["msg_type"], msg["content"]
                if kind == "execute_reply":
                    result.status = content["status"]
                    replied = True
                elif kind == "status" and content["execution_state"] == "idle":
                    idle = True
                elif kind == "stream":
                    result.text += content["text"]
                elif kind in ("display_data", "execute_result"):
                    result.outputs.append(content["data"])
                    result.text += content["data"].get("text/plain", "") + "\n"
                elif kind == "error":
                    result.error = f"{content['ename']}: {content['evalue']}"
        finally:
            conn.close()
        return result

    def shutdown(self) -> None:
        self.client.server_api("DELETE", f"/kernels/{self.id}")
