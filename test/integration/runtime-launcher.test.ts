// The built-in runtime's launcher (native/tsbak-runtime) against the real kernel, with runc as
// the oracle: the same generated bundle must give the same container under both. Needs root;
// no dockerd. Run through `node dist/test/env/run.js dist/test/integration/runtime-launcher.test.js`
// or directly: `node --test dist/test/integration/runtime-launcher.test.js`.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildRuntimeSpec, type BindMount, type RuntimeSpecInput } from '../../src/runtime/bundle/spec.js';
import { resolveUser } from '../../src/runtime/bundle/user.js';
import { writeBundle } from '../../src/runtime/bundle/write.js';
import type { OciSpec } from '../../src/runtime/bundle/oci.js';
import {
  ContainerExecError,
  ContainerStartError,
  execInContainer,
  launcherPath,
  readContainerState,
  readLogs,
  signalContainer,
  startContainer,
  type ContainerState,
  type LogEntry,
} from '../../src/runtime/launcher.js';
import { buildBusyboxRootfs, BUSYBOX, GROUP, PASSWD } from './support/runtime-rootfs.js';
import { runc, runcAvailable, runcRunDetached } from './support/runtime-runc.js';

function launcherSkip(): false | string {
  if (process.env.TSBAK_TEST_SKIP_INTEGRATION) return process.env.TSBAK_TEST_SKIP_INTEGRATION;
  if (process.getuid?.() !== 0) return 'the built-in runtime needs root (namespaces, cgroups, mounts): run as root';
  if (!existsSync(BUSYBOX)) return `no static busybox at ${BUSYBOX} for the test rootfs: apt-get install busybox-static`;
  try {
    launcherPath();
  } catch (err) {
    return `${(err as Error).message} (or run node native/build.mjs)`;
  }
  return false;
}

const skip = launcherSkip();
const runcSkip = skip || (runcAvailable() ? false : 'runc is not installed (apt-get install runc): the oracle comparison is skipped');
const RUN = `${process.pid.toString(36)}${Date.now().toString(36)}`;
const CGROUP_PARENT = `/tsbak-test-${RUN}`;
const RUNC_CGROUP_PARENT = `/tsbak-test-runc-${RUN}`;

