#!/usr/bin/env bash
# wotgw-passwd(8): users, API keys and OAuth clients files, signing-key
# rotation, hashes checked independently
# (perl's crypt() is libxcrypt's), comments and unparsable lines kept,
# atomic locked updates, exit codes, file mode.
source tests/integration/lib.sh "$@"

U=$T/users
K=$T/apikeys
PW='Tr0ub4dor&3-long'

# verify HASH PASSWORD: perl crypt() via libxcrypt, independent of our code
verify() { perl -e 'exit(crypt($ARGV[1], $ARGV[0]) eq $ARGV[0] ? 0 : 1)' "$1" "$2"; }
hash_of() { awk -F: -v n="$1" '$1 == n { print $2 }' "$2"; }
groups_of() { awk -F: -v n="$1" '$1 == n { print $3 }' "$2"; }
mode_of() { stat -c %a "$1"; }
export -f verify hash_of

# ---- help, version, usage ----------------------------------------------------------
check "--help exits 0 and lists every command" bash -c \
    'o=$("$1" --help) && for c in useradd passwd usermod userdel users apikey-add apikey-del apikeys client-add client-del clients key-rotate; do [[ $o == *"$c"* ]] || exit 1; done' _ "$PASSWD"
check "--version prints the version" bash -c '[[ $("$1" --version) == "wotgw-passwd "[0-9]* ]]' _ "$PASSWD"
"$PASSWD" >/dev/null 2>&1; check "no command: exit 1" [ $? -eq 1 ]
"$PASSWD" -f "$U" frobnicate x >/dev/null 2>&1; check "unknown command: exit 1" [ $? -eq 1 ]
"$PASSWD" -f "$U" userdel >/dev/null 2>&1; check "missing NAME: exit 1" [ $? -eq 1 ]
"$PASSWD" -f "$U" userdel a b >/dev/null 2>&1; check "extra argument: exit 1" [ $? -eq 1 ]
"$PASSWD" -f "$U" userdel alice --stdin >/dev/null 2>&1; check "option not valid for the command: exit 1" [ $? -eq 1 ]
"$PASSWD" -f "$U" usermod alice >/dev/null 2>&1; check "usermod without -g: exit 1" [ $? -eq 1 ]
"$PASSWD" -f "$U" useradd alice -m md5 --stdin </dev/null >/dev/null 2>&1; check "unknown hash method: exit 1" [ $? -eq 1 ]
"$PASSWD" -f "$U" --bogus users >/dev/null 2>&1; check "unknown option: exit 1" [ $? -eq 1 ]
check "usage errors create no file" [ ! -e "$U" ]

# ---- useradd --stdin, yescrypt ------------------------------------------------------
printf '# wotgw users\n# second comment\n\n' > "$U"
printf '%s\n' "$PW" | "$PASSWD" -f "$U" useradd alice -g family,admin --stdin 2>"$T/err"; rc=$?
check "useradd --stdin exits 0" [ $rc -eq 0 ]
h=$(hash_of alice "$U")
check "stored hash is yescrypt (\$y\$)" bash -c '[[ $1 == "\$y\$"* ]]' _ "$h"
check "hash verifies with perl crypt()" verify "$h" "$PW"
check "a wrong password does not verify" bash -c '! verify "$1" "wrong-password"' _ "$h"
check "groups stored" [ "$(groups_of alice "$U")" = "family,admin" ]
check "password not in the file" bash -c '! grep -qF -- "$1" "$2"' _ "$PW" "$U"
check "password not in any message" bash -c '! grep -qF -- "$1" "$2"' _ "$PW" "$T/err"
check "comments and blank line preserved in order" \
    bash -c '[ "$(head -n 3 "$1")" = "$(printf "# wotgw users\n# second comment\n")" ]' _ "$U"
check "file mode 0640" [ "$(mode_of "$U")" = 640 ]

