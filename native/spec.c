/*
 * config.json (OCI runtime-spec 1.0.2) → struct runtime_spec: the subset
 * tsbak's bundle generator writes (see README.md for the list). A field the
 * launcher cannot honour (joining an existing namespace, an unknown
 * capability) is refused rather than silently ignored.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common.h"

#define CONFIG_LIMIT (4u << 20)

static int type_error(const char *field, const char *want) {
    return fail("config.json: %s must be %s", field, want);
}

/* A string without NUL bytes (it becomes a C string). */
static int get_string(const struct json *v, const char *field, char **out) {
    if (!v || v->type != JSON_STRING) return type_error(field, "a string");
    if (strlen(v->str) != v->len) return fail("config.json: %s contains a NUL byte", field);
    *out = v->str;
    return 0;
}

static int get_optional_string(const struct json *obj, const char *key, const char *field, char **out) {
    const struct json *v = json_get(obj, key);
    *out = NULL;
    if (!v || v->type == JSON_NULL) return 0;
    return get_string(v, field, out);
}

static int get_string_array(const struct json *v, const char *field, char ***out, size_t *n) {
    *out = NULL;
    *n = 0;
    if (!v || v->type == JSON_NULL) return 0;
    if (v->type != JSON_ARRAY) return type_error(field, "an array of strings");
    char **arr = xcalloc(v->count + 1, sizeof *arr);
    for (size_t i = 0; i < v->count; i++) {
        char name[128];
        snprintf(name, sizeof name, "%s[%zu]", field, i);
        if (get_string(v->items[i], name, &arr[i]) < 0) return -1;
    }
    *out = arr;
    *n = v->count;
    return 0;
}

/* 2^64 and 2^63 as doubles: a JSON number at or past them does not fit. */
#define TWO_64 18446744073709551616.0
#define TWO_63 9223372036854775808.0

static int get_uint(const struct json *v, const char *field, uint64_t max, uint64_t *out) {
    if (!v || v->type != JSON_NUMBER || !isfinite(v->number) || v->number < 0) return type_error(field, "a non-negative integer");
    if (v->number >= TWO_64) {
        /* 18446744073709551615 (RLIM_INFINITY) reads as 2^64 in a double */
        if (max != UINT64_MAX || v->number > TWO_64) return fail("config.json: %s is too large", field);
        *out = UINT64_MAX;
        return 0;
    }
    uint64_t n = (uint64_t)v->number;
    if ((double)n != v->number) return type_error(field, "a non-negative integer");
    if (n > max) return fail("config.json: %s is too large (at most %llu)", field, (unsigned long long)max);
    *out = n;
    return 0;
}

static int get_int(const struct json *v, const char *field, int64_t *out) {
    if (!v || v->type != JSON_NUMBER || !isfinite(v->number) || v->number >= TWO_63 || v->number < -TWO_63)
        return type_error(field, "an integer");
    int64_t n = (int64_t)v->number;
    if ((double)n != v->number) return type_error(field, "an integer");
    *out = n;
    return 0;
}