/** Every cgroup hierarchy (runc makes its parents in all of them), and /sys/fs/cgroup itself for a pure-v2 host. */
function cgroupHierarchies(): string[] {
  const base = '/sys/fs/cgroup';
  let names: string[] = [];
  try {
    names = readdirSync(base, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    // no cgroup mount
  }
  return [base, ...names.map((n) => path.join(base, n))];
}

let work = '';
let rootfs = '';
let hostTmpfs = '';
const started: string[] = [];

before(() => {
  if (skip) return;
  work = mkdtempSync(path.join(os.tmpdir(), 'tsbak-launcher-'));
  rootfs = buildBusyboxRootfs(work);
  // a host mount that must not be visible inside
  hostTmpfs = path.join(work, 'host-only-mount');
  mkdirSync(hostTmpfs);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tsbak-host-only', hostTmpfs]);
});

after(async () => {
  if (skip) return;
  for (const dir of started) await signalContainer(dir, 'SIGKILL').catch(() => false);
  for (const dir of started) await waitExited(dir, 10_000).catch(() => undefined);
  try {
    execFileSync('umount', [hostTmpfs]);
  } catch {
    // not mounted
  }
  for (const m of cgroupHierarchies()) {
    for (const parent of [CGROUP_PARENT, RUNC_CGROUP_PARENT]) {
      try {
        rmdirSync(path.join(m, parent));
      } catch {
        // absent, or another layout
      }
    }
  }
  rmSync(work, { recursive: true, force: true });
});

let seq = 0;
function nextId(label: string): string {
  return `t${RUN}-${label}-${seq++}`;
}

interface BundleOptions {
  args: string[];
  user?: string;
  workingDir?: string;
  volumes?: BindMount[];
  cgroupParent?: string;
}

/** A bundle for `id` from the generator: the test rootfs, the given args, user and volumes. */
async function makeBundle(id: string, opts: BundleOptions): Promise<{ dir: string; spec: OciSpec }> {
  const input: RuntimeSpecInput = {
    imageName: 'busybox-test',
    image: { Env: ['PATH=/bin'], Cmd: opts.args },
    container: { entrypoint: null, cmd: null, env: [], workingDir: opts.workingDir ?? '', mounts: [] },
    rootfs,
    user: resolveUser(opts.user ?? '', PASSWD, GROUP),
    volumes: opts.volumes ?? [],
    network: 'none',
    cgroupsPath: `${opts.cgroupParent ?? CGROUP_PARENT}/${id}`,
    hostname: `h-${id}`.slice(0, 63),
  };
  const spec = buildRuntimeSpec(input);
  const dir = path.join(work, 'bundles', id);
  await writeBundle(dir, spec);
  return { dir, spec };
}

async function start(id: string, opts: BundleOptions): Promise<{ stateDir: string; state: ContainerState; spec: OciSpec }> {
  const { dir, spec } = await makeBundle(id, opts);
  const stateDir = path.join(work, 'state', id);
  started.push(stateDir);
  const state = await startContainer({ bundle: dir, stateDir, id });
  return { stateDir, state, spec };
}

async function waitExited(stateDir: string, timeoutMs = 20_000): Promise<ContainerState> {
  const t0 = Date.now();
  for (;;) {
    const s = await readContainerState(stateDir);
    if (s.status !== 'running') return s;
    if (Date.now() - t0 > timeoutMs) assert.fail(`container of ${stateDir} still running after ${timeoutMs} ms`);
    await sleep(20);
  }
}

async function logEntries(stateDir: string, follow = false): Promise<LogEntry[]> {
  const all: LogEntry[] = [];
  for await (const e of readLogs(stateDir, { follow })) all.push(e);
  return all;
}

async function stdoutOf(stateDir: string): Promise<string> {
  return (await logEntries(stateDir))
    .filter((e) => e.stream === 'stdout')
    .map((e) => e.log)
    .join('');
}

// --- what a container sees, under both runtimes -------------------------------------------------

/** Prints one `key=value` line per fact of the container's view of the system. */
const PROBE = [
  `echo "pid1=$(tr '\\0' ' ' < /proc/1/cmdline | cut -c1-16)"`,
  'n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo "nprocs=$n"',
  'echo "hostname=$(hostname)"',
  `echo "mounts=$(cut -d' ' -f5 /proc/self/mountinfo | sort | tr '\\n' ' ')"`,
  // a write to a read-only path fails with EROFS (not EPERM: that would not prove the read-only mount)
  'if [ -e /proc/sysrq-trigger ]; then echo "sysrq=$( (echo h > /proc/sysrq-trigger) 2>&1 | grep -q Read-only && echo read-only || echo writable)"; else echo sysrq=absent; fi',
  'echo "procsys=$( (echo x > /proc/sys/kernel/hostname) 2>&1 | grep -q Read-only && echo read-only || echo writable)"',
  // masked: /dev/null over files, an empty tmpfs over directories
  'echo "keys=$(wc -c < /proc/keys)"',
  'echo "firmware=$(ls -A /sys/firmware | wc -l)"',
  `echo "caps=$(grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/self/status | tr -d '\\t' | tr '\\n' ' ')"`,
  `echo "net=$(ls /sys/class/net | tr '\\n' ' ')"`,
  `echo "netdev=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' ')"`,
  `echo "dev=$(ls -A /dev | tr '\\n' ' ')"`,
  `echo "fds=$(ls /proc/self/fd | tr '\\n' ' ')"`,
  'echo "id=$(id -u):$(id -g):$(id -G)"',
  'echo "home=$HOME"',
  'echo "work=$(test -e /work && echo visible || echo absent)"',
  'if [ -d /data ]; then echo hello > /data/from-container && echo "volume=written"; fi',
  'if [ -d /ro ]; then if touch /ro/x 2>/dev/null; then echo "ro=writable"; else echo "ro=refused"; fi; fi',
].join('; ');

function parseProbe(text: string): Record<string, string> {
  const facts: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) facts[line.slice(0, eq)] = line.slice(eq + 1).trim();
  }
  return facts;
}

