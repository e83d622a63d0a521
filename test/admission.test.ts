import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdmissionControl, type AdmissionOutcome } from '../src/serve/admission.js';

function collect() {
  const outcomes: AdmissionOutcome[] = [];
  return { outcomes, answer: (outcome: AdmissionOutcome) => outcomes.push(outcome) };
}

describe('admission control (the counting semaphore)', () => {
  it('admits exactly max, refuses the rest, and reuses released slots', () => {
    const control = new AdmissionControl(3, 'reject', 1000, [100, 100]);
    const { outcomes, answer } = collect();
    for (let i = 0; i < 5; i++) control.request(i % 2, i, answer);
    assert.deepEqual(outcomes, ['admitted', 'admitted', 'admitted', 'full', 'full']);
    assert.equal(control.state.open, 3);
    control.release(0);
    control.request(1, 9, answer);
    assert.equal(outcomes.at(-1), 'admitted');
    assert.equal(control.state.open, 3);
  });

  it('queue mode: first come first served, then a timeout answer', async () => {
    const control = new AdmissionControl(1, 'queue', 50, [10]);
    const { outcomes, answer } = collect();
    control.request(0, 1, answer);
    const order: number[] = [];
    control.request(0, 2, (o) => order.push(2) && outcomes.push(o));
    control.request(0, 3, (o) => order.push(3) && outcomes.push(o));
    assert.equal(control.state.queued, 2);
    control.release(0);
    assert.deepEqual(order, [2]);
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.deepEqual(order, [2, 3]);
    assert.deepEqual(outcomes, ['admitted', 'admitted', 'queue-timeout']);
    assert.equal(control.state.queued, 0);
  });

  it('a cancelled waiter is skipped and never answered', () => {
    const control = new AdmissionControl(1, 'queue', 10_000, [10]);
    const { outcomes, answer } = collect();
    control.request(0, 1, answer);
    control.request(0, 2, () => assert.fail('cancelled waiter answered'));
    control.request(0, 3, answer);
    control.cancel(0, 2);
    control.release(0);
    assert.deepEqual(outcomes, ['admitted', 'admitted']);
    control.close();
  });

  it('never lets one worker hold more than its fd budget', () => {
    const control = new AdmissionControl(10, 'reject', 1000, [2, 8]);
    const { outcomes, answer } = collect();
    for (let i = 0; i < 3; i++) control.request(0, i, answer);
    assert.deepEqual(outcomes, ['admitted', 'admitted', 'worker-full']);
  });

  it('frees every slot of a worker that died, and refuses after close', () => {
    const control = new AdmissionControl(4, 'reject', 1000, [4, 4]);
    const { outcomes, answer } = collect();
    for (let i = 0; i < 4; i++) control.request(i % 2, i, answer);
    control.forgetOwner(1);
    assert.equal(control.state.open, 2);
    control.close();
    control.request(0, 99, answer);
    assert.equal(outcomes.at(-1), 'shutting-down');
  });
});
