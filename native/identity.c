/*
 * Who the container's process is: capability sets, uid/gid/groups, and the
 * executable it runs (an execvp-style lookup on the container's PATH, with
 * messages that say why an exec failed).
 *
 * The order is runc's: reduce the bounding set while still fully privileged,
 * switch user with PR_SET_KEEPCAPS so the permitted set survives setuid, then
 * set effective/permitted/inheritable with capset and rebuild the ambient set.
 * A non-root user then loses every capability at execve (no file capabilities,
 * empty inheritable and ambient sets), as in Docker.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"

static const char *const cap_names[] = {
    "CAP_CHOWN",           "CAP_DAC_OVERRIDE",    "CAP_DAC_READ_SEARCH", "CAP_FOWNER",         "CAP_FSETID",
    "CAP_KILL",            "CAP_SETGID",          "CAP_SETUID",          "CAP_SETPCAP",        "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",  "CAP_NET_ADMIN",       "CAP_NET_RAW",        "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",       "CAP_SYS_MODULE",      "CAP_SYS_RAWIO",       "CAP_SYS_CHROOT",     "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",       "CAP_SYS_ADMIN",       "CAP_SYS_BOOT",        "CAP_SYS_NICE",       "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",        "CAP_SYS_TTY_CONFIG",  "CAP_MKNOD",           "CAP_LEASE",          "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",   "CAP_SETFCAP",         "CAP_MAC_OVERRIDE",    "CAP_MAC_ADMIN",      "CAP_SYSLOG",
    "CAP_WAKE_ALARM",      "CAP_BLOCK_SUSPEND",   "CAP_AUDIT_READ",      "CAP_PERFMON",        "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};
#define NCAPS ((int)(sizeof cap_names / sizeof cap_names[0]))

int cap_from_name(const char *name) {
    for (int i = 0; i < NCAPS; i++)
        if (strcmp(cap_names[i], name) == 0) return i;
    return -1;
}

static int last_cap(void) {
    static int cached = -1;
    if (cached >= 0) return cached;
    char *text = read_file("/proc/sys/kernel/cap_last_cap", 64, NULL);
    cached = text ? atoi(text) : CAP_LAST_CAP;
    free(text);
    if (cached > 63) cached = 63;
    return cached;
}

static int drop_bounding(uint64_t keep) {
    int last = last_cap();
    for (int cap = 0; cap <= last; cap++) {
        if (keep & (1ULL << cap)) continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
            return fail_errno("cannot drop %s from the bounding set", cap < NCAPS ? cap_names[cap] : "a capability");
    }
    return 0;
}

static int set_caps(const struct cap_sets *caps) {
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    uint64_t sets[3] = {caps->effective, caps->permitted, caps->inheritable};
    memset(data, 0, sizeof data);
    data[0].effective = (uint32_t)sets[0];
    data[1].effective = (uint32_t)(sets[0] >> 32);
    data[0].permitted = (uint32_t)sets[1];
    data[1].permitted = (uint32_t)(sets[1] >> 32);
    data[0].inheritable = (uint32_t)sets[2];
    data[1].inheritable = (uint32_t)(sets[2] >> 32);
    if (syscall(SYS_capset, &hdr, data) < 0) return fail_errno("capset");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return fail_errno("cannot clear the ambient capabilities");
    for (int cap = 0; cap <= last_cap(); cap++) {
        if (!(caps->ambient & (1ULL << cap))) continue;
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
            return fail_errno("cannot raise ambient %s (it must be permitted and inheritable too)", cap < NCAPS ? cap_names[cap] : "capability");
    }
    return 0;
}

int apply_identity(const struct cap_sets *caps, const struct user_spec *user) {
    /* Capabilities the kernel does not know are simply not there. */
    uint64_t known = last_cap() >= 63 ? ~0ULL : (1ULL << (last_cap() + 1)) - 1;
    struct cap_sets c = {caps->bounding & known, caps->effective & known, caps->permitted & known,
                         caps->inheritable & known, caps->ambient & known};
    if (drop_bounding(c.bounding) < 0) return -1;
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) return fail_errno("prctl(PR_SET_KEEPCAPS)");
    if (setgroups(user->nadditional, user->additional_gids) < 0) return fail_errno("setgroups");
    if (setresgid(user->gid, user->gid, user->gid) < 0) return fail_errno("setgid %u", (unsigned)user->gid);
    if (setresuid(user->uid, user->uid, user->uid) < 0) return fail_errno("setuid %u", (unsigned)user->uid);
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) return fail_errno("prctl(PR_SET_KEEPCAPS)");
    return set_caps(&c);
}

const char *env_lookup(char *const *env, size_t nenv, const char *key) {
    size_t klen = strlen(key);
    for (size_t i = nenv; i > 0; i--) /* the last definition wins */
        if (strncmp(env[i - 1], key, klen) == 0 && env[i - 1][klen] == '=') return env[i - 1] + klen + 1;
    return NULL;
}

static int is_executable_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

int find_executable(const char *file, const char *path_env, char *out, size_t size) {
    if (!file[0]) return fail("exec: the entrypoint is an empty string");
    if (strchr(file, '/')) {
        if (snprintf(out, size, "%s", file) >= (int)size) return fail("exec %s: path too long", file);
        return 0;
    }
    if (!path_env) path_env = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    const char *p = path_env;
    int saw_non_executable = 0;
    for (;;) {
        size_t n = strcspn(p, ":");
        char candidate[4096];
        if (n == 0) snprintf(candidate, sizeof candidate, "./%s", file); /* an empty PATH entry is the cwd */
        else snprintf(candidate, sizeof candidate, "%.*s/%s", (int)n, p, file);
        if (is_executable_file(candidate)) {
            if (snprintf(out, size, "%s", candidate) >= (int)size) return fail("exec %s: path too long", file);
            return 0;
        }
        struct stat st;
        if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode)) saw_non_executable = 1;
        if (!p[n]) break;
        p += n + 1;
    }
    if (saw_non_executable) return fail("exec %s: permission denied (found on $PATH but not executable for this user)", file);
    return fail("exec %s: executable file not found in $PATH (%s)", file, path_env);
}

int exec_failure(const char *arg0, const char *path, int err) {
    struct stat st;
    const char *why = "";
    switch (err) {
    case ENOENT:
        why = lstat(path, &st) == 0 ? " (it exists: its interpreter or dynamic loader is missing in the image)"
                                    : " (the entrypoint does not exist in the image)";
        break;
    case EACCES: why = " (not executable for this user, or on a noexec mount)"; break;
    case ENOEXEC: why = " (not a program for this machine: wrong architecture, or a script without #!)"; break;
    case ENOTDIR: why = " (a path component is not a directory)"; break;
    case ETXTBSY: why = " (the file is open for writing)"; break;
    default: break;
    }
    if (strcmp(arg0, path) == 0) return fail("exec %s: %s%s", path, strerror(err), why);
    return fail("exec %s (%s): %s%s", arg0, path, strerror(err), why);
}
