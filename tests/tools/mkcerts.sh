#!/usr/bin/env bash
# mkcerts.sh DIR: generates a throw-away test PKI into DIR (created if needed).
#   ca.crt ca.key                  test CA (ECDSA P-256)
#   server-ec.crt server-ec.key    server cert, ECDSA P-256
#   server-rsa.crt server-rsa.key  server cert, RSA 2048
#     both with SAN DNS:localhost, IP:127.0.0.1, IP:::1, signed by ca
#   client1.crt client1.key        client cert CN=client1 (ca)
#   dashboard.crt dashboard.key    client cert CN=dashboard (ca)
#   rogue-ca.crt rogue-ca.key      an unrelated CA
#   rogue-client.crt rogue-client.key  client cert CN=client1 of the rogue CA
# Keys are PKCS#8 PEM, mode 0600. Nothing here is ever shipped; tests call it
# at test time into their private $T.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
D=$1
mkdir -p "$D"
cd "$D"
umask 077
days=30

ec_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
rsa_key() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null; }

# mk_ca NAME CN
mk_ca() {
    ec_key "$1.key"
    openssl req -new -x509 -key "$1.key" -out "$1.crt" -days $days -subj "/O=wotgw test/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" 2>/dev/null
}

# mk_leaf NAME CN CA KIND(server|client)
mk_leaf() {
    local name=$1 cn=$2 ca=$3 kind=$4 ext
    ext=$(mktemp ./ext.XXXXXX)
    if [ "$kind" = server ]; then
        printf '%s\n' "basicConstraints=critical,CA:FALSE" \
            "keyUsage=critical,digitalSignature,keyEncipherment" \
            "extendedKeyUsage=serverAuth" \
            "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
            "authorityKeyIdentifier=keyid" >"$ext"
    else
        printf '%s\n' "basicConstraints=critical,CA:FALSE" \
            "keyUsage=critical,digitalSignature,keyEncipherment" \
            "extendedKeyUsage=clientAuth" \
            "authorityKeyIdentifier=keyid" >"$ext"
    fi
    openssl req -new -key "$name.key" -out "$name.csr" -subj "/O=wotgw test/CN=$cn" 2>/dev/null
    openssl x509 -req -in "$name.csr" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial \
        -out "$name.crt" -days $days -extfile "$ext" 2>/dev/null
    rm -f "$name.csr" "$ext"
}

mk_ca ca "wotgw test CA"
mk_ca rogue-ca "rogue CA"

ec_key server-ec.key
mk_leaf server-ec localhost ca server
rsa_key server-rsa.key
mk_leaf server-rsa localhost ca server

ec_key client1.key
mk_leaf client1 client1 ca client
ec_key dashboard.key
mk_leaf dashboard dashboard ca client
ec_key rogue-client.key
mk_leaf rogue-client client1 rogue-ca client

rm -f ./*.srl
chmod 0644 ./*.crt
chmod 0600 ./*.key
