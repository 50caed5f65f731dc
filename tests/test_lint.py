"""The tree is clean under the lint configuration of setup.cfg (flake8, isort, yapf), as pre-commit checks it."""
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PATHS = ['mim3d_plugin', 'projects', 'tools', 'tests', 'configs', 'setup.py']


@pytest.mark.parametrize('tool,args', [('flake8', []), ('isort', ['--check-only', '--diff', '--quiet']),
                                       ('yapf', ['--diff', '--recursive', '--parallel'])])
def test_tree_is_lint_clean(tool, args):
    proc = subprocess.run(
        [sys.executable, '-m', tool] + args + PATHS, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and not proc.stdout.strip(), (proc.stdout + proc.stderr)[-4000:]
