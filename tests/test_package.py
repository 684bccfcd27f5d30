"""The packages import and the console entry points answer --help."""
import subprocess
import sys


def test_eval_cli_help():
    r = subprocess.run([sys.executable, "-m", "inception_eval", "--help"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "inception-eval" in r.stdout


def test_aug_does_not_import_eval():
    code = "import sys, inception_aug; assert not any(m.startswith('inception_eval') for m in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
