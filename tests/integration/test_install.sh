#!/usr/bin/env bash
# `make install` puts everything in its FHS place under DESTDIR, keeps an
# installer's existing config, and the shipped example config passes
# `wotgw -t` once the files it names exist.
source tests/integration/lib.sh "$@"

R=$T/root
make -s BUILDDIR="$BUILD" DESTDIR="$R" PREFIX=/usr install > "$T/install.out" 2>&1
check "make install DESTDIR=... succeeds" [ $? -eq 0 ]
for f in /usr/sbin/wotgw /usr/sbin/wotgw-passwd; do
    check "installed $f (0755)" bash -c '[ "$(stat -c %a "$1")" = 755 ]' _ "$R$f"
done
for f in /lib/systemd/system/wotgw.service /usr/lib/sysusers.d/wotgw.conf \
    /usr/share/man/man8/wotgw.8 /usr/share/man/man8/wotgw-passwd.8 /usr/share/man/man5/wotgw.conf.5; do
    check "installed $f (0644)" bash -c '[ "$(stat -c %a "$1")" = 644 ]' _ "$R$f"
done
check "/etc/wotgw is 0750" bash -c '[ "$(stat -c %a "$1")" = 750 ]' _ "$R/etc/wotgw"
check "/etc/wotgw/wotgw.conf is 0640 and the example" \
    bash -c '[ "$(stat -c %a "$1")" = 640 ] && cmp -s "$1" conf/wotgw.conf' _ "$R/etc/wotgw/wotgw.conf"
check "example device TDs in /etc/wotgw/things" test -f "$R/etc/wotgw/things/lamp.td.json"

# A second install keeps what the installer changed.
echo "# mine" >> "$R/etc/wotgw/wotgw.conf"
make -s BUILDDIR="$BUILD" DESTDIR="$R" PREFIX=/usr install > "$T/install2.out" 2>&1
check "reinstall keeps an edited wotgw.conf" grep -q '^# mine$' "$R/etc/wotgw/wotgw.conf"
check "reinstall says so" grep -q "keeping existing .*wotgw.conf" "$T/install2.out"

make -s BUILDDIR="$BUILD" DESTDIR="$R" PREFIX=/usr uninstall > /dev/null 2>&1
check "uninstall removes the binaries" test ! -e "$R/usr/sbin/wotgw"
check "uninstall leaves the config" test -f "$R/etc/wotgw/wotgw.conf"

# The shipped example config is valid once its credential files exist.
E=$T/etc
mkdir -p "$E/tls" "$E/issuers"
cp -r conf/. "$E/"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -keyout "$E/tls/server.key" -out "$E/tls/server.crt" 2> /dev/null
cp "$E/tls/server.crt" "$E/tls/clients-ca.crt"
printf 'pw-for-alice-1\n' | "$PASSWD" -q -f "$E/users" useradd alice -g family --stdin
"$PASSWD" -q -f "$E/apikeys" apikey-add dashboard > /dev/null
: > "$E/cert-identities"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/iss.key" 2> /dev/null
tools/jwk-from-pem.sh "$T/iss.key" k1 > "$E/issuers/home.jwks.json"
out=$("$WOTGW" -t -c "$E/wotgw.conf" 2>&1)
rc=$?
check "the example config passes wotgw -t (rc $rc: $out)" [ $rc -eq 0 ]
check "the example config exposes both things" grep -q "2 things" <<< "$out"
finish
