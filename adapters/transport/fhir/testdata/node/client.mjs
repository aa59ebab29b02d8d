// A real FHIR client (fhir-kit-client) driven by the facade's Go tests.
// Usage: node client.mjs <step> <base URL> <token> [args…]; prints one
// JSON object on stdout.
//
//   subscribe <endpoint> <topic URL>  creates a rest-hook Subscription
//   accept <owner>                    searches the owner's requested Tasks
//                                     (following Bundle.link next), reads the
//                                     first, and accepts it by update with
//                                     If-Match
import { Client } from "fhir-kit-client";

const [step, baseUrl, token, ...args] = process.argv.slice(2);
const client = new Client({ baseUrl, customHeaders: { Authorization: `Bearer ${token}` } });

async function subscribe(endpoint, topic) {
  const meta = await client.capabilityStatement();
  const sub = await client.create({
    resourceType: "Subscription",
    body: {
      resourceType: "Subscription",
      meta: { profile: ["http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription"] },
      status: "requested",
      reason: "home care offers for the municipal EHR",
      criteria: topic,
      channel: {
        type: "rest-hook",
        endpoint,
        payload: "application/fhir+json",
        extension: [{ url: "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content", valueCode: "full-resource" }],
      },
    },
  });
  const secret = sub.channel.extension.find((e) => e.url === "https://stafet.dk/fhir/StructureDefinition/signing-secret").valueString;
  return { fhirVersion: meta.fhirVersion, id: sub.id, status: sub.status, secret };
}

async function accept(owner) {
  const ids = [];
  let bundle = await client.search({ resourceType: "Task", searchParams: { owner: `Organization/${owner}`, status: "requested", _count: 2 } });
  for (;;) {
    for (const e of bundle.entry || []) ids.push(e.resource.id);
    if (!(bundle.link || []).some((l) => l.relation === "next")) break;
    bundle = await client.nextPage({ bundle });
  }
  if (ids.length === 0) return { ids };
  const task = await client.read({ resourceType: "Task", id: ids[0] });
  task.status = "accepted";
  const updated = await client.update({
    resourceType: "Task",
    id: task.id,
    body: task,
    options: { headers: { "If-Match": `W/"${task.meta.versionId}"` } },
  });
  return { ids, accepted: updated.id, status: updated.status, version: updated.meta.versionId, before: task.meta.versionId };
}

try {
  const out = step === "subscribe" ? await subscribe(...args) : await accept(...args);
  console.log(JSON.stringify(out));
} catch (e) {
  console.log(JSON.stringify({ error: String(e), status: e.response?.status, body: e.response?.data }));
  process.exit(1);
}