printf 'Other-pass-123\n' | "$PASSWD" -f "$U" useradd alice --stdin >/dev/null 2>&1; rc=$?
check "useradd of an existing user: exit 1" [ $rc -eq 1 ]
check "existing user unchanged" [ "$(hash_of alice "$U")" = "$h" ]

printf 'crlf-password-1\r\n' | "$PASSWD" -f "$U" useradd dora --stdin 2>/dev/null
check "--stdin strips CR LF" verify "$(hash_of dora "$U")" "crlf-password-1"
printf 'no-newline-pass' | "$PASSWD" -f "$U" useradd erin --stdin 2>/dev/null
check "--stdin accepts a last line without newline" verify "$(hash_of erin "$U")" "no-newline-pass"

# ---- bcrypt ----------------------------------------------------------------------------
printf 'bcrypt-pass-1\n' | "$PASSWD" -f "$U" useradd bob -m bcrypt --stdin 2>/dev/null; rc=$?
hb=$(hash_of bob "$U")
check "-m bcrypt gives \$2b\$ with cost 12" bash -c '[ $1 -eq 0 ] && [[ $2 == "\$2b\$12\$"* ]]' _ $rc "$hb"
check "bcrypt hash verifies with perl crypt()" verify "$hb" "bcrypt-pass-1"
long=$(head -c 80 /dev/zero | tr '\0' x)
printf '%s\n' "$long" | "$PASSWD" -f "$U" useradd bob2 -m bcrypt --stdin >/dev/null 2>&1; rc=$?
check "bcrypt refuses passwords over 72 bytes: exit 1" [ $rc -eq 1 ]

# ---- password rules ---------------------------------------------------------------------
printf '\n' | "$PASSWD" -f "$U" useradd p1 --stdin >/dev/null 2>&1; rc1=$?
"$PASSWD" -f "$U" useradd p2 --stdin </dev/null >/dev/null 2>&1; rc2=$?
printf 'short\n' | "$PASSWD" -f "$U" useradd p3 --stdin >/dev/null 2>&1; rc3=$?
printf 'p4p4p4p4p4\n' | "$PASSWD" -f "$U" useradd p4p4p4p4p4 --stdin >/dev/null 2>&1; rc4=$?
head -c 2000 /dev/zero | tr '\0' y | "$PASSWD" -f "$U" useradd p5 --stdin >/dev/null 2>&1; rc5=$?
check "empty password refused (exit 1)" [ $rc1 -eq 1 ]
check "no input on --stdin refused (exit 1)" [ $rc2 -eq 1 ]
check "password under 8 characters refused (exit 1)" [ $rc3 -eq 1 ]
check "password equal to the name refused (exit 1)" [ $rc4 -eq 1 ]
check "password over 1024 bytes refused (exit 1)" [ $rc5 -eq 1 ]
check "refused passwords add nothing" bash -c '! grep -qE "^p[1-5]" "$1"' _ "$U"
printf 'short\n' | "$PASSWD" -f "$U" useradd p6 --stdin --allow-short 2>/dev/null; rc=$?
check "--allow-short accepts a short password" bash -c '[ $1 -eq 0 ] && verify "$2" short' _ $rc "$(hash_of p6 "$U")"
setsid -w "$PASSWD" -f "$U" useradd p7 </dev/null >/dev/null 2>&1; rc=$?
check "no terminal and no --stdin: exit 1" [ $rc -eq 1 ]

# ---- the interactive prompt, on a real pseudo-terminal ------------------------------------
# ptydrive.py PASSWD FILE NAME FIRST SECOND: answers both prompts, prints
# "prompted=True echoed=False rc=N".
cat > "$T/ptydrive.py" <<'PY'
import os, pty, sys, select, time
passwd, path, name, first, second = sys.argv[1:6]
pid, fd = pty.fork()
if pid == 0:
    os.execv(passwd, [passwd, '-f', path, 'useradd', name])
out = b''
def until(token, limit=10):
    global out
    end = time.time() + limit
    while token not in out and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
    return token in out