static int load_process(const struct json *proc, struct runtime_spec *spec) {
    if (!proc || proc->type != JSON_OBJECT) return type_error("process", "an object");
    const struct json *terminal = json_get(proc, "terminal");
    if (terminal && terminal->type == JSON_BOOL && terminal->boolean)
        return fail("config.json: process.terminal is true, but the built-in runtime has no TTY support (stdin is /dev/null, output goes to the log)");
    if (get_string_array(json_get(proc, "args"), "process.args", &spec->args, &spec->nargs) < 0) return -1;
    if (spec->nargs == 0) return fail("config.json: process.args is empty: the container has nothing to run");
    if (get_string_array(json_get(proc, "env"), "process.env", &spec->env, &spec->nenv) < 0) return -1;
    if (!spec->env) spec->env = xcalloc(1, sizeof *spec->env);
    if (get_optional_string(proc, "cwd", "process.cwd", &spec->cwd) < 0) return -1;
    if (!spec->cwd) spec->cwd = "/";
    if (spec->cwd[0] != '/') return fail("config.json: process.cwd %s must be an absolute path", spec->cwd);

    const struct json *user = json_get(proc, "user");
    if (user) {
        uint64_t v = 0;
        if (user->type != JSON_OBJECT) return type_error("process.user", "an object");
        if (get_uint(json_get(user, "uid"), "process.user.uid", UINT32_MAX - 1, &v) < 0) return -1;
        spec->user.uid = (uid_t)v;
        if (get_uint(json_get(user, "gid"), "process.user.gid", UINT32_MAX - 1, &v) < 0) return -1;
        spec->user.gid = (gid_t)v;
        const struct json *gids = json_get(user, "additionalGids");
        if (gids && gids->type != JSON_NULL) {
            if (gids->type != JSON_ARRAY) return type_error("process.user.additionalGids", "an array of integers");
            if (gids->count > 65536) return fail("config.json: process.user.additionalGids has more than 65536 groups");
            spec->user.additional_gids = xcalloc(gids->count, sizeof(gid_t));
            for (size_t i = 0; i < gids->count; i++) {
                if (get_uint(gids->items[i], "process.user.additionalGids[]", UINT32_MAX - 1, &v) < 0) return -1;
                spec->user.additional_gids[i] = (gid_t)v;
            }
            spec->user.nadditional = gids->count;
        }
    }

    const struct json *caps = json_get(proc, "capabilities");
    if (caps && caps->type != JSON_NULL) {
        static const char *const sets[] = {"bounding", "effective", "permitted", "inheritable", "ambient"};
        uint64_t *dest[] = {&spec->caps.bounding, &spec->caps.effective, &spec->caps.permitted, &spec->caps.inheritable,
                            &spec->caps.ambient};
        if (caps->type != JSON_OBJECT) return type_error("process.capabilities", "an object");
        for (size_t s = 0; s < 5; s++) {
            char field[64], **names;
            size_t n;
            snprintf(field, sizeof field, "process.capabilities.%s", sets[s]);
            if (get_string_array(json_get(caps, sets[s]), field, &names, &n) < 0) return -1;
            for (size_t i = 0; i < n; i++) {
                int cap = cap_from_name(names[i]);
                if (cap < 0) return fail("config.json: %s: unknown capability %s", field, names[i]);
                *dest[s] |= 1ULL << cap;
            }
        }
    }

    const struct json *rl = json_get(proc, "rlimits");
    if (rl && rl->type != JSON_NULL) {
        static const struct {
            const char *name;
            int resource;
        } table[] = {
            {"RLIMIT_CPU", RLIMIT_CPU},       {"RLIMIT_FSIZE", RLIMIT_FSIZE},     {"RLIMIT_DATA", RLIMIT_DATA},
            {"RLIMIT_STACK", RLIMIT_STACK},   {"RLIMIT_CORE", RLIMIT_CORE},       {"RLIMIT_RSS", RLIMIT_RSS},
            {"RLIMIT_NPROC", RLIMIT_NPROC},   {"RLIMIT_NOFILE", RLIMIT_NOFILE},   {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
            {"RLIMIT_AS", RLIMIT_AS},         {"RLIMIT_LOCKS", RLIMIT_LOCKS},     {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
            {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE}, {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
            {"RLIMIT_RTTIME", RLIMIT_RTTIME},
        };
        if (rl->type != JSON_ARRAY) return type_error("process.rlimits", "an array");
        spec->rlimits = xcalloc(rl->count, sizeof *spec->rlimits);
        for (size_t i = 0; i < rl->count; i++) {
            char *type;
            if (get_string(json_get(rl->items[i], "type"), "process.rlimits[].type", &type) < 0) return -1;
            int found = -1;
            for (size_t t = 0; t < sizeof table / sizeof table[0]; t++)
                if (strcmp(table[t].name, type) == 0) found = table[t].resource;
            if (found < 0) return fail("config.json: process.rlimits: unknown limit %s", type);
            spec->rlimits[i].resource = found;
            spec->rlimits[i].name = type;
            if (get_uint(json_get(rl->items[i], "soft"), "process.rlimits[].soft", UINT64_MAX, &spec->rlimits[i].soft) < 0 ||
                get_uint(json_get(rl->items[i], "hard"), "process.rlimits[].hard", UINT64_MAX, &spec->rlimits[i].hard) < 0)
                return -1;
        }
        spec->nrlimits = rl->count;
    }

    const struct json *nnp = json_get(proc, "noNewPrivileges");
    if (nnp && nnp->type == JSON_BOOL) spec->no_new_privileges = nnp->boolean;
    return 0;
}

static int load_mounts(const struct json *mounts, struct runtime_spec *spec) {
    if (!mounts || mounts->type == JSON_NULL) return 0;
    if (mounts->type != JSON_ARRAY) return type_error("mounts", "an array");
    spec->mounts = xcalloc(mounts->count, sizeof *spec->mounts);
    for (size_t i = 0; i < mounts->count; i++) {
        const struct json *m = mounts->items[i];
        struct mount_spec *ms = &spec->mounts[i];
        if (m->type != JSON_OBJECT) return type_error("mounts[]", "an object");
        if (get_string(json_get(m, "destination"), "mounts[].destination", &ms->destination) < 0) return -1;
        if (ms->destination[0] != '/') return fail("config.json: mount destination %s must be an absolute path", ms->destination);
        if (get_optional_string(m, "type", "mounts[].type", &ms->type) < 0) return -1;
        if (get_optional_string(m, "source", "mounts[].source", &ms->source) < 0) return -1;
        if (get_string_array(json_get(m, "options"), "mounts[].options", &ms->options, &ms->noptions) < 0) return -1;
        if (!ms->type) ms->type = "bind"; /* runc infers bind from the options; the generator always writes a type */
        if (!ms->source) ms->source = ms->type;
    }
    spec->nmounts = mounts->count;
    return 0;
}

static int load_namespaces(const struct json *list, struct runtime_spec *spec) {
    static const struct {
        const char *name;
        int flag;
    } table[] = {{"pid", CLONE_NEWPID},     {"network", CLONE_NEWNET}, {"mount", CLONE_NEWNS},
                 {"ipc", CLONE_NEWIPC},     {"uts", CLONE_NEWUTS},     {"cgroup", CLONE_NEWCGROUP}};
    if (!list || list->type != JSON_ARRAY) return type_error("linux.namespaces", "an array");
    for (size_t i = 0; i < list->count; i++) {
        char *type, *path;
        if (get_string(json_get(list->items[i], "type"), "linux.namespaces[].type", &type) < 0) return -1;
        if (get_optional_string(list->items[i], "path", "linux.namespaces[].path", &path) < 0) return -1;
        if (path && path[0]) return fail("config.json: joining an existing %s namespace (%s) is not supported by the built-in runtime", type, path);
        int flag = 0;
        for (size_t t = 0; t < sizeof table / sizeof table[0]; t++)
            if (strcmp(table[t].name, type) == 0) flag = table[t].flag;
        if (!flag) return fail("config.json: linux.namespaces: the %s namespace is not supported by the built-in runtime", type);
        spec->clone_flags |= flag;
    }
    if (!(spec->clone_flags & CLONE_NEWNS)) return fail("config.json: linux.namespaces must include \"mount\"");
    return 0;
}

static int load_resources(const struct json *res, struct runtime_spec *spec) {
    if (!res || res->type == JSON_NULL) return 0;
    const struct json *devices = json_get(res, "devices");
    if (devices && devices->type != JSON_NULL) {
        if (devices->type != JSON_ARRAY) return type_error("linux.resources.devices", "an array");
        spec->devices = xcalloc(devices->count, sizeof *spec->devices);
        for (size_t i = 0; i < devices->count; i++) {
            const struct json *d = devices->items[i];
            struct device_rule *r = &spec->devices[i];
            const struct json *allow = json_get(d, "allow");
            if (!allow || allow->type != JSON_BOOL) return type_error("linux.resources.devices[].allow", "a boolean");
            r->allow = allow->boolean;
            char *type = NULL, *access = NULL;
            if (get_optional_string(d, "type", "linux.resources.devices[].type", &type) < 0) return -1;
            if (get_optional_string(d, "access", "linux.resources.devices[].access", &access) < 0) return -1;
            r->type = type ? type[0] : 'a';
            if ((type && strlen(type) != 1) || (r->type != 'a' && r->type != 'c' && r->type != 'b'))
                return fail("config.json: linux.resources.devices[].type must be a, c or b");
            r->major = r->minor = -1;
            const struct json *major = json_get(d, "major"), *minor = json_get(d, "minor");
            if (major && major->type != JSON_NULL && get_int(major, "linux.resources.devices[].major", &r->major) < 0) return -1;
            if (minor && minor->type != JSON_NULL && get_int(minor, "linux.resources.devices[].minor", &r->minor) < 0) return -1;
            const char *acc = access ? access : "rwm";
            if (strlen(acc) > 3 || strspn(acc, "rwm") != strlen(acc))
                return fail("config.json: linux.resources.devices[].access %s must be made of r, w and m", acc);
            snprintf(r->access, sizeof r->access, "%s", acc);
        }
        spec->ndevices = devices->count;
    }
    const struct json *pids = json_get(res, "pids");
    if (pids && pids->type == JSON_OBJECT) {
        const struct json *limit = json_get(pids, "limit");
        if (limit && get_int(limit, "linux.resources.pids.limit", &spec->pids_limit) < 0) return -1;
    }
    const struct json *memory = json_get(res, "memory");
    if (memory && memory->type == JSON_OBJECT) {
        const struct json *limit = json_get(memory, "limit");
        if (limit && get_int(limit, "linux.resources.memory.limit", &spec->memory_limit) < 0) return -1;
    }
    return 0;
}

/* True when a `/`-separated path has a `..` component. */
static int has_dotdot(const char *path) {
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.') return 1;
        p += n;
        while (*p == '/') p++;
    }
    return 0;
}

static int load_linux(const struct json *lx, struct runtime_spec *spec) {
    if (!lx || lx->type != JSON_OBJECT) return type_error("linux", "an object");
    if (load_namespaces(json_get(lx, "namespaces"), spec) < 0) return -1;
    if (get_string_array(json_get(lx, "maskedPaths"), "linux.maskedPaths", &spec->masked_paths, &spec->nmasked) < 0) return -1;
    if (get_string_array(json_get(lx, "readonlyPaths"), "linux.readonlyPaths", &spec->readonly_paths, &spec->nreadonly) < 0)
        return -1;
    if (get_optional_string(lx, "cgroupsPath", "linux.cgroupsPath", &spec->cgroups_path) < 0) return -1;
    if (spec->cgroups_path && !spec->cgroups_path[0]) spec->cgroups_path = NULL;
    if (spec->cgroups_path && (has_dotdot(spec->cgroups_path) || strchr(spec->cgroups_path, ':')))
        return fail("config.json: linux.cgroupsPath %s must be a plain path like /tsbak/ID (no .., no systemd slice:prefix:name form)",
                    spec->cgroups_path);
    const struct json *seccomp = json_get(lx, "seccomp");
    if (seccomp && seccomp->type != JSON_NULL)
        return fail("config.json: linux.seccomp is set, but the built-in runtime does not apply seccomp filters (remove it, or run the bundle with runc)");
    return load_resources(json_get(lx, "resources"), spec);
}

int spec_load(const char *bundle, struct runtime_spec *spec) {
    char path[PATH_MAX];
    memset(spec, 0, sizeof *spec);
    if (snprintf(path, sizeof path, "%s/config.json", bundle) >= (int)sizeof path) return fail("bundle path too long: %s", bundle);
    size_t len;
    char *text = read_file(path, CONFIG_LIMIT, &len);
    if (!text) {
        if (errno == ENOENT) return fail("bundle %s has no config.json (write it with the bundle generator)", bundle);
        return -1;
    }
    struct json *doc = json_parse(text, len);
    if (!doc) return -1;
    if (doc->type != JSON_OBJECT) return type_error("the document", "an object");
    char *version;
    if (get_string(json_get(doc, "ociVersion"), "ociVersion", &version) < 0) return -1;
    if (strncmp(version, "1.", 2) != 0) return fail("config.json: ociVersion %s is not a 1.x runtime spec", version);
    if (load_process(json_get(doc, "process"), spec) < 0) return -1;

    const struct json *root = json_get(doc, "root");
    char *root_path;
    if (!root || root->type != JSON_OBJECT) return type_error("root", "an object");
    if (get_string(json_get(root, "path"), "root.path", &root_path) < 0) return -1;
    const struct json *ro = json_get(root, "readonly");
    spec->root_readonly = ro && ro->type == JSON_BOOL && ro->boolean;
    char joined[PATH_MAX];
    if (root_path[0] != '/') {
        if (snprintf(joined, sizeof joined, "%s/%s", bundle, root_path) >= (int)sizeof joined) return fail("root.path too long");
        root_path = joined;
    }
    char *real = realpath(root_path, NULL);
    if (!real) return fail_errno("root.path %s", root_path);
    spec->root_path = real;

    if (get_optional_string(doc, "hostname", "hostname", &spec->hostname) < 0) return -1;
    if (spec->hostname && !spec->hostname[0]) spec->hostname = NULL;
    if (load_mounts(json_get(doc, "mounts"), spec) < 0) return -1;
    if (load_linux(json_get(doc, "linux"), spec) < 0) return -1;
    if (spec->hostname && !(spec->clone_flags & CLONE_NEWUTS))
        return fail("config.json: hostname is set but linux.namespaces has no \"uts\": it would rename the host");
    return 0;
}
