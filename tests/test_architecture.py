"""The layers contract in pyproject.toml: the package keeps it, and it catches a breach.

import-linter is run as CI runs it (``lint-imports``, the project's pyproject.toml), once on
the real package and once on a copy of it with a lower layer importing a higher one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
PYPROJECT = PROJECT / "pyproject.toml"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def layers_contract_name() -> str:
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    (name,) = [c["name"] for c in config["contracts"] if c["type"] == "layers"]
    return str(name)


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run lint-imports on the ``app`` package found in ``root``.

    lint-imports puts its working directory first on sys.path, and PYTHONPATH says the same,
    so ``root/app`` wins over the editable install of the real package.
    """
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), str(PYPROJECT), "--no-cache", "--no-logo"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_lower_layer_importing_a_higher_one_breaks_the_contract(tmp_path: Path) -> None:
    shutil.copytree(PROJECT / "app", tmp_path / "app", ignore=shutil.ignore_patterns("__pycache__"))
    store_init = tmp_path / "app" / "store" / "__init__.py"
    source = store_init.read_text()
    if not source.endswith("\n"):
        source += "\n"
    store_init.write_text(source + "import app.turns  # noqa\n")
    added_line = len(source.splitlines()) + 1

    result = lint_imports(tmp_path)

    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert f"{layers_contract_name()} BROKEN" in output
    assert "app.store is not allowed to import app.turns" in output
    # The line number is the one added to the copy: the copy was analysed, not the real package.
    assert f"app.store -> app.turns (l.{added_line})" in output


def test_the_package_keeps_its_layers() -> None:
    result = lint_imports(PROJECT)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"{layers_contract_name()} KEPT" in output
