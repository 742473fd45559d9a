import hashlib
import zipfile

import pytest

from course_utils.data.download import (
    CorruptDataError, DataMissingError, DownloadError, download, extract_zip, file_hash,
)

DATA = b"hot dog " * 10_000


@pytest.fixture
def source(tmp_path):
    src = tmp_path / "src" / "archive.bin"
    src.parent.mkdir()
    src.write_bytes(DATA)
    return src


def test_verified_download_is_written_and_reused(source, tmp_path):
    dest = tmp_path / "data" / "archive.bin"
    sha1 = hashlib.sha1(DATA).hexdigest()
    assert download(source.as_uri(), dest, sha1=sha1) == dest
    assert dest.read_bytes() == DATA and file_hash(dest) == sha1
    source.unlink()  # present and verified: no fetch needed
    assert download(source.as_uri(), dest, sha1=sha1) == dest


@pytest.mark.parametrize("algo", ["sha1", "md5"])
def test_wrong_checksum_is_refused_and_not_kept(source, tmp_path, algo):
    dest = tmp_path / "data" / "archive.bin"
    with pytest.raises(DownloadError, match=f"refused: {algo} is .* expected 0+"):
        download(source.as_uri(), dest, **{algo: "0" * (40 if algo == "sha1" else 32)})
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []  # no partial file left either


def test_truncated_download_is_refused_and_not_kept(tmp_path, monkeypatch):
    import http.server
    import threading

    class Short(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # announces 1000 bytes, sends 10
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0123456789")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Short)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    dest = tmp_path / "archive.zip"
    try:
        with pytest.raises((DownloadError, DataMissingError)) as info:
            download(f"http://127.0.0.1:{server.server_port}/archive.zip", dest, timeout=5)
    finally:
        server.shutdown()
    assert "truncated" in str(info.value) or "failed" in str(info.value)
    assert not dest.exists() and list(tmp_path.iterdir()) == []


def test_existing_bad_file_is_named(source, tmp_path):
    dest = tmp_path / "archive.bin"
    dest.write_bytes(b"not it")
    with pytest.raises(CorruptDataError, match="archive.bin is corrupt or truncated"):
        download(source.as_uri(), dest, sha1=hashlib.sha1(DATA).hexdigest())


def test_offline_gives_data_missing_error(tmp_path):
    with pytest.raises(DataMissingError) as info:
        download("http://127.0.0.1:9/none.zip", tmp_path / "none.zip", timeout=2, dataset="Nothing")
    assert "none.zip" in str(info.value) and str(tmp_path) in str(info.value)
    assert info.value.__suppress_context__ and info.value.__cause__ is None
    assert list(tmp_path.iterdir()) == []


def test_extract_zip_and_refuse_damaged(tmp_path):
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("set/train/a/1.txt", "x")
    extract_zip(archive, tmp_path / "root")
    assert [p.name for p in (tmp_path / "root").iterdir()] == ["set"]
    assert (tmp_path / "root" / "set" / "train" / "a" / "1.txt").read_text() == "x"
    archive.write_bytes(archive.read_bytes()[:20])
    with pytest.raises(CorruptDataError, match="set.zip is corrupt"):
        extract_zip(archive, tmp_path / "other")
    assert list((tmp_path / "other").iterdir()) == []


# ------------------------------------------- against a local HTTP server (127.0.0.1 only)
GOOD = b"a data set " * 30_000          # 330 kB, announced


@pytest.fixture
def server():
    """A local server: /good.bin (announced and sent), /short.bin (announces 1,000 bytes, sends
    10), /missing.bin (404), /busy.bin (503). Yields its base address."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            name = self.path.rsplit("/", 1)[-1]
            if name in ("good.bin", "short.bin"):
                self.send_response(200)
                self.send_header("Content-Length", str(len(GOOD)) if name == "good.bin" else "1000")
                self.end_headers()
                self.wfile.write(GOOD if name == "good.bin" else b"0123456789")
            else:
                self.send_error(503 if name == "busy.bin" else 404)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def silent_server():
    """A server that accepts connections and never answers."""
    import socket
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def test_a_download_says_what_from_where_how_big_with_a_bar(server, tmp_path, capsys):
    dest = tmp_path / "good.bin"
    download(f"{server}/good.bin", dest, sha1=hashlib.sha1(GOOD).hexdigest(), dataset="A set")
    out = capsys.readouterr()
    assert f"Downloading A set: good.bin from {server}/good.bin into {tmp_path}" in out.out
    assert "good.bin (0.3 MB)" in out.err and "100%" in out.err   # tqdm's bar, with the size
    assert dest.read_bytes() == GOOD and list(tmp_path.iterdir()) == [dest]


@pytest.mark.parametrize("name, cause", [
    ("missing.bin", "the server answered HTTP 404 Not Found"),
    ("busy.bin", "the server answered HTTP 503 Service Unavailable"),
])
def test_an_http_error_is_named_not_guessed(server, tmp_path, name, cause):
    with pytest.raises(DataMissingError) as info:
        download(f"{server}/{name}", tmp_path / name, timeout=5, dataset="A set")
    assert f"Downloading {server}/{name} failed: {cause}." in str(info.value) and info.value.cause == cause
    assert "no internet?" not in str(info.value) and list(tmp_path.iterdir()) == []


def test_a_truncated_transfer_is_refused_with_its_numbers(server, tmp_path):
    with pytest.raises(DownloadError, match="truncated: got 10 of 1,000 bytes"):
        download(f"{server}/short.bin", tmp_path / "short.bin", timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_a_server_that_never_answers_times_out_with_that_cause(silent_server, tmp_path):
    with pytest.raises(DataMissingError) as info:
        download(f"{silent_server}/slow.bin", tmp_path / "slow.bin", timeout=1)
    assert info.value.cause == "no answer from 127.0.0.1 within 1 s", info.value.cause
    assert list(tmp_path.iterdir()) == []


def test_refused_connection_and_unknown_name_are_said(tmp_path):
    import socket
    import ssl
    import urllib.error

    from course_utils.data.download import describe_failure
    with pytest.raises(DataMissingError) as info:
        download("http://127.0.0.1:9/none.zip", tmp_path / "none.zip", timeout=2)
    assert info.value.cause == "127.0.0.1 refused the connection"
    dns = urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))
    assert describe_failure(dns, "https://example.org/x", 30) == (
        "the name example.org could not be resolved (Name or service not known): no internet, or no DNS?")
    bad_cert = urllib.error.URLError(ssl.SSLCertVerificationError(1, "certificate verify failed"))
    assert describe_failure(bad_cert, "https://example.org/x", 30).startswith("SSL error talking to example.org")
