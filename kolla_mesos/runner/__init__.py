"""kolla-mesos-start: the runner inside every Marathon task and Chronos job.

Modules, one role each (stdlib + kazoo only, so tools/build-runner can pack them into a
single-file zipapp):

* identity   -- who the runner is (task environment) and its credentials file
* session    -- ZooKeeper session: digest auth, retries, ACL-aware writes, reconnect hooks
* store      -- read ``current``, definitions and rendered files of a generation
* files      -- atomic materialization of files and directories
* deps       -- dependency waits with watches and deadlines
* status     -- status records ``status/<service>/<command>/<inputs hash>/<host>``
* commands   -- command order, run_once under a lock, execution and records
* process    -- child processes: privilege drop, signals, exit status, the supervisor
* membership -- readiness probe and the ephemeral member node
* reload     -- hot reload: watch ``current`` and apply the reload policy
* app        -- job mode and app mode
* main       -- the ``kolla-mesos-start`` entry point
"""
