// client.mjs - node-wot's HTTP client consumes an exposed TD through wotgw
// (tests/integration/test_nodewot.sh).
//
//   node client.mjs GATEWAY_URL THING CREDENTIALS_JSON [WRONG_CREDENTIALS_JSON]
//
// CREDENTIALS_JSON is what servient.addCredentials() stores for the TD's id:
// {"username": ..., "password": ...} for basic, {"token": ...} for bearer,
// {"clientId": ..., "clientSecret": ...} for oauth2 (node-wot 0.9's
// OAuthManager.handleClient: the client credentials grant at the TD's
// "token" URL, client-oauth2 sending the id and secret as HTTP Basic). For
// oauth2 the TD itself is fetched with a token this script gets the same
// way; node-wot then only reads (the client has the read scope only) and
// its write must be refused.
// The test CA is trusted through NODE_EXTRA_CA_CERTS. The TD itself is
// fetched with the same credentials (TDs are not public), then node-wot
// reads, writes and invokes through the forms of the exposed TD. Prints
// "ok - ..." / "not ok - ..." lines; exit status 1 on any failure.
import { createRequire } from "node:module";
import { notOk, check, exitCode } from "../tap.mjs";

const require = createRequire(import.meta.url);
const { Servient } = require("@node-wot/core");
const { HttpsClientFactory } = require("@node-wot/binding-http");

const [gw, thingName, credJson, wrongJson] = process.argv.slice(2);
const cred = JSON.parse(credJson);
const isOAuth = typeof cred.clientId === "string";
const label = `${thingName} (${isOAuth ? "oauth2" : cred.token ? "bearer" : "basic"})`;

function authHeader(c) {
  if (c.token) return `Bearer ${c.token}`;
  if (c.accessToken) return `Bearer ${c.accessToken}`;
  return "Basic " + Buffer.from(`${c.username}:${c.password}`).toString("base64");
}

async function consume(td, c) {
  const servient = new Servient();
  servient.addClientFactory(new HttpsClientFactory());
  const wot = await servient.start();
  servient.addCredentials({ [td.id]: c });
  return { servient, thing: await wot.consume(td) };
}

async function read(thing, name) {
  return (await thing.readProperty(name)).value();
}

// the client credentials grant by hand (RFC 6749 4.4, client_secret_basic)
async function clientToken(c) {
  const meta = await (await fetch(`${gw}/.well-known/oauth-authorization-server`)).json();
  const basic = Buffer.from(`${encodeURIComponent(c.clientId)}:${encodeURIComponent(c.clientSecret)}`).toString("base64");
  const res = await fetch(meta.token_endpoint, {
    method: "POST",
    headers: { Authorization: `Basic ${basic}`, "Content-Type": "application/x-www-form-urlencoded" },
    body: "grant_type=client_credentials",
  });
  const json = await res.json().catch(() => ({}));
  check(res.status === 200 && json.token_type === "Bearer",
    `${label}: client credentials grant at ${new URL(meta.token_endpoint).pathname}: ${res.status} scope '${json.scope}'`);
  return { meta, accessToken: json.access_token };
}

async function oauthRun(td, meta) {
  const sd = Object.values(td.securityDefinitions || {}).find((d) => d.scheme === "oauth2");
  check(sd && sd.flow === "client" && sd.token === meta.token_endpoint,
    `${label}: the TD's oauth2 definition: flow ${sd?.flow}, token = the metadata's token_endpoint`);
  const { servient, thing } = await consume(td, cred);
  try {
    check(thing.getThingDescription().id === td.id, `${label}: consumed`);
    const on = await read(thing, "on");
    check(typeof on === "boolean", `${label}: readProperty(on) with node-wot's own token: ${on}`);
    const br = await read(thing, "brightness");
    check(br === 81, `${label}: readProperty(brightness) (the device's value): ${br}`);
    try {
      await thing.writeProperty("brightness", 12);
      notOk(`${label}: writeProperty without the write scope is refused`);
    } catch (e) {
      check(/Client error/.test(e.message), `${label}: writeProperty without the write scope is refused (${e.message.split("\n")[0]})`);
    }
  } catch (e) {
    notOk(`${label}: node-wot interaction failed: ${e.message}`);
  } finally {
    await servient.shutdown();
  }
}

async function main() {
  let meta = null;
  if (isOAuth) {
    const t = await clientToken(cred);
    meta = t.meta;
    cred.accessToken = t.accessToken;
  }
  const res = await fetch(`${gw}/things/${encodeURIComponent(thingName)}`, {
    headers: { Authorization: authHeader(cred), Accept: "application/td+json" },
  });
  check(res.status === 200, `${label}: GET /things/${thingName} with credentials: 200 (${res.status})`);
  if (res.status !== 200) return;
  const td = await res.json();
  if (isOAuth) {
    delete cred.accessToken; // node-wot gets its own
    await oauthRun(td, meta);
    await wrongRun(td);
    return;
  }
  check(typeof td.id === "string" && td.properties?.on && td.actions?.toggle,
    `${label}: the exposed TD has id, property on, action toggle`);
  const hrefs = JSON.stringify(td).match(/"href":"[^"]*"/g) || [];
  check(hrefs.length > 0 && hrefs.every((h) => h.startsWith(`"href":"${gw}/things/`)),
    `${label}: every form points at the gateway`);

  const { servient, thing } = await consume(td, cred);
  try {
    check(thing.getThingDescription().id === td.id, `${label}: consumed`);

    await thing.writeProperty("brightness", 37);
    let v = await read(thing, "brightness");
    check(v === 37, `${label}: writeProperty(brightness, 37) then readProperty: ${v}`);
    await thing.writeProperty("brightness", 81);
    v = await read(thing, "brightness");
    check(v === 81, `${label}: writeProperty(brightness, 81) then readProperty: ${v}`);

    await thing.writeProperty("on", false);
    v = await read(thing, "on");
    check(v === false, `${label}: writeProperty(on, false) then readProperty: ${v}`);

    const out = await (await thing.invokeAction("toggle")).value();
    check(out && out.on === true, `${label}: invokeAction(toggle) answers {"on": true}: ${JSON.stringify(out)}`);
    v = await read(thing, "on");
    check(v === true, `${label}: after toggle readProperty(on): ${v}`);
    const out2 = await (await thing.invokeAction("toggle")).value();
    check(out2 && out2.on === false, `${label}: toggle again answers {"on": false}: ${JSON.stringify(out2)}`);

    if (td.forms?.some((f) => f.op === "readallproperties" || f.op?.includes?.("readallproperties"))) {
      const all = await thing.readAllProperties();
      const on = await all.get("on")?.value();
      const br = await all.get("brightness")?.value();
      check(on === false && br === 81, `${label}: readAllProperties: on=${on} brightness=${br}`);
    }
  } catch (e) {
    notOk(`${label}: node-wot interaction failed: ${e.message}`);
  } finally {
    await servient.shutdown();
  }

  await wrongRun(td);
}

async function wrongRun(td) {
  if (!wrongJson) return;
  const bad = await consume(td, JSON.parse(wrongJson));
  try {
    await read(bad.thing, "on");
    notOk(`${label}: wrong credentials are refused`);
  } catch (e) {
    // basic, bearer: the gateway answers 401; oauth2: the token endpoint does
    const m = String(e.message || e).split("\n")[0];
    check(/Client error|invalid_client|[Cc]lient authentication/.test(m), `${label}: wrong credentials are refused (${m})`);
  } finally {
    await bad.servient.shutdown();
  }
}

main()
  .catch((e) => notOk(`${label}: ${e.stack || e}`))
  .finally(() => process.exit(exitCode()));
