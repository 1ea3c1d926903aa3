"""The project's layering, read from the source (imports inside functions included):

capture and logs (inputs) → tcp → protocols → the decoding pass (pipeline) → openstack → analysis
→ report → cli, each importing only its own layer and those below; no import circles; no
getattr-with-default on events; no two modules of one name; one walker of capture records.
"""

from __future__ import annotations

import ast
import pathlib
from collections import defaultdict

import pytest

PKG = pathlib.Path(__file__).resolve().parents[1] / "glancetrace"

# lowest first; a module may import from its own layer and those before it
LAYERS = [
    {"glancetrace", "errors"},
    {"capture", "logs"},
    {"tcp"},
    {"protocols"},
    {"hashing", "sniff", "pipeline", "parallel"},  # the decoding pass
    {"openstack"},
    {"analysis"},
    {"report"},
    {"cli", "__main__"},
]
LAYER_OF = {part: i for i, layer in enumerate(LAYERS) for part in layer}
# names the house check (the session hook's structure.py) takes for events
EVENT_NAMES = {"ev", "event", "e", "evt", "tx", "stmt", "st", "call", "seg", "session", "sess"}
# protocols/<name>/ packages mirror one another (decoder.py, events.py, constants.py in each)
MIRRORED = "protocols"


def _modules() -> dict[str, pathlib.Path]:
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        parts = list(p.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = p
    return out


MODULES = _modules()
TREES = {m: ast.parse(p.read_text(encoding="utf-8")) for m, p in MODULES.items()}


def _imports(module: str) -> set[str]:
    """Modules of the package that `module` imports, anywhere in it (functions included)."""
    is_pkg = MODULES[module].name == "__init__.py"
    out = set()
    for n in ast.walk(TREES[module]):
        targets = []
        if isinstance(n, ast.Import):
            targets = [a.name for a in n.names]
        elif isinstance(n, ast.ImportFrom):
            base = n.module or ""
            if n.level:
                here = module.split(".") if is_pkg else module.split(".")[:-1]
                base = ".".join(here[:len(here) - (n.level - 1)] + ([n.module] if n.module else []))
            targets = [base] + [f"{base}.{a.name}" for a in n.names]
        out.update(t for t in targets if t in MODULES and t != module)
    return out


GRAPH = {m: _imports(m) for m in MODULES}


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYER_OF[parts[1] if len(parts) > 1 else parts[0]]


def test_every_module_has_a_layer():
    assert all(_layer(m) is not None for m in MODULES)


def test_no_module_imports_a_layer_above_its_own():
    upward = [f"{m} imports {t}" for m in MODULES for t in GRAPH[m] if _layer(t) > _layer(m)]
    assert upward == []


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            # a package's __init__ importing its own modules is how packages re-export, not a circle
            if w.startswith(v + "."):
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for m in sorted(GRAPH):
        if m not in index:
            visit(m)
    return out


def test_no_import_circles():
    assert _cycles() == []


def test_the_cycle_finder_finds_one(monkeypatch):
    """The check above could fail: two modules importing each other are found."""
    a, b = "glancetrace.analysis.analyze", "glancetrace.analysis.document"
    monkeypatch.setitem(GRAPH, b, GRAPH[b] | {a})
    assert [a, b] in _cycles()


def test_no_getattr_with_default_on_events():
    found = []
    for m, tree in TREES.items():
        for n in ast.walk(tree):
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "getattr" \
                    and len(n.args) == 3:
                obj = n.args[0]
                name = obj.id if isinstance(obj, ast.Name) else obj.attr if isinstance(obj, ast.Attribute) else ""
                if name in EVENT_NAMES or "ev" in name:
                    found.append(f"{m}:{n.lineno}")
    assert found == []


def _shared_names() -> dict[str, list[str]]:
    by_name = defaultdict(list)
    for m in MODULES:
        if m != "glancetrace":
            by_name[m.rsplit(".", 1)[-1]].append(m)
    out = {}
    for name, mods in by_name.items():
        # a cli module is named after its command (cli/http.py is `glancetrace http`)
        rest = [m for m in mods if not m.startswith("glancetrace.cli.")]
        mirrored = all(m.split(".")[1] == MIRRORED and m.count(".") == 3 for m in rest)
        if len(rest) > 1 and not mirrored:
            out[name] = rest
    return out


def test_no_two_modules_share_a_name():
    assert _shared_names() == {}


# what reading capture records takes: the bytes of the file, and the layouts of its records
_RECORD_LAYOUTS = {"PCAP_MAGICS", "PCAP_HEADER", "BT_EPB", "BT_SPB", "BT_OPB", "MIN_BODY", "idb_options"}
_WALKER = {"glancetrace.capture.pcapfile", "glancetrace.capture.formats", "glancetrace.capture.source"}


def _reads_records(tree: ast.AST, opens_files: bool = True) -> list[str]:
    """What in a module reads capture bytes or record layouts itself (with `opens_files`: a file
    opened for binary reading too; outside capture/ that is a log or a key log)."""
    out = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and n.id in _RECORD_LAYOUTS:
            out.append(n.id)
        elif isinstance(n, ast.alias) and n.name in _RECORD_LAYOUTS:
            out.append(n.name)
        elif isinstance(n, ast.Call):
            f = n.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name in ("chunks", "open_source"):
                out.append(f"{name}()")
            elif opens_files and name == "open" and any(isinstance(a, ast.Constant) and a.value == "rb" for a in n.args):
                out.append("open(…, 'rb')")
    return out


def test_capture_records_have_one_walker():
    """Only capture/pcapfile.py walks records (pcap and pcapng, plain, gzip'd or piped), on the
    bytes capture/source.py opens: the planner and split use it instead of their own."""
    elsewhere = {m: _reads_records(t, m.startswith("glancetrace.capture."))
                 for m, t in TREES.items() if m not in _WALKER}
    assert {m: r for m, r in elsewhere.items() if r} == {}


@pytest.mark.parametrize("code", [
    "with open(path, 'rb') as f:\n    f.read(24)",
    "for buf in reader.source.chunks():\n    pass",
    "endian, scale = PCAP_MAGICS[head[:4]]",
])
def test_a_second_walker_would_be_found(code):
    assert _reads_records(ast.parse(code))
