"""A password written into a Marathon/Chronos/Mesos URL never reaches an error message."""

from __future__ import annotations

import pytest

from kolla_mesos import errors
from kolla_mesos.clients.chronos import ChronosClient
from kolla_mesos.clients.http import display_url
from kolla_mesos.clients.marathon import MarathonClient
from kolla_mesos.clients.mesos import MesosClient
from kolla_mesos.secrets import MASK
from kolla_mesos.testing.zookeeper import free_port


def test_display_url_masks_only_the_password():
    assert display_url("http://ops:hunter2-pw@m1:8080/x") == f"http://ops:{MASK}@m1:8080/x"
    assert display_url("http://ops@m1:8080") == "http://ops@m1:8080"
    assert display_url("http://m1:8080") == "http://m1:8080"


@pytest.mark.parametrize("make", [
    lambda url: MarathonClient(url, timeout=1, deadline=0.1).list_apps(),
    lambda url: ChronosClient(url, timeout=1, deadline=0.1).list_jobs(),
    lambda url: MesosClient(url, timeout=1, deadline=0.1).state(),
], ids=["marathon", "chronos", "mesos"])
def test_unreachable_url_with_a_password_is_reported_without_it(make):
    url = f"http://ops:hunter2-pw@127.0.0.1:{free_port()}"
    with pytest.raises(errors.ServerError) as info:
        make(url)
    assert "hunter2-pw" not in str(info.value)
    assert f"ops:{MASK}@127.0.0.1" in str(info.value)