function words(s: string | undefined): string[] {
  return (s ?? '').split(/\s+/).filter(Boolean);
}

async function probeOurs(label: string, opts: Partial<BundleOptions> = {}): Promise<Record<string, string>> {
  const { stateDir } = await start(nextId(label), { args: ['sh', '-c', PROBE], ...opts });
  const exit = await waitExited(stateDir);
  assert.equal(exit.exitCode, 0, `probe exited ${exit.exitCode}: ${JSON.stringify(await logEntries(stateDir))}`);
  return parseProbe(await stdoutOf(stateDir));
}

async function probeRunc(label: string, opts: Partial<BundleOptions> = {}): Promise<Record<string, string>> {
  const id = nextId(`runc-${label}`);
  const { dir } = await makeBundle(id, { args: ['sh', '-c', PROBE], cgroupParent: RUNC_CGROUP_PARENT, ...opts });
  const r = await runc(path.join(work, 'runc-root'), ['run', '-b', dir, id]);
  assert.equal(r.code, 0, `runc run: ${r.stderr}`);
  return parseProbe(r.stdout);
}

function checkRootView(facts: Record<string, string>, volumes: boolean): void {
  assert.equal(facts.pid1, 'sh -c echo "pid1', 'pid 1 is the entrypoint (sh -c PROBE)');
  assert.ok(Number(facts.nprocs) >= 1 && Number(facts.nprocs) <= 6, `/proc lists only the container's pids, saw ${facts.nprocs}`);
  assert.match(facts.hostname ?? '', /^h-t/);
  const mounts = words(facts.mounts);
  assert.ok(!mounts.some((m) => m.startsWith('/work') || m.startsWith('/mnt') || m.includes('host-only') || m.startsWith(work)), `host mounts leak in: ${facts.mounts}`);
  for (const m of ['/', '/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/proc/sys', '/proc/keys', '/sys/firmware']) assert.ok(mounts.includes(m), `${m} is mounted`);
  if (volumes) assert.ok(mounts.includes('/data') && mounts.includes('/ro'));
  assert.equal(facts.work, 'absent');
  // this kernel may have no /proc/sysrq-trigger (CONFIG_MAGIC_SYSRQ off): then /proc/sys proves the read-only paths
  assert.equal(facts.sysrq, existsSync('/proc/sysrq-trigger') ? 'read-only' : 'absent', '/proc/sysrq-trigger is read-only');
  if (existsSync('/proc/sysrq-trigger')) assert.ok(mounts.includes('/proc/sysrq-trigger'));
  assert.equal(facts.procsys, 'read-only', '/proc/sys is read-only');
  assert.equal(facts.keys, '0', '/proc/keys is masked');
  assert.equal(facts.firmware, '0', '/sys/firmware is masked');
  assert.equal(facts.net, 'lo', 'only lo in /sys/class/net');
  assert.equal(facts.netdev, 'lo', 'only lo in /proc/net/dev');
  const fds = words(facts.fds).map(Number);
  assert.deepEqual(fds.slice(0, 3), [0, 1, 2]);
  assert.ok(fds.filter((f) => f > 2).length <= 1, `only fds 0-2 (and the one ls opens): ${facts.fds}`);
  assert.deepEqual(words(facts.dev).filter((d) => !['console', 'core'].includes(d)), ['fd', 'full', 'mqueue', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero']);
}

describe('the container as it sees itself, ours and runc', { skip }, () => {
  let ours: Record<string, string> = {};
  let oursNobody: Record<string, string> = {};
  let dataDir = '';

  before(async () => {
    if (skip) return;
    dataDir = path.join(work, 'vol-data');
    const roDir = path.join(work, 'vol-ro');
    mkdirSync(dataDir);
    mkdirSync(roDir);
    const volumes = [
      { source: dataDir, destination: '/data', readOnly: false },
      { source: roDir, destination: '/ro', readOnly: true },
    ];
    ours = await probeOurs('probe', { volumes });
    if (process.env.TSBAK_TEST_VERBOSE) console.error(ours);
    oursNobody = await probeOurs('nobody', { user: 'nobody' });
  });

  test('pid, proc, hostname, mounts, sysrq, network, /dev and fds', () => checkRootView(ours, true));

  test('root keeps Docker\'s 14 capabilities, nothing inheritable or ambient', () => {
    assert.equal(ours.caps, 'CapInh:0000000000000000 CapPrm:00000000a80425fb CapEff:00000000a80425fb CapBnd:00000000a80425fb CapAmb:0000000000000000');
    assert.equal(ours.id, '0:0:0');
    assert.equal(ours.home, '/root');
  });

  test('volumes: a writable one is written through, a read-only one refuses writes', () => {
    assert.equal(ours.volume, 'written');
    assert.equal(readFileSync(path.join(dataDir, 'from-container'), 'utf8'), 'hello\n');
    assert.equal(ours.ro, 'refused');
  });

  test('user nobody: uid 65534 and no effective capabilities', () => {
    assert.equal(oursNobody.id, '65534:65534:65534');
    assert.match(oursNobody.caps ?? '', /CapEff:0000000000000000/);
    assert.match(oursNobody.caps ?? '', /CapBnd:00000000a80425fb/);
    assert.equal(oursNobody.home, '/nonexistent');
  });

  test('runc sees the same container', { skip: runcSkip }, async () => {
    const volumes = [
      { source: path.join(work, 'vol-data'), destination: '/data', readOnly: false },
      { source: path.join(work, 'vol-ro'), destination: '/ro', readOnly: true },
    ];
    const theirs = await probeRunc('probe', { volumes });
    checkRootView(theirs, true);
    for (const key of ['pid1', 'mounts', 'sysrq', 'procsys', 'keys', 'firmware', 'caps', 'net', 'netdev', 'dev', 'fds', 'id', 'home', 'work', 'volume', 'ro']) {
      assert.equal(ours[key], theirs[key], `${key}: ours ${ours[key]} vs runc ${theirs[key]}`);
    }
    const theirsNobody = await probeRunc('nobody', { user: 'nobody' });
    for (const key of ['caps', 'id', 'home', 'dev', 'fds']) assert.equal(oursNobody[key], theirsNobody[key], `nobody ${key}`);
  });
});

// --- lifecycle, errors, cgroups, logs ---------------------------------------------------------------

describe('lifecycle', { skip }, () => {
  test('exit 3 is recorded in exit.json after the CLI has gone; the monitor outlived it', async () => {
    const { stateDir, state } = await start(nextId('exit3'), { args: ['sh', '-c', 'sleep 0.3; exit 3'] });
    assert.equal(state.status, 'running');
    const stateFile = JSON.parse(readFileSync(path.join(stateDir, 'state.json'), 'utf8')) as { pid: number; monitorPid: number; startTime: string };
    // the monitor is a session leader of its own, not in the caller's session
    const stat = readFileSync(`/proc/${stateFile.monitorPid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    assert.equal(Number(fields[3]), stateFile.monitorPid, 'monitor is its own session leader');
    const exit = await waitExited(stateDir);
    assert.equal(exit.status, 'exited');
    assert.equal(exit.exitCode, 3);
    assert.equal(exit.signal, null);
    assert.ok(exit.finished && exit.started && exit.finished > exit.started);
  });

  test('the monitor ignores SIGHUP, SIGINT and SIGTERM; kill -9 of pid 1 is recorded as 137', async () => {
    const { stateDir, state } = await start(nextId('kill9'), { args: ['sh', '-c', 'while :; do sleep 1; done'] });
    const { monitorPid } = JSON.parse(readFileSync(path.join(stateDir, 'state.json'), 'utf8')) as { monitorPid: number };
    for (const sig of ['SIGHUP', 'SIGINT', 'SIGTERM'] as const) process.kill(monitorPid, sig);
    await sleep(200);
    assert.equal((await readContainerState(stateDir)).status, 'running');
    assert.ok(existsSync(`/proc/${monitorPid}`), 'the monitor survived');
    assert.ok(state.pid);
    process.kill(state.pid, 'SIGKILL');
    const exit = await waitExited(stateDir);
    assert.equal(exit.exitCode, 137);
    assert.equal(exit.signal, 'SIGKILL');
    assert.equal(await signalContainer(stateDir, 'SIGKILL'), false, 'an exited container is not signalled');
  });

  test('a pid reused by another process is not taken for the container', async () => {
    const { stateDir } = await start(nextId('reuse'), { args: ['sh', '-c', 'exit 0'] });
    await waitExited(stateDir);
    // forge a state whose pid is alive (ours) but whose start time is not
    const forged = path.join(work, 'state', 'forged');
    mkdirSync(forged, { recursive: true });
    writeFileSync(path.join(forged, 'state.json'), JSON.stringify({ pid: process.pid, startTime: '1', monitorPid: process.pid, monitorStartTime: '1', started: 'x' }));
    assert.equal((await readContainerState(forged)).status, 'dead');
    assert.equal(await signalContainer(forged, 'SIGKILL'), false);
  });

  test('a missing entrypoint fails start with a clear message, leaving no state or cgroup', async () => {
    const id = nextId('noentry');
    await assert.rejects(
      start(id, { args: ['/app/run'] }),
      (e: unknown) => e instanceof ContainerStartError && e.message.includes('exec /app/run: No such file or directory (the entrypoint does not exist in the image)'),
    );
    assert.equal(existsSync(path.join(work, 'state', id, 'state.json')), false);
    assert.equal(existsSync(`/sys/fs/cgroup/freezer${CGROUP_PARENT}/${id}`), false);
    await assert.rejects(start(nextId('nopath'), { args: ['nosuchcmd'] }), /exec nosuchcmd: executable file not found in \$PATH \(\/bin\)/);
  });

  test('a missing working directory fails start with a clear message', async () => {
    await assert.rejects(start(nextId('nocwd'), { args: ['sh'], workingDir: '/x' }), (e: unknown) => e instanceof ContainerStartError && e.message.endsWith('working directory /x does not exist in the rootfs'));
  });

  test('a volume destination that is (or passes through) a symlink is refused; nothing is mounted on its target', async () => {
    const target = path.join(work, 'symlink-target');
    mkdirSync(target);
    const source = path.join(work, 'symlink-source');
    mkdirSync(source);
    writeFileSync(path.join(source, 'marker'), 'from the volume');
    symlinkSync(target, path.join(rootfs, 'evil'));
    symlinkSync(target, path.join(rootfs, 'evil-dir'));
    try {
      await assert.rejects(
        start(nextId('symlink'), { args: ['sh'], volumes: [{ source, destination: '/evil', readOnly: false }] }),
        (e: unknown) => e instanceof ContainerStartError && e.message.endsWith('mount destination /evil: a symlink in the rootfs, refused'),
      );
      await assert.rejects(
        start(nextId('symlink2'), { args: ['sh'], volumes: [{ source, destination: '/evil-dir/sub', readOnly: false }] }),
        /mount destination \/evil-dir\/sub: \/evil-dir is a symlink in the rootfs, refused/,
      );
      assert.deepEqual(readdirSync(target), [], 'nothing was created or mounted on the host path');
      assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(target));
    } finally {
      rmSync(path.join(rootfs, 'evil'));
      rmSync(path.join(rootfs, 'evil-dir'));
    }
  });
});

function cgroupFile(dir: string, file: string): string {
  return readFileSync(path.join(dir, file), 'utf8');
}

async function counter(file: string): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const n = Number(readFileSync(file, 'utf8').trim());
    if (n > 0) return n;
    await sleep(10); // caught between the truncate and the write
  }
  return 0;
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > timeoutMs) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await sleep(10);
  }
}

describe('cgroups', { skip }, () => {
  test('v1 freezer and v2 hold the container; freezing stops a counter, thawing resumes it; removed after exit', async () => {
    const id = nextId('freeze');
    const { stateDir, state } = await start(id, { args: ['sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i > /tmp/count; usleep 2000; done'] });
    const v1 = `/sys/fs/cgroup/freezer${CGROUP_PARENT}/${id}`;
    const v2 = `/sys/fs/cgroup/unified${CGROUP_PARENT}/${id}`;
    assert.ok(state.cgroups?.includes(v1), `cgroups: ${state.cgroups?.join(' ')}`);
    assert.ok(state.cgroups?.includes(v2));
    assert.ok(cgroupFile(v1, 'cgroup.procs').split('\n').includes(String(state.pid)));
    assert.ok(cgroupFile(v2, 'cgroup.procs').split('\n').includes(String(state.pid)));
    const devices = `/sys/fs/cgroup/devices${CGROUP_PARENT}/${id}`;
    assert.ok(cgroupFile(devices, 'devices.list').includes('c 1:3 rwm'));
    assert.ok(!cgroupFile(devices, 'devices.list').includes('a *:* rwm'), 'devices start from deny-all');
    const count = path.join(rootfs, 'tmp', 'count');
    await waitFor('the counter runs', () => existsSync(count));

    const stops = async (freeze: () => void, frozen: () => boolean, thaw: () => void) => {
      freeze();
      await waitFor('the kernel reports the cgroup frozen', frozen);
      const a = await counter(count);
      await sleep(300);
      assert.equal(await counter(count), a, 'frozen: the counter stands still');
      thaw();
      const t0 = Date.now();
      while ((await counter(count)) <= a) {
        if (Date.now() - t0 > 5000) assert.fail('thawed: the counter does not move again');
        await sleep(20);
      }
    };
    await stops(
      () => writeFileSync(path.join(v1, 'freezer.state'), 'FROZEN'),
      () => cgroupFile(v1, 'freezer.state').trim() === 'FROZEN',
      () => writeFileSync(path.join(v1, 'freezer.state'), 'THAWED'),
    );
    await waitFor('v1 thawed', () => cgroupFile(v1, 'freezer.state').trim() === 'THAWED');
    await stops(
      () => writeFileSync(path.join(v2, 'cgroup.freeze'), '1'),
      () => /^frozen 1$/m.test(cgroupFile(v2, 'cgroup.events')),
      () => writeFileSync(path.join(v2, 'cgroup.freeze'), '0'),
    );

    assert.equal(await signalContainer(stateDir, 'SIGKILL'), true);
    const exit = await waitExited(stateDir);
    assert.equal(exit.exitCode, 137);
    for (const dir of state.cgroups ?? []) assert.equal(existsSync(dir), false, `${dir} is removed after exit`);
  });
});

describe('logs', { skip }, () => {
  test('stdout and stderr lines with their stream tags, escaped, long lines split, the last partial line kept', async () => {
    const script = [
      'echo out-line',
      'echo err-line >&2',
      `printf 'quote " backslash \\\\ tab \\t bell \\a unicode é €\\n'`,
      'head -c 40000 /dev/zero | tr "\\0" x; echo',
      "printf 'no newline at the end'",
    ].join('; ');
    const { stateDir } = await start(nextId('logs'), { args: ['sh', '-c', script] });
    const entries = await logEntries(stateDir, true); // follows until exit.json
    assert.equal((await readContainerState(stateDir)).status, 'exited');
    const out = entries.filter((e) => e.stream === 'stdout');
    const err = entries.filter((e) => e.stream === 'stderr');
    assert.deepEqual(err.map((e) => e.log), ['err-line\n']);
    assert.equal(out[0]?.log, 'out-line\n');
    assert.equal(out[1]?.log, 'quote " backslash \\ tab \t bell \u0007 unicode é €\n');
    assert.equal(out.map((e) => e.log).join(''), `out-line\nquote " backslash \\ tab \t bell \u0007 unicode é €\n${'x'.repeat(40000)}\nno newline at the end`);
    assert.ok(out.length >= 6, 'the 40000-byte line comes in pieces');
    assert.equal(out.at(-1)?.log, 'no newline at the end');
    for (const e of entries) assert.match(e.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    const raw = readFileSync(path.join(stateDir, 'container.log'), 'utf8').split('\n')[0] ?? '';
    assert.match(raw, /^\{"time":"[^"]+","stream":"stdout","log":"out-line\\n"\}$/);
    const since = new Date(Date.parse(entries.at(-1)?.time ?? '') + 1);
    assert.deepEqual(await (async () => { const l: LogEntry[] = []; for await (const e of readLogs(stateDir, { since })) l.push(e); return l; })(), []);
  });
});

describe('config.json as the launcher reads it', { skip }, () => {
  async function startWithConfig(id: string, edit: (text: string) => string): Promise<string> {
    const { dir } = await makeBundle(id, { args: ['sh', '-c', 'echo "$GREETING"'] });
    const file = path.join(dir, 'config.json');
    writeFileSync(file, edit(readFileSync(file, 'utf8')));
    const stateDir = path.join(work, 'state', id);
    started.push(stateDir);
    await startContainer({ bundle: dir, stateDir, id });
    await waitExited(stateDir);
    return stdoutOf(stateDir);
  }

  test('\\u escapes (surrogate pairs too) decode to UTF-8 and come back out of the log intact', async () => {
    const out = await startWithConfig(nextId('unicode'), (text) => {
      const spec = JSON.parse(text) as OciSpec;
      spec.process.env.push('GREETING=PLACEHOLDER');
      return JSON.stringify(spec).replace('PLACEHOLDER', 'caf\\u00e9 \\ud83d\\ude00 \\"q\\" \\\\ \\/');
    });
    assert.equal(out, 'café 😀 "q" \\ /\n');
  });

  test('malformed or unsupported documents are refused with the reason', async () => {
    const cases: [string, (t: string) => string, RegExp][] = [
      ['trunc', (t) => t.slice(0, t.length - 3), /config\.json: .* at byte \d+/],
      ['badesc', (t) => t.replace('"HOSTNAME=', '"\\x'), /config\.json: bad escape in string at byte/],
      ['tty', (t) => t.replace('"terminal": false', '"terminal": true'), /process\.terminal is true, but the built-in runtime has no TTY support/],
      ['seccomp', (t) => t.replace('"linux": {', '"linux": { "seccomp": {"defaultAction": "SCMP_ACT_ALLOW"},'), /does not apply seccomp filters/],
      ['nsjoin', (t) => t.replace('{ "type": "ipc" }', '{ "type": "ipc", "path": "/proc/1/ns/ipc" }').replace('{\n        "type": "ipc"\n      }', '{ "type": "ipc", "path": "/proc/1/ns/ipc" }'), /joining an existing ipc namespace/],
      ['cgdots', (t) => t.replace(/"cgroupsPath": "[^"]*"/, '"cgroupsPath": "/tsbak/../../escape"'), /linux\.cgroupsPath .* must be a plain path/],
      ['cap', (t) => t.replace('"CAP_KILL"', '"CAP_NOPE"'), /unknown capability CAP_NOPE/],
    ];
    for (const [label, edit, want] of cases) {
      await assert.rejects(startWithConfig(nextId(label), edit), (e: unknown) => e instanceof ContainerStartError && want.test(e.message), label);
    }
  });
});

describe('exec', { skip }, () => {
  let stateDir = '';
  before(async () => {
    if (skip) return;
    stateDir = (await start(nextId('exec'), { args: ['sh', '-c', 'while :; do sleep 1; done'] })).stateDir;
  });
  after(async () => {
    if (!skip) await signalContainer(stateDir, 'SIGKILL');
  });

  test('runs inside the namespaces and cgroups, with the container\'s capabilities; exit status passes through', async () => {
    const state = await readContainerState(stateDir);
    const r = await execInContainer(stateDir, {
      cmd: ['sh', '-c', 'hostname; tr "\\0" " " < /proc/1/cmdline; echo; grep CapEff /proc/self/status; cat /proc/self/cgroup | grep freezer; echo to-stderr >&2; exit 5'],
      env: ['PATH=/bin'],
      timeoutMs: 10_000,
    });
    assert.equal(r.exitCode, 5);
    const lines = r.output.split('\n');
    assert.match(lines[0] ?? '', /^h-t/);
    assert.match(lines[1] ?? '', /^sh -c while/);
    assert.match(r.output, /CapEff:\t00000000a80425fb/);
    assert.ok(r.output.includes(`freezer:${CGROUP_PARENT}/`), r.output);
    assert.ok(r.output.includes('to-stderr'));
    assert.equal(state.status, 'running');
  });

  test('as another user: no effective capabilities', async () => {
    const r = await execInContainer(stateDir, { cmd: ['sh', '-c', 'id -u; grep CapEff /proc/self/status'], env: ['PATH=/bin'], user: { uid: 65534, gid: 65534 }, timeoutMs: 10_000 });
    assert.equal(r.exitCode, 0);
    assert.equal(r.output, '65534\nCapEff:\t0000000000000000\n');
  });

  test('a missing command is 127 with the reason; a timeout kills it; a stopped container is refused', async () => {
    const missing = await execInContainer(stateDir, { cmd: ['nosuch'], env: ['PATH=/bin'], timeoutMs: 10_000 });
    assert.equal(missing.exitCode, 127);
    assert.match(missing.output, /exec nosuch: executable file not found in \$PATH/);
    const t0 = Date.now();
    await assert.rejects(execInContainer(stateDir, { cmd: ['sleep', '30'], timeoutMs: 300 }), (e: unknown) => e instanceof ContainerExecError && /did not finish within 300 ms/.test(e.message));
    assert.ok(Date.now() - t0 < 5000);
    await sleep(200);
    const ps = await execInContainer(stateDir, { cmd: ['ps', '-o', 'args'], timeoutMs: 10_000 });
    assert.ok(!ps.output.includes('sleep 30'), `the timed-out command was killed:\n${ps.output}`);
    await assert.rejects(execInContainer(stateDir, { cmd: ['true'], cwd: '/nope', timeoutMs: 10_000 }), /working directory \/nope does not exist in the container/);
    const { stateDir: gone } = await start(nextId('gone'), { args: ['true'] });
    await waitExited(gone);
    await assert.rejects(execInContainer(gone, { cmd: ['true'], timeoutMs: 1000 }), /is not running \(exited\)/);
  });
});

describe('start latency, ours and runc (median of 5)', { skip: runcSkip }, () => {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

  test('measured', async (t: TestContext) => {
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const id = nextId('lat');
      const { dir } = await makeBundle(id, { args: ['sleep', '1000'] });
      const stateDir = path.join(work, 'state', id);
      started.push(stateDir);
      const t0 = performance.now();
      await startContainer({ bundle: dir, stateDir, id });
      ours.push(performance.now() - t0);
      await signalContainer(stateDir, 'SIGKILL');
      await waitExited(stateDir);

      const rid = nextId('rlat');
      const r = await makeBundle(rid, { args: ['sleep', '1000'], cgroupParent: RUNC_CGROUP_PARENT });
      const root = path.join(work, 'runc-root');
      const t1 = performance.now();
      const code = await runcRunDetached(root, r.dir, rid, path.join(work, `runc-${rid}.log`));
      theirs.push(performance.now() - t1);
      assert.equal(code, 0, readFileSync(path.join(work, `runc-${rid}.log`), 'utf8'));
      await runc(root, ['delete', '-f', rid]);
    }
    t.diagnostic(`start latency: ours median ${median(ours).toFixed(1)} ms (${ours.map((x) => x.toFixed(1)).join(', ')}), runc run -d median ${median(theirs).toFixed(1)} ms (${theirs.map((x) => x.toFixed(1)).join(', ')})`);
    assert.ok(median(ours) < 2000, 'starting takes well under 2 s');
  });
});
