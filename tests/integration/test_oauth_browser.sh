#!/usr/bin/env bash
# The login, consent and device pages of the built-in OAuth 2.0
# authorization server ([oauth]) in a real headless browser: Debian's
# Chromium driven by playwright-core (tests/node/oauth-browser/, version
# pinned in its package-lock.json; no browser is downloaded). The script
# tests/node/oauth-browser/flows.mjs runs
#  1. the authorization code grant with PKCE S256: login page, consent page
#     (client name and scopes), lamp:write unchecked, the redirect to the
#     app's redirect URI (a tiny HTTP server of the script on 127.0.0.1)
#     with code, state and iss,
#     the code exchange with fetch, lamp/on read (200) and written (403);
#  2. the device authorization grant: verification_uri opened, login, the
#     user code typed in, "Device connected", then polling and a read;
#  3. a failed login: the error on the page;
#  4. the pages at a 390x844 phone viewport: no horizontal overflow.
# Certificates: Chromium trusts only the test server's key, given as
# --ignore-certificate-errors-spki-list=<base64 SHA-256 of its SPKI> (no
# blanket ignoreHTTPSErrors); Node's fetch trusts the test CA through
# NODE_EXTRA_CA_CERTS. Screenshots (PNG) go to $WOTGW_SCREENSHOTS, else to
# build/oauth-screenshots/. Skipped only when /usr/bin/chromium is missing.
source tests/integration/lib.sh "$@"
source tests/integration/gwenv.sh

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
    ok "# SKIP $CHROMIUM is missing (make deps installs Debian's chromium)"
    finish
fi
OB=$ROOT/tests/node/oauth-browser
if [ ! -d "$OB/node_modules/playwright-core" ]; then
    npm --prefix "$OB" ci --no-audit --no-fund --loglevel=error >"$T/npm.log" 2>&1 ||
        { cat "$T/npm.log"; fail "npm ci in tests/node/oauth-browser (make deps)"; finish; }
fi
SHOTS=${WOTGW_SCREENSHOTS:-$ROOT/build/oauth-screenshots}
mkdir -p "$SHOTS" || { fail "screenshot folder $SHOTS"; finish; }
rm -f "$SHOTS"/*.png

gw_pki || { fail "test PKI"; finish; }
gw_device || { fail "simulated device starts"; finish; }
ALICE_PW='Alice-Browser-Pass-1'
gw_user alice "$ALICE_PW" home >/dev/null
# the app's redirect URI: flows.mjs serves it (http on loopback, RFC 8252)
RURI=http://127.0.0.1:$(free_port)/cb
gw_oauth_interactive || { fail "the OAuth test setup (clients app and tv, [oauth], the daemon)"; finish; }

# the one certificate Chromium accepts: the gateway's, which chains to the test CA
CERT=$PKI/${GW_CERT:-server-ec}.crt
check "the server certificate chains to the test CA" \
    bash -c 'openssl verify -CAfile "$1" "$2" >/dev/null 2>&1' _ "$PKI/ca.crt" "$CERT"
SPKI=$(openssl x509 -in "$CERT" -noout -pubkey | openssl pkey -pubin -outform der |
    openssl dgst -sha256 -binary | base64)
check "... its SPKI pin for Chromium" [ ${#SPKI} = 44 ]
check "... and the gateway presents it" \
    bash -c 'echo | timeout 5 openssl s_client -connect "127.0.0.1:$1" -CAfile "$2" 2>/dev/null |
        openssl x509 -noout -pubkey | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary |
        base64 | grep -qxF "$3"' _ "$GW_PORT" "$PKI/ca.crt" "$SPKI"

T0=$SECONDS
GW_URL=$GW_URL GW_SPKI=$SPKI ALICE_PW=$ALICE_PW SHOTS=$SHOTS CHROMIUM=$CHROMIUM \
    CODE_CLIENT=app DEVICE_CLIENT=tv REDIRECT_URI=$RURI NODE_EXTRA_CA_CERTS=$PKI/ca.crt \
    timeout 55 node "$OB/flows.mjs" >"$T/flows.out" 2>"$T/flows.err"
rc=$?
# the script's own ok / not ok lines count here
while IFS= read -r l; do
    case $l in
    "ok - "*) ok "${l#ok - }" ;;
    "not ok - "*) fail "${l#not ok - }" ;;
    esac
done <"$T/flows.out"
[ $rc -eq 0 ] || tail -20 "$T/flows.err" | grep -vF -e "$ALICE_PW" | sed 's/^/# /'
check "the browser run exits 0 ($rc) within 55 s ($((SECONDS - T0)) s)" [ $rc -eq 0 ]
check "it made its assertions" [ "$(grep -c '^ok - ' "$T/flows.out")" -ge 45 ]

for s in code-1-login code-2-consent code-3-consent-unchecked device-1-login device-2-code \
    device-3-consent device-4-connected login-failed phone-1-login phone-2-login-error \
    phone-3-consent phone-4-device; do
    check "screenshot $s.png (PNG, not empty)" \
        bash -c '[ -s "$1" ] && [ "$(head -c 8 "$1" | od -An -tx1 | tr -d " \n")" = 89504e470d0a1a0a ]' _ "$SHOTS/$s.png"
done
echo "# screenshots in $SHOTS"

check "daemon still up" [ "$(gw_status "$GW_URL/oauth/jwks")" = 200 ]
check "no password in the daemon log or the browser output" \
    bash -c '! grep -qF -- "$1" "$2" "$3" "$4"' _ "$ALICE_PW" "$GW_LOG" "$T/flows.out" "$T/flows.err"
gw_stop
check "SIGTERM: exit 0 (no leak under ASan)" [ "$?" = 0 ]
finish
