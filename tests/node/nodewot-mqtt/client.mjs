// client.mjs - node-wot's MQTT binding (0.8.16, the last release of
// @node-wot/binding-mqtt) consumes the mqtts:// forms of an exposed TD
// through the broker with wotgw's plugin (tests/integration/test_mqtt_bridge.sh).
//
//   node client.mjs GATEWAY_URL THING USER PASSWORD CA_FILE DEVICE_URL
//
// The TD is fetched over HTTPS with the same user (TDs are not public;
// the test CA through NODE_EXTRA_CA_CERTS). Only the MQTTS client factory
// is registered, so node-wot can use nothing but the TD's mqtts forms:
// it reads a property (the retained value wotgw publishes), writes one and
// invokes an action (publishes), and the device is checked over HTTP.
// Prints "ok - ..." / "not ok - ..."; exit status 1 on any failure.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { notOk, check, withTimeout, exitCode } from "../tap.mjs";

const require = createRequire(import.meta.url);
const { Servient } = require("@node-wot/core");
const { MqttsClientFactory } = require("@node-wot/binding-mqtt");

const [gw, thingName, user, password, caFile, device] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function deviceValue(path) {
  const r = await fetch(`${device}/${path}`);
  return (await r.text()).trim();
}

async function main() {
  const auth = "Basic " + Buffer.from(`${user}:${password}`).toString("base64");
  const res = await fetch(`${gw}/things/${encodeURIComponent(thingName)}`, {
    headers: { Authorization: auth, Accept: "application/td+json" },
  });
  check(res.status === 200, `GET the exposed TD of ${thingName}: 200 (${res.status})`);
  const td = await res.json();
  const forms = td.properties.brightness.forms.filter((f) => f.href.startsWith("mqtts://"));
  check(forms.length >= 2, `the TD has mqtts forms for brightness (${forms.length})`);

  const servient = new Servient();
  servient.addClientFactory(
    new MqttsClientFactory({ username: user, password, ca: readFileSync(caFile), rejectUnauthorized: true })
  );
  const wot = await servient.start();
  const thing = await wot.consume(td);

  const want = await deviceValue(`${thingName}/properties/brightness`);
  const got = await withTimeout(thing.readProperty("brightness"), 8000, "readProperty");
  const v = await got.value();
  check(String(v) === want, `readProperty(brightness) over MQTT: ${v} (device: ${want})`);

  const target = Number(want) === 12 ? 13 : 12;
  await withTimeout(thing.writeProperty("brightness", target), 8000, "writeProperty");
  let now = "";
  for (let i = 0; i < 50 && now !== String(target); i++) {
    await sleep(100);
    now = await deviceValue(`${thingName}/properties/brightness`);
  }
  check(now === String(target), `writeProperty(brightness, ${target}) over MQTT reached the device (${now})`);

  const before = await deviceValue(`${thingName}/properties/on`);
  await withTimeout(thing.invokeAction("toggle"), 8000, "invokeAction");
  let after = before;
  for (let i = 0; i < 50 && after === before; i++) {
    await sleep(100);
    after = await deviceValue(`${thingName}/properties/on`);
  }
  check(after !== before, `invokeAction(toggle) over MQTT reached the device (on ${before} -> ${after})`);
  await servient.shutdown();
}

try {
  await withTimeout(main(), 40000, "node-wot MQTT client");
} catch (e) {
  notOk(`node-wot MQTT client: ${e.message}`);
}
process.exit(exitCode());
