/**
 * What Docker (20.10, moby's oci.DefaultSpec and its daemon) puts in every
 * unprivileged container's spec, so a container restored into the built-in
 * runtime sees the same system as under Docker.
 */
import type { OciDeviceRule, OciMount, OciRlimit } from './oci.js';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Docker's 14 default capabilities: CapEff 00000000a80425fb for root. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** The kernel filesystems every container gets, in mount order. */
export const DEFAULT_MOUNTS: readonly OciMount[] = [
  { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
  { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
  { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
  { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
  { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
  { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=67108864'] },
];

/** Hidden from the container: /dev/null bound over files, an empty read-only tmpfs over directories. */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
];

export const DEFAULT_READONLY_PATHS: readonly string[] = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

const rwm = (type: 'c' | 'b', major: number | undefined, minor: number | undefined, access = 'rwm'): OciDeviceRule => ({
  allow: true,
  type,
  ...(major === undefined ? {} : { major }),
  ...(minor === undefined ? {} : { minor }),
  access,
});

/** The devices cgroup: everything denied, then Docker's allow-list. */
export const DEFAULT_DEVICE_RULES: readonly OciDeviceRule[] = [
  { allow: false, access: 'rwm' },
  rwm('c', undefined, undefined, 'm'), // mknod of any char device…
  rwm('b', undefined, undefined, 'm'), // …and block device, but no read/write
  rwm('c', 1, 3), // /dev/null
  rwm('c', 1, 8), // /dev/random
  rwm('c', 1, 7), // /dev/full
  rwm('c', 5, 0), // /dev/tty
  rwm('c', 1, 5), // /dev/zero
  rwm('c', 1, 9), // /dev/urandom
  rwm('c', 5, 1), // /dev/console
  rwm('c', 136, undefined), // /dev/pts/*
  rwm('c', 5, 2), // /dev/ptmx
  rwm('c', 10, 200), // /dev/net/tun
];

/**
 * None, as in Docker's default spec: the container inherits the limits of the
 * process that starts it (containerd's under Docker, tsbak's here). Raising a
 * hard limit needs CAP_SYS_RESOURCE, which not every root has (some sandboxes drop it).
 */
export const DEFAULT_RLIMITS: readonly OciRlimit[] = [];

/** Docker's --tmpfs defaults; the mount's own options come after and win (`exec` undoes `noexec`). */
export const TMPFS_DEFAULT_OPTIONS: readonly string[] = ['nosuid', 'nodev', 'noexec'];
