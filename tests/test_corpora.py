"""Real corpora: the vendored NCBI-disease corpus is the pinned bytes and loads offline by name;
the fetcher downloads, verifies and refuses, tested against a local HTTP server."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import socket
import threading
from dataclasses import dataclass, field

import pytest

from biobert_ner import cli, corpora, fetching
from biobert_ner.data import CorpusFormatError, load_data, read_tsv

# Published split sizes of NCBI-disease in the BioBERT / MTL-Bioinformatics-2016 IOB version.
NCBI_SENTENCES = {"train": 5424, "validation": 923, "test": 940}


def test_pin_list_names_the_six_corpora_of_the_course():
    pins = corpora.read_pins()
    assert list(pins) == ["ncbi-disease", "bc5cdr", "bc5cdr-chem", "bc5cdr-disease", "bc2gm", "linnaeus"]
    assert all(len(pin.files) == 3 and {f.split for f in pin.files} == set(corpora.SPLITS) for pin in pins.values())
    ncbi = pins["ncbi-disease"]
    assert ncbi.vendored and ncbi.entity_types == ("Disease",)
    assert ncbi.commit == "df0df02fae6dbb87d88ffcf323b9096528f06f84"
    assert ncbi.url("train").endswith(f"/{ncbi.commit}/data/NCBI-disease-IOB/train.tsv")


@pytest.mark.parametrize("split", corpora.SPLITS)
def test_vendored_ncbi_disease_is_the_pinned_bytes(split):
    pinned = {f.split: f for f in corpora.read_pins()["ncbi-disease"].files}[split]
    data = gzip.decompress((corpora.vendored_dir("ncbi-disease") / f"{split}.tsv.gz").read_bytes())
    assert len(data) == pinned.size
    assert hashlib.sha256(data).hexdigest() == pinned.sha256


def test_vendored_ncbi_disease_keeps_its_attribution_and_licence():
    folder = corpora.vendored_dir("ncbi-disease")
    source = (folder / "SOURCE.md").read_text(encoding="utf-8")
    assert "CC BY 4.0" in source or "Creative Commons Attribution 4.0" in source
    assert "Doğan" in source and "df0df02fae6dbb87d88ffcf323b9096528f06f84" in source
    assert "Attribution 4.0 International" in (folder / "LICENSE-CC-BY-4.0.md").read_text(encoding="utf-8")


def test_load_data_by_name_reads_ncbi_disease_offline(capsys):
    dataset = load_data("ncbi-disease")
    assert {split: len(rows) for split, rows in dataset.items()} == NCBI_SENTENCES
    assert dataset["train"].features["ner_tags"].feature.names == ["O", "B-Disease", "I-Disease"]
    assert dataset["train"][0]["tokens"][:4] == ["Identification", "of", "APC2", ","]
    # the printed origin is package-relative: no absolute path of this machine in a notebook's output
    assert "the ncbi-disease corpus (biobert_ner/corpus_data/ncbi-disease, shipped with the package)" in capsys.readouterr().out


def test_a_damaged_gzip_file_is_named(tmp_path):
    broken = tmp_path / "train.tsv.gz"
    broken.write_bytes(gzip.compress(b"a\tO\n")[:-6])
    with pytest.raises(CorpusFormatError, match="train.tsv.gz: not a readable gzip file"):
        read_tsv(broken)


def test_gzip_line_numbers_are_those_of_the_text(tmp_path):
    broken = tmp_path / "test.tsv.gz"
    broken.write_bytes(gzip.compress(b"a\tO\n\nb\tO\nc\tX-Disease\n"))
    with pytest.raises(CorpusFormatError, match=r"test.tsv.gz:4: "):
        read_tsv(broken)


def test_a_corpus_not_fetched_says_how_to_fetch_it(tmp_path, monkeypatch, closed_port_url):
    monkeypatch.setenv(corpora.CACHE_ENV, str(tmp_path))
    monkeypatch.setenv(fetching.MIRROR_ENV, closed_port_url)  # first use tries to fetch: no network here
    with pytest.raises(corpora.CorpusUnavailableError, match="run `biobert-ner data fetch bc2gm` on a machine with internet"):
        load_data("bc2gm")
    assert not (tmp_path / "bc2gm").exists()


# ---------------------------------------------------------------- fetching, against a local server

COMMIT = "c0ffee" * 6 + "c0ff"
TOY_SPLITS = {split: f"{split}\tO\nfever\tB-Disease\n\n".encode() * 50 for split in corpora.SPLITS}  # 50 sentences


@dataclass
class Server:
    """What the local server serves (URL path -> body), what it was asked for, and which paths it cuts short."""

    url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    truncated: set[str] = field(default_factory=set)  # sent with the full Content-Length, then half the body
    requests: list[str] = field(default_factory=list)


def toy_path(split: str) -> str:
    return f"/someone/corpora/{COMMIT}/data/TOY-IOB/{split}.tsv"


@pytest.fixture
def server():
    """A local HTTP server (127.0.0.1, ephemeral port) serving the toy corpus; shut down after the test."""
    served = Server(files={toy_path(split): body for split, body in TOY_SPLITS.items()})

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            served.requests.append(self.path)
            body = served.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()  # HTTP/1.0: the connection closes after the response, cut short or not
            self.wfile.write(body[: len(body) // 2] if self.path in served.truncated else body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    served.url = f"http://127.0.0.1:{httpd.server_port}"
    try:
        yield served
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def closed_port_url():
    """A URL where nothing listens: connecting is refused at once, like a machine without network."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def pins(tmp_path, monkeypatch, server):
    """The real NCBI-disease pin and a toy corpus pinned to the server's bytes; the cache in tmp_path."""
    files = tuple(corpora.PinnedFile(split, len(body), hashlib.sha256(body).hexdigest()) for split, body in TOY_SPLITS.items())
    toy = corpora.CorpusPin("toy", "TOY-IOB", ("Disease",), files, "someone/corpora", COMMIT)
    monkeypatch.setenv(corpora.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(fetching.MIRROR_ENV, server.url)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    return {"ncbi-disease": corpora.read_pins()["ncbi-disease"], "toy": toy}


def toy_folder():
    return corpora.cache_dir() / "toy"


def leftovers():
    """Temporary files of an interrupted write (none may stay behind)."""
    return sorted(p.name for p in toy_folder().glob(".*")) if toy_folder().exists() else []


def test_fetch_lands_verified_files_and_their_source_once(pins, server):
    folder = fetching.fetch_corpus("toy", base_url=server.url, progress=False, pins=pins)
    assert folder == toy_folder()
    assert {split: (folder / f"{split}.tsv").read_bytes() for split in corpora.SPLITS} == TOY_SPLITS
    assert sorted(p.name for p in folder.iterdir()) == ["SOURCE.md", "devel.tsv", "test.tsv", "train.tsv"]
    source = (folder / "SOURCE.md").read_text(encoding="utf-8")
    assert "someone/corpora" in source and COMMIT in source and "CC BY 4.0" in source and "Crichton" in source
    assert corpora.verify_corpus("toy", pins=pins) == []
    assert len(server.requests) == 3
    assert fetching.fetch_corpus("toy", base_url=server.url, progress=False, pins=pins) == folder
    assert len(server.requests) == 3  # verified files are not downloaded again


@pytest.mark.parametrize("damage, message", [
    (lambda body: body[:-1] + b"X", r"toy train.tsv: sha256 mismatch \(got [0-9a-f]{12}\.\.\., pinned [0-9a-f]{12}\.\.\.\)"),
    (lambda body: body + b"extra\tO\n", "toy train.tsv: the server offers .* bytes, pinned"),
])
def test_a_download_that_is_not_the_pinned_bytes_leaves_nothing(pins, server, damage, message):
    server.files[toy_path("train")] = damage(TOY_SPLITS["train"])
    with pytest.raises(corpora.CorpusUnavailableError, match=message):
        fetching.fetch_corpus("toy", progress=False, pins=pins)
    assert not (toy_folder() / "train.tsv").exists() and leftovers() == []


def test_a_dropped_connection_is_named_and_leaves_nothing(pins, server):
    server.truncated.add(toy_path("train"))
    size = len(TOY_SPLITS["train"])
    with pytest.raises(corpora.CorpusUnavailableError, match=f"toy train.tsv: the connection dropped after {size // 2:,} of {size:,} bytes"):
        fetching.fetch_corpus("toy", pins=pins)  # with the progress bar, as the command runs it
    assert not (toy_folder() / "train.tsv").exists() and leftovers() == []


def test_http_404_names_the_address(pins, server):
    del server.files[toy_path("devel")]
    with pytest.raises(corpora.CorpusUnavailableError, match=f"toy devel.tsv: HTTP 404 .* from {server.url}{toy_path('devel')}"):
        fetching.fetch_corpus("toy", progress=False, pins=pins)
    assert corpora.verify_corpus("toy", pins=pins) == ["devel.tsv: missing", "test.tsv: missing"]  # train.tsv came first


def test_no_network_says_where_to_fetch_and_what_to_copy(pins, closed_port_url):
    with pytest.raises(corpora.CorpusUnavailableError) as error:
        fetching.fetch_corpus("toy", base_url=closed_port_url, progress=False, pins=pins)
    message = str(error.value)
    assert message.startswith(f"toy train.tsv: could not reach {closed_port_url.removeprefix('http://')} (")
    assert f"copy {toy_folder()} here, or set BIOBERT_NER_DATA" in message and "\n" not in message


def test_first_use_fetches_then_reads_the_cache(pins, server, monkeypatch, capsys):
    monkeypatch.setattr(corpora, "read_pins", lambda path=None: pins)
    dataset = load_data("toy")
    assert {split: len(rows) for split, rows in dataset.items()} == {"train": 50, "validation": 50, "test": 50}
    out = capsys.readouterr().out
    assert f"fetching the toy corpus (train, devel, test: 0.0 MB) from someone/corpora at commit {COMMIT[:12]}" in out
    assert f"data: the toy corpus ({toy_folder()})" in out
    assert fetching.ensure_corpus("toy") == toy_folder() and len(server.requests) == 3


def test_a_damaged_cached_file_is_refused_until_forced(pins, server):
    fetching.fetch_corpus("toy", progress=False, pins=pins)
    (toy_folder() / "test.tsv").write_bytes(b"edited\tO\n")
    assert corpora.verify_corpus("toy", pins=pins) == [f"test.tsv: 9 bytes, pinned {len(TOY_SPLITS['test']):,}"]
    for use in (fetching.ensure_corpus, fetching.fetch_corpus):
        with pytest.raises(corpora.CorpusUnavailableError, match=r"fails verification \(test.tsv: 9 bytes.*`biobert-ner data fetch toy --force`"):
            use("toy", pins=pins)
    assert len(server.requests) == 3  # nothing re-downloaded behind the user's back
    fetching.fetch_corpus("toy", progress=False, force=True, pins=pins)
    assert len(server.requests) == 6 and corpora.verify_corpus("toy", pins=pins) == []


def test_status_of_each_corpus(pins):
    assert [row["status"] for row in corpora.corpus_status(pins=pins)] == ["vendored", "missing"]
    fetching.fetch_corpus("toy", progress=False, pins=pins)
    (toy_folder() / "devel.tsv").unlink()
    ncbi, toy = corpora.corpus_status(pins=pins)
    assert ncbi["folder"] == str(corpora.vendored_dir("ncbi-disease")) and ncbi["bytes"] == 1543461
    assert toy == {"name": "toy", "entity_types": ["Disease"], "status": "partial", "folder": str(toy_folder()),
                   "bytes": sum(len(body) for body in TOY_SPLITS.values()), "problems": ["devel.tsv: missing"]}


def test_fetching_the_vendored_corpus_only_verifies_it(pins, server):
    assert fetching.fetch_corpus("ncbi-disease", pins=pins) == corpora.vendored_dir("ncbi-disease")
    assert server.requests == []


# ---------------------------------------------------------------- the `data` command


def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cli_pins(pins, monkeypatch):
    monkeypatch.setattr(corpora, "read_pins", lambda path=None: pins)
    return pins


def test_data_list_and_fetch_commands(cli_pins, server, capsys):
    code, out, _ = run_cli(capsys, "data", "list")
    assert code == 0
    assert out.splitlines()[1].split() == ["ncbi-disease", "Disease", "1.5", "MB", "shipped", "with", "the", "package"]
    assert out.splitlines()[2].split() == ["toy", "Disease", "0.0", "MB", "not", "fetched"]
    code, out, _ = run_cli(capsys, "data", "fetch", "toy", "ncbi-disease")
    assert code == 0 and out.splitlines() == [
        f"toy: fetched into {toy_folder()}, verified",
        f"ncbi-disease: shipped with the package ({corpora.vendored_dir('ncbi-disease')}), verified",
    ]
    assert f"cached at {toy_folder()}" in run_cli(capsys, "data", "list")[1]
    assert run_cli(capsys, "data", "fetch", "--all")[1].splitlines()[1] == f"toy: already cached at {toy_folder()}, verified"
    assert len(server.requests) == 3
    assert run_cli(capsys, "data", "fetch", "toy", "--force")[0] == 0 and len(server.requests) == 6


def one_error_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("argv, code, message", [
    (["data", "fetch"], 2, "name the corpora to fetch or give --all"),
    (["data", "fetch", "toy", "--all"], 2, "name the corpora to fetch or give --all"),
    (["data", "fetch", "nope"], 2, "unknown corpus nope; known: ncbi-disease, toy"),
    (["data"], 2, "the following arguments are required: ACTION"),
])
def test_data_command_usage_errors(cli_pins, capsys, argv, code, message):
    result, _, err = run_cli(capsys, *argv)
    assert result == code and message in one_error_line(err)


def test_data_fetch_failure_is_one_line_and_exit_1(cli_pins, server, capsys):
    server.files.clear()
    code, _, err = run_cli(capsys, "data", "fetch", "toy")
    assert code == 1 and one_error_line(err).startswith("error: toy train.tsv: HTTP 404 Not Found from http://127.0.0.1:")
