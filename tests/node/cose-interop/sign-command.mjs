#!/usr/bin/env node
// A consumer's side of signed MQTT commands (tests/integration/
// test_cose_mqtt.sh): makes a consumer key and signs commands with it,
// independently of wotgw's C code.
//
//   node sign-command.mjs gen ES256|EdDSA KID DIR
//        DIR/KID.jwk: the private key (JWK); DIR/KID.cosekey: the public
//        key as a binary COSE_Key {1: kty, 2: kid, -1: crv, -2: x[, -3: y]}
//        for `wotgw-passwd cose-consumer-add`
//   node sign-command.mjs sign DIR KID PAYLOAD-FILE OUT-FILE
//        OUT-FILE: a tagged COSE_Sign1 of the payload, protected {1: alg},
//        unprotected {4: KID}, empty external AAD. ES256 with cose-js;
//        EdDSA with "cbor" + node:crypto (cose-js has no EdDSA).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import cbor from 'cbor';
import cose from 'cose-js';

const b64u = (s) => Buffer.from(s, 'base64url');
const [cmd, ...args] = process.argv.slice(2);

if (cmd === 'gen') {
  const [alg, kid, dir] = args;
  const kidb = Buffer.from(kid);
  let jwk, coseKey;
  if (alg === 'ES256') {
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    jwk = privateKey.export({ format: 'jwk' });
    coseKey = new Map([[1, 2], [2, kidb], [-1, 1], [-2, b64u(jwk.x)], [-3, b64u(jwk.y)]]);
  } else if (alg === 'EdDSA') {
    const { privateKey } = crypto.generateKeyPairSync('ed25519');
    jwk = privateKey.export({ format: 'jwk' });
    coseKey = new Map([[1, 1], [2, kidb], [-1, 6], [-2, b64u(jwk.x)]]);
  } else {
    console.error('alg: ES256 or EdDSA');
    process.exit(2);
  }
  jwk.alg = alg;
  fs.writeFileSync(path.join(dir, `${kid}.jwk`), JSON.stringify(jwk), { mode: 0o600 });
  fs.writeFileSync(path.join(dir, `${kid}.cosekey`), cbor.encodeCanonical(coseKey));
} else if (cmd === 'sign') {
  const [dir, kid, payloadFile, out] = args;
  const jwk = JSON.parse(fs.readFileSync(path.join(dir, `${kid}.jwk`), 'utf8'));
  const payload = fs.readFileSync(payloadFile);
  let msg;
  if (jwk.alg === 'ES256') {
    msg = await cose.sign.create({ p: { alg: 'ES256' }, u: { kid } }, payload, {
      key: { d: b64u(jwk.d) },
    });
  } else {
    const prot = cbor.encode(new Map([[1, -8]]));
    const tbs = cbor.encode(['Signature1', prot, Buffer.alloc(0), payload]);
    const sig = crypto.sign(null, tbs, crypto.createPrivateKey({ key: jwk, format: 'jwk' }));
    msg = cbor.encode(new cbor.Tagged(18, [prot, new Map([[4, Buffer.from(kid)]]), payload, sig]));
  }
  fs.writeFileSync(out, msg);
} else {
  console.error('usage: sign-command.mjs gen ALG KID DIR | sign DIR KID PAYLOAD OUT');
  process.exit(2);
}
