"""Malformed inputs for kqa's entry points, made by mutating valid ones; shared by tests/fuzz and bench_fuzz.

Every function takes a `random.Random`. The benchmark seeds one per input, so input i of a run is reproducible on its
own; the tests pass Hypothesis's (`st.randoms()`), which records each choice and shrinks a failure to a small one.
Values are mutated as JSON trees (delete a key, swap in null / numbers / bools / lists / objects / odd or huge
strings / surrogates, retype, empty), then serialized, and sometimes the bytes are mutated too (truncation, random
bytes, invalid UTF-8, BOM, NUL, deep nesting, 5000-digit numbers); now and then the path itself is one no file can
have (missing, a folder, too long for the file system, with a NUL).
"""

from __future__ import annotations

import copy
import gzip
import json
import random
from pathlib import Path

ODD_STRINGS = (
    "", " ", "\t\n ", "A", "A ", " a", "null", "0", "1", "-1", "01", "²", "١", "Ⅻ", "1e3", "NaN", "\x00", "\ud800",
    "\udcff", "a\ud83d", "\ufeff", "\u202e", "\u200b", "é", "e\u0301", "🐟", "\r\n", "{", "]", "\\", '"',
    "$\\frac{$", "$\\undefined$", "%s", "{question}", "../../etc/passwd", "\x1b[31m", "ｆｕｌｌ", "choice a",
)
WORDS = ("fish", "aquarium", "desert", "oven", "water", "sea", "bank", "door", "paper", "knife", "car", "tree")
BAD_UTF8 = (b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"\xe2\x82", b"\x80")


# ---- values ------------------------------------------------------------------------------------------------------
def odd_string(rng: random.Random) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        return rng.choice(ODD_STRINGS)
    if kind == 1:  # any code point, lone surrogates included
        return "".join(chr(rng.randrange(0x110000)) for _ in range(rng.randrange(1, 12)))
    if kind == 2:
        return rng.choice(ODD_STRINGS) * rng.choice((100, 3000))
    if kind == 3:
        return rng.choice(("x", "ab ", "🐟")) * rng.choice((1000, 70_000))  # huge
    return rng.choice(WORDS) + rng.choice(("", " ", "\n", "\t")) + rng.choice(WORDS)


def odd_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(10 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice((True, False))
    if kind == 2:
        return rng.choice((0, 1, -1, 2, 7, 2**31, 2**63, -(2**63) - 1, 10**30))
    if kind == 3:
        return rng.choice((0.0, -0.0, 0.5, 1.0, 1e308, float("nan"), float("inf"), float("-inf")))
    if kind == 4:
        return odd_string(rng)
    if kind == 5:
        return copy.deepcopy(rng.choice(([], [None], [[]], [{}], {}, {"": None}, {"label": [None], "text": [None]})))
    if kind == 6:
        return [odd_value(rng, depth + 1) for _ in range(rng.randrange(1, 4))]
    if kind == 7:
        return {odd_string(rng): odd_value(rng, depth + 1) for _ in range(rng.randrange(1, 3))}
    if kind == 8:
        return [rng.choice(ODD_STRINGS)] * rng.choice((2, 100, 3000))  # many equal items (e.g. duplicate labels)
    value: object = rng.choice(WORDS)
    for _ in range(rng.randrange(10, 200)):  # nested, but shallow enough for json.dumps
        value = [value] if rng.random() < 0.5 else {"a": value}
    return value


def mutate_value(value: object, rng: random.Random, edits: int | None = None) -> object:
    """A deep copy of a JSON tree with 1-3 random edits anywhere in it (the root included)."""
    value = copy.deepcopy(value)
    for _ in range(edits or rng.randrange(1, 4)):
        value = _edit(value, rng)
    return value


def _paths(value: object, prefix: tuple = ()) -> list[tuple]:
    paths = [prefix]
    if isinstance(value, dict):
        for key, item in list(value.items())[:50]:
            paths += _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value[:50]):
            paths += _paths(item, prefix + (index,))
    return paths


