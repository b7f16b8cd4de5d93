"""Pure decisions of ``stop`` and ``destroy``: steps, named volumes, the wipe job."""

from __future__ import annotations

from kolla_mesos.plan import steps as st
from kolla_mesos.plan import volumes

MANIFEST = {
    "group": {"id": "/kolla/t1", "apps": [
        {"id": "/kolla/t1/db/mariadb", "container": {
            "docker": {"image": "img:1", "parameters": [
                {"key": "volume", "value": "mariadb:/var/lib/mysql"},
                {"key": "volume", "value": "/etc/localtime:/etc/localtime:ro"},
                {"key": "volume", "value": "kolla_logs:/var/log/kolla/"}]}}},
        {"id": "/kolla/t1/testing/web", "container": {
            "volumes": [{"containerPath": "/d", "hostPath": "t1_data", "mode": "RW"},
                        {"containerPath": "/h", "hostPath": "/srv", "mode": "RO"}]}},
    ]},
    "services": {
        "mariadb": {"app": "/kolla/t1/db/mariadb", "hosts": ["a1", "a2"], "jobs": {}},
        "web": {"app": "/kolla/t1/testing/web", "hosts": ["a1"], "jobs": {}},
        "keystone": {"app": None, "hosts": ["a3"], "jobs": {"fernet": "t1-keystone-f-1"}},
    },
    "jobs": [{"name": "t1-keystone-f-1", "description": "kolla-mesos:t1:keystone:fernet",
              "container": {"image": "img:2", "volumes": [
                  {"containerPath": "/k", "hostPath": "keystone_fernet_tokens"}]}}],
}


def test_named_volumes_per_host() -> None:
    assert volumes.deployment_volumes(MANIFEST) == {
        "a1": {"mariadb", "kolla_logs", "t1_data"}, "a2": {"mariadb", "kolla_logs"},
        "a3": {"keystone_fernet_tokens"}}
    assert volumes.first_image(MANIFEST) == "img:1"


def test_volumes_another_deployment_uses_on_the_same_host_are_kept() -> None:
    mine = volumes.deployment_volumes(MANIFEST)
    remove, kept = volumes.volumes_to_remove(mine, {"t2": {"a1": {"kolla_logs"}},
                                                    "t3": {"a2": {"mariadb"}}})
    assert remove == {"a1": ["mariadb", "t1_data"], "a2": ["kolla_logs"],
                      "a3": ["keystone_fernet_tokens"]}
    assert kept == {"a1": {"kolla_logs": ["t2"]}, "a2": {"mariadb": ["t3"]}}


def test_wipe_job_is_pinned_and_mounts_each_volume() -> None:
    job = volumes.wipe_job("t1", "a1", ["t1_data", "mariadb"], "img:1", "a1")
    assert job["name"] == "t1-destroy-volumes-a1"
    assert job["constraints"] == [["hostname", "LIKE", "a1"]]
    assert [v["hostPath"] for v in job["container"]["volumes"]] == ["mariadb", "t1_data"]
    assert '"${KOLLA_VOLUME_T1_DATA:-/kolla-volumes/t1_data}"' in job["command"]
    assert job["schedule"].startswith("R1/")


def test_stop_disables_jobs_before_scaling_apps() -> None:
    steps = st.stop_steps("/kolla/t1", {"/kolla/t1/a": 2, "/kolla/t1/b": 0}, ["j1"])
    assert steps == [st.DisableJob("j1"), st.KillJobTasks("j1"),
                     st.ScaleApps({"/kolla/t1/a": 0}), st.AwaitNoDeployments("/kolla/t1")]
    assert st.stop_steps("/kolla/t1", {"/kolla/t1/a": 0}, []) == []


def test_destroy_order_apps_jobs_volumes_zookeeper() -> None:
    wipe = ({"name": "w"},)
    steps = st.destroy_steps("/kolla/t1", True, ["j1"], wipe, zk_exists=True)
    assert [type(s).__name__ for s in steps] == [
        "CancelDeployments", "RemoveGroup", "AwaitNoDeployments", "KillJobTasks",
        "RemoveJob", "RunJobsOnce", "DeleteDeploymentData"]
    assert st.destroy_steps("/kolla/t1", False, [], (), zk_exists=False) == []
