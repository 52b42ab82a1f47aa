/*
 * `tsbak-runtime exec --pid PID [--start-time T] [--cwd DIR] [--env K=V]...
 *      [--user UID:GID] [--groups G1,G2] [--cgroup-procs FILE]... -- CMD ARGS...`
 *
 * Runs CMD inside a running container: moves itself into the container's
 * cgroups (the cgroup.procs files given), joins its ipc, uts, net, cgroup,
 * pid and mount namespaces (the files of /proc/PID/ns, all opened before the
 * first setns), then forks so the child is inside the pid namespace. The
 * child takes the container's capability set (the bounding set of PID, as
 * effective/permitted/bounding, like the container's root) and
 * no_new_privs, switches to the user, chdirs and execs CMD with stdio
 * inherited from the caller. The parent forwards SIGINT/SIGTERM/SIGHUP/SIGQUIT
 * and exits with CMD's status (128+signal when it was killed).
 * Exit 125: could not enter the container; 126: CMD not executable; 127: not found.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

#define MAX_LIST 256

struct exec_args {
    pid_t pid;
    const char *start_time;
    const char *cwd;
    char *env[MAX_LIST + 1];
    size_t nenv;
    struct user_spec user;
    gid_t groups[MAX_LIST];
    const char *cgroup_procs[MAX_LIST];
    size_t ncgroups;
    char **cmd;
};

static int usage(const char *why) {
    if (why) fprintf(stderr, PROG ": exec: %s\n", why);
    fprintf(stderr, "usage: " PROG " exec --pid PID [--start-time T] [--cwd DIR] [--env K=V]... [--user UID:GID] [--groups G1,G2]\n"
                    "       [--cgroup-procs FILE]... -- CMD [ARG]...\n");
    return 2;
}

static int parse_u32(const char *s, unsigned *out) {
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v > 0xfffffffeUL || s[0] == '-') return -1;
    *out = (unsigned)v;
    return 0;
}

static int parse_args(int argc, char **argv, struct exec_args *a) {
    memset(a, 0, sizeof *a);
    a->cwd = "/";
    a->user.additional_gids = a->groups;
    for (int i = 0; i < argc; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--") == 0) {
            a->cmd = argv + i + 1;
            break;
        }
        if (i + 1 >= argc) return usage("an option is missing its value");
        const char *val = argv[++i];
        unsigned u;
        if (strcmp(opt, "--pid") == 0) {
            if (parse_u32(val, &u) < 0 || u == 0) return usage("--pid must be a process id");
            a->pid = (pid_t)u;
        } else if (strcmp(opt, "--start-time") == 0) {
            a->start_time = val;
        } else if (strcmp(opt, "--cwd") == 0) {
            if (val[0] != '/') return usage("--cwd must be an absolute path");
            a->cwd = val;
        } else if (strcmp(opt, "--env") == 0) {
            if (!strchr(val, '=') || val[0] == '=') return usage("--env takes KEY=VALUE");
            if (a->nenv >= MAX_LIST) return usage("too many --env");
            a->env[a->nenv++] = (char *)val;
        } else if (strcmp(opt, "--user") == 0) {
            char buf[64];
            snprintf(buf, sizeof buf, "%s", val);
            char *colon = strchr(buf, ':');
            if (!colon) return usage("--user takes UID:GID (numbers)");
            *colon = '\0';
            unsigned uid, gid;
            if (parse_u32(buf, &uid) < 0 || parse_u32(colon + 1, &gid) < 0) return usage("--user takes UID:GID (numbers)");
            a->user.uid = uid;
            a->user.gid = gid;
        } else if (strcmp(opt, "--groups") == 0) {
            char buf[4096];
            snprintf(buf, sizeof buf, "%s", val);
            char *save = NULL;
            for (char *g = strtok_r(buf, ",", &save); g; g = strtok_r(NULL, ",", &save)) {
                if (a->user.nadditional >= MAX_LIST || parse_u32(g, &u) < 0) return usage("--groups takes G1,G2,... (numbers)");
                a->groups[a->user.nadditional++] = u;
            }
        } else if (strcmp(opt, "--cgroup-procs") == 0) {
            if (a->ncgroups >= MAX_LIST) return usage("too many --cgroup-procs");
            a->cgroup_procs[a->ncgroups++] = val;
        } else {
            return usage("unknown option");
        }
    }
    if (!a->pid) return usage("--pid is required");
    if (!a->cmd || !a->cmd[0]) return usage("no command after --");
    return 0;
}

/* The container's capability bounding set and no_new_privs, from /proc/PID/status. */
static int read_security(pid_t pid, uint64_t *bounding, int *nnp) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    char *text = read_file(path, 1 << 20, NULL);
    if (!text) return fail("container process %ld is not running", (long)pid);
    char *cap = strstr(text, "\nCapBnd:");
    char *np = strstr(text, "\nNoNewPrivs:");
    if (!cap) {
        free(text);
        return fail("%s has no CapBnd line", path);
    }
    *bounding = strtoull(cap + 8, NULL, 16);
    *nnp = np ? atoi(np + 12) : 0;
    free(text);
    return 0;
}

static const char *const ns_names[] = {"ipc", "uts", "net", "cgroup", "pid", "mnt"}; /* mnt last: /proc is the host's until then */

