#!/usr/bin/env bash
# A one-node OpenStack test cloud on 127.0.0.1 (Keystone, Glance, Placement, Nova with the fake driver,
# API-only Neutron) from Debian's packages, for provider-openstack's integration tests.
# The work is in test/openstack-cloud/setup.sh; see test/openstack-cloud/README.md.
set -euo pipefail
exec bash "$(cd "$(dirname "$0")/../../test/openstack-cloud" && pwd)/setup.sh" "$@"