def _edit(root: object, rng: random.Random) -> object:
    path = rng.choice(_paths(root))
    node = _get(root, path)
    op = rng.randrange(6)
    if op == 0 and path:  # delete
        parent = _get(root, path[:-1])
        del parent[path[-1]]
        return root
    if op == 2 and isinstance(node, (dict, list)):  # add
        if isinstance(node, dict):
            node[rng.choice((odd_string(rng), "id", "label", "text", "choices", "answerKey"))] = odd_value(rng)
        else:
            item = rng.choice(node) if node and rng.random() < 0.5 else odd_value(rng)
            node.insert(rng.randrange(len(node) + 1), item)
        return root
    return _put(root, path, _replacement(node, op, root, rng))


def _replacement(node: object, op: int, root: object, rng: random.Random) -> object:
    if op == 3:  # retype
        if isinstance(node, dict):
            return list(node.values())
        if isinstance(node, list):
            return {str(i): v for i, v in enumerate(node)}
        return rng.choice(([node], {"text": node}, str(node)))
    if op == 4:  # empty
        return type(node)() if isinstance(node, (dict, list, str)) else None
    if op == 5:  # a value from elsewhere in the record
        return copy.deepcopy(_get(root, rng.choice(_paths(root))))
    return odd_value(rng)


def _get(root: object, path: tuple) -> object:
    for key in path:
        root = root[key]
    return root


def _put(root: object, path: tuple, value: object) -> object:
    if not path:
        return value
    _get(root, path[:-1])[path[-1]] = value
    return root


# ---- bytes -------------------------------------------------------------------------------------------------------
def dumps(value: object, rng: random.Random) -> bytes:
    """JSON bytes: \\u escapes, raw UTF-8, or (rarely) surrogates encoded as if they were characters (not UTF-8)."""
    kind = rng.randrange(4)
    if kind == 0:
        return json.dumps(value).encode("ascii")
    text = json.dumps(value, ensure_ascii=False)
    return text.encode("utf-8", "surrogatepass" if kind == 3 else "backslashreplace")


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    kind = rng.randrange(10)
    at = rng.randrange(len(data) + 1)
    if kind == 0:
        return data[:at]  # truncated
    if kind == 1 and data:
        i = rng.randrange(len(data))
        return data[:i] + bytes([rng.randrange(256)]) + data[i + 1 :]
    if kind == 2:
        return data[:at] + rng.randbytes(rng.randrange(1, 9)) + data[at:]
    if kind == 3:
        return rng.randbytes(rng.randrange(65))
    if kind == 4:
        return b"\xef\xbb\xbf" + data  # BOM
    if kind == 5:
        return data[:at] + rng.choice(BAD_UTF8) + data[at:]
    if kind == 6:
        return data[:at] + b"\x00" + data[at:]
    if kind == 7:
        return rng.choice((b"[", b'{"a":', b"- ")) * rng.choice((100, 1000, 60_000))  # deep nesting
    if kind == 8:
        return b'{"id": ' + b"9" * rng.choice((4301, 5000)) + b"}"  # int() refuses > 4300 digits
    return rng.choice((b"NaN", b"-Infinity", b"null", b"[]", b'""', b"{}", data + data, data[at:] + data[:at]))


def join_lines(lines: list[bytes], rng: random.Random) -> bytes:
    """One file of lines: LF or CRLF, sometimes a blank line, sometimes no final newline."""
    lines = list(lines)
    if rng.random() < 0.1:
        lines.insert(rng.randrange(len(lines) + 1), rng.choice((b"", b"   ", b"\t")))
    end = rng.choice((b"\n", b"\r\n"))
    return end.join(lines) + (end if rng.random() < 0.9 else b"")


def maybe_mutated(value: object, rng: random.Random, p_value: float = 0.45, p_bytes: float = 0.15) -> bytes:
    """`value` as JSON bytes: kept, mutated as a tree (p_value) and/or mutated as bytes (p_bytes)."""
    if rng.random() < p_value:
        value = mutate_value(value, rng)
    data = dumps(value, rng)
    return mutate_bytes(data, rng) if rng.random() < p_bytes else data


