#!/usr/bin/env node
// A consumer's side of the symmetric COSE keys wotgw shares with it
// (tests/integration/test_cose_mqtt.sh), with cose-js, independently of
// wotgw's C code. KEY is the binary COSE_Key `wotgw-passwd
// cose-consumer-secret` wrote for the consumer: {1: 4 (Symmetric), 2: kid,
// 3: alg, -1: k}.
//
//   node consumer-secret.mjs decrypt KEY MSG [EXPECTED-PAYLOAD]
//        MSG must be a tagged COSE_Encrypt0 (16) with the key's alg in the
//        protected bucket, the key's kid and an IV in the unprotected one;
//        decrypted with cose-js (empty external AAD) and, when given,
//        compared with EXPECTED-PAYLOAD byte for byte. Prints
//        "ok kid=<hex> alg=<n> ctype=<value> iv=<hex> payload=<n bytes>"
//        and exits 0, or prints the reason and exits 1.
//   node consumer-secret.mjs mac KEY PAYLOAD OUT
//        OUT: a tagged COSE_Mac0 of PAYLOAD with the key (alg 4 HMAC
//        256/64 or 5 HMAC 256/256), protected {1: alg}, unprotected {4:
//        kid}, empty external AAD.
import fs from 'node:fs';
import cbor from 'cbor';
import cose from 'cose-js';

function die(why) {
  console.log(`FAIL ${why}`);
  process.exit(1);
}

function readKey(file) {
  const m = cbor.decodeFirstSync(fs.readFileSync(file));
  if (!(m instanceof Map) || m.get(1) !== 4) die(`${file}: not a symmetric COSE_Key`);
  const k = m.get(-1), kid = m.get(2), alg = m.get(3);
  if (!Buffer.isBuffer(k) || !Buffer.isBuffer(kid)) die(`${file}: no k or kid`);
  return { k, kid, alg };
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'decrypt') {
  const [keyFile, msgFile, expFile] = args;
  const key = readKey(keyFile);
  const msg = fs.readFileSync(msgFile);
  let obj;
  try {
    obj = cbor.decodeFirstSync(msg);
  } catch (e) {
    die(`not CBOR: ${e.message}`);
  }
  if (!(obj instanceof cbor.Tagged) || obj.tag !== 16) die('not a tagged COSE_Encrypt0 (tag 16)');
  const [prot, unprot] = obj.value;
  const p = prot.length ? cbor.decodeFirstSync(prot) : new Map();
  if (p.get(1) !== key.alg) die(`protected alg is ${p.get(1)}, not the key's ${key.alg}`);
  const kid = unprot instanceof Map ? unprot.get(4) : undefined;
  if (!kid || !key.kid.equals(Buffer.from(kid))) die('the unprotected kid is not the key\'s');
  const iv = unprot.get(5);
  if (!iv || !iv.length) die('no IV in the unprotected bucket');
  let pt;
  try {
    pt = await cose.encrypt.read(msg, key.k);
  } catch (e) {
    die(`cose-js does not decrypt it: ${e.message}`);
  }
  if (expFile && !pt.equals(fs.readFileSync(expFile))) die(`payload ${JSON.stringify(pt.toString())} is not the expected one`);
  console.log(`ok kid=${key.kid.toString('hex')} alg=${key.alg} ctype=${p.get(3)} iv=${Buffer.from(iv).toString('hex')} payload=${pt.length} bytes`);
} else if (cmd === 'mac') {
  const [keyFile, payloadFile, out] = args;
  const key = readKey(keyFile);
  const alg = { 4: 'SHA-256_64', 5: 'SHA-256' }[key.alg];
  if (!alg) die(`the key's alg ${key.alg} is not HMAC 256/64 (4) or HMAC 256/256 (5)`);
  const msg = await cose.mac.create({ p: { alg }, u: { kid: key.kid } }, fs.readFileSync(payloadFile), { key: key.k });
  fs.writeFileSync(out, msg);
} else {
  console.error('usage: consumer-secret.mjs decrypt KEY MSG [EXPECTED] | mac KEY PAYLOAD OUT');
  process.exit(2);
}
