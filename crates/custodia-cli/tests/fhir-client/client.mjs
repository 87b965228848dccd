// A stock FHIR client library (fhir-kit-client, unmodified, from the npm
// registry) against a Custodia node: create, search with paging, read,
// update and history. Prints what it saw as one JSON object; any error
// fails the process. Run by crates/custodia-cli/tests/fhir_client.rs as
//   node client.mjs <FHIR base URL> <bearer token> <patient pseudonym>
import { Client } from 'fhir-kit-client';

const [baseUrl, bearerToken, patient] = process.argv.slice(2);
const client = new Client({ baseUrl, bearerToken });

const observation = (value) => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
  subject: { reference: `Patient/${patient}` },
  valueQuantity: { value, unit: 'beats/minute' },
});

const metadata = await client.capabilityStatement();
const created = [];
for (let value = 60; value < 85; value += 1) {
  created.push((await client.create({ resourceType: 'Observation', body: observation(value) })).id);
}

// Search, then follow the Bundle's next links to the last page.
const pages = [];
let page = await client.search({
  resourceType: 'Observation',
  searchParams: { patient: `Patient/${patient}`, _count: 10 },
});
while (page) {
  pages.push(page.entry.map((entry) => entry.resource.id));
  page = await client.nextPage({ bundle: page });
}

const first = await client.read({ resourceType: 'Observation', id: created[0] });
await client.update({
  resourceType: 'Observation',
  id: created[0],
  body: { ...observation(99), id: created[0] },
});
const history = await client.history({ resourceType: 'Observation', id: created[0] });

console.log(JSON.stringify({
  fhirVersion: metadata.fhirVersion,
  created,
  pages,
  read: { id: first.id, value: first.valueQuantity.value },
  history: history.entry.map((entry) => entry.resource.valueQuantity.value),
}));
