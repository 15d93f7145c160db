#!/usr/bin/env bash
# A throwaway OpenLDAP server for the tests and the LDAP benchmark:
#   tests/ldap/slapd.sh DIR PORT [LDIF]
# writes DIR/slapd.conf (mdb database in DIR/data, suffix dc=example,dc=com, root DN
# cn=admin,dc=example,dc=com with password admin-secret, the memberof overlay), loads LDIF
# (default tests/ldap/fixture.ldif) with slapadd unless DIR/data already holds a database,
# then runs slapd in the foreground on ldap://127.0.0.1:PORT/ (stop it with a signal; start
# it again with the same DIR for the same data). Needs Debian's slapd and ldap-utils.
set -euo pipefail
dir="${1:?usage: slapd.sh DIR PORT [LDIF]}"
port="${2:?usage: slapd.sh DIR PORT [LDIF]}"
ldif="${3:-$(dirname "${BASH_SOURCE[0]}")/fixture.ldif}"
for tool in /usr/sbin/slapd /usr/sbin/slapadd; do
    if [[ ! -x "$tool" ]]; then
        echo "$tool is missing: install the Debian packages slapd and ldap-utils" \
            "(apt-get install slapd ldap-utils; scripts/test.sh does it)" >&2
        exit 2
    fi
done
mkdir -p "$dir/data"
dir="$(cd "$dir" && pwd)"
cat > "$dir/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile $dir/slapd.pid
database mdb
maxsize 16777216
suffix "dc=example,dc=com"
rootdn "cn=admin,dc=example,dc=com"
rootpw admin-secret
directory $dir/data
overlay memberof
CONF
if [[ ! -s "$dir/data/data.mdb" ]]; then
    /usr/sbin/slapadd -f "$dir/slapd.conf" -l "$ldif"
fi
exec /usr/sbin/slapd -d 0 -f "$dir/slapd.conf" -h "ldap://127.0.0.1:$port/"
