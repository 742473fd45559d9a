import hashlib
import zipfile

import pytest

from course_utils.data.download import DownloadError, download, extract_zip, file_hash
from course_utils.data.errors import CorruptDataError, DataMissingError

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
    made = extract_zip(archive, tmp_path / "root")
    assert made == [tmp_path / "root" / "set"]
    assert (tmp_path / "root" / "set" / "train" / "a" / "1.txt").read_text() == "x"
    archive.write_bytes(archive.read_bytes()[:20])
    with pytest.raises(CorruptDataError, match="set.zip is corrupt"):
        extract_zip(archive, tmp_path / "other")
    assert list((tmp_path / "other").iterdir()) == []
