"""The code's structure: packages per concern and the layering between them, no import cycles, one module that names
the files of a run folder, small modules."""

import ast
import contextlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from openrs import run_folder

REPO = Path(__file__).resolve().parent.parent  # module level: modules() and the checks below read it
PACKAGES = ("openrs", "hydra_plugins")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


def imports(path: Path, name: str, known: set[str] | None, *, type_checking: bool = False) -> set[str]:
    """The modules a module imports, wherever the import statement is (module level or inside a function): the
    project's own (`known`), or every module named (known=None). Imports for type checkers only (`if
    TYPE_CHECKING:`) count only with type_checking=True: they are no runtime cost, but they are a dependency."""
    tree = ast.parse(path.read_text())
    checking_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in
                     ast.unparse(node.test) for stmt in node.body for n in ast.walk(stmt)}  # fmt: skip
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in checking_only and not type_checking:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([base] if base else [])])
            found |= {base, *(f"{base}.{a.name}" for a in node.names)}
    return {m for m in found if (known is None or m in known) and m != name}


def graph(*, type_checking: bool = False) -> dict[str, set[str]]:
    """Each project module -> the project modules it imports (type_checking: imports for type checkers too)."""
    mods = modules()
    return {name: imports(path, name, set(mods), type_checking=type_checking) for name, path in mods.items()}


def reachable(start: str, edges: dict[str, set[str]]) -> set[str]:
    """The modules `start` imports, directly or through others (start included)."""
    seen, todo = set(), [start]
    while todo:
        if (name := todo.pop()) not in seen:
            seen.add(name)
            todo += edges.get(name, ())
    return seen


# The layers of openrs, lowest first: a package imports only the packages at or below its own layer, wherever the
# import statement is (inside functions and under TYPE_CHECKING too), so the packages form no cycle. The commands
# (openrs.__main__, every package's __main__, the aliases below, the Hydra plugins) form the top layer, which
# nothing imports. README's "Layout" section draws the same order.
LAYERS = (
    "openrs",  # the package root: its version, conf/ and cache folders
    "base",  # the user-facing error, redaction, process and collective helpers, the Optuna trial's contract, seeds
    "config",  # the typed schemas of every config group
    "run_folder",  # the name of every file in a run folder
    "data",  # training data and evaluation benchmarks
    "model",  # model sources, building, loading, the model card
    "grading",  # answer rules and the bounded grading pool
    "resolve",  # a composed config made into a validated job (hardware=auto, reruns, output folders)
    "rewards",  # reward functions over grading
    "tracking",  # MLflow runs, journal, sweep summaries
    "evaluation",  # benchmark harness, generation backends, estimators, the step-wise callback
    "selection",  # degradation statistics, checkpoint choice, early stop, pruning
    "train",  # the GRPO recipe, launch, preemption
    "curate",  # data curation pipelines
    "verdict",  # did a run reproduce the paper
    "commands",
)
# `python -m` forms of earlier releases, kept for one release: each runs a command's main.
ALIASES = {"openrs.evaluate", "openrs.report", "openrs.gold_check", "openrs.config.reference"}
# Modules that stand outside any package: the entry point and the run folder's names (and aliases).
TOP_LEVEL = {"__init__", "__main__", "run_folder"} | {a.split(".")[1] for a in ALIASES if a.count(".") == 1}
# What a user runs: nothing imports these (their helpers belong in a package).
COMMANDS = {n for n in modules() if n.endswith("__main__") or n.startswith("hydra_plugins")} | ALIASES


def layer(module: str) -> str:
    """The layer (an entry of LAYERS) of a module of openrs or hydra_plugins."""
    parts = module.split(".")
    if module in COMMANDS:
        return "commands"
    return parts[1] if len(parts) > 1 else parts[0]


HEAVY = ("torch", "transformers", "trl", "vllm", "deepspeed", "accelerate")


def test_every_module_but_the_entry_points_lives_in_a_package_of_its_concern():
    loose = {path.stem for path in (REPO / "openrs").glob("*.py")}
    assert loose <= TOP_LEVEL, f"move into the package of their concern: {sorted(loose - TOP_LEVEL)}"


def test_nothing_imports_a_command_module():
    offenders = sorted(f"{name} imports {dep}" for name, deps in graph().items() for dep in deps & COMMANDS
                       if name not in ALIASES)  # fmt: skip
    assert not offenders, "move what these need out of the command:\n" + "\n".join(offenders)


def test_the_config_schemas_import_nothing_else_of_openrs():
    schemas = {n for n in modules() if n.startswith("openrs.config.") and n not in COMMANDS}
    offenders = sorted(f"{name} imports {dep}" for name in schemas for dep in graph(type_checking=True)[name]
                       if layer(dep) not in ("openrs", "base", "config"))  # fmt: skip
    assert not offenders, "the schemas are a leaf (checks go in openrs.resolve):\n" + "\n".join(offenders)


