#!/usr/bin/env bash
# The built-in OAuth 2.0 authorization server ([oauth]) served by the real
# daemon on its HTTPS listener, driven with curl: metadata and keys, the
# client-credentials grant end to end (the token then reads what its scope
# allows and is refused where it does not), a wrong secret, the implicit
# and password grants refused, revocation (the resource side refuses the
# revoked token at once), malformed and oversized requests, and the
# server off again after a reload without [oauth].
source tests/integration/lib.sh "$@"
source tests/integration/gwenv.sh

gw_pki || { fail "test PKI"; finish; }
gw_device || { fail "simulated device starts"; finish; }
gw_user alice 'Alice-Pass-1' home >/dev/null

# an OAuth client for a machine (client credentials) and one that may only read
sec=$("$PASSWD" -q -f "$T/clients" client-add heating --confidential --grants client_credentials \
    --scopes 'lamp:read,lamp:write')
check "client-add prints a client secret once" bash -c '[[ $1 == wgs_* ]]' _ "$sec"
ro=$("$PASSWD" -q -f "$T/clients" client-add reader --confidential --grants client_credentials \
    --scopes 'lamp:read')

conf() {
    gw_conf
    if [ "${1:-on}" = on ]; then
        printf '[oauth]\nenabled = yes\nclients = clients\nresource_owners = group:home\naccess_token_lifetime = 5m\n\n'
    fi
    printf '[thing lamp]\ntd = lamp.td.json\nsecurity = %s\n' "${SEC:-oauth2:local}"
}
conf on > "$T/wotgw.conf"
gw_start "$T/wotgw.conf" || { fail "daemon starts"; cat "$GW_LOG"; finish; }

c() { gw_curl -s "$@"; }
jqe() { jq -e "$@" >/dev/null; }
code() { gw_curl -s -o /dev/null -w '%{http_code}' "$@"; }

# ---- metadata and keys -----------------------------------------------------------------
c "$GW_URL/.well-known/oauth-authorization-server" > "$T/meta.json"
check "RFC 8414 metadata: issuer, token endpoint, S256 only" \
    jqe --arg u "$GW_URL" '(.issuer | startswith($u)) and (.token_endpoint | endswith("/oauth/token")) and (.code_challenge_methods_supported == ["S256"])' "$T/meta.json"
check "metadata: no implicit or password grant offered" \
    jqe '(.grant_types_supported | index("password") | not) and (.response_types_supported | index("token") | not)' "$T/meta.json"
c -D "$T/jwks.h" "$GW_URL/oauth/jwks" > "$T/jwks.json"
check "JWKS: at least one public key, no private part" \
    jqe '(.keys | length >= 1) and ([.keys[] | has("d")] | any | not)' "$T/jwks.json"
check "the server's responses carry frame-ancestors 'none' and no-store" \
    bash -c 'grep -qi "content-security-policy:.*frame-ancestors .none." "$1" && grep -qi "cache-control: no-store" "$1"' _ "$T/jwks.h"

# ---- client credentials ------------------------------------------------------------------
tok() { c -u "$1:$2" -d grant_type=client_credentials ${3:+-d "scope=$3"} "$GW_URL/oauth/token"; }
tok heating "$sec" "lamp:read" > "$T/tok.json"
check "client_credentials: an access token (Bearer, expires_in)" \
    jqe '(.access_token | length > 20) and (.token_type | ascii_downcase == "bearer") and (.expires_in > 0)' "$T/tok.json"
AT=$(jq -r .access_token "$T/tok.json")
check "the token is a JWT of this issuer with scope lamp:read" \
    bash -c 'p=$(cut -d. -f2 <<<"$1" | tr "_-" "/+"); while [ $(( ${#p} % 4 )) -ne 0 ]; do p+="="; done; base64 -d <<<"$p" | jq -e ".scope == \"lamp:read\" and .client_id == \"heating\"" >/dev/null' _ "$AT"
check "the token reads lamp/on (scope lamp:read): 200" \
    [ "$(code -H "Authorization: Bearer $AT" "$GW_URL/things/lamp/properties/on")" = 200 ]
st=$(code -X PUT -H 'Content-Type: application/json' -d true -H "Authorization: Bearer $AT" \
    "$GW_URL/things/lamp/properties/on")
check "the same token may not write (no lamp:write): 403 ($st)" [ "$st" = 403 ]
gw_curl -s -D "$T/h403" -o /dev/null -X PUT -H 'Content-Type: application/json' -d true \
    -H "Authorization: Bearer $AT" "$GW_URL/things/lamp/properties/on"
