#!/usr/bin/env bash
# make-jwks.sh - regenerates the public JWK files in this directory from the
# test keys (*.pem, made with `openssl genpkey`, see SOURCES.md). Test data
# only: these keys protect nothing. Run from tests/data/auth.
set -euo pipefail
b64url() { basenc --base64url -w0 | tr -d '='; }
ec_xy() { # PEM -> "x y"
    local der; der=$(mktemp)
    openssl pkey -in "$1" -pubout -outform DER -out "$der"
    echo "$(tail -c 64 "$der" | head -c 32 | b64url) $(tail -c 32 "$der" | b64url)"
    rm -f "$der"
}
ed_x() {
    local der; der=$(mktemp)
    openssl pkey -in "$1" -pubout -outform DER -out "$der"
    tail -c 32 "$der" | b64url
    rm -f "$der"
}
rsa_n() { openssl pkey -in "$1" -pubout | openssl rsa -pubin -modulus -noout 2>/dev/null |
    sed 's/^Modulus=//' | xxd -r -p | b64url; }

read -r ex ey < <(ec_xy es256.pem)
read -r rx ry < <(ec_xy es256-rogue.pem)
edx=$(ed_x ed25519.pem)
rn=$(rsa_n rs256.pem)
wn=$(rsa_n rsa1024.pem)

ec='{"kty":"EC","crv":"P-256","alg":"ES256","use":"sig","kid":"es-1","x":"'$ex'","y":"'$ey'"}'
ed='{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","use":"sig","kid":"ed-1","x":"'$edx'"}'
rs='{"kty":"RSA","alg":"RS256","use":"sig","kid":"rs-1","n":"'$rn'","e":"AQAB"}'
printf '{"keys":[\n  %s,\n  %s,\n  %s\n]}\n' "$ec" "$ed" "$rs" > issuer.jwks
printf '{"keys":[\n  %s\n]}\n' "$ec" > es256.jwk.json
printf '%s\n' '{"kty":"EC","crv":"P-256","kid":"rogue-1","x":"'$rx'","y":"'$ry'"}' > rogue.jwk.json
printf '%s\n' '{"kty":"RSA","kid":"weak-1","n":"'$wn'","e":"AQAB"}' > rsa1024.jwk.json
