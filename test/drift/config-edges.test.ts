import { test } from 'node:test';
import assert from 'node:assert/strict';
import { driftConfigSchema } from '../../src/drift/config.ts';

/** The agent's `drift:` section with the documented defaults written out (docs/drift.md): an operator may spell them. */
test('agent drift config: `enabled: auto` and `mode: tumbling` written explicitly are accepted as such', () => {
  assert.equal(driftConfigSchema.parse({ enabled: 'auto' }).enabled, 'auto');
  assert.equal(driftConfigSchema.parse({ mode: 'tumbling' }).mode, 'tumbling');
  assert.equal(driftConfigSchema.parse({ mode: 'sliding' }).mode, 'sliding');
  for (const bad of [{ enabled: '' }, { enabled: 'Auto' }, { mode: '' }]) assert.equal(driftConfigSchema.safeParse(bad).success, false, JSON.stringify(bad));
});
