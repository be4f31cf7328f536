// flows.mjs - the OAuth pages of wotgw's authorization server ([oauth]) in a
// real headless Chromium (playwright-core, Debian's /usr/bin/chromium), run
// by tests/integration/test_oauth_browser.sh:
//   1. authorization code + PKCE S256: login page, consent page (client and
//      scopes), one scope unchecked, the redirect to the app (a tiny HTTP
//      server of this script on the loopback REDIRECT_URI) with code,
//      state and iss; the code exchanged with fetch; the token reads
//      lamp/on (200) and may not write it (403 insufficient_scope);
//   2. the device authorization grant: verification_uri in the browser,
//      login, the user code typed in, approval ("Device connected"), then
//      the device polls the token endpoint and reads lamp/on;
//   3. a failed login shows its error on the page;
//   4. the pages at a phone viewport (390x844): nothing overflows sideways.
//
// Environment: GW_URL, GW_SPKI (base64 SHA-256 of the server certificate's
// SubjectPublicKeyInfo: the only certificate Chromium accepts besides the
// system's, --ignore-certificate-errors-spki-list), ALICE_PW, SHOTS (the
// screenshot folder), CODE_CLIENT, DEVICE_CLIENT, REDIRECT_URI. fetch()
// trusts the test CA through NODE_EXTRA_CA_CERTS. Prints "ok - ..." /
// "not ok - ..." lines; exit status 1 on any failure. Codes, tokens and
// the password are never printed.
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { createServer } from "node:http";
import { chromium } from "playwright-core";
import { ok, notOk, check, exitCode } from "../tap.mjs";

const env = (n, d) => {
  const v = process.env[n] ?? d;
  if (v === undefined) {
    console.log(`not ok - environment variable ${n} is missing`);
    process.exit(1);
  }
  return v;
};
const GW = env("GW_URL");
const SPKI = env("GW_SPKI");
const PW = env("ALICE_PW");
const SHOTS = env("SHOTS");
const APP = env("CODE_CLIENT", "app");
const TV = env("DEVICE_CLIENT", "tv");
const RURI = env("REDIRECT_URI"); // http://127.0.0.1:PORT/cb
const CHROMIUM = env("CHROMIUM", "/usr/bin/chromium");
const T = 10000; // every wait, ms

const b64url = (b) => b.toString("base64url");

mkdirSync(SHOTS, { recursive: true });
async function shot(page, name) {
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true, timeout: T });
}

async function api(path, { method = "GET", form, token } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  let body;
  if (form) {
    body = new URLSearchParams(form).toString();
    headers["Content-Type"] = "application/x-www-form-urlencoded";
  }
  if (method === "PUT") {
    body = "true";
    headers["Content-Type"] = "application/json";
  }
  const res = await fetch(`${GW}${path}`, { method, headers, body, signal: AbortSignal.timeout(T) });
  let json = null;
  const text = await res.text();
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, json, headers: res.headers };
}

// the page fits its viewport: no horizontal overflow
const noOverflow = (page) =>
  page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);

async function login(page, user, pw) {
  await page.locator("#username").fill(user, { timeout: T });
  await page.locator("#password").fill(pw, { timeout: T });
  await Promise.all([
    page.waitForLoadState("load", { timeout: T }),
    page.locator('form[action="/oauth/login"] button[type=submit]').click({ timeout: T }),
  ]);
}

function authorizeUrl(state, challenge) {
  const q = new URLSearchParams({
    response_type: "code",
    client_id: APP,
    redirect_uri: RURI,
    scope: "lamp:read lamp:write",
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  });
  return `${GW}/oauth/authorize?${q}`;
}

// the app: a tiny HTTP server on the loopback redirect URI (RFC 8252), which
// keeps the URLs it was asked for
const appHits = [];
async function startApp() {
  const u = new URL(RURI);
  const srv = createServer((req, res) => {
    appHits.push(req.url);
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", Connection: "close" });
    res.end("<!DOCTYPE html><title>app</title><p>the app got its code</p>");
  });
  await new Promise((resolve, reject) => {
    srv.once("error", reject);
    srv.listen(Number(u.port), u.hostname, resolve);
  });
  return srv;
}

