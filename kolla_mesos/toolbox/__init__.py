"""Programs that run inside Chronos jobs with a kolla-toolbox's libraries (openstacksdk).

kolla-ansible runs such work through its kolla_toolbox container (Ansible modules of the
openstack.cloud collection).  On a host that stands in for the images, tools/prepare-host
copies these modules into the release's kolla-toolbox venv
(``<host_venv_prefix>/<release>/kolla-toolbox-venv/bin/``), where the jobs run them with that
venv's Python.  They import nothing from kolla_mesos: stdlib and openstacksdk only.
"""
