#!/usr/bin/env node
// COSE interop between wotgw (src/objsec, C on OpenSSL) and cose-js 0.9.0
// (an independent JavaScript implementation: CBOR from the "cbor" package,
// ECDSA from "elliptic", HMAC/AES from node:crypto).
//
//   node interop.mjs produce DIR   write DIR/js-messages.json: COSE_Sign1
//                                  (ES256 via cose-js; EdDSA built here with
//                                  "cbor" + node:crypto since cose-js has no
//                                  EdDSA), COSE_Mac0 (HMAC 256/64, 256/256)
//                                  and COSE_Encrypt0 (AES-CCM-16-64-128,
//                                  A128GCM) with fresh random keys
//   node interop.mjs verify DIR    verify/decrypt every message of
//                                  DIR/c-messages.json (written by wotgw's
//                                  test_cose), check its COSE_Key encoding,
//                                  and check that a tampered copy is refused
//
// Prints one "ok - ..." / "not ok - ..." line per check; exits 1 on any
// failure. Hex strings are lower case.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import cbor from 'cbor';
import cose from 'cose-js';

let failures = 0;
const ok = (name) => console.log(`ok - ${name}`);
const notOk = (name, why) => {
  failures++;
  console.log(`not ok - ${name}: ${why}`);
};
const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (s) => Buffer.from(s || '', 'hex');
const b64u = (s) => Buffer.from(s, 'base64url');

const ALG = { ES256: -7, EdDSA: -8, HMAC256_64: 4, HMAC256_256: 5, A128GCM: 1, CCM: 10 };

// Sign1 with EdDSA (cose-js cannot): Sig_structure per RFC 9052 §4.4
function eddsaSign1(privateKey, kid, payload, externalAAD) {
  const prot = cbor.encode(new Map([[1, ALG.EdDSA]]));
  const tbs = cbor.encode(['Signature1', prot, externalAAD, payload]);
  const sig = crypto.sign(null, tbs, privateKey);
  return cbor.encode(new cbor.Tagged(18, [prot, new Map([[4, kid]]), payload, sig]));
}

async function eddsaVerify1(msg, publicKey, externalAAD) {
  let obj = cbor.decodeFirstSync(msg);
  if (obj instanceof cbor.Tagged) {
    if (obj.tag !== 18) throw new Error(`tag ${obj.tag}`);
    obj = obj.value;
  }
  const [prot, , payload, sig] = obj;
  const p = prot.length ? cbor.decodeFirstSync(prot) : new Map();
  if (p.get(1) !== ALG.EdDSA) throw new Error('alg is not EdDSA');
  const tbs = cbor.encode(['Signature1', prot, externalAAD, payload]);
  if (!crypto.verify(null, tbs, publicKey, sig)) throw new Error('signature mismatch');
  return payload;
}

async function produce(dir) {
  const messages = [];
  const ext = Buffer.from('0102030405', 'hex');
  const add = (name, alg, key, payload, externalAAD, message) =>
    messages.push({
      name,
      alg,
      key,
      payload: hex(payload),
      external_aad: hex(externalAAD),
      message: hex(message),
    });

  // ES256
  {
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const jwk = privateKey.export({ format: 'jwk' });
    const key = { x: hex(b64u(jwk.x)), y: hex(b64u(jwk.y)), kid: hex(Buffer.from('js-es256')) };
    for (const [name, e] of [['sign1-es256', Buffer.alloc(0)], ['sign1-es256-aad', ext]]) {
      const payload = Buffer.from(`payload of ${name} from cose-js`);
      const msg = await cose.sign.create(
        { p: { alg: 'ES256' }, u: { kid: 'js-es256' } },
        payload,
        { key: { d: b64u(jwk.d) }, externalAAD: e },
      );
      add(name, ALG.ES256, key, payload, e, msg);
    }
  }
  // EdDSA (node:crypto)
  {
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
    const jwk = publicKey.export({ format: 'jwk' });
    const payload = Buffer.from('payload of sign1-eddsa from node');
    const msg = eddsaSign1(privateKey, Buffer.from('js-ed'), payload, ext);
    add('sign1-eddsa', ALG.EdDSA, { x: hex(b64u(jwk.x)) }, payload, ext, msg);
  }
  // Mac0
  for (const [name, alg, coseAlg, e] of [
    ['mac0-hmac256-64', ALG.HMAC256_64, 'SHA-256_64', Buffer.alloc(0)],
    ['mac0-hmac256-256-aad', ALG.HMAC256_256, 'SHA-256', ext],
  ]) {
    const k = crypto.randomBytes(32);
    const payload = Buffer.from(`payload of ${name} from cose-js`);
    const msg = await cose.mac.create({ p: { alg: coseAlg }, u: { kid: 'js-mac' } }, payload, { key: k }, e);
    add(name, alg, { k: hex(k) }, payload, e, msg);
  }
  // Encrypt0
  for (const [name, alg, coseAlg, e] of [
    ['encrypt0-aes-ccm-16-64-128', ALG.CCM, 'AES-CCM-16-64-128', Buffer.alloc(0)],
    ['encrypt0-a128gcm-aad', ALG.A128GCM, 'A128GCM', ext],
  ]) {
    const k = crypto.randomBytes(16);
    const payload = Buffer.from(`payload of ${name} from cose-js`);
    const msg = await cose.encrypt.create({ p: { alg: coseAlg }, u: { kid: 'js-enc' } }, payload, { key: k }, {
      externalAAD: e,
    });
    add(name, alg, { k: hex(k) }, payload, e, msg);
  }
  fs.writeFileSync(path.join(dir, 'js-messages.json'), JSON.stringify({ producer: 'cose-js', messages }, null, 1));
  ok(`cose-js wrote ${messages.length} messages`);
}

