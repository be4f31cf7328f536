#!/usr/bin/env bash
# The interactive flows of the built-in OAuth 2.0 authorization server
# ([oauth]) served by the real daemon, driven with curl as a browser (a
# cookie jar) and as an app or a device would:
#  - the authorization code grant with PKCE S256: authorize, the login page
#    and its CSRF token, consent (one scope unchecked), the redirect with
#    code, state and iss, the code exchange; the token reads what its
#    scope allows and gets 403 insufficient_scope elsewhere; a wrong
#    verifier, a reused code (its tokens revoked, as.h), an unregistered
#    redirect_uri, a missing or plain challenge, a missing or wrong CSRF
#    token, a wrong password and a user outside resource_owners refused;
#  - refresh token rotation and reuse detection (wotgw.conf(5): "a refresh
#    token used twice revokes every token of its grant");
#  - the device authorization grant (RFC 8628): authorization_pending,
#    slow_down (+5 s), the verification page, approval, access_denied and
#    expired_token (device_code_lifetime = 1m, the shortest allowed).
# Tokens, codes and passwords are never printed.
source tests/integration/lib.sh "$@"
source tests/integration/gwenv.sh

gw_pki || { fail "test PKI"; finish; }
gw_device || { fail "simulated device starts"; finish; }
ALICE_PW='Alice-Pass-1'
BOB_PW='Bob-Pass-22'
gw_user alice "$ALICE_PW" home >/dev/null
gw_user bob "$BOB_PW" guests >/dev/null # not a resource owner

RURI=https://app.example/cb
gw_oauth_interactive || { fail "the OAuth test setup (clients app and tv, [oauth], the daemon)"; finish; }

# ---- helpers ---------------------------------------------------------------------------------
jqe() { jq -e "$@" >/dev/null 2>&1; }
# br JAR NAME CURL-ARGS...: a browser request with cookie jar JAR; headers in
# $T/NAME.h, body in $T/NAME.html; prints the status
br() {
    local jar=$1 n=$2
    shift 2
    gw_curl --max-time 10 -b "$jar" -c "$jar" -D "$T/$n.h" -o "$T/$n.html" -w '%{http_code}' \
        "$@" 2>>"$T/curl.err"
}
# api NAME CURL-ARGS...: a JSON request; body in $T/NAME.json; prints the status
api() {
    local n=$1
    shift
    gw_curl --max-time 10 -o "$T/$n.json" -w '%{http_code}' "$@" 2>>"$T/curl.err"
}
# hval FILE NAME: the value of the first header NAME in a -D file
hval() {
    tr -d '\r' < "$1" | awk -v n="$2" 'tolower($0) ~ "^" tolower(n) ":" { sub(/^[^:]*:[ \t]*/, ""); print; exit }'
}
# qparam URL NAME: a query parameter of URL (decoded); false when absent
qparam() {
    python3 -c 'import sys, urllib.parse as u
q = u.parse_qs(u.urlsplit(sys.argv[1]).query, keep_blank_values=True)
v = q.get(sys.argv[2])
print(v[0]) if v else sys.exit(1)' "$1" "$2"
}
# form FILE field NAME: value of the input NAME; form FILE action: the form's
# action; form FILE scopes: "INPUTNAME SCOPE" per checkbox of the consent page
cat > "$T/form.py" <<'EOF'
import sys, html.parser
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.inputs, self.forms, self.boxes = [], [], []
        self.box, self.incode = None, False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append(a)
        elif tag == "input":
            self.inputs.append(a)
            if a.get("type") == "checkbox":
                self.box = a.get("name")
        elif tag == "code":
            self.incode = True
    def handle_endtag(self, tag):
        if tag == "code":
            self.incode = False
    def handle_data(self, data):
        if self.incode and self.box:
            self.boxes.append((self.box, data.strip()))
            self.box = None
p = P()
p.feed(open(sys.argv[1], encoding="utf-8").read())
what = sys.argv[2]
if what == "field":
    for a in p.inputs:
        if a.get("name") == sys.argv[3] and a.get("value"):
            print(a["value"]); sys.exit(0)
    sys.exit(1)
if what == "action":
    if len(p.forms) != 1: sys.exit(1)
    print(p.forms[0].get("method", "") + " " + p.forms[0].get("action", ""))
    sys.exit(0)
if what == "scopes":
    for n, s in p.boxes: print(n, s)
    sys.exit(0 if p.boxes else 1)
