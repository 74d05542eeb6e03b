"""A TLS server on a loopback port, in a thread, for the TLS tests: handshake, then hang up."""

from __future__ import annotations

import socket
import ssl
import threading
import warnings
from types import TracebackType

from tests.audit.certs import Issued


class TLSServer:
    """Serve `issued` on 127.0.0.1 (a free port) with the given protocol floor."""

    def __init__(self, issued: Issued, minimum: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with warnings.catch_warnings():  # the legacy-protocol test asks for TLS 1.0
            warnings.simplefilter("ignore", DeprecationWarning)
            self.context.minimum_version = minimum
        if minimum < ssl.TLSVersion.TLSv1_2:
            self.context.set_ciphers("DEFAULT:@SECLEVEL=0")
        self.context.load_cert_chain(issued.cert, issued.key)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def target(self) -> str:
        """HOST:PORT for the audit."""
        return f"127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            try:
                with self.context.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                conn.close()

    def __enter__(self) -> TLSServer:
        self.thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.sock.close()
