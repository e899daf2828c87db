"""The pre-commit hook, for real: a project that names this repository with `repo:` + `rev:`
alone gets `matd check` on its .matd and .py files (.pre-commit-hooks.yaml); pre-commit
builds the hook's own virtual environment from the repository with pip.  And the README's
local `language: system` hook.  PRE_COMMIT_HOME is a temporary folder: nothing outside
tmp_path is touched."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PRE_COMMIT = shutil.which("pre-commit", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
GIT = shutil.which("git")

pytestmark = pytest.mark.skipif(PRE_COMMIT is None or GIT is None,
                                reason="needs pre-commit and git")

CLEAN = "A: m x n\nx: n\nnorm(A x)^2\n"
SHAPE_ERROR = "A: m x n; x: p\nA x\n"


def git_env(home: Path) -> dict[str, str]:
    """The environment minus the user's git configuration, plus an identity; pip's settings
    (index, wheels) pass through, so the hook's environment installs as pip does here."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GIT_", "PRE_COMMIT")) and k != "MATD_DEBUG"}
    return env | {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
                  "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                  "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
                  "PRE_COMMIT_HOME": str(home), "NO_COLOR": "1", "TERM": "dumb"}


def sh(*args, cwd: Path, env: dict[str, str], timeout: float = 600):
    p = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def git(*args, cwd: Path, env: dict[str, str]) -> str:
    rc, out = sh(GIT, *args, cwd=cwd, env=env)
    assert rc == 0, out
    return out.strip()


def hook_repo(dest: Path, env: dict[str, str]) -> str:
    """A one-commit copy of this checkout's working tree (what git would commit: tracked and
    untracked, not ignored), so that the hook file and today's edits are in the revision
    pre-commit fetches.  Returns the commit."""
    files = subprocess.run([GIT, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():                  # listed but deleted in the working tree: skip
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    assert (dest / ".pre-commit-hooks.yaml").is_file()
    git("init", "-q", cwd=dest, env=env)
    git("add", "-A", cwd=dest, env=env)
    git("commit", "-q", "-m", "matd", cwd=dest, env=env)
    return git("rev-parse", "HEAD", cwd=dest, env=env)


def project(path: Path, config: str, env: dict[str, str]) -> Path:
    path.mkdir()
    git("init", "-q", cwd=path, env=env)
    (path / ".pre-commit-config.yaml").write_text(config)
    (path / "formulas").mkdir()
    (path / "formulas" / "ridge.matd").write_text(CLEAN)
    (path / "model.py").write_text("# matd: X: m x d; w: d; y: m\n# matd: 0.5 norm(X w - y)^2\n")
    (path / "README.txt").write_text(SHAPE_ERROR)        # not .matd or .py: not checked
    git("add", "-A", cwd=path, env=env)
    return path


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    """A project using the hook through `repo:` + `rev:`, its hook environment installed."""
    base = tmp_path_factory.mktemp("precommit")
    env = git_env(base / "pre-commit-home")
    (base / "matd").mkdir()
    rev = hook_repo(base / "matd", env)
    config = f"repos:\n  - repo: {base / 'matd'}\n    rev: {rev}\n    hooks:\n      - id: matd-check\n"
    proj = project(base / "proj", config, env)
    rc, out = sh(PRE_COMMIT, "install-hooks", cwd=proj, env=env)
    assert rc == 0, out
    return proj, env


def test_hook_passes_on_clean_formulas(remote):
    proj, env = remote
    rc, out = sh(PRE_COMMIT, "run", "--all-files", cwd=proj, env=env)
    assert rc == 0, out
    assert "matd check" in out and "Passed" in out


def test_hook_fails_on_a_shape_error_with_its_place(remote):
    proj, env = remote
    bad = proj / "formulas" / "bad.matd"
    bad.write_text(SHAPE_ERROR)
    git("add", "-A", cwd=proj, env=env)
    try:
        rc, out = sh(PRE_COMMIT, "run", "--all-files", cwd=proj, env=env)
    finally:
        git("rm", "-q", "--cached", str(bad), cwd=proj, env=env)
        bad.unlink()
    assert rc == 1, out
    assert "Failed" in out
    assert ("formulas/bad.matd:2:1: error: matrix product of m×n and p (a vector) "
            "(hint: the inner dimensions n and p must agree)  [MD002]") in out
    assert "README.txt" not in out


def test_a_local_system_hook_uses_matd_on_path(tmp_path):
    env = git_env(tmp_path / "pre-commit-home")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"      # where `matd` is installed
    config = ("repos:\n  - repo: local\n    hooks:\n      - id: matd-check\n"
              "        name: matd check\n        entry: matd check\n        language: system\n"
              "        files: \\.(matd|py)$\n")
    proj = project(tmp_path / "proj", config, env)
    rc, out = sh(PRE_COMMIT, "run", "--all-files", cwd=proj, env=env)
    assert rc == 0, out
    (proj / "model.py").write_text("# matd: A: m x n; A: n x n\n")
    rc, out = sh(PRE_COMMIT, "run", "--all-files", cwd=proj, env=env)
    assert rc == 1 and "model.py:1:19: error: 'A' is declared twice" in out and "[MD005]" in out