# ---- paths -------------------------------------------------------------------------------------------------------
def odd_path(rng: random.Random, good: Path) -> Path:
    """Mostly `good`; sometimes a path no file can have: missing, a folder, too long for the file system, a NUL."""
    kind = rng.randrange(20)
    if kind == 0:
        return good.with_name("missing" + good.suffix)
    if kind == 1:
        folder = good.with_name("folder" + good.suffix)
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    if kind == 2:
        return good.with_name("x" * rng.choice((256, 5000)) + good.suffix)
    if kind == 3:
        return good.with_name("a\x00b" + good.suffix)
    return good


# ---- question files ----------------------------------------------------------------------------------------------
CSQA_SHAPES = ("nested", "flat", "obqa")
SHAPES_OF_FORMAT = {"csqa": CSQA_SHAPES, "options": ("options",), "piqa": ("piqa",), "hellaswag": ("hellaswag",)}


def question_record(rng: random.Random, shape: str, qid: str) -> dict:
    """A valid record of one shape (2-5 choices, answered)."""
    n = rng.randrange(2, 6)
    labels, texts = list("ABCDE"[:n]), [f"{rng.choice(WORDS)} {i}" for i in range(n)]
    answer = rng.randrange(n)
    stem = f"Where is the {rng.choice(WORDS)}?"
    if shape == "nested":
        return {"id": qid, "question": {"stem": stem, "question_concept": rng.choice(WORDS),
                                        "choices": [{"label": a, "text": t} for a, t in zip(labels, texts)]},
                "answerKey": labels[answer]}
    if shape == "flat":
        return {"id": qid, "question": stem, "question_concept": rng.choice(WORDS),
                "choices": {"label": labels, "text": texts}, "answerKey": labels[answer]}
    if shape == "obqa":
        return {"id": qid, "question_stem": stem, "choices": {"label": labels, "text": texts},
                "answerKey": labels[answer]}
    if shape == "options":
        return {"id": qid, "question": stem, "options": texts,
                "answer": rng.choice((answer, labels[answer], str(answer)))}
    if shape == "piqa":
        return {"id": qid, "goal": stem, "sol1": texts[0], "sol2": texts[1], "label": answer % 2}
    return {"ind": qid, "ctx": stem, "endings": texts, "label": str(answer)}


def question_lines(rng: random.Random, shapes: tuple[str, ...] = CSQA_SHAPES) -> list[bytes]:
    """1-5 records, ids q0, q1, ...; about half of them mutated."""
    return [maybe_mutated(question_record(rng, rng.choice(shapes), f"q{i}"), rng) for i in range(rng.randrange(1, 6))]


# ---- corpora -----------------------------------------------------------------------------------------------------
CORPUS_NAMES = ("a.txt", "b.md", "sub/c.txt", "C.TXT", "ünï cödé.txt", "🐟.md", " space .txt", ".hidden.txt",
                "deep/er/d.md", "noext", "e.txt.bak")