// ---- 1. authorization code + PKCE -----------------------------------------------------
async function codeFlow(browser) {
  const ctx = await browser.newContext({ viewport: { width: 1024, height: 768 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(T);
  const verifier = b64url(randomBytes(48));
  const challenge = b64url(createHash("sha256").update(verifier).digest());
  const state = `st-${b64url(randomBytes(9))}`;
  const resp = await page.goto(authorizeUrl(state, challenge), { timeout: T });
  check(resp && resp.status() === 200, `code: /oauth/authorize shows a page (${resp && resp.status()})`);
  check(new URL(page.url()).origin === GW, "code: ... over HTTPS with the test server certificate");
  check((await page.locator("h1").textContent()) === "Sign in", "code: ... the login page (h1 'Sign in')");
  check((await page.locator(".client").textContent()) === APP, `code: ... names the application '${APP}'`);
  const cookies = await ctx.cookies(GW);
  const c = cookies.find((x) => x.name === "__Host-wotgw_as");
  check(c && c.secure && c.httpOnly && c.sameSite === "Strict",
    "code: the browser stored the __Host- session cookie (Secure, HttpOnly, SameSite=Strict)");
  await shot(page, "code-1-login");

  await login(page, "alice", PW);
  check(new URL(page.url()).pathname === "/oauth/consent", `code: signed in, the consent page (${new URL(page.url()).pathname})`);
  const h1 = await page.locator("h1").textContent();
  const intro = await page.locator("main > p").first().textContent();
  const scopes = await page.locator("ul.scopes code").allTextContents();
  check(h1 === "Allow access?", `code: consent title '${h1}'`);
  check(intro.includes(APP) && intro.includes("alice"), `code: consent names the client and the user: '${intro.trim()}'`);
  check(JSON.stringify(scopes) === JSON.stringify(["lamp:read", "lamp:write"]),
    `code: consent lists the scopes ${JSON.stringify(scopes)}`);
  const boxes = page.locator("ul.scopes input[type=checkbox]");
  check((await boxes.count()) === 2 && (await boxes.nth(0).isChecked()) && (await boxes.nth(1).isChecked()),
    "code: both scopes are checked at first");
  await shot(page, "code-2-consent");
  // the person unchecks lamp:write
  await page.locator("ul.scopes li", { hasText: "lamp:write" }).locator("input").uncheck();
  check(!(await boxes.nth(1).isChecked()) && (await boxes.nth(0).isChecked()), "code: lamp:write unchecked");
  await shot(page, "code-3-consent-unchecked");
  await Promise.all([
    page.waitForURL((u) => u.href.startsWith(`${RURI}?`), { timeout: T }),
    page.getByRole("button", { name: "Allow" }).click(),
  ]);
  // the redirect itself, not the browser's later /favicon.ico
  const cbPath = new URL(RURI).pathname;
  const hit = appHits.find((h) => h.startsWith(`${cbPath}?`));
  const redirected = hit ? new URL(hit, RURI).href : null;
  check(redirected && redirected.startsWith(`${RURI}?`) && (await page.locator("p").textContent()) === "the app got its code",
    "code: Allow redirects the browser to the redirect URI (the app's server answers)");
  const q = new URL(redirected || RURI).searchParams;
  const code = q.get("code");
  check(code && code.length >= 32, "code: ... with a code");
  check(q.get("state") === state, "code: ... the same state");
  const meta = await api("/.well-known/oauth-authorization-server");
  check(meta.json?.issuer && q.get("iss") === meta.json.issuer, "code: ... and iss, the issuer of the metadata (RFC 9207)");
  check(!q.has("error"), "code: ... and no error");
  await ctx.close();
  if (!code) return;

  const tok = await api("/oauth/token", {
    method: "POST",
    form: { grant_type: "authorization_code", client_id: APP, code, code_verifier: verifier, redirect_uri: RURI },
  });
  check(tok.status === 200 && tok.json?.token_type === "Bearer" && tok.json?.access_token,
    `code: fetch exchanges the code with the verifier: ${tok.status}`);
  check(tok.json?.scope === "lamp:read", `code: ... the token's scope is what was left checked: '${tok.json?.scope}'`);
  const at = tok.json?.access_token;
  if (!at) return;
  const r = await api("/things/lamp/properties/on", { token: at });
  check(r.status === 200 && typeof r.json === "boolean", `code: the token reads lamp/on: ${r.status} ${JSON.stringify(r.json)}`);
  const w = await api("/things/lamp/properties/on", { method: "PUT", token: at });
  check(w.status === 403 && /insufficient_scope/.test(w.headers.get("www-authenticate") || ""),
    `code: ... and may not write it (lamp:write unchecked): ${w.status} insufficient_scope`);
  const again = await api("/oauth/token", {
    method: "POST",
    form: { grant_type: "authorization_code", client_id: APP, code, code_verifier: verifier, redirect_uri: RURI },
  });
  check(again.status === 400 && again.json?.error === "invalid_grant", `code: the code a second time: ${again.status} ${again.json?.error}`);
}

// ---- 2. device authorization grant -----------------------------------------------------------
async function deviceFlow(browser) {
  const da = await api("/oauth/device_authorization", { method: "POST", form: { client_id: TV, scope: "lamp:read" } });
  check(da.status === 200 && da.json?.user_code && da.json?.verification_uri,
    `device: fetch gets a device code and a user code: ${da.status}`);
  if (!da.json?.verification_uri) return;
  const { device_code: dc, user_code: uc, verification_uri: vuri } = da.json;
  const interval = (da.json.interval || 5) * 1000;

  const ctx = await browser.newContext({ viewport: { width: 1024, height: 768 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(T);
  const resp = await page.goto(vuri, { timeout: T });
  check(resp && resp.status() === 200 && (await page.locator("h1").textContent()) === "Sign in",
    `device: verification_uri shows the login page (${resp && resp.status()})`);
  check((await page.locator("main > p").first().textContent()).includes("connect a device"),
    "device: ... 'Sign in to connect a device'");
  await shot(page, "device-1-login");
  await login(page, "alice", PW);
  check(new URL(page.url()).pathname === "/oauth/device" && (await page.locator("h1").textContent()) === "Connect a device",
    "device: signed in, the code entry page");
  await page.locator("#user_code").fill(uc.toLowerCase());
  await shot(page, "device-2-code");
  await Promise.all([
    page.waitForURL((u) => u.pathname === "/oauth/consent", { timeout: T }),
    page.getByRole("button", { name: "Continue" }).click(),
  ]);
  const shown = (await page.locator("p.code").textContent()) || "";
  check(shown === uc, "device: the consent page shows the device's code");
  const intro = await page.locator("main > p").first().textContent();
  check(intro.includes(TV) && intro.includes("(a device)"), `device: ... names the device client: '${intro.trim()}'`);
  const scopes = await page.locator("ul.scopes code").allTextContents();
  check(JSON.stringify(scopes) === '["lamp:read"]', `device: ... the scope ${JSON.stringify(scopes)}`);
  await shot(page, "device-3-consent");
  await Promise.all([
    page.waitForLoadState("load", { timeout: T }),
    page.getByRole("button", { name: "Allow" }).click(),
  ]);
  await page.locator("h1", { hasText: "Device connected" }).waitFor({ timeout: T });
  check((await page.locator("h1").textContent()) === "Device connected", "device: Allow: 'Device connected'");
  await shot(page, "device-4-connected");
  await ctx.close();

  // the device polls (at the interval; authorization_pending or slow_down tolerated)
  let tok = null;
  let wait = 0;
  const end = Date.now() + 20000;
  while (Date.now() < end) {
    if (wait) await new Promise((r) => setTimeout(r, wait));
    tok = await api("/oauth/token", {
      method: "POST",
      form: { grant_type: "urn:ietf:params:oauth:grant-type:device_code", client_id: TV, device_code: dc },
    });
    if (tok.status === 200) break;
    const e = tok.json?.error;
    if (e !== "authorization_pending" && e !== "slow_down") break;
    wait = interval + (e === "slow_down" ? 5000 : 0);
  }
  check(tok?.status === 200 && tok.json?.access_token && tok.json?.scope === "lamp:read",
    `device: polling the token endpoint: ${tok?.status} scope '${tok?.json?.scope}'`);
  const at = tok?.json?.access_token;
  if (!at) return;
  const r = await api("/things/lamp/properties/on", { token: at });
  check(r.status === 200 && typeof r.json === "boolean", `device: the device's token reads lamp/on: ${r.status} ${JSON.stringify(r.json)}`);
}

// ---- 3. a failed login -------------------------------------------------------------------------
async function failedLogin(browser) {
  const ctx = await browser.newContext({ viewport: { width: 1024, height: 768 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(T);
  const verifier = b64url(randomBytes(48));
  const challenge = b64url(createHash("sha256").update(verifier).digest());
  await page.goto(authorizeUrl("st-fail", challenge), { timeout: T });
  await login(page, "alice", "Not-Her-Password-1");
  const err = (await page.locator("p.err").textContent({ timeout: T })) || "";
  check(err.includes("Wrong user name or password"), `failed login: the page shows '${err}'`);
  check((await page.locator("h1").textContent()) === "Sign in" && (await page.locator("#password").count()) === 1,
    "failed login: ... and the login form again");
  check(new URL(page.url()).origin === GW, "failed login: ... no redirect to the app");
  check((await page.locator("#password").inputValue()) === "", "failed login: ... the password field is empty");
  check((await page.locator("#username").inputValue()) === "alice", "failed login: ... the user name is kept");
  await shot(page, "login-failed");
  await ctx.close();
}

// ---- 4. a phone --------------------------------------------------------------------------------
async function phone(browser) {
  const ctx = await browser.newContext({
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
  });
  const page = await ctx.newPage();
  page.setDefaultTimeout(T);
  const challenge = b64url(createHash("sha256").update(b64url(randomBytes(48))).digest());
  await page.goto(authorizeUrl("st-phone", challenge), { timeout: T });
  const iw = await page.evaluate(() => window.innerWidth);
  check(iw === 390, `phone: the viewport is 390 px wide (${iw})`);
  check(await noOverflow(page), "phone: the login page does not overflow horizontally");
  await shot(page, "phone-1-login");
  await login(page, "alice", "Not-Her-Password-2");
  check(await noOverflow(page), "phone: the login page with its error does not overflow horizontally");
  await shot(page, "phone-2-login-error");
  await login(page, "alice", PW);
  check(new URL(page.url()).pathname === "/oauth/consent", "phone: signed in, the consent page");
  check(await noOverflow(page), "phone: the consent page does not overflow horizontally");
  await shot(page, "phone-3-consent");
  // every interactive element is inside the viewport and big enough to tap
  const small = await page.evaluate(() =>
    [...document.querySelectorAll("button, input:not([type=hidden])")]
      .map((e) => e.getBoundingClientRect())
      .filter((r) => r.left < 0 || r.right > window.innerWidth || r.height < 20).length);
  check(small === 0, `phone: the consent page's buttons and boxes fit and are tappable (${small} not)`);
  await page.goto(`${GW}/oauth/device`, { timeout: T });
  check((await page.locator("h1").textContent()) === "Connect a device", "phone: the code entry page (signed in)");
  await page.locator("#user_code").fill("BCDF-BCDF");
  await Promise.all([
    page.waitForLoadState("load", { timeout: T }),
    page.getByRole("button", { name: "Continue" }).click(),
  ]);
  check(((await page.locator("p.err").textContent()) || "").includes("Unknown or expired code"),
    "phone: a wrong user code shows 'Unknown or expired code'");
  check(await noOverflow(page), "phone: the code entry page does not overflow horizontally");
  await shot(page, "phone-4-device");
  await ctx.close();
}

// without the pin, the same Chromium refuses the gateway: the pin is what trusts it
async function unpinned() {
  const b = await chromium.launch({ executablePath: CHROMIUM, headless: true, timeout: 20000, args: ["--no-sandbox"] });
  try {
    const page = await b.newPage();
    let err = "";
    try {
      await page.goto(`${GW}/oauth/jwks`, { timeout: T });
    } catch (e) {
      err = String(e.message || e);
    }
    const m = err.match(/net::ERR_CERT_[A-Z_]+/);
    check(m, `without the SPKI pin Chromium refuses the gateway's certificate (${m ? m[0] : "loaded"})`);
  } finally {
    await b.close();
  }
}

async function main() {
  await unpinned();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 20000,
    // root in a container: no sandbox. Only the test server's key is
    // trusted in addition to the system's CAs.
    args: ["--no-sandbox", `--ignore-certificate-errors-spki-list=${SPKI}`],
  });
  ok(`chromium ${browser.version()} started`);
  const app = await startApp();
  try {
    for (const [name, f] of [["code", codeFlow], ["device", deviceFlow], ["failed login", failedLogin], ["phone", phone]]) {
      try {
        await f(browser);
      } catch (e) {
        notOk(`${name}: ${String(e.message || e).split("\n")[0]}`);
      }
    }
  } finally {
    await browser.close();
    app.close();
  }
}

const watchdog = setTimeout(() => {
  notOk("the whole run took more than 50 s");
  process.exit(1);
}, 50000);
watchdog.unref();
await main().catch((e) => notOk(String(e.message || e).split("\n")[0]));
process.exit(exitCode());
