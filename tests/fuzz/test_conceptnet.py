"""ConceptNet files (ConceptNet 5 CSV, ConceptNet 4 .graph.gz): a Document whose malformed lines are skipped and
counted, or an InputError naming the file; an import refused leaves no graph behind."""

import gzip

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.fuzz_targets import ConceptNetFiles
from kqa.errors import InputError
from kqa.graph.conceptnet import CONCEPTNET4_GRAPH, CONCEPTNET5_CSV, ConceptNetImporter
from kqa.graph.importers import import_conceptnet, import_conceptnet4
from kqa.graph.store import GraphStore
from tests.fuzz import FUZZ

CN4 = "fish\taquarium\t{'freq': 5, 'score': 1, 'rel': u'AtLocation'}"
CN5 = '/a/[/r/IsA/,/c/en/dog/,/c/en/animal/]\t/r/IsA\t/c/en/dog\t/c/en/animal\t{"weight": 2.0}'


@pytest.fixture(scope="module")
def conceptnet(tmp_path_factory):
    return ConceptNetFiles(tmp_path_factory.mktemp("fuzz"))


@FUZZ
@given(rng=st.randoms(use_true_random=False))
def test_conceptnet_files_import_or_name_the_file(conceptnet, rng):
    outcome = conceptnet.run(rng)
    assert outcome.kind != "escaped", outcome.detail


def cn4_file(tmp_path, *lines: str):
    path = tmp_path / "conceptnet_en.graph.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")))
    return path


def cn5_file(tmp_path, *lines: str):
    path = tmp_path / "assertions.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


# ---- regressions: each bad line below once escaped (the exception named) or reached the graph; now it is counted --
@pytest.mark.parametrize("bad", [
    "fish\tsea\t{'freq': 5, 'score': " + "9" * 400 + ", 'rel': u'AtLocation'}",  # OverflowError (confidence)
    "fish\tsea\t{'freq': 5, 'score': 1, 'rel': u'\\ud800'}",  # a lone surrogate relation: UnicodeEncodeError on write
    "fish\tsea\t{'freq': 5, 'score': 1, 'rel': u'At\\nLocation'}",  # a control character in the relation
    "fish\tsea\t{'freq': True, 'score': 1, 'rel': u'AtLocation'}",  # a bool is no frequency
    "fish\tsea\t" + "(" * 150 + "1" + ")" * 150,  # longer than any ConceptNet 4 dict: not given to literal_eval
], ids=["huge-score", "surrogate-rel", "control-rel", "bool-freq", "long-literal"])
def test_a_malformed_conceptnet4_line_is_skipped_and_counted(tmp_path, bad):
    doc, malformed = ConceptNetImporter(cn4_file(tmp_path, bad, CN4), CONCEPTNET4_GRAPH).run()
    assert malformed == 1 and [(t.head, t.relation, t.tail) for t in doc.triples] == [("fish", "AtLocation",
                                                                                       "aquarium")]


@pytest.mark.parametrize("info", [
    "[" * 100_000,  # RecursionError
    '{"weight": ' + "9" * 400 + "}",  # OverflowError (float of a 400-digit int)
    '{"weight": 1e400}',  # an infinite confidence
    '{"weight": NaN}',
    '{"weight": true}',
    '{"surfaceText": "a \\ud800 b"}',  # a lone surrogate sentence: UnicodeEncodeError on write
    '{"surfaceText": 3}',
], ids=["deep", "huge-int", "inf", "nan", "bool", "surrogate", "int-text"])
def test_a_malformed_conceptnet5_line_is_skipped_and_counted(tmp_path, info):
    bad = "/a/x\t/r/AtLocation\t/c/en/fish\t/c/en/sea\t" + info
    doc, malformed = ConceptNetImporter(cn5_file(tmp_path, bad, CN5), CONCEPTNET5_CSV).run()
    assert malformed == 1 and [(t.head, t.relation, t.tail, t.confidence) for t in doc.triples] == [
        ("dog", "IsA", "animal", 2.0)]


def test_an_empty_relation_is_malformed_not_an_edge(tmp_path):
    doc, malformed = ConceptNetImporter(cn5_file(tmp_path, "/a/x\t/r/\t/c/en/fish\t/c/en/sea\t{}", CN5)).run()
    assert malformed == 1 and len(doc.triples) == 1


# ---- files refused as a whole -------------------------------------------------------------------------------------
@pytest.mark.parametrize("content, message", [
    (CN4.encode() + b"\n", r"unreadable \(Not a gzipped file \(b'fi'\)\); a \.gz file must be whole"),  # BadGzipFile
    (gzip.compress(CN4.encode() * 50)[:-30], r"unreadable \(Compressed file ended before the end-of-stream"),  # EOF
    (b"", r"empty: no line is a ConceptNet 4 line \(`subject<TAB>object<TAB>\{'freq'"),
    (gzip.compress(bytes(range(256)) * 4), r"none of its \d+ lines is a ConceptNet 4 line .*\(line 1: ValueError"),
], ids=["not-gzip", "truncated-gzip", "empty", "binary"])
def test_a_conceptnet4_file_without_one_readable_line_is_an_input_error(tmp_path, content, message):
    path = tmp_path / "conceptnet_en.graph.gz"
    path.write_bytes(content)
    with pytest.raises(InputError, match=rf"ConceptNet file {path}: {message}"):
        ConceptNetImporter(path, CONCEPTNET4_GRAPH).run()


def test_a_corrupt_gzip_stream_is_an_input_error(tmp_path):
    data = bytearray(gzip.compress((CN4 + "\n").encode() * 100))
    data[20] ^= 0xFF  # inside the deflate stream: zlib.error
    path = tmp_path / "conceptnet_en.graph.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"unreadable \(.*\); a \.gz file must be whole and gzip-compressed"):
        ConceptNetImporter(path, CONCEPTNET4_GRAPH).run()


@pytest.mark.parametrize("name, message", [
    ("missing.csv", r"ConceptNet file .*missing\.csv does not exist\."),
    ("folder.csv", r"ConceptNet file .*folder\.csv is a folder\."),
    ("x" * 300 + ".csv", r"ConceptNet file '.*xxx\.\.\. \(\d+ characters\) cannot be opened: File name too long"),
])
def test_a_conceptnet_path_that_is_no_file_is_an_input_error(tmp_path, name, message):
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(InputError, match=message):  # the long name: Path.is_file() raised OSError (ENAMETOOLONG)
        ConceptNetImporter(tmp_path / name).run()


def test_an_import_into_a_new_graph_creates_it_only_once_the_file_is_read(tmp_path):
    junk = tmp_path / "junk.csv"
    junk.write_bytes(b"\x00\x01binary\n")
    with pytest.raises(InputError, match=r"none of its 1 lines is a ConceptNet 5 assertion"):
        import_conceptnet(tmp_path / "g", junk)
    assert not (tmp_path / "g").exists()  # the store used to be created before the file was read
    import_conceptnet4(tmp_path / "g", path=cn4_file(tmp_path, CN4, "not a line"), progress=False)
    with GraphStore.open(tmp_path / "g") as store:
        assert store.stats()["edges"] == 1