ok = until(b'Password: ')
os.write(fd, first.encode() + b'\n')
ok = ok and until(b'Password again: ')
os.write(fd, second.encode() + b'\n')
until(b'\0', 3)  # drain until exit
_, st = os.waitpid(pid, 0)
rc = os.waitstatus_to_exitcode(st)
echoed = first.encode() in out
print(f"prompted={ok} echoed={echoed} rc={rc}")
PY
out=$(python3 "$T/ptydrive.py" "$PASSWD" "$U" ttyuser 'Tty-pass-1234' 'Tty-pass-1234')
check "tty: prompts twice, echo off, exit 0" [ "$out" = "prompted=True echoed=False rc=0" ]
check "tty: the hash verifies" verify "$(hash_of ttyuser "$U")" 'Tty-pass-1234'
out=$(python3 "$T/ptydrive.py" "$PASSWD" "$U" ttyuser2 'Tty-pass-1234' 'Other-pass-99')
check "tty: mismatching passwords refused with exit 1" [ "$out" = "prompted=True echoed=False rc=1" ]
check "tty: nothing stored after a mismatch" bash -c '! grep -q "^ttyuser2:" "$1"' _ "$U"

# ---- bad names --------------------------------------------------------------------------
for n in 'a:b' 'a b' 'a/b' '#x' 'ä' "$(head -c 65 /dev/zero | tr '\0' n)" 'x,y'; do
    printf '%s\n' "$PW" | "$PASSWD" -f "$U" useradd "$n" --stdin >/dev/null 2>&1; rc=$?
    check "bad name '${n:0:12}' refused with exit 1" [ $rc -eq 1 ]
done
"$PASSWD" -f "$U" useradd -- "" --no-password >/dev/null 2>&1; rc=$?
check "empty name refused with exit 1" [ $rc -eq 1 ]
"$PASSWD" -f "$U" useradd gina --no-password -g 'ok,b:d' >/dev/null 2>&1; rc=$?
check "bad group refused with exit 1" [ $rc -eq 1 ]
"$PASSWD" -f "$U" useradd gina --no-password -g "$(seq -s, -f 'g%g' 1 33)" >/dev/null 2>&1; rc=$?
check "more than 32 groups refused with exit 1" [ $rc -eq 1 ]
check "refused names leave no trace" bash -c '! grep -qE "^(gina|a:b|x,y)" "$1"' _ "$U"

# ---- passwd, usermod, userdel, --no-password, users ----------------------------------------
printf 'New-password-2\n' | "$PASSWD" -f "$U" passwd alice --stdin 2>/dev/null; rc=$?
h2=$(hash_of alice "$U")
check "passwd exits 0" [ $rc -eq 0 ]
check "passwd: new password verifies, old does not" bash -c 'verify "$1" New-password-2 && ! verify "$1" "$2"' _ "$h2" "$PW"
check "passwd keeps the groups" [ "$(groups_of alice "$U")" = "family,admin" ]
printf 'New-password-3\n' | "$PASSWD" -f "$U" passwd nobody --stdin >/dev/null 2>&1; rc=$?
check "passwd of an unknown user: exit 1" [ $rc -eq 1 ]

"$PASSWD" -f "$U" useradd cam1 --no-password -g cameras 2>/dev/null; rc=$?
check "useradd --no-password stores '!'" bash -c '[ $1 -eq 0 ] && grep -qx "cam1:!:cameras" "$2"' _ $rc "$U"
"$PASSWD" -f "$U" usermod cam1 -g 'cameras, doors ,cameras' 2>/dev/null
check "usermod sets groups (normalised, duplicates dropped)" [ "$(groups_of cam1 "$U")" = "cameras,doors" ]
"$PASSWD" -f "$U" usermod cam1 -g '' 2>/dev/null
check "usermod -g '' clears the groups" grep -qx 'cam1:!' "$U"
"$PASSWD" -f "$U" usermod ghost -g x >/dev/null 2>&1; rc=$?
check "usermod of an unknown user: exit 1" [ $rc -eq 1 ]

