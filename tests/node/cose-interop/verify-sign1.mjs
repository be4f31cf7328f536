#!/usr/bin/env node
// Verifies a COSE_Sign1 answer of wotgw's HTTPS front end with cose-js,
// using only what a consumer has: the exposed TD (its "wotgw:coseKey" JWK)
// and the message (tests/integration/test_cose_https.sh).
//
//   node verify-sign1.mjs TD.json MSG.cbor [EXPECTED-PAYLOAD]
//
// Checks: tag 18, protected alg ES256 (-7), unprotected kid == the JWK's
// kid (hex), the signature (cose-js, empty external AAD) and, when given,
// that the payload equals EXPECTED-PAYLOAD byte for byte. Prints
// "ok kid=<hex> ctype=<value> payload=<n bytes>" and exits 0, or prints the
// reason and exits 1.
import fs from 'node:fs';
import cbor from 'cbor';
import cose from 'cose-js';

function die(why) {
  console.log(`FAIL ${why}`);
  process.exit(1);
}

const [tdFile, msgFile, expFile] = process.argv.slice(2);
if (!tdFile || !msgFile) die('usage: verify-sign1.mjs TD.json MSG.cbor [EXPECTED]');
const td = JSON.parse(fs.readFileSync(tdFile, 'utf8'));
const jwk = td['wotgw:coseKey'];
if (!jwk || jwk.kty !== 'EC' || jwk.crv !== 'P-256' || jwk.alg !== 'ES256') die('TD has no ES256 wotgw:coseKey');
const msg = fs.readFileSync(msgFile);

let obj;
try {
  obj = cbor.decodeFirstSync(msg);
} catch (e) {
  die(`not CBOR: ${e.message}`);
}
if (!(obj instanceof cbor.Tagged) || obj.tag !== 18) die('not a tagged COSE_Sign1 (tag 18)');
const [prot, unprot] = obj.value;
const p = prot.length ? cbor.decodeFirstSync(prot) : new Map();
if (p.get(1) !== -7) die(`alg is ${p.get(1)}, not ES256 (-7)`);
const kid = unprot instanceof Map ? unprot.get(4) : undefined;
if (!kid || Buffer.from(kid).toString('hex') !== jwk.kid) die(`kid ${kid && Buffer.from(kid).toString('hex')} is not the TD's ${jwk.kid}`);

const verifier = {
  key: {
    x: Buffer.from(jwk.x, 'base64url'),
    y: Buffer.from(jwk.y, 'base64url'),
  },
};
let payload;
try {
  payload = await cose.sign.verify(msg, verifier);
} catch (e) {
  die(`signature does not verify: ${e.message}`);
}
if (expFile !== undefined) {
  const exp = fs.readFileSync(expFile);
  if (!Buffer.from(payload).equals(exp)) die(`payload differs from ${expFile}`);
}
console.log(`ok kid=${jwk.kid} ctype=${p.get(3)} payload=${payload.length} bytes`);