check "... with error=\"insufficient_scope\"" grep -qi 'insufficient_scope' "$T/h403"
c -u "reader:$ro" -d grant_type=client_credentials -d scope=lamp:write "$GW_URL/oauth/token" > "$T/scope.json"
check "a client asking for more than it may: invalid_scope" jqe '.error == "invalid_scope"' "$T/scope.json"
st=$(code -u "heating:wgs_wrong" -d grant_type=client_credentials "$GW_URL/oauth/token")
check "a wrong client secret: 401 ($st)" [ "$st" = 401 ]
c -u "heating:wgs_wrong" -d grant_type=client_credentials "$GW_URL/oauth/token" > "$T/badsec.json"
check "... answered invalid_client" jqe '.error == "invalid_client"' "$T/badsec.json"
c -u "heating:$sec" -d grant_type=password -d username=alice -d password=Alice-Pass-1 "$GW_URL/oauth/token" > "$T/pw.json"
check "the password grant: unsupported_grant_type" jqe '.error == "unsupported_grant_type"' "$T/pw.json"
gw_curl -s -D "$T/impl.h" -o /dev/null "$GW_URL/oauth/authorize?response_type=token&client_id=heating&redirect_uri=https%3A%2F%2Fevil.example%2F"
check "the implicit flow is refused and never redirected to an unregistered URI" \
    bash -c '! grep -qi "^location:.*evil.example" "$1" && head -1 "$1" | grep -q " 400 "' _ "$T/impl.h"

# ---- revocation --------------------------------------------------------------------------
tok heating "$sec" "lamp:read" > "$T/tok2.json"
AT2=$(jq -r .access_token "$T/tok2.json")
check "a second token reads: 200" [ "$(code -H "Authorization: Bearer $AT2" "$GW_URL/things/lamp/properties/on")" = 200 ]
st=$(code -u "heating:$sec" -d "token=$AT2" "$GW_URL/oauth/revoke")
check "RFC 7009 revoke: 200 ($st)" [ "$st" = 200 ]
st=$(code -H "Authorization: Bearer $AT2" "$GW_URL/things/lamp/properties/on")
check "the revoked token is refused at once: 401 ($st)" [ "$st" = 401 ]
check "the first token still reads: 200" [ "$(code -H "Authorization: Bearer $AT" "$GW_URL/things/lamp/properties/on")" = 200 ]
c -u "heating:$sec" -d "token=$AT2" "$GW_URL/oauth/introspect" > "$T/intro.json"
check "introspection of the revoked token: active false" jqe '.active == false' "$T/intro.json"
c -u "heating:$sec" -d "token=$AT" "$GW_URL/oauth/introspect" > "$T/intro1.json"
check "introspection of the live token: active, scope lamp:read" jqe '.active == true and .scope == "lamp:read"' "$T/intro1.json"

# ---- bad input -----------------------------------------------------------------------------
head -c 20000 /dev/zero | tr '\0' a > "$T/big"
st=$(code -u "heating:$sec" --data-binary @"$T/big" "$GW_URL/oauth/token")
check "a 20 KB token request: 413 ($st)" [ "$st" = 413 ]
st=$(code -u "heating:$sec" -d 'grant_type=client_credentials&scope=%zz' "$GW_URL/oauth/token")
check "malformed percent-encoding in the form: 400 ($st)" [ "$st" = 400 ]
st=$(code -X PUT "$GW_URL/oauth/token")
check "PUT on the token endpoint: a 4xx, not 500 ($st)" bash -c '[[ $1 == 4?? ]]' _ "$st"
st=$(code "$GW_URL/oauth/nosuch")
check "an unknown /oauth/ path: 404 ($st)" [ "$st" = 404 ]
check "daemon still up after all of it" [ "$(code "$GW_URL/oauth/jwks")" = 200 ]
check "no client secret or token in the daemon log" \
    bash -c '! grep -qF "$2" "$1" && ! grep -qF "$3" "$1"' _ "$GW_LOG" "$sec" "$AT"

# ---- reload without [oauth]: the server is gone -----------------------------------------------
SEC=basic conf off > "$T/wotgw.conf"
kill -HUP "$GW_PID"
wait_for 10 grep -q 'reloaded' "$GW_LOG"
sleep 0.3
st=$(code "$GW_URL/.well-known/oauth-authorization-server")
check "after a reload without [oauth]: the metadata is gone (404, got $st)" [ "$st" = 404 ]
gw_stop
check "SIGTERM: exit 0 (no leak under ASan)" [ "$?" = 0 ]
finish
