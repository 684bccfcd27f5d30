"""The layers of docs/architecture.md, read from the source with ``ast``.

- ``inception_aug`` never imports ``inception_eval`` (evaluation builds on augmentation, not back).
- No library module imports a CLI module (``inception_aug.cli``, ``inception_eval.cli``,
  ``inception_eval.commands.*``, ``__main__``).
- Within the library, a module imports only modules of its own layer or lower ones
  (constants < geometry < kernels < orchestration), as listed in ``LAYERS``; a module missing from
  the table fails the test, so a new module has to be placed in a layer.
- Every public module declares ``__all__``; no library function is longer than ``MAX_LINES``.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("inception_aug", "inception_eval")
MAX_LINES = 60

# Layer of every library module (0 = shared facts, 1 = geometry, 2 = pixel kernels and model,
# 3 = orchestration). CLI modules are not listed: they may import anything in the library.
_LAYER_MODULES = {
    0: "aug.constants aug.plain aug.errors eval.constants",
    1: "aug.params aug.sampling aug.seeding aug.color_presets eval.protocols eval.intervals eval.metrics "
       "eval.calibration",
    2: "aug._jpeg_region aug.resize aug.decode aug.normalize aug.color_u8 aug.color_tf aug.color aug.convert aug.crop aug.batch "
       "eval.views eval.aggregate eval.models eval.models.googlenet eval.models.checkpoint eval.models.inference "
       "eval.models.summary eval.models.foreign",
    3: "aug aug.transforms aug.albumentations aug.preview aug.sampler_plot eval eval.data eval.engine eval.store "
       "eval.resolve eval.results eval.scoring eval.view_loader eval.distributed eval.batching eval.ensemble "
       "eval.comparison eval.report eval.plots eval.demo eval.train eval.interpolation_study "
       "eval.protocol_figures eval.protocol_listing eval.preprocessing eval.stamping",
}
LAYERS: dict[str, int] = {
    ("inception_" + m).removesuffix("."): layer for layer, names in _LAYER_MODULES.items() for m in names.split()
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _extensions() -> dict[str, Path]:
    """C extension modules (``<name>.c`` in a package, built by setup.py); imports of them are
    checked like imports of Python modules, their own code is not parsed."""
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.c"))}


def _is_cli(name: str) -> bool:
    return (name.endswith(".cli") or name.endswith(".__main__") or name == "inception_eval.commands"
            or name.startswith("inception_eval.commands."))


def _imports(path: Path, name: str) -> set[str]:
    """Absolute names of the project modules imported by the file (module-level and inside functions)."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            subs = {f"{mod}.{a.name}" for a in node.names}
            # ``from pkg import module`` depends on that module, not on the package's __init__.
            found.update(subs if subs <= set(MODULES) | set(EXTENSIONS) else subs | {mod})
    return {m for m in found if m.split(".")[0] in PACKAGES}


def _known(imported: str, modules: dict[str, Path]) -> str | None:
    """The project module an imported dotted name refers to (a module, or a name inside one)."""
    while imported and imported not in modules:
        imported = imported.rpartition(".")[0]
    return imported or None


MODULES = _modules()
EXTENSIONS = _extensions()
LIBRARY = sorted(n for n in MODULES if not _is_cli(n))


def test_modules_found():
    assert "inception_aug.decode" in MODULES and "inception_eval.engine" in MODULES


@pytest.mark.parametrize("name", sorted(MODULES))
def test_import_direction(name):
    targets = {_known(m, MODULES) for m in _imports(MODULES[name], name)} - {None}
    if name.startswith("inception_aug"):
        wrong = sorted(t for t in targets if t.startswith("inception_eval"))
        assert not wrong, f"{name} imports {wrong}: inception_aug must not depend on inception_eval"
    if not _is_cli(name):
        cli = sorted(t for t in targets if _is_cli(t))
        assert not cli, f"library module {name} imports CLI module(s) {cli}"


@pytest.mark.parametrize("name", LIBRARY)
def test_layers(name):
    if not LAYERS:
        pytest.skip("layer table not filled in")
    assert name in LAYERS, f"{name} is not placed in a layer: add it to LAYERS in {__file__}"
    targets = {_known(m, MODULES | EXTENSIONS) for m in _imports(MODULES[name], name)} - {None, name}
    upward = sorted(t for t in targets if not _is_cli(t) and LAYERS.get(t, 99) > LAYERS[name])
    assert not upward, f"{name} (layer {LAYERS[name]}) imports higher-layer modules {upward}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not n.endswith("__main__")))
def test_public_modules_declare_all(name):
    path = MODULES[name]
    if any(part.startswith("_") and part != "__init__.py" for part in path.relative_to(ROOT).parts):
        pytest.skip("private module")
    tree = ast.parse(path.read_text(), str(path))
    names = {t.id for node in tree.body if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign))
             for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
             if isinstance(t, ast.Name)}
    assert "__all__" in names, f"{path.relative_to(ROOT)} has no __all__"


def _long_functions() -> list[str]:
    out = []
    for name in LIBRARY:
        path = MODULES[name]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_LINES:
                    out.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({n} lines)")
    return out


def test_library_functions_are_short():
    assert _long_functions() == [], f"library functions over {MAX_LINES} lines"
