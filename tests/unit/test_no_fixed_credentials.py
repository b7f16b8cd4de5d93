"""No fixed ZooKeeper credential anywhere in the repository, test harnesses included.

DESIGN section 4: anyone who reads the repository must not learn a credential that opens a
deployment, a test ZooKeeper or the quickstart's (its super user reads every secret).  Every
digest credential is generated at run time (``secrets``) or read from a 0600 file.  This test
greps every tracked text file for the forms such a constant takes.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
Q = "[\"']"
PATTERNS = {
    "a literal superDigest": re.compile(r"superDigest=[^{\s\"']"),
    "a literal password passed to make_digest_acl": re.compile(
        rf"make_digest_acl(?:_credential)?\(\s*{Q}[^\"']*{Q}\s*,\s*{Q}"),
    "literal digest auth data": re.compile(rf"\(\s*{Q}digest{Q}\s*,\s*{Q}[^\"']*:"),
    "a credentials constant holding a literal password": re.compile(
        rf"^\s*(?:DEPLOYER|RUNNERS?|SUPER\w*|\w*CRED\w*)\s*=\s*\(\s*{Q}[^\"']*{Q}\s*,\s*{Q}",
        re.M),
    "a literal 'user:password' written to a .cred file": re.compile(
        rf"\.cred.*{Q}[A-Za-z][\w.-]*:[^\"'{{}}\s]+(?:\\n)?{Q}"),
}


def _tracked_text_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                             check=True, timeout=60).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    files = []
    for name in out.decode().split("\0"):
        path = REPO / name
        if name and path.is_file() and path.suffix not in (".png", ".jar", ".gz"):
            files.append(path)
    return files


def test_the_patterns_find_the_forms_they_look_for() -> None:
    """The grep below proves nothing if its patterns find nothing (the forms fixed here)."""
    samples = {
        "a literal superDigest": "-Dzookeeper.DigestAuthenticationProvider.superDigest=su:x",
        "a literal password passed to make_digest_acl": 'make_digest_acl("deployer", "pw")',
        "literal digest auth data": 'auth_data=[("digest", "super:super-test-secret")]',
        "a credentials constant holding a literal password":
            'RUNNER = ("runner", "runner-test-secret")',
        "a literal 'user:password' written to a .cred file":
            '("runner.cred", "kolla-runner:e2e-runner-93fa")',
    }
    for kind, sample in samples.items():
        assert PATTERNS[kind].search(sample), kind
    assert not PATTERNS["a credentials constant holding a literal password"].search(
        'DEPLOYER = ("deployer", secrets.token_hex(16))')


def test_no_fixed_digest_credential_in_the_repository() -> None:
    found = []
    for path in _tracked_text_files():
        if path == Path(__file__).resolve():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for kind, pattern in PATTERNS.items():
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(REPO)}:{line}: {kind}")
    assert not found, "fixed credentials in the repository:\n" + "\n".join(found)
