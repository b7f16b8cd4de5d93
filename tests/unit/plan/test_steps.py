"""The ordered steps of a deploy and of a rollback (pure; plan/steps.py says why)."""

from kolla_mesos import zkpaths
from kolla_mesos.definition import from_json
from kolla_mesos.plan import steps as st
from kolla_mesos.plan.diff import AppChange, Diff, JobChange
from kolla_mesos.plan.model import ChronosJob, Plan, ServicePlan


def _job(service, command, deps=()):
    name = f"dep-{service}-{command}-0000"
    return ChronosJob(service=service, command=command, name=name,
                      body={"name": name, "command": "run"}, job_dependencies=tuple(deps))


def _plan():
    definition = from_json({"project": "p", "service": "db", "files": {}, "commands": {},
                            "daemon": {"command": ["sleep", "1"]}})
    # listed children first on purpose: the order must come from the dependencies
    jobs = (_job("db", "sync", ["db/create"]), _job("db", "register", ["db/sync"]),
            _job("db", "create"))
    svc = ServicePlan(project="p", service="db", hosts=("h1",), definition=definition,
                      files=(), app={"id": "/kolla/dep/p/db"}, jobs=jobs, config_hash="x")
    return Plan(deployment_id="dep", profile="test", services=(svc,), group_id="/kolla/dep",
                tool_version="0")


def _kinds(steps):
    return [type(s).__name__ for s in steps]


def test_unchanged_deploy_only_waits():
    plan = _plan()
    steps = st.deploy_steps(plan, Diff(), current=3, created_by="me", keep_generations=5)
    assert _kinds(steps) == ["Wait"]


def test_full_deploy_order_publish_jobs_group_wait_cleanup():
    plan = _plan()
    changes = Diff(zk_added=("services/p/db/definition",),
                   apps=(AppChange("/kolla/dep/p/db", "create"),),
                   jobs=tuple(JobChange(j.name, "create") for j in plan.jobs())
                   + (JobChange("dep-old-job-1111", "remove"),))
    steps = st.deploy_steps(plan, changes, current=None, created_by="me", keep_generations=4)
    assert _kinds(steps) == ["Publish", "SubmitJob", "SubmitJob", "SubmitJob", "SubmitJob",
                             "SubmitJob", "PutGroup", "Wait", "RemoveJob", "CollectGarbage"]
    publish = steps[0]
    assert zkpaths.MANIFEST in publish.nodes and publish.expected_current is None
    submits = [s for s in steps if isinstance(s, st.SubmitJob)]
    # parents are created disabled, children after their parents, then parents enabled
    assert [(s.job.command, bool(s.body.get("disabled"))) for s in submits] == [
        ("create", True), ("sync", True), ("register", False), ("create", False),
        ("sync", False)]
    assert submits[0].body["schedule"] == st.ONE_SHOT_SCHEDULE
    assert submits[1].body["parents"] == ["dep-db-create-0000"]
    assert submits[2].label == "db/register"
    assert steps[-1].keep == 4


def test_a_job_whose_parent_is_not_restarted_is_scheduled_now():
    plan = _plan()
    sync = plan.jobs()[0]
    changes = Diff(jobs=(JobChange(sync.name, "rerun"),))
    steps = st.deploy_steps(plan, changes, current=2, created_by="me", keep_generations=5)
    assert _kinds(steps) == ["SubmitJob", "Wait", "CollectGarbage"]
    assert steps[0].body["schedule"] == st.ONE_SHOT_SCHEDULE and "parents" not in steps[0].body


def test_app_only_change_does_not_publish():
    plan = _plan()
    changes = Diff(apps=(AppChange("/kolla/dep/p/db", "scale"),))
    steps = st.deploy_steps(plan, changes, current=2, created_by="me", keep_generations=5)
    assert _kinds(steps) == ["PutGroup", "Wait", "CollectGarbage"]
    assert steps[0].changes == (("db", "scale"),) and not steps[0].force


def test_restore_cancels_puts_back_and_waits():
    manifest = {"group": {"id": "/kolla/dep", "apps": [{"id": "/kolla/dep/p/db"}]}}
    steps = st.restore_steps("/kolla/dep", manifest, to=2, current=3)
    assert _kinds(steps) == ["SwitchCurrent", "CancelDeployments", "PutGroup",
                             "AwaitNoDeployments"]
    assert steps[0] == st.SwitchCurrent(to=2, expected=3)
    assert steps[2].force and steps[2].group == manifest["group"]


def test_restore_without_marathon_changes_only_switches_back():
    steps = st.restore_steps("/kolla/dep", {"group": {}}, to=2, current=3, restore_apps=False)
    assert steps == [st.SwitchCurrent(to=2, expected=3)]
    assert st.restore_steps("/kolla/dep", None, to=2, current=2, restore_apps=False) == []


def test_rollback_target():
    assert st.rollback_target(5, [3, 4, 5], None) == 4
    assert st.rollback_target(3, [3, 4, 5], None) is None
    assert st.rollback_target(5, [3, 4, 5], 3) == 3
    try:
        st.rollback_target(5, [3, 4, 5], 9)
    except ValueError:
        pass
    else:
        raise AssertionError("a missing generation must be refused")


def test_a_failed_first_deploy_cancels_what_it_started():
    steps = st.abandon_steps("/kolla/dep", apps_touched=True)
    assert _kinds(steps) == ["CancelDeployments", "RemoveGroup", "AwaitNoDeployments"]
    assert steps[1].group == "/kolla/dep"
    assert st.abandon_steps("/kolla/dep", apps_touched=False) == []