# a line it cannot parse is kept and reported
printf 'this line is broken\nmallory:notahash:x\n' >> "$U"
bline=$(grep -n '^this line is broken' "$U" | cut -d: -f1)
"$PASSWD" -f "$U" users > "$T/list" 2>"$T/list.err"; rc=$?
check "users exits 0" [ $rc -eq 0 ]
check "users lists names, groups and login kind" grep -qxP 'alice\tfamily,admin\tpassword' "$T/list"
check "users marks --no-password users" grep -qxP 'cam1\t-\tno-password' "$T/list"
check "users never prints a hash" bash -c '! grep -q "\\\$y\\\$\|\\\$2b\\\$" "$1"' _ "$T/list"
check "unparsable line reported as FILE:LINE" grep -q "users:$bline: warning" "$T/list.err"
check "the report does not echo the line" bash -c '! grep -q "notahash\|broken" "$1"' _ "$T/list.err"

"$PASSWD" -f "$U" userdel bob 2>/dev/null; rc=$?
check "userdel exits 0 and removes the user" bash -c '[ $1 -eq 0 ] && ! grep -q "^bob:" "$2"' _ $rc "$U"
"$PASSWD" -f "$U" userdel bob >/dev/null 2>&1; rc=$?
check "userdel of an unknown user: exit 1" [ $rc -eq 1 ]
check "unparsable lines kept byte for byte after edits" \
    bash -c 'grep -qx "this line is broken" "$1" && grep -qx "mallory:notahash:x" "$1"' _ "$U"
check "comments still first after edits" [ "$(head -n 1 "$U")" = "# wotgw users" ]
check "mode still 0640 after edits" [ "$(mode_of "$U")" = 640 ]
check "no temp files left behind" bash -c '[ -z "$(ls "$1" | grep tmp)" ]' _ "$T"

# symlinked file: the target is edited, the link stays
mkdir -p "$T/real"; cp "$U" "$T/real/users"; ln -s real/users "$T/link-users"
"$PASSWD" -f "$T/link-users" useradd viasym --no-password 2>/dev/null
check "a symlinked file is edited in place (link kept)" \
    bash -c '[ -L "$1/link-users" ] && grep -q "^viasym:" "$1/real/users"' _ "$T"

# ---- concurrency: 10 parallel useradds lose nothing -----------------------------------------
C=$T/conc-users
pids=()
for i in $(seq 1 10); do
    printf 'parallel-pass-%s\n' "$i" | "$PASSWD" -q -f "$C" useradd "u$i" -g g$i --stdin &
    pids+=($!)
done
cfail=0
for p in "${pids[@]}"; do wait "$p" || cfail=$((cfail + 1)); done
check "10 parallel useradds all exit 0" [ $cfail -eq 0 ]
check "10 parallel useradds: all 10 users stored" [ "$(grep -c '^u[0-9]*:\$y\$' "$C")" -eq 10 ]
check "parallel: every hash verifies" bash -c 'for i in $(seq 1 10); do verify "$(hash_of u$i "$1")" parallel-pass-$i || exit 1; done' _ "$C"

# ---- I/O errors --------------------------------------------------------------------------------
"$PASSWD" -f "$T/no/such/dir/users" useradd x --no-password >/dev/null 2>&1; rc=$?
check "unwritable location: exit 2" [ $rc -eq 2 ]
"$PASSWD" -f "$T/missing" users >/dev/null 2>&1; rc=$?
check "listing a missing file: exit 2" [ $rc -eq 2 ]
printf 'a:!\0b\n' > "$T/nul"
"$PASSWD" -f "$T/nul" userdel a >/dev/null 2>&1; rc=$?
check "a file with a NUL byte is refused: exit 2" [ $rc -eq 2 ]

