#!/usr/bin/python3
"""Find-or-create the corral test cloud's objects, in one process (the CLI costs ~3 s a call).

Run with Debian's python3 (/usr/bin/python3: openstacksdk and keystoneauth come from python3-openstacksdk).

  bootstrap.py identity [--cinder]   projects, users, roles, services and endpoints (needs only keystone)
  bootstrap.py resources             flavors, the test image, the shared network (needs the other APIs)
  bootstrap.py warm-neutron          one query in each neutron worker, before nova asks it for ports
  bootstrap.py qemu NODE             the libvirt compute's isolation: flavor, aggregate, placement trait
  bootstrap.py qemu-teardown         removes what `qemu` made, so its first-run path can be run again (tested)

Every step looks before it creates, so a re-run changes nothing. The credentials are the fixed test-only
values of a cloud that listens on loopback only (see setup.sh); they are not secrets.
"""

import sys
from concurrent.futures import ThreadPoolExecutor

import openstack

AUTH_URL = "http://127.0.0.1:5000/v3"
REGION = "RegionOne"
ADMIN_PASSWORD = "corral-admin-pass"
DEMO_PASSWORD = "corral-demo-pass"
SERVICE_PASSWORD = "corral-service-pass"

# name, type, url (one URL for all three interfaces)
SERVICES = [
    ("glance", "image", "http://127.0.0.1:9292"),
    ("placement", "placement", "http://127.0.0.1:8778"),
    ("nova", "compute", "http://127.0.0.1:8774/v2.1"),
    ("neutron", "network", "http://127.0.0.1:9696"),
]
CINDER_SERVICES = [
    ("cinderv3", "volumev3", "http://127.0.0.1:8776/v3/%(project_id)s"),
    ("cinder", "block-storage", "http://127.0.0.1:8776/v3/%(project_id)s"),
]
SERVICE_USERS = ["glance", "placement", "nova", "neutron", "cinder"]
FLAVORS = [("1", "m1.tiny", 1, 512, 1), ("2", "m1.small", 1, 1024, 2)]
IMAGE_NAME = "corral-test-image"
NETWORK_NAME = "corral-net"
SUBNET_NAME = "corral-subnet"
SUBNET_CIDR = "192.168.77.0/24"
PHYSNET = "physnet1"
WARM_PARALLEL = 4  # twice neutron's uwsgi processes
# The libvirt compute (host corral-qemu): only servers whose flavor requires this trait may land there.
QEMU_HOST = "corral-qemu"
QEMU_TRAIT = "CUSTOM_CORRAL_QEMU"
QEMU_AGGREGATE = "corral-qemu"
# id, name, vCPUs, RAM MB (the corral guest image needs >= 320), disk GB
QEMU_FLAVOR = ("corral-qemu", "corral.qemu", 1, 512, 1)
PLACEMENT_VERSION = "1.19"  # aggregates with generations


def say(message: str) -> None:
    print(f"  bootstrap: {message}", flush=True)


def connect(user: str = "admin", password: str = ADMIN_PASSWORD, project: str = "admin"):
    return openstack.connect(
        auth_url=AUTH_URL,
        username=user,
        password=password,
        project_name=project,
        user_domain_name="Default",
        project_domain_name="Default",
        region_name=REGION,
        identity_api_version="3",
        interface="public",
    )


def find_or_create_project(conn, name: str, description: str):
    project = conn.identity.find_project(name, domain_id="default")
    if project is None:
        project = conn.identity.create_project(name=name, domain_id="default", description=description)
        say(f"created project {name}")
    return project


def find_or_create_role(conn, name: str):
    role = conn.identity.find_role(name)
    if role is None:
        role = conn.identity.create_role(name=name)
        say(f"created role {name}")
    return role


def find_or_create_user(conn, name: str, password: str, project):
    user = conn.identity.find_user(name, domain_id="default")
    if user is None:
        user = conn.identity.create_user(
            name=name, password=password, domain_id="default", default_project_id=project.id
        )
        say(f"created user {name}")
    return user


def grant(conn, user, project, role) -> None:
    if not conn.identity.validate_user_has_project_role(project, user, role):
        conn.identity.assign_project_role_to_user(project, user, role)


