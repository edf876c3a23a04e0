"""Content-addressed stores where providers publish results (and clients publish specs), and `fetch` by URI.

An item's name is the 64-hex-digit keccak256 of its bytes, so a URI names what it should serve and anyone
can check it: `verify(uri, expected_hash)`. Two stores share one layout (a flat directory of such files):

- `ResultStore(root)`: URIs are `file:///.../<hash-hex>`, for agents on one machine;
- `HttpResultStore(root)`: also serves the directory over HTTP on 127.0.0.1 from a background thread,
  with URIs `http://127.0.0.1:<port>/<hash-hex>`.

`fetch` reads `file://`, `http://` and `https://` URIs. The hash a URI carries is not trusted: `verify`
and `fetch_verified` recompute it from the bytes received.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from os import PathLike
from pathlib import Path

from agents.jobs.hashing import as_hash, keccak_file
from agents.jobs.spec import InvalidJobSpec, JobSpec
from agents.keccak import incremental_keccak256, keccak256

DEFAULT_MAX_FETCH_BYTES = 1 << 30  # a client will not hold a larger result in memory
DEFAULT_FETCH_TIMEOUT_SECONDS = 30.0
_CHUNK_BYTES = 1 << 20
_ITEM_NAME = re.compile(r"[0-9a-f]{64}")


class FetchError(Exception):
    """A URI could not be read: unsupported scheme, missing item, network or size problem."""


class HashMismatch(Exception):
    """Fetched bytes whose keccak256 is not the expected hash."""


class ResultStore:
    """A content-addressed directory of results and specs, addressed by `file://` URIs."""

    def __init__(self, root: str | PathLike):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def publish(self, content: bytes | str | PathLike) -> tuple[bytes, str]:
        """Store bytes, or a file's bytes when given a path; return (keccak256 hash, URI).

        Publishing the same bytes twice gives the same hash and URI, and bytes the store already holds intact
        are not written again: a market publishes the same spec and the same (cached) result over and over,
        and each write's atomic rename was the costliest call of a large simulated market.
        """
        if isinstance(content, (bytes, bytearray, memoryview)):
            content_hash = keccak256(bytes(content))
        else:
            content_hash = keccak_file(content)
        if self._holds(content_hash):
            return content_hash, self.uri_for(content_hash)
        descriptor, partial = tempfile.mkstemp(dir=self.root, prefix=".publishing-")
        try:
            with os.fdopen(descriptor, "wb") as destination:
                if isinstance(content, (bytes, bytearray, memoryview)):
                    destination.write(content)
                else:  # the bytes copied, should the file have changed since it was hashed
                    content_hash = _copy_hashing(content, destination)
            os.chmod(partial, 0o644)
            os.replace(partial, self.path_for(content_hash))  # atomic: readers never see a partial item
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
        return content_hash, self.uri_for(content_hash)

    def publish_spec(self, spec: JobSpec) -> tuple[bytes, str]:
        """Publish a spec's canonical JSON; the returned hash is `spec.spec_hash`, the request's specHash."""
        return self.publish(spec.canonical_json())

    def path_for(self, content_hash: bytes | str) -> Path:
        return self.root / as_hash(content_hash).hex()

    def uri_for(self, content_hash: bytes | str) -> str:
        return self.path_for(content_hash).as_uri()

    def __contains__(self, content_hash: bytes | str) -> bool:
        return self.path_for(content_hash).is_file()

    def _holds(self, content_hash: bytes) -> bool:
        """The item is stored and its bytes still hash to its name (reading is far cheaper than a write)."""
        path = self.path_for(content_hash)
        try:
            return keccak_file(path) == content_hash
        except FileNotFoundError:
            return False


class HttpResultStore(ResultStore):
    """A `ResultStore` also served over HTTP on 127.0.0.1 (port 0: any free port); URIs are http://.

    Serves `GET`/`HEAD /<hash-hex>` only. Stop it with `close()` or use it as a context manager.
    """

    def __init__(self, root: str | PathLike, host: str = "127.0.0.1", port: int = 0):
        super().__init__(root)
        self._server = ThreadingHTTPServer((host, port), _handler_for(self.root))
        self._server.daemon_threads = True
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name=f"result-store:{self.port}"
        )
        self._thread.daemon = True
        self._thread.start()

    def uri_for(self, content_hash: bytes | str) -> str:
        return f"http://{self.host}:{self.port}/{as_hash(content_hash).hex()}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> "HttpResultStore":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _handler_for(root: Path) -> type[BaseHTTPRequestHandler]:
    class ItemHandler(BaseHTTPRequestHandler):
        def do_GET(self):
            self._serve(with_body=True)

        def do_HEAD(self):
            self._serve(with_body=False)

        def _serve(self, with_body: bool):
            name = self.path.lstrip("/")
            # Only bare item names: no path traversal, no listing, no temporary files.
            path = root / name if _ITEM_NAME.fullmatch(name) else None
            try:
                item = open(path, "rb") if path is not None else None
            except FileNotFoundError:
                item = None
            if item is None:
                self.send_error(HTTPStatus.NOT_FOUND, "no such item")
                return
            with item:
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(os.fstat(item.fileno()).st_size))
                self.end_headers()
                if with_body:
                    shutil.copyfileobj(item, self.wfile, _CHUNK_BYTES)

        def log_message(self, format, *args):
            pass  # agents log what they fetch; per-request lines on stderr are noise

    return ItemHandler


def _copy_hashing(source: str | PathLike, destination) -> bytes:
    # One pass: the stored bytes are exactly the hashed bytes even if the source changes meanwhile.
    digest = incremental_keccak256()
    with open(source, "rb") as file:
        while chunk := file.read(_CHUNK_BYTES):
            digest.update(chunk)
            destination.write(chunk)
    return digest.digest()


def fetch(
    uri: str, *, timeout: float = DEFAULT_FETCH_TIMEOUT_SECONDS, max_bytes: int = DEFAULT_MAX_FETCH_BYTES
) -> bytes:
    """The bytes at a `file://`, `http://` or `https://` URI; FetchError when they cannot be read."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise FetchError(f"file URI on another host: {uri}")
        path = Path(urllib.request.url2pathname(parsed.path))
        try:
            with open(path, "rb") as file:
                data = file.read(max_bytes + 1)
        except OSError as error:
            raise FetchError(f"cannot read {uri}: {error.strerror or error}") from None
    elif parsed.scheme in ("http", "https"):
        try:
            with _opener_for(parsed.hostname).open(uri, timeout=timeout) as response:
                data = response.read(max_bytes + 1)
        except urllib.error.HTTPError as error:
            raise FetchError(f"cannot fetch {uri}: HTTP {error.code} {error.reason}") from None
        except (urllib.error.URLError, OSError) as error:
            raise FetchError(f"cannot fetch {uri}: {getattr(error, 'reason', error)}") from None
    else:
        raise FetchError(f"unsupported URI scheme {parsed.scheme!r} in {uri!r} (expected file, http or https)")
    if len(data) > max_bytes:
        raise FetchError(f"{uri} holds more than {max_bytes} bytes")
    return data