# ---- API keys ------------------------------------------------------------------------------
printf '# keys\n' > "$K"
key=$("$PASSWD" -f "$K" apikey-add sensor1 -g sensors 2>"$T/k.err"); rc=$?
check "apikey-add exits 0" [ $rc -eq 0 ]
check "apikey-add prints one wgk_ key (base64url, 256 bits)" bash -c '[[ $1 =~ ^wgk_[A-Za-z0-9_-]{43}$ ]]' _ "$key"
sum=$(printf %s "$key" | sha256sum | cut -d' ' -f1)
check "the file holds the key's SHA-256 and groups" grep -qx "sensor1:$sum:sensors" "$K"
check "the key itself is not in the file" bash -c '! grep -qF -- "$1" "$2"' _ "$key" "$K"
check "the key is not in the messages" bash -c '! grep -qF -- "$1" "$2"' _ "$key" "$T/k.err"
check "apikeys file keeps its comment, mode 0640" bash -c '[ "$(head -n1 "$1")" = "# keys" ] && [ "$(stat -c %a "$1")" = 640 ]' _ "$K"
key2=$("$PASSWD" -f "$K" apikey-add sensor2 2>/dev/null)
check "a second key differs" bash -c '[ -n "$1" ] && [ "$1" != "$2" ]' _ "$key2" "$key"
out=$("$PASSWD" -f "$K" apikey-add sensor1 2>/dev/null); rc=$?
check "apikey-add of an existing name: exit 1 and prints no key" bash -c '[ $1 -eq 1 ] && [ -z "$2" ]' _ $rc "$out"
check "apikeys lists names and groups, no hashes" \
    bash -c 'o=$("$1" -f "$2" apikeys) && [ "$o" = "$(printf "sensor1\tsensors\nsensor2\t-")" ]' _ "$PASSWD" "$K"
"$PASSWD" -f "$K" apikey-del sensor1 2>/dev/null; rc=$?
check "apikey-del removes the key" bash -c '[ $1 -eq 0 ] && ! grep -q "^sensor1:" "$2" && grep -q "^sensor2:" "$2"' _ $rc "$K"
"$PASSWD" -f "$K" apikey-del sensor1 >/dev/null 2>&1; rc=$?
check "apikey-del of an unknown name: exit 1" [ $rc -eq 1 ]
"$PASSWD" -f "$K" apikey-add 'bad name' >/dev/null 2>&1; rc=$?
check "apikey-add with a bad name: exit 1" [ $rc -eq 1 ]


# ---- OAuth clients (the built-in authorization server) ---------------------------------------
C=$T/clients
printf '# oauth clients\n' > "$C"
"$PASSWD" -f "$C" client-add app --public --grants authorization_code,refresh_token \
    --scopes 'lamp:read lamp:write' --redirect-uri https://app.example/cb \
    --redirect-uri http://127.0.0.1:5000/cb 2>/dev/null; rc=$?
check "client-add --public exits 0" [ $rc -eq 0 ]
check "the public client's line" grep -qx 'app type=public grants=authorization_code,refresh_token scopes=lamp:read,lamp:write redirect_uri=https://app.example/cb redirect_uri=http://127.0.0.1:5000/cb' "$C"
secret=$("$PASSWD" -f "$C" client-add svc --confidential --grants client_credentials \
    --scopes lamp:read 2>"$T/c.err"); rc=$?
check "client-add --confidential exits 0 and prints one wgs_ secret" \
    bash -c '[ $1 -eq 0 ] && [[ $2 =~ ^wgs_[A-Za-z0-9_-]{43}$ ]]' _ $rc "$secret"
sum=$(printf %s "$secret" | sha256sum | cut -d' ' -f1)
check "the file holds the secret's SHA-256" grep -qx "svc type=confidential secret=$sum grants=client_credentials scopes=lamp:read" "$C"
check "the secret is not in the file or the messages" \
    bash -c '! grep -qF -- "$1" "$2" && ! grep -qF -- "$1" "$3"' _ "$secret" "$C" "$T/c.err"