def test_every_package_has_a_layer():
    unplaced = sorted({layer(n) for n in modules()} - set(LAYERS))
    assert not unplaced, f"declare these packages' place in LAYERS: {unplaced}"


def test_no_package_imports_one_above_its_layer():
    rank = {name: i for i, name in enumerate(LAYERS)}
    offenders = sorted(f"{name} ({layer(name)}) imports {dep} ({layer(dep)})"
                       for name, deps in graph(type_checking=True).items() for dep in deps
                       if rank[layer(dep)] > rank[layer(name)])  # fmt: skip
    assert not offenders, "move the code to the layer where it belongs (LAYERS):\n" + "\n".join(offenders)


def test_grading_and_rewards_import_no_torch_transformers_or_trl():
    # They run in the grading workers and on every completion: a heavy import there costs each worker seconds.
    edges, mods = graph(), modules()
    scoring = {n for n in mods if n.startswith(("openrs.grading", "openrs.rewards"))}
    reach = set().union(*(reachable(n, edges) for n in scoring))
    offenders = sorted(f"{n} imports {m}" for n in reach for m in imports(mods[n], n, None) if m.split(".")[0] in HEAVY)
    assert not offenders, "grading and rewards (and what they import) must stay light:\n" + "\n".join(offenders)


def test_the_recipe_is_imported_only_by_the_commands_that_train():
    importers = sorted(name for name, deps in graph().items() if "openrs.train.recipe" in deps)
    assert importers == ["openrs.__main__", "openrs.train.__main__"], importers


def test_no_import_cycle_among_openrs_modules():
    graph_ = graph()
    cycles, done = [], set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            cycles.append(" -> ".join([*trail[trail.index(name) :], name]))
            return
        if name in done:
            return
        for dep in sorted(graph_[name]):
            visit(dep, [*trail, name])
        done.add(name)

    for name in sorted(graph_):
        visit(name, [])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


# File names are found inside string literals, numbered folders by their prefix (checkpoint-N, step-N; not
# "step-wise"), markers (plain words) only as a whole literal.
FILE_NAMES = [v for k, v in vars(run_folder).items() if k.isupper() and isinstance(v, str) and "." in v]
NUMBERED = re.compile(r"(checkpoint|step)-(\d|N\b|$)")
MARKERS = [run_folder.PREEMPTED_MARKER, run_folder.PRUNED_MARKER]


def test_only_run_folder_names_the_files_of_a_run_folder():
    offenders = []
    for name, path in modules().items():
        if name == "openrs.run_folder":
            continue
        tree = ast.parse(path.read_text())
        docstrings = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                text = node.value
                if text in MARKERS or NUMBERED.search(text) or any(f in text for f in FILE_NAMES):
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: {text!r}")
    assert not offenders, "name these through openrs.run_folder:\n" + "\n".join(offenders)


def test_every_module_stays_small_enough_to_read():
    long = {f"{p.relative_to(REPO)}: {n}" for p in modules().values() if (n := len(p.read_text().splitlines())) > 450}
    assert not long, f"split these along their concerns: {sorted(long)}"


def test_every_command_points_at_a_main_function():
    import importlib
    import tomllib

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    readme = (REPO / "README.md").read_text()
    for command, target in scripts.items():
        module, _, function = target.partition(":")
        assert callable(getattr(importlib.import_module(module), function)), target
        assert f"`{command}`" in readme, f"README does not name the command {command}"


def test_every_knob_is_documented_in_its_schema_and_the_reference_is_current():
    from openrs.config.keys import SCHEMAS, fields, reference

    undocumented = [key for _, model, prefix in SCHEMAS for key, _, doc in fields(model, prefix) if not doc]
    assert not undocumented, f"give these fields a docstring in their schema: {undocumented}"
    assert (REPO / "conf/README.md").read_text() == reference(), (
        "conf/README.md is stale: openrs-config > conf/README.md"
    )


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_an_alias_of_an_earlier_release_still_runs_its_command_and_names_the_new_one(alias):
    proc = subprocess.run([sys.executable, "-m", alias, "--help"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "deprecated" in proc.stderr and "usage" in proc.stdout.lower()


def test_every_command_names_itself_in_its_usage(monkeypatch, capsys):
    import importlib
    import tomllib

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    for command, target in scripts.items():
        module, _, function = target.partition(":")
        monkeypatch.setattr("sys.argv", [command, "--help"])  # as the console script runs it (Hydra or argparse)
        with contextlib.suppress(SystemExit):
            getattr(importlib.import_module(module), function)()
        usage = next(line for line in capsys.readouterr().out.splitlines() if line.lower().startswith("usage:"))
        assert usage.split()[1] == command, f"{command}: {usage}"