def document_bytes(rng: random.Random, max_bytes: int) -> bytes:
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 40))) + "."
    kind = rng.randrange(9)
    if kind == 0:
        return rng.choice((b"", b" \n\t ", b"\xef\xbb\xbf"))  # empty
    if kind == 1:
        return rng.randbytes(rng.randrange(1, 200)) + b"\x00"  # binary
    if kind == 2:
        return text.replace("a", "é").encode("latin-1")  # not UTF-8
    if kind == 3:
        return text.encode() * (max_bytes // len(text) + 2)  # huge
    if kind == 4:
        return odd_string(rng).encode("utf-8", "surrogatepass")
    if kind == 5:
        return mutate_bytes(text.encode(), rng)
    return text.replace(" ", rng.choice((" ", "\r\n", "\n\n"))).encode()


def corpus_lines(rng: random.Random, max_bytes: int) -> list[bytes]:
    """JSONL {id, text} records, about half mutated; some texts over `max_bytes`."""
    lines = []
    for i in range(rng.randrange(1, 6)):
        text = document_bytes(rng, max_bytes).decode("utf-8", "replace")
        lines.append(maybe_mutated({"id": rng.choice((f"d{i}", i)), "text": text}, rng))
    return lines


# ---- pipeline YAML -----------------------------------------------------------------------------------------------
ODD_YAML = (
    b"", b"~", b"42", b"[1, 2]", b"- a\n- b\n", b"name: x\n---\nname: y\n", b"a: &x [*x]\n", b"model: &m {name: *m}\n",
    b"!!python/object/apply:os.system ['true']\n", b"\tmodel: x\n", b"model:\n  name: [\n", b"? [a, b]\n: c\n",
    b"scorer: {mode: @}\n", b"model: !!binary aGVsbG8=\n", b"name: 2020-01-01\n", b"name: 2021-02-30\n",
    b"scorer:\n  mode: sum\n  mode: pmi\n",
)


def pipeline_yaml(rng: random.Random, valid: dict) -> bytes:
    """A pipeline YAML: `valid` (a PipelineConfig dump) cut to some sections and mutated, or odd YAML text."""
    import yaml

    if rng.random() < 0.15:
        return rng.choice(ODD_YAML)
    sections = [k for k in valid if rng.random() < 0.3] or ["scorer"]
    value = mutate_value({k: valid[k] for k in sections}, rng) if rng.random() < 0.9 else dict(valid)
    if rng.random() < 0.95:  # PyYAML scans in Python: a 70k-character string costs a second; keep a few
        value = _cut(value, 2000)
    try:
        text = _yaml_text(value, rng.random() < 0.5)
    except (yaml.YAMLError, RecursionError):  # a shape PyYAML cannot write: write something simpler
        text = yaml.safe_dump({"name": ascii(value)[:100]})
    data = text.encode("utf-8", "surrogatepass")
    return mutate_bytes(data, rng) if rng.random() < 0.2 else data


def _yaml_text(value: object, allow_unicode: bool) -> str:
    import yaml

    try:  # libyaml writes fast, but refuses lone surrogates, which PyYAML writes as "\\uD800"
        return yaml.dump(value, Dumper=yaml.CSafeDumper, allow_unicode=allow_unicode, sort_keys=False)
    except (AttributeError, UnicodeEncodeError):
        return yaml.safe_dump(value, allow_unicode=allow_unicode, sort_keys=False)


def _cut(value: object, limit: int) -> object:
    if isinstance(value, str):
        return value[:limit]
    if isinstance(value, list):
        return [_cut(v, limit) for v in value[:limit]]
    if isinstance(value, dict):
        return {_cut(k, limit): _cut(v, limit) for k, v in value.items()}
    return value


# ---- adapter and index folders -----------------------------------------------------------------------------------
def folder_file(rng: random.Random, valid: bytes, foreign: bytes, cut_only: bool = False) -> bytes | None:
    """One file of a saved folder: kept, missing (None), empty, truncated, foreign, or (unless `cut_only`, for
    formats whose readers trust their own size fields) with mutated bytes."""
    kind = rng.randrange(7)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice((b"", foreign))
    if kind == 2:
        return valid[: rng.randrange(len(valid) + 1)]
    if kind == 3 and not cut_only:
        return mutate_bytes(valid, rng)
    if kind == 4 and not cut_only:
        return rng.randbytes(rng.randrange(1, 64))
    return valid


def json_file(rng: random.Random, valid: object, foreign: object) -> bytes | None:
    """A JSON file of a saved folder: kept, mutated as a tree or as bytes, foreign, or missing."""
    if rng.random() < 0.1:
        return None
    if rng.random() < 0.1:
        return dumps(foreign, rng)
    return maybe_mutated(valid, rng, p_value=0.6, p_bytes=0.2)


# ---- vocabulary files --------------------------------------------------------------------------------------------
def vocabulary_bytes(rng: random.Random) -> bytes:
    terms = [rng.choice(WORDS) if rng.random() < 0.8 else odd_string(rng)[:50] for _ in range(rng.randrange(0, 8))]
    data = join_lines([t.encode("utf-8", "surrogatepass") for t in terms], rng)
    return mutate_bytes(data, rng) if rng.random() < 0.3 else data


# ---- ConceptNet files --------------------------------------------------------------------------------------------
CONCEPTNET_RELATIONS = ("IsA", "AtLocation", "UsedFor", "ConceptuallyRelatedTo", "HasSubevent", "Desires",
                        "SimilarSize", "dbpedia/genre")


def conceptnet5_line(rng: random.Random) -> bytes:
    """`/a/[...]<TAB>/r/Rel<TAB>/c/en/head<TAB>/c/en/tail<TAB>{json}`: mostly English, the JSON about half mutated."""
    rel, head, tail = rng.choice(CONCEPTNET_RELATIONS), rng.choice(WORDS), rng.choice(WORDS)
    start, end = f"/c/{'en' if rng.random() < 0.85 else 'de'}/{head}", f"/c/en/{tail}/n"
    info = {"dataset": "/d/conceptnet/4/en", "surfaceText": f"[[a {head}]] is in [[a {tail}]]",
            "weight": rng.choice((1.0, 2.0, 3.46))}
    fields = [f"/a/[/r/{rel}/,{start}/,{end}/]", f"/r/{rel}", start, end]
    return _tab_fields([f.encode() for f in fields] + [maybe_mutated(info, rng)], rng)


def conceptnet4_line(rng: random.Random) -> bytes:
    """`subject<TAB>object<TAB>{'freq': 5, 'score': 1, 'rel': u'AtLocation'}`: a Python 2 dict literal, about half
    of them mutated as a tree (written with repr: NaN, lone surrogates, deep nesting, other types)."""
    info: object = {"freq": rng.choice((5, -5, 2, 10)), "score": rng.randrange(1, 10),
                    "rel": rng.choice(CONCEPTNET_RELATIONS)}
    if rng.random() < 0.45:
        info = mutate_value(info, rng)
    text = repr(info)
    if isinstance(info, dict) and isinstance(info.get("rel"), str):  # Python 2 wrote u'' strings
        text = text.replace(f"'rel': {info['rel']!r}", f"'rel': u{info['rel']!r}", 1)
    subject = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 3)))
    fields = [subject.encode(), rng.choice(WORDS).encode(), text.encode("utf-8", "surrogatepass")]
    return _tab_fields(fields, rng)