check "clients file keeps its comment, mode 0640" bash -c '[ "$(head -n1 "$1")" = "# oauth clients" ] && [ "$(stat -c %a "$1")" = 640 ]' _ "$C"
cp "$C" "$T/c.before"
refuse() { # WHAT ARGS...: exit 1, file unchanged, no secret printed
    local n=$1; shift
    out=$("$PASSWD" -f "$C" client-add "$@" 2>/dev/null); rc=$?
    check "client-add refuses $n" bash -c '[ $1 -eq 1 ] && [ -z "$2" ] && cmp -s "$3" "$4"' _ $rc "$out" "$C" "$T/c.before"
}
refuse "the password grant" x --public --grants password --scopes a
refuse "implicit" x --public --grants implicit --scopes a
refuse "client_credentials for a public client" x --public --grants client_credentials --scopes a
refuse "an http redirect URI off loopback" x --public --grants authorization_code --scopes a --redirect-uri http://evil.example/cb
refuse "a redirect URI with a fragment" x --public --grants authorization_code --scopes a --redirect-uri 'https://a.example/cb#x'
refuse "the code grant without a redirect URI" x --public --grants authorization_code --scopes a
refuse "neither --public nor --confidential" x --grants device_code --scopes a
refuse "both --public and --confidential" x --public --confidential --grants device_code --scopes a
refuse "an existing name" svc --confidential --grants client_credentials --scopes a
refuse "a bad name" 'bad name' --public --grants device_code --scopes a
refuse "a bad scope" x --public --grants device_code --scopes 'a"b'
check "clients lists name, type, grants, scopes, redirects; no hash" \
    bash -c 'o=$("$1" -f "$2" clients) && [ "$o" = "$(printf "app\tpublic\tauthorization_code,refresh_token\tlamp:read,lamp:write\thttps://app.example/cb http://127.0.0.1:5000/cb\nsvc\tconfidential\tclient_credentials\tlamp:read\t-")" ]' _ "$PASSWD" "$C"
"$PASSWD" -f "$C" client-add tv --public --grants device_code,refresh_token --scopes '*' 2>/dev/null
"$PASSWD" -f "$C" client-del app 2>/dev/null; rc=$?
check "client-del removes the client" bash -c '[ $1 -eq 0 ] && ! grep -q "^app " "$2" && grep -q "^svc " "$2" && grep -q "^tv " "$2"' _ $rc "$C"
"$PASSWD" -f "$C" client-del app >/dev/null 2>&1; rc=$?
check "client-del of an unknown client: exit 1" [ $rc -eq 1 ]

# ---- signing keys ---------------------------------------------------------------------------------
KD=$T/state/oauth
mkdir -p "$T/state"
kid1=$("$PASSWD" -f "$KD" key-rotate 2>/dev/null); rc=$?
check "key-rotate makes the first key (exit 0, prints its kid)" bash -c '[ $1 -eq 0 ] && [[ $2 =~ ^[A-Za-z0-9_-]{43}$ ]]' _ $rc "$kid1"
check "key directory 0700, keys.json 0600" bash -c '[ "$(stat -c %a "$1")" = 700 ] && [ "$(stat -c %a "$1/keys.json")" = 600 ]' _ "$KD"
kid2=$("$PASSWD" -f "$KD" key-rotate --alg EdDSA 2>/dev/null)
check "a rotation keeps the old key (retired) beside the new active one" \
    bash -c '[ "$(jq -r "[.keys[] | select(.retired == 0) | .kid] | join(\",\")" "$1")" = "$2" ] && [ "$(jq -r "[.keys[] | select(.retired != 0) | .kid] | join(\",\")" "$1")" = "$3" ] && [ "$(jq -r ".keys[] | select(.retired == 0) | .alg" "$1")" = EdDSA ]' _ "$KD/keys.json" "$kid2" "$kid1"
"$PASSWD" -f "$KD" key-rotate --alg RS256 >/dev/null 2>&1; rc=$?
check "key-rotate --alg RS256: exit 1" [ $rc -eq 1 ]

