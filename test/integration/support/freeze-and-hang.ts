// Freezes containers through the freezer API, prints one JSON line, then hangs until killed
// (or, with "then", throws an uncaught exception or calls process.exit without thawing).
// Used by test/integration/freeze.test.ts to kill a freezing tsbak in every way.
//   node freeze-and-hang.js '{"targets":[{"id":…,"name":…,"pid":…}],"version":"v2","maxFreezeMs":60000,"watchdog":true}'
import { freezeContainers, type CgroupVersion, type FreezeTarget } from '../../../src/freeze/freezer.js';

interface Args {
  targets: FreezeTarget[];
  version?: CgroupVersion;
  maxFreezeMs: number;
  watchdog: boolean;
  then?: 'hang' | 'throw' | 'exit';
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const group = await freezeContainers(args.targets, { version: args.version ?? 'auto', maxFreezeMs: args.maxFreezeMs, watchdog: args.watchdog });
process.stdout.write(JSON.stringify({ frozen: group.members }) + '\n');
if (args.then === 'throw') setTimeout(() => {
  throw new Error('boom while frozen');
}, 300);
else if (args.then === 'exit') setTimeout(() => process.exit(7), 300);
else setInterval(() => {}, 1 << 30);
