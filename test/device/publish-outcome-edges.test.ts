import { test } from 'node:test';
import assert from 'node:assert/strict';
import { publishOutcome } from '../../device/mqtt/publish-outcome.ts';

/**
 * The ends of the one-byte reason-code range (MQTT 5 section 2.4), which the mutation run of
 * publish-outcome.ts found unpinned: 0x00 is Success, 0xFF is still a reason code (a refusal), and
 * only values outside 0..255 are the client's own error codes.
 */

const rejected = (code: number): PromiseSettledResult<void> => ({ status: 'rejected', reason: Object.assign(new Error('Publish error: x'), { code }) });

test('reason code 0x00 is a success; 0xFF is a final refusal; 0x100 is no reason code, so the message is retried', () => {
  assert.deepEqual(publishOutcome(rejected(0x00)), { kind: 'acked' });
  assert.deepEqual(publishOutcome(rejected(0xff)), { kind: 'refused', reasonCode: 0xff, reason: 'x (0xff)' });
  assert.deepEqual(publishOutcome(rejected(0x100)), { kind: 'retry', reason: 'Publish error: x' });
});
