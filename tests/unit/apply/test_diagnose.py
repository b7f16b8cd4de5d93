"""The diagnose bundle's masking and the scan before it is written."""

from __future__ import annotations

import io
import tarfile

import pytest

from kolla_mesos import errors
from kolla_mesos.apply import diagnose
from kolla_mesos.secrets import Masker

KEY = ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
       "-----END OPENSSH PRIVATE KEY-----\n")


def test_members_are_masked_and_scanned() -> None:
    scrub = diagnose.Scrubber(Masker(["pw-from-passwords"]), ["cred-secret", "u:cred-secret"])
    members = {"a.txt": f"x pw-from-passwords y\n{KEY}tail u:cred-secret\n",
               "b.json": '{"db_password": "other"}'}
    data = diagnose.bundle(members, scrub, "top")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        texts = {m.name: tar.extractfile(m).read().decode()  # type: ignore[union-attr]
                 for m in tar.getmembers()}
    assert set(texts) == {"top/a.txt", "top/b.json"}
    assert texts["top/a.txt"] == "x ******** y\n<private key removed>\ntail ********\n"
    assert texts["top/b.json"] == '{"db_password": "********"}'


def test_the_scan_refuses_what_masking_missed() -> None:
    scrub = diagnose.Scrubber(Masker([]), ["cred-secret"])
    assert scrub.problems("m", "a key: ...PRIVATE KEY-----") == ["m holds a private key"]
    assert scrub.problems("m", "has cred-secret") == [
        "m holds a value of passwords.yml or of a credentials file"]

    class Leaky(diagnose.Scrubber):
        def __call__(self, text: str) -> str:
            return text  # a masking bug

    with pytest.raises(errors.KollaMesosError) as info:
        diagnose.bundle({"logs/x": "cred-secret"}, Leaky(Masker([]), ["cred-secret"]), "t")
    assert "logs/x holds a value" in str(info.value)
    assert "cred-secret" not in str(info.value)