# wotgw itself reads what wotgw-passwd wrote
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
    -keyout "$T/key.pem" -out "$T/cert.pem" -days 1 >/dev/null 2>&1
cp "$ROOT/tests/data/oauth/lamp.td.json" "$T/lamp.td.json"
cat > "$T/oauth.conf" <<EOF
[gateway]
state_dir = state
base_url = https://gw.test:8443
[https]
listen = 127.0.0.1:$(free_port)
certificate = cert.pem
key = key.pem
[oauth]
enabled = yes
clients = clients
[thing lamp]
td = $T/lamp.td.json
security = oauth2:local
EOF
out=$("$WOTGW" -t -c "$T/oauth.conf" 2>&1); rc=$?
check "wotgw -t accepts the clients file and keys (1 issuer: local)" bash -c '[ $1 -eq 0 ] && [[ $2 == *"1 thing, 1 issuer"* ]]' _ $rc "$out"
td=$("$WOTGW" -c "$T/oauth.conf" --print-td lamp 2>/dev/null)
check "the exposed TD points at the authorization server" \
    bash -c '[ "$(jq -r ".securityDefinitions.oauth2_local_sc | [.flow, .authorization, .token] | join(\" \")" <<<"$1")" = "code https://gw.test:8443/oauth/authorize https://gw.test:8443/oauth/token" ]' _ "$td"
"$PASSWD" -f "$KD" key-rotate --drop-old >/dev/null 2>/dev/null
check "key-rotate --drop-old leaves only the new key" [ "$(jq '.keys | length' "$KD/keys.json")" = 1 ]
printf 'broken line\n' >> "$C"
"$WOTGW" -t -c "$T/oauth.conf" >/dev/null 2>"$T/t.err"; rc=$?
check "wotgw -t refuses a broken clients file with FILE:LINE" bash -c '[ $1 -ne 0 ] && grep -q "clients:4:" "$2"' _ $rc "$T/t.err"

# ---- OSCORE security contexts (oscore add|del|list) ---------------------------------
O=$T/oscore
printf '# OSCORE contexts\n' > "$O"
"$PASSWD" -f "$O" oscore add sensor-7 >"$T/o1.conf" 2>"$T/o1.err"; rc=$?
check "oscore add: exit 0, prints the peer's coap-oscore-conf" bash -c \
    '[ $1 -eq 0 ] && grep -qx "sender_id,hex,\"01\"" "$2" && grep -qx "recipient_id,hex,\"00\"" "$2" &&
     grep -qE "^master_secret,hex,\"[0-9a-f]{64}\"$" "$2" && grep -qE "^master_salt,hex,\"[0-9a-f]{32}\"$" "$2" &&
     grep -qx "aead_alg,integer,10" "$2" && ! grep -q id_context "$2"' _ $rc "$T/o1.conf"
sec1=$(sed -n 's/^master_secret,hex,"\(.*\)"$/\1/p' "$T/o1.conf")
salt1=$(sed -n 's/^master_salt,hex,"\(.*\)"$/\1/p' "$T/o1.conf")
check "oscore add: the file line is the gateway's side of the same context" \
    grep -qx "sensor-7 sender_id=00 recipient_id=01 master_secret=$sec1 master_salt=$salt1" "$O"
check "oscore add: the comment is kept, mode 0640" bash -c '[ "$(head -n 1 "$1")" = "# OSCORE contexts" ] && [ "$(stat -c %a "$1")" = 640 ]' _ "$O"
check "oscore add: the secret is not in the messages" bash -c '! grep -q "$1" "$2" && grep -q "kid 01" "$2"' _ "$sec1" "$T/o1.err"
"$PASSWD" -q -f "$O" oscore add lamp --id-context 37CBF3210017A2D3 >"$T/o2.conf" 2>"$T/o2.err"; rc=$?
check "oscore add --id-context: next kid, ID Context in both sides" bash -c \
    '[ $1 -eq 0 ] && [ ! -s "$3" ] && grep -qx "sender_id,hex,\"02\"" "$2" && grep -qx "id_context,hex,\"37cbf3210017a2d3\"" "$2" &&
     grep -q "^lamp sender_id=00 recipient_id=02 id_context=37cbf3210017a2d3 master_secret=" "$4"' _ $rc "$T/o2.conf" "$T/o2.err" "$O"
