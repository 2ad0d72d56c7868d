// Validates FHIR JSON files with FHIR.js (npm package "fhir", R4 definitions) and prints one
// JSON object: {"files": [{"file", "valid", "messages": [{severity, location, message}]}]}.
// A Bundle's entries are validated with it (FHIR.js walks contained resources).
// Usage: node validate.js FILE...
"use strict";
const fs = require("fs");
const { Fhir } = require("fhir");

const fhir = new Fhir();
const results = [];
for (const file of process.argv.slice(2)) {
  const resource = JSON.parse(fs.readFileSync(file, "utf8"));
  const targets = [resource];
  const messages = [];
  for (const target of targets) {
    const outcome = fhir.validate(target, { errorOnUnexpected: true });
    for (const m of outcome.messages || []) {
      messages.push({
        resource: `${target.resourceType}/${target.id || ""}`,
        severity: m.severity,
        location: m.location,
        message: m.message,
      });
    }
  }
  const valid = !messages.some((m) => m.severity === "error");
  results.push({ file, valid, messages });
}
process.stdout.write(JSON.stringify({ files: results }, null, 1) + "\n");