def _tab_fields(fields: list[bytes], rng: random.Random) -> bytes:
    """One line of tab-separated fields; now and then a field dropped, doubled or odd, or the line's bytes mutated."""
    fields, kind = list(fields), rng.randrange(12)
    at = rng.randrange(len(fields))
    if kind == 0:
        del fields[at]
    elif kind == 1:
        fields.insert(at, fields[at])
    elif kind == 2:
        fields[at] = odd_string(rng).encode("utf-8", "surrogatepass")
    line = b"\t".join(fields)
    return mutate_bytes(line, rng) if kind == 3 else line


def conceptnet_text(rng: random.Random, version: int) -> bytes:
    """The text of a ConceptNet 5 CSV (`version` 5) or ConceptNet 4 graph (4): 0-6 lines, now and then binary junk."""
    line = conceptnet5_line if version == 5 else conceptnet4_line
    lines = [line(rng) for _ in range(rng.randrange(7))]
    if rng.random() < 0.05:
        return rng.randbytes(rng.randrange(1, 300))
    return join_lines(lines, rng) if lines else b""


def gzipped(data: bytes, rng: random.Random) -> bytes:
    """`data` as a .gz file holds it; now and then not compressed at all, cut, with a byte flipped or trailing junk."""
    packed = gzip.compress(data, mtime=0)
    kind = rng.randrange(10)
    if kind == 0:
        return data
    if kind == 1:
        return packed[: rng.randrange(len(packed))]
    if kind == 2:
        i = rng.randrange(len(packed))
        return packed[:i] + bytes([packed[i] ^ rng.randrange(1, 256)]) + packed[i + 1 :]
    if kind == 3:
        return packed + rng.choice((b"\x00" * 8, rng.randbytes(8), packed))
    return packed
