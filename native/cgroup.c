/*
 * The container's cgroups, made by the monitor before the container execs.
 * v1: under each mounted hierarchy among freezer, pids, memory and devices,
 * `<mount>/<cgroupsPath>`; devices starts from "a" denied, then the
 * config.json rules. v2 (the unified mount of a hybrid host, or the only one):
 * `<mount>/<cgroupsPath>`, with pids and memory enabled in the ancestors'
 * cgroup.subtree_control where the kernel allows it. Mounts come from
 * /proc/self/mountinfo. Only the leaf is removed afterwards: parents such as
 * /tsbak are shared with other containers.
 *
 * Not done: device rules on a pure-v2 host (they need an eBPF program);
 * see README.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static const char *const v1_controllers[] = {"freezer", "pids", "memory", "devices"};

static int write_text(const char *dir, const char *file, const char *text) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int r = write_all(fd, text, strlen(text));
    int saved = errno;
    close(fd);
    errno = saved;
    return r;
}

/* Has the comma-separated option list `opts` the option `name`? */
static int has_option(const char *opts, const char *name) {
    size_t n = strlen(name);
    for (const char *p = opts; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, name, n) == 0) return 1;
        p += len;
        if (*p == ',') p++;
    }
    return 0;
}

static void unescape(char *s) {
    char *o = s;
    for (char *i = s; *i; i++) {
        if (i[0] == '\\' && i[1] >= '0' && i[1] <= '7' && i[2] && i[3]) {
            *o++ = (char)(((i[1] - '0') << 6) | ((i[2] - '0') << 3) | (i[3] - '0'));
            i += 3;
        } else {
            *o++ = *i;
        }
    }
    *o = '\0';
}

struct cgroup_mounts {
    char v1[4][PATH_MAX]; /* per v1_controllers entry; "" when not mounted */
    char v2[PATH_MAX];
};

static int find_mounts(struct cgroup_mounts *m) {
    memset(m, 0, sizeof *m);
    char *text = read_file("/proc/self/mountinfo", 16u << 20, NULL);
    if (!text) return -1;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *sep = strstr(line, " - ");
        if (!sep) continue;
        *sep = '\0';
        /* id parent major:minor root mountpoint options - fstype source superoptions */
        char *fields[6] = {0};
        char *p = line;
        for (int i = 0; i < 6 && p; i++) fields[i] = strsep(&p, " ");
        char *right = sep + 3;
        char *fs = strsep(&right, " ");
        strsep(&right, " ");
        char *super = right ? strsep(&right, " ") : NULL;
        if (!fields[4] || !fs) continue;
        unescape(fields[4]);
        if (strcmp(fs, "cgroup2") == 0) {
            if (!m->v2[0]) snprintf(m->v2, sizeof m->v2, "%s", fields[4]);
        } else if (strcmp(fs, "cgroup") == 0 && super) {
            for (size_t c = 0; c < 4; c++)
                if (!m->v1[c][0] && has_option(super, v1_controllers[c])) snprintf(m->v1[c], PATH_MAX, "%s", fields[4]);
        }
    }
    free(text);
    return 0;
}

static int make_leaf(const char *dir) {
    /* a leftover of a crashed monitor is reused when empty */
    if (rmdir(dir) < 0 && errno != ENOENT) {
        if (errno == EBUSY) return fail("cgroup %s already holds processes (is another container running with this id?)", dir);
        return fail_errno("cgroup %s exists and cannot be replaced", dir);
    }
    return mkdir_p(dir, 0755);
}

static int device_rules(const char *dir, const struct runtime_spec *spec) {
    for (size_t i = 0; i < spec->ndevices; i++) {
        const struct device_rule *r = &spec->devices[i];
        char rule[64], major[24], minor[24];
        if (r->type == 'a') {
            snprintf(rule, sizeof rule, "a");
        } else {
            if (r->major < 0) snprintf(major, sizeof major, "*");
            else snprintf(major, sizeof major, "%lld", (long long)r->major);
            if (r->minor < 0) snprintf(minor, sizeof minor, "*");
            else snprintf(minor, sizeof minor, "%lld", (long long)r->minor);
            snprintf(rule, sizeof rule, "%c %s:%s %s", r->type, major, minor, r->access);
        }
        if (write_text(dir, r->allow ? "devices.allow" : "devices.deny", rule) < 0)
            return fail_errno("cgroup %s: cannot write device rule \"%s\" (%s)", dir, rule, r->allow ? "allow" : "deny");
    }
    return 0;
}

/* On a pure-v2 host: turn on pids and memory in every ancestor's subtree_control (errors ignored: hybrid hosts have none). */
static void enable_v2_controllers(const char *mount, const char *leaf) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", mount);
    const char *rest = leaf + strlen(mount);
    for (;;) {
        write_text(path, "cgroup.subtree_control", "+pids");
        write_text(path, "cgroup.subtree_control", "+memory");
        while (*rest == '/') rest++;
        size_t n = strcspn(rest, "/");
        if (!rest[n]) break; /* the next component is the leaf itself */
        size_t len = strlen(path);
        snprintf(path + len, sizeof path - len, "/%.*s", (int)n, rest);
        rest += n;
    }
}