def ensure_service(conn, name: str, service_type: str, url: str) -> None:
    service = next(iter(conn.identity.services(type=service_type)), None)
    if service is None:
        service = conn.identity.create_service(name=name, type=service_type, enabled=True)
        say(f"created service {service_type}")
    existing = {e.interface: e for e in conn.identity.endpoints(service_id=service.id, region_id=REGION)}
    for interface in ("public", "internal", "admin"):
        endpoint = existing.get(interface)
        if endpoint is None:
            conn.identity.create_endpoint(
                service_id=service.id, interface=interface, url=url, region_id=REGION, enabled=True
            )
        elif endpoint.url != url:
            conn.identity.update_endpoint(endpoint, url=url)


def identity_complete(with_cinder: bool) -> bool:
    """One demo login (about 1 s) tells whether an earlier run finished: roles and every endpoint."""
    try:
        conn = connect(user="demo", password=DEMO_PASSWORD, project="demo")
        access = conn.session.auth.get_access(conn.session)
    except openstack.exceptions.SDKException:
        return False
    except Exception:  # keystoneauth's Unauthorized and friends: not set up yet
        return False
    if not {"member", "reader"} <= set(access.role_names):
        return False
    wanted = {(t, url) for _, t, url in SERVICES + (CINDER_SERVICES if with_cinder else [])}
    found = set()
    for service in access.service_catalog.catalog:
        for endpoint in service.get("endpoints", []):
            if endpoint.get("region_id") == REGION and endpoint.get("interface") == "public":
                found.add((service["type"], endpoint["url"].replace(access.project_id, "%(project_id)s")))
    return wanted <= found


def identity(with_cinder: bool) -> None:
    if identity_complete(with_cinder):
        say("identity already complete")
        return
    conn = connect()
    admin_role = find_or_create_role(conn, "admin")
    member_role = find_or_create_role(conn, "member")
    reader_role = find_or_create_role(conn, "reader")
    service_role = find_or_create_role(conn, "service")

    service_project = find_or_create_project(conn, "service", "OpenStack service users")
    for name in SERVICE_USERS:
        user = find_or_create_user(conn, name, SERVICE_PASSWORD, service_project)
        grant(conn, user, service_project, admin_role)
        grant(conn, user, service_project, service_role)

    demo_project = find_or_create_project(conn, "demo", "corral tests, unprivileged")
    demo = find_or_create_user(conn, "demo", DEMO_PASSWORD, demo_project)
    grant(conn, demo, demo_project, member_role)
    grant(conn, demo, demo_project, reader_role)

    for name, service_type, url in SERVICES + (CINDER_SERVICES if with_cinder else []):
        ensure_service(conn, name, service_type, url)
    say("identity ready")


def ensure_flavors(conn) -> None:
    for flavor_id, name, vcpus, ram, disk in FLAVORS:
        try:
            conn.compute.get_flavor(flavor_id)
        except openstack.exceptions.ResourceNotFound:
            conn.compute.create_flavor(
                id=flavor_id, name=name, vcpus=vcpus, ram=ram, disk=disk, is_public=True
            )
            say(f"created flavor {name}")


def ensure_image(conn) -> None:
    for image in conn.image.images(name=IMAGE_NAME):
        if image.status == "active":
            return
        # A half-made image from an interrupted run: replace it.
        conn.image.delete_image(image)
    # A tiny raw "disk": nothing boots it (the fake driver never reads it); it only has to be active.
    data = b"corral-test-image\n" + bytes(64 * 1024 - 18)
    conn.image.create_image(
        name=IMAGE_NAME,
        disk_format="raw",
        container_format="bare",
        visibility="public",
        data=data,
        allow_duplicates=True,
    )
    say(f"uploaded image {IMAGE_NAME}")


def ensure_network(conn) -> None:
    network = conn.network.find_network(NETWORK_NAME)
    if network is None:
        network = conn.network.create_network(
            name=NETWORK_NAME,
            shared=True,
            provider_network_type="flat",
            provider_physical_network=PHYSNET,
        )
        say(f"created network {NETWORK_NAME}")
    if conn.network.find_subnet(SUBNET_NAME, network_id=network.id) is None:
        conn.network.create_subnet(
            name=SUBNET_NAME,
            network_id=network.id,
            ip_version=4,
            cidr=SUBNET_CIDR,
            enable_dhcp=False,
        )
        say(f"created subnet {SUBNET_CIDR}")


