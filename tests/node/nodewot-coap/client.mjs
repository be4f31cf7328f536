// client.mjs - node-wot's CoAPS client (@node-wot/binding-coap 0.8.16, the
// last release; DTLS 1.2 with a pre-shared key through node-coap-client)
// consumes the coaps:// forms of an exposed TD (tests/integration/test_coaps.sh).
//
//   node client.mjs GATEWAY_URL THING USER PASSWORD PSK_IDENTITY PSK DEVICE_URL
//
// The TD is fetched over HTTPS with USER/PASSWORD (the test CA through
// NODE_EXTRA_CA_CERTS). node-wot 0.8 applies a "psk" security definition
// only when the form names it directly, not inside a oneOf combo, so the
// client picks the psk alternative of the TD's security itself (what any
// consumer of a oneOf does). Only the CoAPS client factory is registered:
// node-wot can use nothing but the coaps forms. It reads a property,
// writes one and invokes an action; the device is checked over HTTP.
// Prints "ok - ..." / "not ok - ..."; exit status 1 on any failure.
import { createRequire } from "node:module";
import { notOk, check, withTimeout, exitCode } from "../tap.mjs";

const require = createRequire(import.meta.url);
const { Servient } = require("@node-wot/core");
const { CoapsClientFactory } = require("@node-wot/binding-coap");

const [gw, thingName, user, password, identity, psk, device] = process.argv.slice(2);
const deviceValue = async (path) => (await (await fetch(`${device}/${path}`)).text()).trim();

async function main() {
  const auth = "Basic " + Buffer.from(`${user}:${password}`).toString("base64");
  const res = await fetch(`${gw}/things/${encodeURIComponent(thingName)}`, {
    headers: { Authorization: auth, Accept: "application/td+json" },
  });
  check(res.status === 200, `GET the exposed TD of ${thingName}: 200 (${res.status})`);
  const td = await res.json();
  const pskName = Object.keys(td.securityDefinitions).find((n) => td.securityDefinitions[n].scheme === "psk");
  check(pskName !== undefined, `the TD defines a psk scheme (${pskName})`);
  td.security = [pskName];
  const coaps = td.properties.brightness.forms.filter((f) => f.href.startsWith("coaps://"));
  check(coaps.length >= 1, `the TD has coaps forms for brightness (${coaps.length})`);

  const servient = new Servient();
  servient.addClientFactory(new CoapsClientFactory());
  const wot = await servient.start();
  servient.addCredentials({ [td.id]: { identity, psk } });
  const thing = await wot.consume(td);

  const want = await deviceValue(`${thingName}/properties/brightness`);
  const v = await (await withTimeout(thing.readProperty("brightness"), 10000, "readProperty")).value();
  check(String(v) === want, `readProperty(brightness) over CoAPS (PSK): ${v} (device: ${want})`);
  const target = Number(want) === 21 ? 22 : 21;
  await withTimeout(thing.writeProperty("brightness", target), 10000, "writeProperty");
  const now = await deviceValue(`${thingName}/properties/brightness`);
  check(now === String(target), `writeProperty(brightness, ${target}) over CoAPS reached the device (${now})`);
  await withTimeout(thing.writeProperty("brightness", Number(want)), 10000, "writeProperty back");
  check((await deviceValue(`${thingName}/properties/brightness`)) === want, `brightness back to ${want}`);
  await servient.shutdown();
}

try {
  await withTimeout(main(), 40000, "node-wot CoAPS client");
} catch (e) {
  notOk(`node-wot CoAPS client: ${e.message}`);
}
process.exit(exitCode());