int cgroups_create(const struct runtime_spec *spec, struct cgroup_set *set) {
    struct cgroup_mounts m;
    memset(set, 0, sizeof *set);
    if (!spec->cgroups_path) return 0;
    if (find_mounts(&m) < 0) return -1;
    const char *rel = spec->cgroups_path;
    while (*rel == '/') rel++;
    for (size_t c = 0; c < 4; c++) {
        if (!m.v1[c][0]) continue;
        char dir[PATH_MAX];
        if (path_join(dir, sizeof dir, m.v1[c], rel) < 0) return -1;
        int dup = 0;
        for (int i = 0; i < set->count; i++) dup |= strcmp(set->dirs[i], dir) == 0; /* co-mounted controllers */
        if (dup) continue;
        if (make_leaf(dir) < 0) return -1;
        snprintf(set->dirs[set->count], sizeof set->dirs[0], "%s", dir);
        set->v2[set->count++] = 0;
        char value[32];
        if (strcmp(v1_controllers[c], "devices") == 0 && device_rules(dir, spec) < 0) return -1;
        if (strcmp(v1_controllers[c], "pids") == 0 && spec->pids_limit > 0) {
            snprintf(value, sizeof value, "%lld", (long long)spec->pids_limit);
            if (write_text(dir, "pids.max", value) < 0) return fail_errno("cgroup %s: cannot set pids.max", dir);
        }
        if (strcmp(v1_controllers[c], "memory") == 0 && spec->memory_limit > 0) {
            snprintf(value, sizeof value, "%lld", (long long)spec->memory_limit);
            if (write_text(dir, "memory.limit_in_bytes", value) < 0) return fail_errno("cgroup %s: cannot set memory.limit_in_bytes", dir);
        }
    }
    if (m.v2[0]) {
        char dir[PATH_MAX];
        if (path_join(dir, sizeof dir, m.v2, rel) < 0) return -1;
        if (make_leaf(dir) < 0) return -1;
        snprintf(set->dirs[set->count], sizeof set->dirs[0], "%s", dir);
        set->v2[set->count++] = 1;
        enable_v2_controllers(m.v2, dir);
        char value[32];
        char probe[PATH_MAX];
        if (path_join(probe, sizeof probe, dir, "pids.max") < 0) return -1;
        if (spec->pids_limit > 0 && access(probe, F_OK) == 0) {
            snprintf(value, sizeof value, "%lld", (long long)spec->pids_limit);
            if (write_text(dir, "pids.max", value) < 0) return fail_errno("cgroup %s: cannot set pids.max", dir);
        }
        if (path_join(probe, sizeof probe, dir, "memory.max") < 0) return -1;
        if (spec->memory_limit > 0 && access(probe, F_OK) == 0) {
            snprintf(value, sizeof value, "%lld", (long long)spec->memory_limit);
            if (write_text(dir, "memory.max", value) < 0) return fail_errno("cgroup %s: cannot set memory.max", dir);
        }
    }
    if (set->count == 0) return fail("no cgroup hierarchy is mounted (looked for cgroup v1 freezer/pids/memory/devices and cgroup2 in /proc/self/mountinfo)");
    return 0;
}

int cgroups_add_pid(const struct cgroup_set *set, pid_t pid) {
    char value[32];
    snprintf(value, sizeof value, "%ld", (long)pid);
    for (int i = 0; i < set->count; i++)
        if (write_text(set->dirs[i], "cgroup.procs", value) < 0) return fail_errno("cannot move the container into cgroup %s", set->dirs[i]);
    return 0;
}

static void kill_members(const char *dir) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/cgroup.procs", dir);
    char *text = read_file(path, 1u << 20, NULL);
    if (!text) return;
    for (char *p = text; *p;) {
        long pid = strtol(p, &p, 10);
        if (pid > 0) kill((pid_t)pid, SIGKILL);
        while (*p == '\n') p++;
        if (*p && (*p < '0' || *p > '9')) break;
    }
    free(text);
}

void cgroups_remove(const struct cgroup_set *set, void (*reap)(void)) {
    /* frozen tasks cannot die: thaw first */
    for (int i = 0; i < set->count; i++) {
        if (set->v2[i]) write_text(set->dirs[i], "cgroup.freeze", "0");
        else write_text(set->dirs[i], "freezer.state", "THAWED");
    }
    for (int attempt = 0; attempt < 200; attempt++) {
        int left = 0;
        for (int i = 0; i < set->count; i++) {
            if (rmdir(set->dirs[i]) == 0 || errno == ENOENT) continue;
            left++;
            kill_members(set->dirs[i]);
        }
        if (!left) return;
        if (reap) reap();
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}