def warm_neutron(conn) -> None:
    """Under uwsgi each neutron worker answers its first GET /v2.0/ports with a 500 (a model not loaded
    yet) unless another query ran in that worker first. Pairs of parallel requests reach every worker
    (one thread each); then every port listing must succeed."""
    url = conn.network.get_endpoint().rstrip("/")  # ends in /v2.0

    def get(path: str) -> int:
        return conn.session.get(f"{url}/{path}", raise_exc=False).status_code

    with ThreadPoolExecutor(max_workers=WARM_PARALLEL) as pool:
        for _ in range(3):
            list(pool.map(get, ["networks?limit=1"] * WARM_PARALLEL))
        for _ in range(20):
            codes = list(pool.map(get, ["ports?limit=1"] * WARM_PARALLEL))
            if all(code == 200 for code in codes):
                return
            say(f"neutron warm-up: port listing answered {codes}, again")
            list(pool.map(get, ["networks?limit=1"] * WARM_PARALLEL))
    raise RuntimeError("neutron keeps answering GET /v2.0/ports with errors")


def ensure_qemu_flavor(conn) -> None:
    flavor_id, name, vcpus, ram, disk = QEMU_FLAVOR
    try:
        flavor = conn.compute.get_flavor(flavor_id)
    except openstack.exceptions.ResourceNotFound:
        flavor = conn.compute.create_flavor(
            id=flavor_id, name=name, vcpus=vcpus, ram=ram, disk=disk, is_public=True
        )
        say(f"created flavor {name}")
    key = f"trait:{QEMU_TRAIT}"
    if conn.compute.fetch_flavor_extra_specs(flavor).extra_specs.get(key) != "required":
        conn.compute.create_flavor_extra_specs(flavor, {key: "required"})
        say(f"flavor {name} requires {QEMU_TRAIT}")


def ensure_qemu_aggregate(conn):
    aggregate = conn.compute.find_aggregate(QEMU_AGGREGATE)
    if aggregate is None:
        aggregate = conn.compute.create_aggregate(name=QEMU_AGGREGATE)
        say(f"created aggregate {QEMU_AGGREGATE}")
    key = f"trait:{QEMU_TRAIT}"
    if (aggregate.metadata or {}).get(key) != "required":
        aggregate = conn.compute.set_aggregate_metadata(aggregate, {key: "required"})
    if QEMU_HOST not in (aggregate.hosts or []):
        # Nova mirrors this into placement when the host's resource provider exists (checked below).
        aggregate = conn.compute.add_host_to_aggregate(aggregate, QEMU_HOST)
        say(f"added {QEMU_HOST} to aggregate {QEMU_AGGREGATE}")
    # The objects create_aggregate, set_aggregate_metadata and add_host_to_aggregate hand back have no uuid
    # (None): only a fresh read carries it. A re-run found the aggregate by listing, which hid this.
    aggregate = conn.compute.find_aggregate(QEMU_AGGREGATE, ignore_missing=False)
    if not aggregate.uuid:
        raise RuntimeError(f"aggregate {QEMU_AGGREGATE} has no uuid in nova's answer")
    return aggregate


def placement(conn, method: str, path: str, body=None):
    response = conn.placement.request(path, method, json=body, microversion=PLACEMENT_VERSION, raise_exc=False)
    if response.status_code >= 400:
        raise RuntimeError(f"placement {method} {path}: {response.status_code} {response.text}")
    return response.json() if response.content else None


def add_to_provider(conn, uuid: str, kind: str, value: str) -> bool:
    """Adds a trait or an aggregate to a provider's list; False when it was there already."""
    return change_provider_list(conn, uuid, kind, value, add=True)


def remove_from_provider(conn, uuid: str, kind: str, value: str) -> bool:
    """Removes a trait or an aggregate from a provider's list; False when it was not there."""
    return change_provider_list(conn, uuid, kind, value, add=False)