check "oscore add: a new secret per context" bash -c '! grep -q "$1" "$2"' _ "$sec1" "$T/o2.conf"
out=$("$PASSWD" -f "$O" oscore list 2>&1); rc=$?
check "oscore list: names and ids, never a secret" bash -c \
    '[ $1 -eq 0 ] && [ "$2" = "$(printf "sensor-7\t01\t00\t-\nlamp\t02\t00\t37cbf3210017a2d3")" ] && [[ $2 != *"$3"* ]] && [[ $2 != *"$4"* ]]' _ $rc "$out" "$sec1" "$salt1"
"$PASSWD" -f "$O" oscore add lamp >"$T/o3.out" 2>&1; rc=$?
check "oscore add of an existing name: exit 1, nothing printed on stdout" bash -c '[ $1 -eq 1 ] && ! grep -q master_secret "$2"' _ $rc "$T/o3.out"
"$PASSWD" -f "$O" oscore add x --id-context 123 >/dev/null 2>&1; check "oscore add --id-context with odd hex: exit 1" [ $? -eq 1 ]
"$PASSWD" -f "$O" oscore add x --id-context "$(printf '%0130d' 0)" >/dev/null 2>&1; check "oscore add --id-context over 64 bytes: exit 1" [ $? -eq 1 ]
"$PASSWD" -f "$O" oscore add 'a/b' >/dev/null 2>&1; check "oscore add with an invalid name: exit 1" [ $? -eq 1 ]
"$PASSWD" -f "$O" oscore >/dev/null 2>&1; check "oscore without a subcommand: exit 1" [ $? -eq 1 ]
"$PASSWD" -f "$O" oscore frob x >/dev/null 2>&1; check "oscore with an unknown subcommand: exit 1" [ $? -eq 1 ]
"$PASSWD" -f "$O" oscore del lamp --id-context 00 >/dev/null 2>&1; check "oscore del --id-context: exit 1" [ $? -eq 1 ]
"$PASSWD" -f "$O" oscore del nope >/dev/null 2>&1; check "oscore del of an unknown name: exit 1" [ $? -eq 1 ]
"$PASSWD" -q -f "$O" oscore del sensor-7; rc=$?
check "oscore del: exit 0, the line is gone, the others stay" bash -c \
    '[ $1 -eq 0 ] && ! grep -q "^sensor-7 " "$2" && grep -q "^lamp " "$2" && [ "$(head -n 1 "$2")" = "# OSCORE contexts" ]' _ $rc "$O"
printf 'broken line\n' >> "$O"
"$PASSWD" -q -f "$O" oscore add after-broken >/dev/null 2>"$T/o4.err"; rc=$?
check "oscore add keeps an unparsable line and warns with FILE:LINE only" bash -c \
    '[ $1 -eq 0 ] && grep -qx "broken line" "$2" && grep -q "oscore:3: warning: not a valid OSCORE context line" "$3"' _ $rc "$O" "$T/o4.err"
# parallel adds: the lock gives every context its own kid
for i in 1 2 3 4 5; do "$PASSWD" -q -f "$O" oscore add "par$i" >/dev/null 2>&1 & done
wait
check "5 parallel oscore adds: 5 lines, distinct recipient ids" bash -c \
    '[ "$(grep -c "^par[1-5] " "$1")" = 5 ] && [ "$(grep -o "recipient_id=[0-9a-f]*" "$1" | sort | uniq -d | wc -l)" = 0 ]' _ "$O"
"$PASSWD" -f "$T/none" oscore list >/dev/null 2>&1; check "oscore list of a missing file: exit 2" [ $? -eq 2 ]

finish
