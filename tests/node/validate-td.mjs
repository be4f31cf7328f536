#!/usr/bin/env node
// validate-td.mjs - validates Thing Descriptions against the W3C WoT TD 1.1
// JSON Schema (draft-07) with ajv and ajv-formats, offline: the schema is
// read from tests/data/schemas/td-json-schema-validation.json (or the file
// given with --schema) and nothing is ever fetched.
//
//   node tests/node/validate-td.mjs [--schema FILE] TD.json...
//
// Prints "FILE: valid" or "FILE: invalid: <first errors>" for each file and
// exits 1 if any is invalid (or cannot be read or parsed), 2 on bad usage.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import Ajv from "ajv";
import addFormats from "ajv-formats";

const here = path.dirname(fileURLToPath(import.meta.url));
const MAX_ERRORS_SHOWN = 3;

function usage(msg) {
  if (msg) console.error(`validate-td: ${msg}`);
  console.error("usage: validate-td.mjs [--schema FILE] TD.json...");
  process.exit(2);
}

let schemaPath = path.join(here, "..", "data", "schemas", "td-json-schema-validation.json");
const files = [];
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--schema") {
    if (i + 1 >= args.length) usage("--schema needs a file");
    schemaPath = args[++i];
  } else if (args[i] === "--help" || args[i] === "-h") {
    usage();
  } else {
    files.push(args[i]);
  }
}
if (files.length === 0) usage("no file given");

let validate;
try {
  const schema = JSON.parse(readFileSync(schemaPath, "utf8"));
  // strict: false because the TD schema carries annotations ajv's strict
  // mode does not know ("version"); no loadSchema: an external $ref fails
  // to compile instead of being fetched.
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  // IRI formats (used by some TD schema versions) are not in ajv-formats:
  // accept them rather than fail on an unknown format.
  for (const f of ["iri", "iri-reference"]) {
    if (!ajv.formats[f]) ajv.addFormat(f, true);
  }
  validate = ajv.compile(schema);
} catch (e) {
  console.error(`validate-td: ${schemaPath}: cannot load the schema: ${e.message}`);
  process.exit(2);
}

function describe(errors) {
  const shown = errors.slice(0, MAX_ERRORS_SHOWN).map((e) => {
    const where = e.instancePath || "/";
    const extra = e.params && e.params.additionalProperty
      ? ` (${e.params.additionalProperty})`
      : e.params && e.params.missingProperty
        ? ` (${e.params.missingProperty})`
        : "";
    return `${where} ${e.message}${extra}`;
  });
  const more = errors.length > MAX_ERRORS_SHOWN ? `; ${errors.length - MAX_ERRORS_SHOWN} more` : "";
  return shown.join("; ") + more;
}

let invalid = 0;
for (const file of files) {
  let doc;
  try {
    doc = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    const why = e.code ? `cannot read (${e.code})` : `not JSON: ${e.message}`;
    console.log(`${file}: invalid: ${why}`);
    invalid++;
    continue;
  }
  if (validate(doc)) {
    console.log(`${file}: valid`);
  } else {
    console.log(`${file}: invalid: ${describe(validate.errors)}`);
    invalid++;
  }
}
process.exit(invalid ? 1 : 0);
