#!/usr/bin/env bash
# jwk-from-pem.sh KEY.pem KID: prints the public JWK Set ({"keys":[...]})
# of an EC P-256 or Ed25519 private or public key in PEM, for an
# [issuer] jwks file. Uses only openssl and coreutils.
set -euo pipefail
key=$1 kid=$2
b64url() { basenc --base64url -w0 | tr -d '='; }
der=$(mktemp); trap 'rm -f "$der"' EXIT
openssl pkey -in "$key" -pubout -outform DER -out "$der" 2>/dev/null ||
    openssl pkey -pubin -in "$key" -pubout -outform DER -out "$der"
case $(stat -c %s "$der") in
91) # SPKI of P-256: 26-byte header, 0x04, X (32), Y (32)
    x=$(tail -c 64 "$der" | head -c 32 | b64url)
    y=$(tail -c 32 "$der" | b64url)
    printf '{"keys":[{"kty":"EC","crv":"P-256","alg":"ES256","use":"sig","kid":"%s","x":"%s","y":"%s"}]}\n' "$kid" "$x" "$y" ;;
44) # SPKI of Ed25519: 12-byte header, 32-byte key
    x=$(tail -c 32 "$der" | b64url)
    printf '{"keys":[{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","use":"sig","kid":"%s","x":"%s"}]}\n' "$kid" "$x" ;;
*) echo "jwk-from-pem: only P-256 and Ed25519 keys" >&2; exit 1 ;;
esac
