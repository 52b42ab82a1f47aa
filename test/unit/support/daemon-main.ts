// A daemon with a fake job, for the signal tests: `node daemon-main.js DIR STATE`.
// The job logs to stderr, then waits for its signal (a safe point after 200 ms), or
// finishes after TSBAK_TEST_JOB_MS.
import { runDaemon } from '../../../src/schedule/daemon.js';
import { jsonLog } from '../../../src/schedule/log.js';

const [dir, statePath] = process.argv.slice(2) as [string, string];
const jobMs = Number(process.env.TSBAK_TEST_JOB_MS ?? 60_000);
const code = await runDaemon({
  dir,
  statePath,
  log: jsonLog(),
  heartbeatMs: 200,
  graceMs: 1500,
  stopTimeoutMs: Number(process.env.TSBAK_TEST_STOP_MS ?? 5000),
  runJob: (schedule, signal) =>
    new Promise((resolve, reject) => {
      process.stderr.write(`job ${schedule.name} started\n`);
      const t = setTimeout(() => resolve({ outcome: 'success', figures: {}, errors: [] }), jobMs);
      signal.addEventListener('abort', () => {
        if (process.env.TSBAK_TEST_IGNORE_ABORT) return;
        setTimeout(() => {
          clearTimeout(t);
          process.stderr.write(`job ${schedule.name} reached a safe point\n`);
          reject(signal.reason);
        }, 200);
      });
    }),
});
process.exit(code);
