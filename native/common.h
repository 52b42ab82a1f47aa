/*
 * tsbak-runtime: the built-in container runtime's launcher and monitor.
 * Shared declarations of the small modules it is made of (see README.md).
 */
#ifndef TSBAK_COMMON_H
#define TSBAK_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROG "tsbak-runtime"

/* ---- errors (util.c) ------------------------------------------------------
 * A failing step formats one line into a per-process buffer and returns -1;
 * the caller passes the line up (to stderr, or through an error pipe). */
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Like fail(), with ": strerror(errno)" appended. */
int fail_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *last_error(void);

/* ---- small helpers (util.c) ---------------------------------------------- */
void *xcalloc(size_t n, size_t size);
char *xstrdup(const char *s);
int write_all(int fd, const void *buf, size_t len);
/* Reads a whole file (at most `limit` bytes) into a NUL-terminated buffer. */
char *read_file(const char *path, size_t limit, size_t *len_out);
/* Writes `data` to `dir/name` through a temp file, fsync and rename. */
int write_file_atomic(const char *dir, const char *name, const char *data, size_t len);
/* "2026-12-02T12:24:00.123456789Z" (RFC 3339, UTC, nanoseconds) into buf[40]. */
void format_time(char *buf, size_t size);
/* Field 22 of /proc/PID/stat (start time in clock ticks since boot) as text; -1 when gone. */
int proc_start_time(pid_t pid, char *buf, size_t size);
/* A growable string. */
struct strbuf {
    char *data;
    size_t len, cap;
};
void sb_add(struct strbuf *sb, const char *s, size_t n);
void sb_adds(struct strbuf *sb, const char *s);
void sb_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends `s` as a JSON string literal (quotes included); invalid UTF-8 becomes U+FFFD. */
void sb_json_string(struct strbuf *sb, const char *s, size_t n);
/* Marks every fd >= `from` close-on-exec. */
int cloexec_from(int from);
/* Resets every signal disposition to default and unblocks all signals. */
void reset_signals(void);
const char *signal_name(int sig);
int mkdir_p(const char *path, mode_t mode);
/* out = dir + "/" + name; -1 with fail() set when it does not fit. */
int path_join(char *out, size_t size, const char *dir, const char *name);

/* ---- JSON (json.c) -------------------------------------------------------- */
enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };
struct json {
    enum json_type type;
    int boolean;
    double number;
    char *str; /* JSON_STRING: NUL-terminated; `len` bytes (may hold NULs) */
    size_t len;
    size_t count; /* JSON_ARRAY / JSON_OBJECT */
    struct json **items;
    char **keys; /* JSON_OBJECT */
};
/* Parses `len` bytes; NULL with fail() set on a syntax error. */
struct json *json_parse(const char *text, size_t len);
/* The member `key` of an object, or NULL (also when `obj` is NULL or not an object). */
const struct json *json_get(const struct json *obj, const char *key);

/* ---- the runtime spec (spec.c) -------------------------------------------- */
struct mount_spec {
    char *destination, *type, *source;
    char **options;
    size_t noptions;
};
struct rlimit_spec {
    const char *name; /* RLIMIT_NOFILE */
    int resource;
    uint64_t soft, hard;
};
struct device_rule {
    int allow;
    char type;           /* 'a', 'c', 'b' */
    int64_t major, minor; /* -1 = any */
    char access[4];
};
struct user_spec {
    uid_t uid;
    gid_t gid;
    gid_t *additional_gids;
    size_t nadditional;
};
struct cap_sets {
    uint64_t bounding, effective, permitted, inheritable, ambient;
};
struct runtime_spec {
    char **args;
    size_t nargs;
    char **env;
    size_t nenv;
    char *cwd;
    struct user_spec user;
    struct cap_sets caps;
    struct rlimit_spec *rlimits;
    size_t nrlimits;
    int no_new_privileges;
    char *root_path; /* absolute */
    int root_readonly;
    char *hostname;
    struct mount_spec *mounts;
    size_t nmounts;
    int clone_flags; /* CLONE_NEW* of linux.namespaces */
    char **masked_paths;
    size_t nmasked;
    char **readonly_paths;
    size_t nreadonly;
    char *cgroups_path; /* NULL: no cgroups of its own */
    struct device_rule *devices;
    size_t ndevices;
    int64_t pids_limit;   /* 0: unset */
    int64_t memory_limit; /* 0: unset */
};
/* Reads BUNDLE/config.json. -1 with fail() set when it is unreadable or unsupported. */
int spec_load(const char *bundle, struct runtime_spec *spec);

/* ---- capabilities and user (identity.c) ----------------------------------- */
int cap_from_name(const char *name);
/* Drops the bounding set to `caps->bounding`, switches to `user` keeping the
 * capabilities, then sets effective/permitted/inheritable and ambient. */
int apply_identity(const struct cap_sets *caps, const struct user_spec *user);
/* Looks `file` up like execvp on `path_env` (PATH's value); writes the result to `out`. */
int find_executable(const char *file, const char *path_env, char *out, size_t size);
/* Writes the one-line reason an execve of `path` (the entrypoint `arg0`) failed with `err`. */
int exec_failure(const char *arg0, const char *path, int err);
const char *env_lookup(char *const *env, size_t nenv, const char *key);

/* ---- the container's root filesystem (rootfs.c) --------------------------- */
/* Everything between the new mount namespace and pivot_root's aftermath. */
int setup_rootfs(const struct runtime_spec *spec);

/* ---- cgroups (cgroup.c) ----------------------------------------------------- */
#define MAX_CGROUPS 8
struct cgroup_set {
    int count;
    char dirs[MAX_CGROUPS][4096];
    int v2[MAX_CGROUPS];
};
/* Creates the container's cgroups (v1 freezer/pids/memory/devices, and v2) with
 * the spec's limits. */
int cgroups_create(const struct runtime_spec *spec, struct cgroup_set *set);
int cgroups_add_pid(const struct cgroup_set *set, pid_t pid);
/* Thaws, kills what is left, reaps (`reap` callback), removes; retries while the kernel empties them. */
void cgroups_remove(const struct cgroup_set *set, void (*reap)(void));

/* ---- the container log (log.c) -------------------------------------------- */
struct log_stream {
    int fd;         /* read end of the container's pipe; -1 at EOF */
    const char *name; /* "stdout" / "stderr" */
    char buf[16384];
    size_t used;
};
/* Reads what is available and writes complete lines (or full buffers) as JSON
 * lines to `log_fd`; returns 0 at EOF (the stream is then flushed), 1 otherwise. */
int log_pump(struct log_stream *s, int log_fd);

/* ---- subcommands ------------------------------------------------------------ */
int cmd_start(int argc, char **argv);
int cmd_exec(int argc, char **argv);

#endif