def change_provider_list(conn, uuid: str, kind: str, value: str, add: bool) -> bool:
    """PUT of a provider's whole trait or aggregate list with its generation. nova-compute updates the same
    provider every minute: a generation conflict (409) reads again."""
    for _ in range(10):
        current = placement(conn, "GET", f"/resource_providers/{uuid}/{kind}")
        if (value in current[kind]) == add:
            return False
        wanted = current[kind] + [value] if add else [v for v in current[kind] if v != value]
        body = {kind: wanted, "resource_provider_generation": current["resource_provider_generation"]}
        response = conn.placement.request(
            f"/resource_providers/{uuid}/{kind}", "PUT", json=body, microversion=PLACEMENT_VERSION, raise_exc=False
        )
        if response.status_code < 400:
            return True
        if response.status_code != 409:
            raise RuntimeError(f"placement PUT {kind} of {uuid}: {response.status_code} {response.text}")
    raise RuntimeError(f"placement PUT {kind} of {uuid}: generation conflicts ten times in a row")


def ensure_qemu_provider(conn, node: str, aggregate_uuid: str) -> None:
    """The compute node's resource provider carries the trait and is a member of the aggregate. Nova keeps
    traits set from outside (it only manages its own COMPUTE_* ones) and mirrors aggregate membership;
    both are checked here so that a mirror that failed (provider not there yet) is repaired."""
    providers = placement(conn, "GET", f"/resource_providers?name={node}")["resource_providers"]
    if not providers:
        raise RuntimeError(f"placement has no resource provider named {node}")
    uuid = providers[0]["uuid"]
    placement(conn, "PUT", f"/traits/{QEMU_TRAIT}")
    if add_to_provider(conn, uuid, "traits", QEMU_TRAIT):
        say(f"trait {QEMU_TRAIT} on provider {node}")
    if add_to_provider(conn, uuid, "aggregates", aggregate_uuid):
        say(f"provider {node} in placement aggregate {aggregate_uuid}")


def qemu(node: str) -> None:
    conn = connect()
    ensure_qemu_flavor(conn)
    aggregate = ensure_qemu_aggregate(conn)
    ensure_qemu_provider(conn, node, aggregate.uuid)
    say("qemu compute isolated")


def qemu_teardown() -> None:
    """Undoes `qemu`: host out of the aggregate, the aggregate, the trait on every provider and the trait
    itself, the flavor. Servers already made on corral.qemu keep running (Nova copies the flavor into each)."""
    conn = connect()
    aggregate = conn.compute.find_aggregate(QEMU_AGGREGATE)
    if aggregate is not None:
        for host in aggregate.hosts or []:
            conn.compute.remove_host_from_aggregate(aggregate, host)
        # Nova mirrors the removal into placement; a member it failed to mirror is removed here.
        members = placement(conn, "GET", f"/resource_providers?member_of={aggregate.uuid}")["resource_providers"]
        for provider in members:
            remove_from_provider(conn, provider["uuid"], "aggregates", aggregate.uuid)
        conn.compute.delete_aggregate(aggregate)
        say(f"deleted aggregate {QEMU_AGGREGATE}")
    response = conn.placement.request(f"/traits/{QEMU_TRAIT}", "GET", microversion=PLACEMENT_VERSION, raise_exc=False)
    if response.status_code == 204:
        carriers = placement(conn, "GET", f"/resource_providers?required={QEMU_TRAIT}")["resource_providers"]
        for provider in carriers:
            remove_from_provider(conn, provider["uuid"], "traits", QEMU_TRAIT)
        placement(conn, "DELETE", f"/traits/{QEMU_TRAIT}")
        say(f"deleted trait {QEMU_TRAIT}")
    try:
        conn.compute.delete_flavor(conn.compute.get_flavor(QEMU_FLAVOR[0]))
        say(f"deleted flavor {QEMU_FLAVOR[1]}")
    except openstack.exceptions.ResourceNotFound:
        pass


def resources() -> None:
    conn = connect()
    ensure_flavors(conn)
    ensure_image(conn)
    ensure_network(conn)
    say("resources ready")


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[1] == "identity":
        identity("--cinder" in argv[2:])
    elif len(argv) == 2 and argv[1] == "resources":
        resources()
    elif len(argv) == 3 and argv[1] == "qemu":
        qemu(argv[2])
    elif len(argv) == 2 and argv[1] == "qemu-teardown":
        qemu_teardown()
    elif len(argv) == 2 and argv[1] == "warm-neutron":
        warm_neutron(connect())
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
