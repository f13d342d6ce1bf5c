// Validates SARIF logs against the OASIS SARIF 2.1.0 JSON schema (JSON Schema draft-04), as shipped by
// @microsoft/jest-sarif. Usage: node validate-sarif.mjs FILE...; exits 1 naming every violation.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import Ajv from "ajv-draft-04";
import addFormats from "ajv-formats";

const require = createRequire(import.meta.url);
const schemaPath = require.resolve("@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json");
const schema = JSON.parse(readFileSync(schemaPath, "utf8"));
// strict: false: ajv's strict mode rejects annotations the OASIS schema uses; unicodeRegExp:
// false: its `language` pattern (`...-[a-zA-Z]{2}]?$`, a stray `]`) is only valid without the
// regexp `u` flag, as in the draft-04 validators the schema was written for.
const ajv = new Ajv({ allErrors: true, strict: false, unicodeRegExp: false });
addFormats(ajv);
const validate = ajv.compile(schema);

let failed = 0;
for (const file of process.argv.slice(2)) {
  const log = JSON.parse(readFileSync(file, "utf8"));
  if (validate(log)) {
    const results = log.runs.reduce((n, run) => n + (run.results ?? []).length, 0);
    console.log(`${file}: valid SARIF ${log.version} (${results} results)`);
  } else {
    failed++;
    console.log(`${file}: INVALID against ${schema.title ?? "the SARIF schema"}`);
    for (const e of validate.errors) console.log(`  ${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`);
  }
}
process.exit(failed ? 1 : 0);
