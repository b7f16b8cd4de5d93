"""TLS for the deployment's endpoints: kolla-ansible's certificate files, made and checked."""