// the public key (EC2, OKP) or secret (Symmetric) of a COSE_Key must match
function checkCoseKey(m) {
  const k = cbor.decodeFirstSync(unhex(m.cose_key));
  if (!(k instanceof Map)) throw new Error('COSE_Key is not a map');
  const kty = k.get(1);
  if (m.alg === ALG.ES256) {
    if (kty !== 2 || k.get(-1) !== 1) throw new Error('not EC2 P-256');
    if (hex(k.get(-2)) !== m.key.x || hex(k.get(-3)) !== m.key.y) throw new Error('x/y differ');
  } else if (m.alg === ALG.EdDSA) {
    if (kty !== 1 || k.get(-1) !== 6) throw new Error('not OKP Ed25519');
    if (hex(k.get(-2)) !== m.key.x) throw new Error('x differs');
  } else {
    if (kty !== 4 || hex(k.get(-1)) !== m.key.k) throw new Error('k differs');
  }
  if (k.get(3) !== m.alg) throw new Error(`alg ${k.get(3)} in the COSE_Key`);
  if (k.get(-4) !== undefined) throw new Error('private key exported');
  // canonical: re-encoding the decoded map with sorted keys gives the same bytes
  const canon = cbor.encodeCanonical(k);
  if (hex(canon) !== m.cose_key) throw new Error('not deterministically encoded');
}

async function readOne(m, message) {
  const ext = unhex(m.external_aad);
  switch (m.alg) {
    case ALG.ES256: {
      const opts = m.tagged === false ? { defaultType: cose.sign.Sign1Tag } : undefined;
      return cose.sign.verify(message, { key: { x: unhex(m.key.x), y: unhex(m.key.y) }, externalAAD: ext }, opts);
    }
    case ALG.EdDSA: {
      const pub = crypto.createPublicKey({
        key: { kty: 'OKP', crv: 'Ed25519', x: unhex(m.key.x).toString('base64url') },
        format: 'jwk',
      });
      return eddsaVerify1(message, pub, ext);
    }
    case ALG.HMAC256_64:
    case ALG.HMAC256_256:
      return cose.mac.read(message, unhex(m.key.k), ext);
    default:
      return cose.encrypt.read(message, unhex(m.key.k), { externalAAD: ext, defaultType: cose.encrypt.Encrypt0Tag });
  }
}

async function verify(dir) {
  const file = path.join(dir, 'c-messages.json');
  let data;
  try {
    data = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    notOk('read c-messages.json', e.message);
    return;
  }
  if (!Array.isArray(data.messages) || data.messages.length < 7) {
    notOk('c-messages.json has at least 7 messages', `${data.messages?.length}`);
    return;
  }
  for (const m of data.messages) {
    const name = `cose-js verifies wotgw ${m.name}`;
    try {
      const payload = await readOne(m, unhex(m.message));
      if (hex(payload) !== m.payload) throw new Error('payload differs');
      ok(name);
    } catch (e) {
      notOk(name, e.message);
      continue;
    }
    const tname = `cose-js refuses wotgw ${m.name} tampered`;
    const bad = unhex(m.message);
    bad[bad.length - 1] ^= 1;
    try {
      await readOne(m, bad);
      notOk(tname, 'accepted');
    } catch (e) {
      ok(tname);
    }
    try {
      checkCoseKey(m);
      ok(`COSE_Key of wotgw ${m.name} decodes and matches`);
    } catch (e) {
      notOk(`COSE_Key of wotgw ${m.name} decodes and matches`, e.message);
    }
  }
}

const [mode, dir] = process.argv.slice(2);
if (!dir || !['produce', 'verify'].includes(mode)) {
  console.error('usage: interop.mjs produce|verify DIR');
  process.exit(2);
}
try {
  await (mode === 'produce' ? produce(dir) : verify(dir));
} catch (e) {
  notOk(mode, e.stack || e.message);
}
process.exit(failures ? 1 : 0);
