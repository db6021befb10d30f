"""Serve a folder on 127.0.0.1 in a background thread (the site checks' web server)."""

from __future__ import annotations

import functools
import threading
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def end_headers(self):
        # linkchecker keeps to 10 requests per second per host (about 3 on average) unless the server
        # answers with this header; then `maxrequestspersecond` in linkcheckerrc may be higher
        self.send_header("LinkChecker", "local test server")
        super().end_headers()


@contextmanager
def serve(folder: Path):
    """Yield ``http://127.0.0.1:<port>`` serving ``folder`` until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