static int open_namespaces(pid_t pid, int fds[6]) {
    for (int i = 0; i < 6; i++) {
        char theirs[64], ours[64];
        struct stat a, b;
        fds[i] = -1;
        snprintf(theirs, sizeof theirs, "/proc/%ld/ns/%s", (long)pid, ns_names[i]);
        snprintf(ours, sizeof ours, "/proc/self/ns/%s", ns_names[i]);
        if (stat(theirs, &a) < 0) {
            if (errno == ENOENT && strcmp(ns_names[i], "cgroup") == 0) continue; /* kernel without cgroup namespaces */
            return fail_errno("container process %ld: %s", (long)pid, theirs);
        }
        if (stat(ours, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) continue; /* shared with the host */
        fds[i] = open(theirs, O_RDONLY | O_CLOEXEC);
        if (fds[i] < 0) return fail_errno("open %s", theirs);
    }
    return 0;
}

static pid_t child_pid;

static void forward(int sig) {
    if (child_pid > 0) kill(child_pid, sig);
}

static void run_child(struct exec_args *a, uint64_t bounding, int nnp, int error_w) {
    char path[PATH_MAX];
    reset_signals();
    struct cap_sets caps = {bounding, bounding, bounding, 0, 0};
    const char *path_env;
    if (a->nenv == 0) a->env[a->nenv++] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    a->env[a->nenv] = NULL;
    path_env = env_lookup(a->env, a->nenv, "PATH");
    int code = 125;
    if (cloexec_from(3) == 0 && apply_identity(&caps, &a->user) == 0) {
        /* after the setuid (which clears it): die with the exec process, e.g. when a hook times out */
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        if (chdir(a->cwd) < 0) {
            if (errno == ENOENT || errno == ENOTDIR) fail("working directory %s does not exist in the container", a->cwd);
            else fail_errno("working directory %s", a->cwd);
        } else if (find_executable(a->cmd[0], path_env, path, sizeof path) < 0) {
            code = strstr(last_error(), "permission denied") ? 126 : 127;
        } else if (nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
            fail_errno("prctl(PR_SET_NO_NEW_PRIVS)");
        } else {
            execve(path, a->cmd, a->env);
            code = errno == ENOENT ? 127 : 126;
            exec_failure(a->cmd[0], path, errno);
        }
    }
    char msg[1100];
    snprintf(msg, sizeof msg, "%c%s", (char)code, last_error());
    (void)write_all(error_w, msg, strlen(msg));
    _exit(code);
}

int cmd_exec(int argc, char **argv) {
    struct exec_args a;
    int r = parse_args(argc, argv, &a);
    if (r) return r;
    int fds[6];
    uint64_t bounding = 0;
    int nnp = 0;
    if (open_namespaces(a.pid, fds) < 0 || read_security(a.pid, &bounding, &nnp) < 0) {
        fprintf(stderr, PROG ": exec: %s\n", last_error());
        return 125;
    }
    if (a.start_time) {
        char now[32];
        if (proc_start_time(a.pid, now, sizeof now) < 0 || strcmp(now, a.start_time) != 0) {
            fprintf(stderr, PROG ": exec: container process %ld is gone (the pid now belongs to another process)\n", (long)a.pid);
            return 125;
        }
    }
    char self[32];
    snprintf(self, sizeof self, "%ld", (long)getpid());
    for (size_t i = 0; i < a.ncgroups; i++) {
        int fd = open(a.cgroup_procs[i], O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write_all(fd, self, strlen(self)) < 0) {
            fprintf(stderr, PROG ": exec: cannot join cgroup %s: %s\n", a.cgroup_procs[i], strerror(errno));
            return 125;
        }
        close(fd);
    }
    for (int i = 0; i < 6; i++) {
        if (fds[i] < 0) continue;
        if (setns(fds[i], 0) < 0) {
            fprintf(stderr, PROG ": exec: cannot join the container's %s namespace: %s\n", ns_names[i], strerror(errno));
            return 125;
        }
        close(fds[i]);
    }
    int errp[2];
    if (pipe2(errp, O_CLOEXEC) < 0) {
        perror(PROG ": exec: pipe");
        return 125;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    sa.sa_flags = SA_RESTART;
    int fwd[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    for (size_t i = 0; i < 4; i++) sigaction(fwd[i], &sa, NULL);
    child_pid = fork();
    if (child_pid < 0) {
        perror(PROG ": exec: fork");
        return 125;
    }
    if (child_pid == 0) {
        close(errp[0]);
        run_child(&a, bounding, nnp, errp[1]);
    }
    close(errp[1]);
    char msg[1200];
    size_t used = 0;
    ssize_t n;
    while (used + 1 < sizeof msg && (n = read(errp[0], msg + used, sizeof msg - 1 - used)) != 0) {
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        used += (size_t)n;
    }
    msg[used] = '\0';
    int status;
    while (waitpid(child_pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (used > 1) {
        /* 125: could not enter (the wrapper reads "exec: "); 126/127: CMD itself, named in the message */
        if ((unsigned char)msg[0] == 125) fprintf(stderr, PROG ": exec: %s\n", msg + 1);
        else fprintf(stderr, PROG ": %s\n", msg + 1);
        return (unsigned char)msg[0];
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 1;
}
