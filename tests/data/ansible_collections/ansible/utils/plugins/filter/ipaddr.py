"""Stand-in for the ansible.utils collection's ``ipaddr`` filter (parity tests only).

The collection is not part of ansible-core and cannot be fetched from Galaxy offline.  This
independent implementation uses netaddr, as ansible.utils does, for the queries kolla-ansible
uses ('' and 'address'), so the parity test still cross-checks kolla-mesos' own filter.
"""

import netaddr


def ipaddr(value, query=""):
    try:
        net = netaddr.IPNetwork(str(value))
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return False
    if query == "":
        return value
    if query == "address":
        if net.size == 1 or net.ip != net.network:
            return str(net.ip)
        return False
    raise ValueError(f"query {query!r} is not supported by the stand-in")


class FilterModule:
    def filters(self):
        return {"ipaddr": ipaddr}