def _opener_for(hostname: str | None) -> urllib.request.OpenerDirector:
    try:
        loopback = hostname == "localhost" or ipaddress.ip_address(hostname or "").is_loopback
    except ValueError:
        loopback = False
    # A proxy from the environment cannot reach this machine's loopback store.
    return urllib.request.build_opener(urllib.request.ProxyHandler({})) if loopback else urllib.request.build_opener()


def verify(uri: str, expected_hash: bytes | str, **fetch_options) -> bool:
    """Whether the bytes at `uri` hash (keccak256) to `expected_hash`.

    Raises FetchError when the URI cannot be read: "unavailable" is not "wrong", and an agent should
    not treat a network failure as proof of cheating.
    """
    return keccak256(fetch(uri, **fetch_options)) == as_hash(expected_hash)


def fetch_verified(uri: str, expected_hash: bytes | str, **fetch_options) -> bytes:
    """The bytes at `uri`, checked against `expected_hash`; HashMismatch when they differ."""
    data = fetch(uri, **fetch_options)
    actual = keccak256(data)
    if actual != as_hash(expected_hash):
        raise HashMismatch(f"{uri} holds bytes hashing to 0x{actual.hex()}, expected 0x{as_hash(expected_hash).hex()}")
    return data


def fetch_spec(uri: str, expected_spec_hash: bytes | str, **fetch_options) -> JobSpec:
    """The job spec a request points to: fetched, checked against the request's specHash, parsed.

    The published bytes must be the canonical JSON, so the parsed spec's `spec_hash` is the on-chain one.
    """
    data = fetch_verified(uri, expected_spec_hash, **fetch_options)
    spec = JobSpec.from_json(data)
    if spec.canonical_json() != data:
        raise InvalidJobSpec(f"the spec at {uri} is not in canonical JSON form")
    return spec