sys.exit(2)
EOF
form() { python3 "$T/form.py" "$@" 2>/dev/null; }
# the value of our cookie in a jar (for comparisons only, never printed)
jar_cookie() { awk '$6 == "__Host-wotgw_as" { print $7 }' "$1" 2>/dev/null; }
# claims TOKEN: the JWT payload
claims() {
    local p
    p=$(cut -d. -f2 <<<"$1" | tr '_-' '/+')
    while [ $((${#p} % 4)) -ne 0 ]; do p+="="; done
    base64 -d <<<"$p" 2>/dev/null
}
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
new_verifier() { openssl rand 48 | b64url; }
challenge_of() { printf %s "$1" | openssl dgst -sha256 -binary | b64url; }
lamp() { api lamp -H "Authorization: Bearer $1" "$GW_URL/things/lamp/properties/on"; }
lamp_write() {
    gw_curl --max-time 10 -o /dev/null -D "$T/w.h" -w '%{http_code}' -X PUT \
        -H 'Content-Type: application/json' -d true -H "Authorization: Bearer $1" \
        "$GW_URL/things/lamp/properties/on" 2>>"$T/curl.err"
}
# authorize JAR NAME [PARAM=VALUE...]: GET /oauth/authorize with the defaults
# of client app (overridable; "PARAM=" drops one); prints the status
authorize() {
    local jar=$1 n=$2
    shift 2
    declare -A p=([response_type]=code [client_id]=app [redirect_uri]=$RURI
        [scope]="lamp:read lamp:write" [state]=$STATE [code_challenge]=$CHAL
        [code_challenge_method]=S256)
    local kv args=()
    for kv in "$@"; do p[${kv%%=*}]=${kv#*=}; done
    for kv in "${!p[@]}"; do [ -n "${p[$kv]}" ] && args+=(--data-urlencode "$kv=${p[$kv]}"); done
    br "$jar" "$n" -G "${args[@]}" "$GW_URL/oauth/authorize"
}
# code_exchange NAME CODE VERIFIER [REDIRECT_URI]: prints the status, body in $T/NAME.json
code_exchange() {
    api "$1" -d grant_type=authorization_code -d client_id=app --data-urlencode "code=$2" \
        --data-urlencode "code_verifier=$3" --data-urlencode "redirect_uri=${4:-$RURI}" \
        "$GW_URL/oauth/token"
}
refresh() {
    api "$1" -d grant_type=refresh_token -d "client_id=${3:-app}" \
        --data-urlencode "refresh_token=$2" "$GW_URL/oauth/token"
}
DEVICE_GT=urn:ietf:params:oauth:grant-type:device_code
poll() {
    api "$1" -d "grant_type=$DEVICE_GT" -d client_id=tv --data-urlencode "device_code=$2" \
        "$GW_URL/oauth/token"
}
device_auth() { api "$1" -d client_id=tv -d scope=lamp:read "$GW_URL/oauth/device_authorization"; }
# consent_submit JAR NAME DECISION KEEP...: posts the consent page in
# $T/NAME.html with only the scopes KEEP checked; prints the status
consent_submit() {
    local jar=$1 n=$2 decision=$3
    shift 3
    local csrf req args=() box sc k
    csrf=$(form "$T/$n.html" field csrf) || return 1
    req=$(form "$T/$n.html" field req) || return 1
    while read -r box sc; do
        for k in "$@"; do [ "$k" = "$sc" ] && args+=(-d "$box=1"); done
    done < <(form "$T/$n.html" scopes)
    br "$jar" "$n-post" --data-urlencode "csrf=$csrf" --data-urlencode "req=$req" "${args[@]}" \
        -d "decision=$decision" "$GW_URL/oauth/consent"
}

st=$(api meta "$GW_URL/.well-known/oauth-authorization-server")
ISSUER=$(jq -r '.issuer // empty' "$T/meta.json")
check "metadata: the device and code endpoints ($st)" \
    jqe --arg u "$ISSUER" '.authorization_endpoint == $u + "/oauth/authorize" and .device_authorization_endpoint == $u + "/oauth/device_authorization" and (.grant_types_supported | index("urn:ietf:params:oauth:grant-type:device_code") and index("refresh_token") and index("authorization_code"))' "$T/meta.json"

# ---- a device code left to expire (checked at the end) -------------------------------------------
T_EXP=$SECONDS
st=$(device_auth dexp)
check "device authorization for the expiry check: 200 ($st)" [ "$st" = 200 ]
DC_EXP=$(jq -r '.device_code // empty' "$T/dexp.json")
UC_EXP=$(jq -r '.user_code // empty' "$T/dexp.json")

# ==== 1. authorization code + PKCE ===================================================================
J1=$T/jar-alice
: > "$J1"
STATE=st-$RANDOM$RANDOM
VER=$(new_verifier)
CHAL=$(challenge_of "$VER")

st=$(authorize "$J1" auth1)
check "authorize: the login page (200, got $st)" [ "$st" = 200 ]
check "... is HTML" bash -c 'grep -qi "^content-type: text/html" "$1"' _ "$T/auth1.h"
check "... names the application" grep -q 'class="client">app<' "$T/auth1.html"
check "... a POST form to /oauth/login" [ "$(form "$T/auth1.html" action)" = "post /oauth/login" ]
CSRF0=$(form "$T/auth1.html" field csrf)
REQ1=$(form "$T/auth1.html" field req)
check "... with a CSRF token and a request id" [ ${#CSRF0} -ge 32 -a -n "$REQ1" ]
check "... user name and password fields" \
    bash -c 'grep -q "name=\"username\"" "$1" && grep -q "type=\"password\" id=\"password\" name=\"password\"" "$1"' _ "$T/auth1.html"
check "the session cookie: __Host-, Path=/, Secure, HttpOnly, SameSite=Strict" \
    bash -c 'c=$(tr -d "\r" < "$1" | grep -i "^set-cookie: __Host-wotgw_as="); [[ $c == *"Path=/;"* && $c == *Secure* && $c == *HttpOnly* && $c == *SameSite=Strict* ]]' _ "$T/auth1.h"
check "the login page may not be framed" \
    bash -c 'grep -qi "content-security-policy:.*frame-ancestors .none." "$1"' _ "$T/auth1.h"
COOKIE0=$(jar_cookie "$J1")
check "the cookie is in the jar" [ -n "$COOKIE0" ]

# the login form without, with a wrong CSRF token, without the cookie
st=$(br "$J1" nocsrf --data-urlencode "req=$REQ1" -d username=alice \
    --data-urlencode "password=$ALICE_PW" "$GW_URL/oauth/login")
check "login without a CSRF token: 403 ($st)" [ "$st" = 403 ]
check "... 'Invalid form', no redirect, not signed in" \
    bash -c 'grep -q "Invalid form" "$1" && [ -z "$(grep -i "^location:" "$2")" ]' _ "$T/nocsrf.html" "$T/nocsrf.h"
st=$(br "$J1" badcsrf -d "csrf=${CSRF0:0:20}xxxxxxxxxxxxxxxxxxxxxxx" --data-urlencode "req=$REQ1" \
    -d username=alice --data-urlencode "password=$ALICE_PW" "$GW_URL/oauth/login")
check "login with a wrong CSRF token: 403 ($st)" [ "$st" = 403 ]
check "... no redirect" [ -z "$(hval "$T/badcsrf.h" location)" ]
st=$(gw_curl --max-time 10 -o "$T/nocookie.html" -w '%{http_code}' --data-urlencode "csrf=$CSRF0" \
    --data-urlencode "req=$REQ1" -d username=alice --data-urlencode "password=$ALICE_PW" \
    "$GW_URL/oauth/login")
check "login with the right CSRF token but no session cookie: 400 ($st)" [ "$st" = 400 ]
st=$(br "$J1" ctype -H 'Content-Type: text/plain' --data-binary "csrf=$CSRF0" "$GW_URL/oauth/login")
check "a login form not sent as a form: 415 ($st)" [ "$st" = 415 ]

# a wrong password, a user outside resource_owners
st=$(br "$J1" badpw --data-urlencode "csrf=$CSRF0" --data-urlencode "req=$REQ1" -d username=alice \
    -d password=Not-Her-Pass "$GW_URL/oauth/login")
check "a wrong password: the login page again (200, got $st)" [ "$st" = 200 ]
check "... with 'Wrong user name or password', the form again, no redirect" \
    bash -c 'grep -q "Wrong user name or password" "$1" && grep -q "action=\"/oauth/login\"" "$1" && [ -z "$(grep -i "^location:" "$2")" ]' _ "$T/badpw.html" "$T/badpw.h"
check "... and the session is not signed in (same cookie, no code)" \
    bash -c '[ "$1" = "$2" ] && ! grep -q "code=" "$3"' _ "$COOKIE0" "$(jar_cookie "$J1")" "$T/badpw.h"
st=$(br "$J1" bob --data-urlencode "csrf=$CSRF0" --data-urlencode "req=$REQ1" -d username=bob \
    --data-urlencode "password=$BOB_PW" "$GW_URL/oauth/login")
check "a user outside resource_owners (right password): refused, the login page again ($st)" \
    bash -c '[ "$1" = 200 ] && grep -q "Wrong user name or password" "$2" && [ -z "$(grep -i "^location:" "$3")" ]' _ "$st" "$T/bob.html" "$T/bob.h"
st=$(br "$J1" bobconsent "$GW_URL/oauth/consent?req=$REQ1")
check "... the consent page still asks to sign in" \
    bash -c '[ "$1" = 200 ] && grep -q "action=\"/oauth/login\"" "$2" && ! grep -q "action=\"/oauth/consent\"" "$2"' _ "$st" "$T/bobconsent.html"

# the right password
st=$(br "$J1" login --data-urlencode "csrf=$CSRF0" --data-urlencode "req=$REQ1" -d username=alice \
    --data-urlencode "password=$ALICE_PW" "$GW_URL/oauth/login")
LOC=$(hval "$T/login.h" location)
check "login: 303 to the consent page ($st)" \
    bash -c '[ "$1" = 303 ] && [ "$2" = "/oauth/consent?req=$3" ]' _ "$st" "$LOC" "$REQ1"
COOKIE1=$(jar_cookie "$J1")
check "... with a new session cookie (no fixation)" [ -n "$COOKIE1" -a "$COOKIE1" != "$COOKIE0" ]
st=$(br "$J1" consent1 "$GW_URL$LOC")
check "the consent page (200, got $st)" [ "$st" = 200 ]
check "... a POST form to /oauth/consent, names alice and both scopes" \
    bash -c '[ "$(python3 "$1" "$2" action)" = "post /oauth/consent" ] && grep -q "<b>alice</b>" "$2" && [ "$(python3 "$1" "$2" scopes | cut -d" " -f2 | sort | tr "\n" " ")" = "lamp:read lamp:write " ]' _ "$T/form.py" "$T/consent1.html"
CSRF1=$(form "$T/consent1.html" field csrf)
check "... a new CSRF token after login" [ -n "$CSRF1" -a "$CSRF1" != "$CSRF0" ]
# another browser cannot use this request
J2=$T/jar-other
: > "$J2"
st=$(br "$J2" otherconsent "$GW_URL$LOC")
check "the consent page from another browser: 400 ($st)" [ "$st" = 400 ]
# the pre-login CSRF token no longer works
st=$(br "$J1" oldcsrf --data-urlencode "csrf=$CSRF0" --data-urlencode "req=$REQ1" -d s_0=1 -d s_1=1 \
    -d decision=approve "$GW_URL/oauth/consent")
check "consent with the pre-login CSRF token: 403 ($st)" [ "$st" = 403 ]
check "... no redirect to the app" [ -z "$(hval "$T/oldcsrf.h" location)" ]
st=$(br "$J1" consentnocsrf --data-urlencode "req=$REQ1" -d s_0=1 -d decision=approve \
    "$GW_URL/oauth/consent")
check "consent without a CSRF token: 403 ($st)" [ "$st" = 403 ]

# allow lamp:read only
st=$(consent_submit "$J1" consent1 approve lamp:read)
LOC=$(hval "$T/consent1-post.h" location)
check "consent (lamp:read checked, lamp:write not): 303 to the redirect URI ($st)" \
    bash -c '[ "$1" = 303 ] && [[ $2 == "$3?"* ]]' _ "$st" "$LOC" "$RURI"
CODE1=$(qparam "$LOC" code)
check "... with a code" [ ${#CODE1} -ge 32 ]
check "... the same state" [ "$(qparam "$LOC" state)" = "$STATE" ]
check "... iss (RFC 9207): the issuer of the metadata" [ -n "$ISSUER" -a "$(qparam "$LOC" iss)" = "$ISSUER" ]
check "... and no error" bash -c '! python3 -c "import sys,urllib.parse as u; sys.exit(\"error\" not in u.parse_qs(u.urlsplit(sys.argv[1]).query))" "$1"' _ "$LOC"

st=$(code_exchange tok1 "$CODE1" "$VER")
check "code exchange with the verifier: 200 ($st)" [ "$st" = 200 ]
check "... access and refresh token, Bearer, scope lamp:read" \
    jqe '(.access_token | length > 20) and (.refresh_token | length > 20) and (.token_type == "Bearer") and (.expires_in > 0) and (.scope == "lamp:read")' "$T/tok1.json"
AT1=$(jq -r '.access_token // empty' "$T/tok1.json")
RT1=$(jq -r '.refresh_token // empty' "$T/tok1.json")
check "... the JWT: sub alice, client_id app, scope lamp:read" \
    bash -c 'jq -e ".sub == \"alice\" and .client_id == \"app\" and .scope == \"lamp:read\"" >/dev/null <<<"$1"' _ "$(claims "$AT1")"
st=$(lamp "$AT1")
check "the code token reads lamp/on: 200 ($st)" [ "$st" = 200 ]
check "... the device's answer" jqe 'type == "boolean"' "$T/lamp.json"
st=$(lamp_write "$AT1")
check "the code token may not write (lamp:write unchecked): 403 ($st)" [ "$st" = 403 ]
check "... WWW-Authenticate error=\"insufficient_scope\"" \
    bash -c 'grep -i "^www-authenticate:" "$1" | grep -q "error=\"insufficient_scope\""' _ "$T/w.h"
check "the token's principal is local:alice in the log" grep -q 'local:alice' "$GW_LOG"

# the same code again: invalid_grant, and what it gave is revoked (as.h,
# grants.c: RFC 6749 §4.1.2)
st=$(code_exchange reuse "$CODE1" "$VER")
check "the code used twice: 400 invalid_grant ($st)" \
    bash -c '[ "$1" = 400 ] && jq -e ".error == \"invalid_grant\"" "$2" >/dev/null' _ "$st" "$T/reuse.json"
check "... no token in the answer" jqe 'has("access_token") | not' "$T/reuse.json"
st=$(lamp "$AT1")
check "... the access token it gave is refused: 401 ($st)" [ "$st" = 401 ]
st=$(refresh rt1 "$RT1")
check "... its refresh token too: invalid_grant ($st)" \
    bash -c '[ "$1" = 400 ] && jq -e ".error == \"invalid_grant\"" "$2" >/dev/null' _ "$st" "$T/rt1.json"

# new_code NAME CHALLENGE: a code for the signed-in alice (consent on
# both scopes); sets CODE
new_code() {
    CODE=
    local st loc
    st=$(authorize "$J1" "$1" code_challenge="$2")
    [ "$st" = 200 ] && grep -q 'action="/oauth/consent"' "$T/$1.html" || return 1
    st=$(consent_submit "$J1" "$1" approve lamp:read lamp:write)
    loc=$(hval "$T/$1-post.h" location)
    [ "$st" = 303 ] && [ "$(qparam "$loc" state)" = "$STATE" ] || return 1
    CODE=$(qparam "$loc" code)
}
# a signed-in browser gets the consent page at once
check "signed in: authorize answers with the consent page" new_code code2 "$CHAL"
CODE2=$CODE
st=$(code_exchange wrongver "$CODE2" "$(new_verifier)")
check "a wrong code_verifier: 400 invalid_grant ($st)" \
    bash -c '[ "$1" = 400 ] && jq -e ".error == \"invalid_grant\" and (has(\"access_token\") | not)" "$2" >/dev/null' _ "$st" "$T/wrongver.json"
st=$(code_exchange afterwrong "$CODE2" "$VER")
check "... the code is spent: the right verifier afterwards gets invalid_grant ($st)" \
    bash -c '[ "$1" = 400 ] && jq -e ".error == \"invalid_grant\"" "$2" >/dev/null' _ "$st" "$T/afterwrong.json"
check "a code with the redirect URI the app sent" new_code code3 "$CHAL"
st=$(code_exchange otherruri "$CODE" "$VER" "https://app.example/other")
check "a code exchanged with another redirect_uri: invalid_grant ($st)" \
    bash -c '[ "$1" = 400 ] && jq -e ".error == \"invalid_grant\"" "$2" >/dev/null' _ "$st" "$T/otherruri.json"
check "a code for the app, to be presented by another client" new_code code3b "$CHAL"
st=$(api stolen -d grant_type=authorization_code -d client_id=tv --data-urlencode "code=$CODE" \
    --data-urlencode "code_verifier=$VER" --data-urlencode "redirect_uri=$RURI" "$GW_URL/oauth/token")
check "token substitution: the app's code and verifier presented by client tv: refused, no token ($st)" \
    bash -c '[ "$1" = 400 ] && jq -e "(.error == \"invalid_grant\" or .error == \"unauthorized_client\") and (has(\"access_token\") | not)" "$2" >/dev/null' _ "$st" "$T/stolen.json"
check "a code for the app" new_code code4 "$CHAL"
st=$(code_exchange nover "$CODE" "")
check "a code exchange without code_verifier: 400 ($st)" \
    bash -c '[ "$1" = 400 ] && jq -e ".error == \"invalid_request\" or .error == \"invalid_grant\"" "$2" >/dev/null' _ "$st" "$T/nover.json"

# the resource owner says no
st=$(authorize "$J1" deny1)
st=$(consent_submit "$J1" deny1 deny lamp:read lamp:write)
LOC=$(hval "$T/deny1-post.h" location)
check "consent denied: 303 to the app with error=access_denied and the state ($st)" \
    bash -c '[ "$1" = 303 ] && [ "$(python3 -c "import sys,urllib.parse as u; q=u.parse_qs(u.urlsplit(sys.argv[1]).query); print(q.get(\"error\",[\"\"])[0], q.get(\"state\",[\"\"])[0], \"code\" in q)" "$2")" = "access_denied $3 False" ]' _ "$st" "$LOC" "$STATE"

# requests that must not reach the login page
st=$(authorize "$J2" badruri redirect_uri=https://evil.example/cb)
check "an unregistered redirect_uri: 400 error page ($st)" [ "$st" = 400 ]
check "... never redirected, no form" \
    bash -c '[ -z "$(grep -i "^location:" "$1")" ] && grep -qi "redirect" "$2" && ! grep -q "<form" "$2"' _ "$T/badruri.h" "$T/badruri.html"
st=$(authorize "$J2" noruri redirect_uri=)
check "no redirect_uri: 400, no redirect ($st)" \
    bash -c '[ "$1" = 400 ] && [ -z "$(grep -i "^location:" "$2")" ]' _ "$st" "$T/noruri.h"
st=$(authorize "$J2" badclient client_id=nosuch)
check "an unknown client_id: 400, no redirect ($st)" \
    bash -c '[ "$1" = 400 ] && [ -z "$(grep -i "^location:" "$2")" ]' _ "$st" "$T/badclient.h"
# refused_redirect NAME: 303 to the app with error=invalid_request, state, no code, no login form
refused_redirect() {
    local loc
    loc=$(hval "$T/$2.h" location)
    [ "$1" = 303 ] && [[ $loc == "$RURI?"* ]] && [ "$(qparam "$loc" error)" = invalid_request ] &&
        [ "$(qparam "$loc" state)" = "$STATE" ] && ! qparam "$loc" code >/dev/null &&
        ! grep -q '<form' "$T/$2.html"
}
st=$(authorize "$J2" nochal code_challenge= code_challenge_method=)
check "no code_challenge: refused (error=invalid_request at the app, $st)" refused_redirect "$st" nochal
st=$(authorize "$J2" nochal2 code_challenge=)
check "S256 without code_challenge: refused ($st)" refused_redirect "$st" nochal2
st=$(authorize "$J2" plain code_challenge="$VER" code_challenge_method=plain)
check "code_challenge_method=plain: refused ($st)" refused_redirect "$st" plain
check "... saying plain is refused" \
    bash -c 'python3 -c "import sys,urllib.parse as u; print(u.parse_qs(u.urlsplit(sys.argv[1]).query)[\"error_description\"][0])" "$1" | grep -qi plain' _ "$(hval "$T/plain.h" location)"
st=$(authorize "$J2" nomethod code_challenge_method=)
check "a challenge without code_challenge_method (plain by default): refused ($st)" refused_redirect "$st" nomethod
st=$(authorize "$J2" implicit response_type=token)
check "response_type=token: unsupported_response_type at the app ($st)" \
    bash -c '[ "$1" = 303 ] && [[ $2 == *error=unsupported_response_type* ]]' _ "$st" "$(hval "$T/implicit.h" location)"
st=$(authorize "$J2" badscope "scope=lamp:read lamp:admin")
check "an unknown scope: invalid_scope at the app ($st)" \
    bash -c '[ "$1" = 303 ] && [ "$(python3 -c "import sys,urllib.parse as u; print(u.parse_qs(u.urlsplit(sys.argv[1]).query)[\"error\"][0])" "$2")" = invalid_scope ]' _ "$st" "$(hval "$T/badscope.h" location)"
st=$(api pubsecret -d grant_type=authorization_code -d client_id=app -d client_secret=x -d code=x \
    -d "code_verifier=$VER" --data-urlencode "redirect_uri=$RURI" "$GW_URL/oauth/token")
check "a public client with a client_secret: 401 invalid_client ($st)" \
    bash -c '[ "$1" = 401 ] && jq -e ".error == \"invalid_client\"" "$2" >/dev/null' _ "$st" "$T/pubsecret.json"

# ==== 2. refresh token rotation ======================================================================
check "a code for the refresh test" new_code code5 "$CHAL"
st=$(code_exchange tok5 "$CODE" "$VER")
AT5=$(jq -r '.access_token // empty' "$T/tok5.json")
RT5=$(jq -r '.refresh_token // empty' "$T/tok5.json")
check "code exchange (both scopes): 200 with a refresh token ($st)" \
    bash -c '[ "$1" = 200 ] && jq -e ".scope == \"lamp:read lamp:write\" and (.refresh_token | length > 20)" "$2" >/dev/null' _ "$st" "$T/tok5.json"
st=$(lamp_write "$AT5")
check "... this token may write: 2xx ($st)" bash -c '[[ $1 == 2?? ]]' _ "$st"
st=$(refresh ref1 "$RT5")
AT6=$(jq -r '.access_token // empty' "$T/ref1.json")
RT6=$(jq -r '.refresh_token // empty' "$T/ref1.json")
check "refresh: 200, a new access token ($st)" \
    bash -c '[ "$1" = 200 ] && [ -n "$2" ] && [ "$2" != "$3" ]' _ "$st" "$AT6" "$AT5"
check "... and a NEW refresh token (rotation)" [ -n "$RT6" -a "$RT6" != "$RT5" ]
check "... the same scope and subject" \
    bash -c 'jq -e ".scope == \"lamp:read lamp:write\"" "$1" >/dev/null && jq -e ".sub == \"alice\" and .client_id == \"app\"" >/dev/null <<<"$2"' _ "$T/ref1.json" "$(claims "$AT6")"
st=$(lamp "$AT6")
check "the refreshed token reads: 200 ($st)" [ "$st" = 200 ]
# a narrower scope on refresh (RFC 6749 §6) also rotates
st=$(api ref2 -d grant_type=refresh_token -d client_id=app -d scope=lamp:read \
    --data-urlencode "refresh_token=$RT6" "$GW_URL/oauth/token")
check "refresh with a narrower scope: 200, scope lamp:read ($st)" \
    bash -c '[ "$1" = 200 ] && jq -e ".scope == \"lamp:read\"" "$2" >/dev/null' _ "$st" "$T/ref2.json"
RT7=$(jq -r '.refresh_token // empty' "$T/ref2.json")
AT7=$(jq -r '.access_token // empty' "$T/ref2.json")
# RFC 6749 §6: not beyond what the owner granted (lamp:read lamp:write)
st=$(api ref3 -d grant_type=refresh_token -d client_id=app -d 'scope=lamp:read lamp:invoke' \
    --data-urlencode "refresh_token=$RT7" "$GW_URL/oauth/token")
check "refresh asking for a scope beyond the grant: invalid_scope ($st)" \
    bash -c '[ "$1" = 400 ] && jq -e ".error == \"invalid_scope\" and (has(\"access_token\") | not)" "$2" >/dev/null' _ "$st" "$T/ref3.json"
st=$(refresh ref4 "$RT7")
RT8=$(jq -r '.refresh_token // empty' "$T/ref4.json")
AT8=$(jq -r '.access_token // empty' "$T/ref4.json")
check "the current refresh token still works: 200 ($st)" [ "$st" = 200 -a -n "$RT8" ]
st=$(lamp "$AT8")
check "... its access token reads: 200 ($st)" [ "$st" = 200 ]
# reuse of a rotated-out token
st=$(refresh reuse5 "$RT5")
check "the old refresh token again: 400 invalid_grant ($st)" \
    bash -c '[ "$1" = 400 ] && jq -e ".error == \"invalid_grant\" and (has(\"access_token\") | not)" "$2" >/dev/null' _ "$st" "$T/reuse5.json"
st=$(refresh after "$RT8")
check "... revokes the family: the newest refresh token is refused (invalid_grant, $st)" \
    bash -c '[ "$1" = 400 ] && jq -e ".error == \"invalid_grant\"" "$2" >/dev/null' _ "$st" "$T/after.json"
st=$(lamp "$AT8")
check "... and the newest access token: 401 ($st)" [ "$st" = 401 ]
# wotgw.conf(5): "a refresh token used twice revokes every token of its grant"
n=0
for tk in "$AT5" "$AT6" "$AT7"; do
    n=$((n + 1))
    st=$(lamp "$tk")
    check "... every token of the grant (wotgw.conf(5)): earlier access token $n of 3 refused: 401 ($st)" [ "$st" = 401 ]
done
check "reuse is logged as a warning" grep -q 'used twice.*revoked' "$GW_LOG"

# ==== 3. device authorization grant (RFC 8628) =========================================================
st=$(device_auth d1)
check "device_authorization: 200 ($st)" [ "$st" = 200 ]
check "... device_code, user_code XXXX-XXXX, verification_uri, expires_in 60, interval 2" \
    jqe --arg u "$GW_URL/oauth/device" '(.device_code | length >= 32) and (.user_code | test("^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$")) and .verification_uri == $u and (.verification_uri_complete == $u + "?user_code=" + .user_code) and .expires_in == 60 and .interval == 2' "$T/d1.json"
DC1=$(jq -r '.device_code // empty' "$T/d1.json")
UC1=$(jq -r '.user_code // empty' "$T/d1.json")
VURI=$(jq -r '.verification_uri // empty' "$T/d1.json")
st=$(api dbad -d client_id=app "$GW_URL/oauth/device_authorization")
check "device_authorization by a client without the device grant: unauthorized_client ($st)" \
    bash -c '[ "$1" = 400 ] && jq -e ".error == \"unauthorized_client\"" "$2" >/dev/null' _ "$st" "$T/dbad.json"
st=$(poll p1 "$DC1")
check "polling before approval: 400 authorization_pending ($st)" \
    bash -c '[ "$1" = 400 ] && jq -e ".error == \"authorization_pending\"" "$2" >/dev/null' _ "$st" "$T/p1.json"
T_POLL1=$SECONDS
# another code for sure: its first character changed (a code may start with x)
[ "${DC1:0:1}" = x ] && WRONG_DC="y${DC1:1}" || WRONG_DC="x${DC1:1}"
st=$(poll pwrong "$WRONG_DC")
check "an unknown device_code: invalid_grant ($st)" \
    bash -c '[ "$1" = 400 ] && jq -e ".error == \"invalid_grant\"" "$2" >/dev/null' _ "$st" "$T/pwrong.json"

# slow_down, on a code of its own (the interval grows by 5 s)
st=$(device_auth d2)
DC2=$(jq -r '.device_code // empty' "$T/d2.json")
st=$(poll s1 "$DC2")
check "slow_down: the first poll is pending ($st)" \
    jqe '.error == "authorization_pending"' "$T/s1.json"
st=$(poll s2 "$DC2")
check "polling again at once: 400 slow_down, interval 7 ($st)" \
    bash -c '[ "$1" = 400 ] && jq -e ".error == \"slow_down\" and .interval == 7" "$2" >/dev/null' _ "$st" "$T/s2.json"

# the person: a fresh browser at the verification URI
J3=$T/jar-device
: > "$J3"
st=$(br "$J3" v1 "$VURI")
check "the verification URI: the sign-in page for a device (200, got $st)" \
    bash -c '[ "$1" = 200 ] && [ "$(python3 "$2" "$3" action)" = "post /oauth/login" ] && [ "$(python3 "$2" "$3" field flow)" = device ]' _ "$st" "$T/form.py" "$T/v1.html"
CSRFD=$(form "$T/v1.html" field csrf)
st=$(br "$J3" vbadpw --data-urlencode "csrf=$CSRFD" -d flow=device -d username=alice -d password=nope-nope \
    "$GW_URL/oauth/login")
check "... a wrong password: the page again, no redirect ($st)" \
    bash -c '[ "$1" = 200 ] && grep -q "Wrong user name or password" "$2" && [ -z "$(grep -i "^location:" "$3")" ]' _ "$st" "$T/vbadpw.html" "$T/vbadpw.h"
st=$(br "$J3" vlogin --data-urlencode "csrf=$CSRFD" -d flow=device -d username=alice \
    --data-urlencode "password=$ALICE_PW" "$GW_URL/oauth/login")
LOC=$(hval "$T/vlogin.h" location)
check "... sign in: 303 to /oauth/device ($st)" [ "$st" = 303 -a "$LOC" = /oauth/device ]
st=$(br "$J3" ventry "$GW_URL$LOC")
check "the code entry page (200, got $st)" \
    bash -c '[ "$1" = 200 ] && [ "$(python3 "$2" "$3" action)" = "post /oauth/device" ] && grep -q "name=\"user_code\"" "$3"' _ "$st" "$T/form.py" "$T/ventry.html"
CSRFE=$(form "$T/ventry.html" field csrf)
st=$(br "$J3" vnocsrf --data-urlencode "user_code=$UC1" "$GW_URL/oauth/device")
check "entering the code without the CSRF token: 403 ($st)" [ "$st" = 403 ]
st=$(br "$J3" vwrong --data-urlencode "csrf=$CSRFE" -d user_code=BCDF-BCDF "$GW_URL/oauth/device")
check "a wrong user code: 400, 'Unknown or expired code' ($st)" \
    bash -c '[ "$1" = 400 ] && grep -q "Unknown or expired code" "$2"' _ "$st" "$T/vwrong.html"
st=$(br "$J3" vcode --data-urlencode "csrf=$CSRFE" --data-urlencode "user_code=$(tr '[:upper:]' '[:lower:]' <<<"$UC1")" \
    "$GW_URL/oauth/device")
LOC=$(hval "$T/vcode.h" location)
check "the user code (lower case): 303 to the consent page ($st)" \
    bash -c '[ "$1" = 303 ] && [[ $2 == "/oauth/consent?req="* ]]' _ "$st" "$LOC"
st=$(br "$J3" dcons "$GW_URL$LOC")
check "the device consent page shows the code and the scope ($st)" \
    bash -c '[ "$1" = 200 ] && grep -q "class=\"code\">$2<" "$3" && [ "$(python3 "$4" "$3" scopes | cut -d" " -f2)" = lamp:read ] && grep -q "(a device)" "$3"' _ "$st" "$UC1" "$T/dcons.html" "$T/form.py"
st=$(consent_submit "$J3" dcons approve lamp:read)
check "approve: 'Device connected' (200, got $st)" \
    bash -c '[ "$1" = 200 ] && grep -q "Device connected" "$2"' _ "$st" "$T/dcons-post.html"
# respect the interval (2 s) since the last poll
while [ $((SECONDS - T_POLL1)) -lt 3 ]; do sleep 0.2; done
st=$(poll p2 "$DC1")
check "polling after approval: 200 with tokens ($st)" \
    bash -c '[ "$1" = 200 ] && jq -e "(.access_token | length > 20) and (.refresh_token | length > 20) and .token_type == \"Bearer\" and .scope == \"lamp:read\"" "$2" >/dev/null' _ "$st" "$T/p2.json"
ATD=$(jq -r '.access_token // empty' "$T/p2.json")
RTD=$(jq -r '.refresh_token // empty' "$T/p2.json")
check "... the JWT: sub alice, client_id tv" \
    bash -c 'jq -e ".sub == \"alice\" and .client_id == \"tv\" and .scope == \"lamp:read\"" >/dev/null <<<"$1"' _ "$(claims "$ATD")"
st=$(lamp "$ATD")
check "the device token reads lamp/on: 200 ($st)" [ "$st" = 200 ]
st=$(lamp_write "$ATD")
check "... and may not write: 403 insufficient_scope ($st)" \
    bash -c '[ "$1" = 403 ] && grep -i "^www-authenticate:" "$2" | grep -q insufficient_scope' _ "$st" "$T/w.h"
st=$(poll p3 "$DC1")
check "the device code once more: invalid_grant ($st)" \
    bash -c '[ "$1" = 400 ] && jq -e ".error == \"invalid_grant\" and (has(\"access_token\") | not)" "$2" >/dev/null' _ "$st" "$T/p3.json"
st=$(refresh drt "$RTD" tv)
check "the device refreshes its token: 200, a new refresh token ($st)" \
    bash -c '[ "$1" = 200 ] && [ "$(jq -r .refresh_token "$2")" != "$3" ]' _ "$st" "$T/drt.json" "$RTD"
RTD2=$(jq -r '.refresh_token // empty' "$T/drt.json")
st=$(refresh othercl "$RTD2" app)
check "another client presenting the device's refresh token: invalid_grant ($st)" \
    bash -c '[ "$1" = 400 ] && jq -e ".error == \"invalid_grant\" and (has(\"access_token\") | not)" "$2" >/dev/null' _ "$st" "$T/othercl.json"
st=$(br "$J3" vused --data-urlencode "csrf=$CSRFE" --data-urlencode "user_code=$UC1" "$GW_URL/oauth/device")
check "the used user code cannot be entered again: 400 ($st)" [ "$st" = 400 ]

# denied, through verification_uri_complete in the signed-in browser
st=$(device_auth d3)
DC3=$(jq -r '.device_code // empty' "$T/d3.json")
UC3=$(jq -r '.user_code // empty' "$T/d3.json")
st=$(br "$J3" vc "$(jq -r '.verification_uri_complete // empty' "$T/d3.json")")
check "verification_uri_complete: the entry page with the code filled in ($st)" \
    bash -c '[ "$1" = 200 ] && [ "$(python3 "$2" "$3" field user_code)" = "$4" ]' _ "$st" "$T/form.py" "$T/vc.html" "$UC3"
st=$(br "$J3" vc2 --data-urlencode "csrf=$(form "$T/vc.html" field csrf)" \
    --data-urlencode "user_code=$UC3" "$GW_URL/oauth/device")
LOC=$(hval "$T/vc2.h" location)
st=$(br "$J3" dcons3 "$GW_URL$LOC")
st=$(consent_submit "$J3" dcons3 deny lamp:read)
check "deny: 'Request denied' (200, got $st)" \
    bash -c '[ "$1" = 200 ] && grep -q "Request denied" "$2"' _ "$st" "$T/dcons3-post.html"
st=$(poll p4 "$DC3")
check "polling a denied request: 400 access_denied ($st)" \
    bash -c '[ "$1" = 400 ] && jq -e ".error == \"access_denied\" and (has(\"access_token\") | not)" "$2" >/dev/null' _ "$st" "$T/p4.json"

# expired (device_code_lifetime = 1m): wait, bounded, for the first code
while [ $((SECONDS - T_EXP)) -lt 62 ]; do sleep 1; done
st=$(poll pexp "$DC_EXP")
check "polling an expired device code: 400 expired_token ($st)" \
    bash -c '[ "$1" = 400 ] && jq -e ".error == \"expired_token\"" "$2" >/dev/null' _ "$st" "$T/pexp.json"
st=$(br "$J3" vexp --data-urlencode "csrf=$CSRFE" --data-urlencode "user_code=$UC_EXP" "$GW_URL/oauth/device")
check "... its user code is refused on the page: 400 ($st)" \
    bash -c '[ "$1" = 400 ] && grep -q "Unknown or expired code" "$2"' _ "$st" "$T/vexp.html"

# ---- the end ---------------------------------------------------------------------------------------------
check "daemon still up" [ "$(gw_status "$GW_URL/oauth/jwks")" = 200 ]
check "no password, code or token in the daemon log" \
    bash -c 'for s in "${@:2}"; do [ -z "$s" ] || ! grep -qF -- "$s" "$1" || exit 1; done' _ "$GW_LOG" \
    "$ALICE_PW" "$BOB_PW" "$CODE1" "$AT1" "$RT1" "$RT5" "$RT8" "$ATD" "$RTD" "$DC1" "$CSRF0"
gw_stop
check "SIGTERM: exit 0 (no leak under ASan)" [ "$?" = 0 ]
finish
