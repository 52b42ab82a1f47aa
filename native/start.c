/*
 * `tsbak-runtime start --bundle DIR --state DIR --id ID`
 *
 * Three processes take part:
 *  - the caller's `start` process parses config.json, forks the monitor and
 *    waits on a report pipe: it exits 0 once the container's process has
 *    exec'd its entrypoint, or prints the one-line reason and exits 1;
 *  - the monitor (setsid, child subreaper, SIGHUP/SIGINT/SIGTERM ignored,
 *    stdio on /dev/null, so it outlives the caller and its terminal) clones
 *    the container into new namespaces, puts it in its cgroups, lets it go,
 *    then writes state.json, pipes its stdout/stderr into container.log,
 *    reaps orphans, and at the end removes the cgroups and writes exit.json;
 *  - the container's init sets up its root filesystem, hostname, limits,
 *    capabilities and user, and execs the entrypoint. A setup or exec failure
 *    goes back to the monitor through a close-on-exec error pipe: EOF without
 *    a message means the exec succeeded.
 *
 * No TTY: the container's stdin is /dev/null and its output goes to the log.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define INIT_STACK_SIZE (1u << 20)
/* After pid 1 exits, how long the monitor waits for the last output (another holder of the pipes). */
#define DRAIN_TIMEOUT_MS 5000

struct init_context {
    const struct runtime_spec *spec;
    int stdout_w, stderr_w; /* the log pipes' write ends */
    int sync_r;             /* the monitor writes one byte once the cgroups are ready */
    int error_w;            /* close-on-exec: a message here means the setup or the exec failed */
    int devnull;
    int report_w; /* the monitor's pipe to the caller: not the container's business */
};

/* ---- the container's init --------------------------------------------------------- */

static int loopback_up(void) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return fail_errno("socket for bringing lo up");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    int r = ioctl(s, SIOCGIFFLAGS, &ifr);
    if (r == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        r = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    int saved = errno;
    close(s);
    errno = saved;
    return r < 0 ? fail_errno("bring the loopback interface up") : 0;
}

static int enter_cwd(const struct runtime_spec *spec) {
    if (chdir(spec->cwd) == 0) return 0;
    if (errno == ENOENT || errno == ENOTDIR) return fail("working directory %s does not exist in the rootfs", spec->cwd);
    if (errno == EACCES) return fail("working directory %s: permission denied for uid %u", spec->cwd, (unsigned)spec->user.uid);
    return fail_errno("working directory %s", spec->cwd);
}

static int setup_container(const struct init_context *c) {
    const struct runtime_spec *spec = c->spec;
    if (setsid() < 0) return fail_errno("setsid");
    if (dup2(c->devnull, 0) < 0 || dup2(c->stdout_w, 1) < 0 || dup2(c->stderr_w, 2) < 0) return fail_errno("set up stdio");
    umask(022);
    if ((spec->clone_flags & CLONE_NEWNET) && loopback_up() < 0) return -1;
    if (setup_rootfs(spec) < 0) return -1;
    if (spec->hostname && sethostname(spec->hostname, strlen(spec->hostname)) < 0) return fail_errno("sethostname %s", spec->hostname);
    for (size_t i = 0; i < spec->nrlimits; i++) {
        struct rlimit rl = {spec->rlimits[i].soft, spec->rlimits[i].hard};
        if (setrlimit(spec->rlimits[i].resource, &rl) < 0)
            return fail_errno("process.rlimits: cannot set %s to soft %llu, hard %llu (raising a hard limit needs CAP_SYS_RESOURCE)",
                              spec->rlimits[i].name, (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
    }
    if (cloexec_from(3) < 0) return -1;
    if (apply_identity(&spec->caps, &spec->user) < 0) return -1;
    return enter_cwd(spec);
}

static int container_init(void *arg) {
    const struct init_context *c = arg;
    const struct runtime_spec *spec = c->spec;
    char byte;
    reset_signals();
    close(c->report_w);
    /* the container dies with the monitor until it runs its entrypoint */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (read(c->sync_r, &byte, 1) != 1) _exit(1); /* the monitor gave up */
    close(c->sync_r);
    if (setup_container(c) == 0) {
        char path[PATH_MAX];
        if (find_executable(spec->args[0], env_lookup(spec->env, spec->nenv, "PATH"), path, sizeof path) == 0) {
            if (spec->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                fail_errno("prctl(PR_SET_NO_NEW_PRIVS)");
            } else {
                prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
                execve(path, spec->args, spec->env);
                exec_failure(spec->args[0], path, errno);
            }
        }
    }
    const char *msg = last_error();
    (void)write_all(c->error_w, msg, strlen(msg));
    _exit(127);
}

/* ---- the monitor ------------------------------------------------------------------- */

static pid_t container_pid;
static int container_exited;
static int container_status;
static char container_finished[48];

static void reap_children(void) {
    int status;
    pid_t p;
    while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
        if (p == container_pid && !container_exited) {
            container_exited = 1;
            container_status = status;
            format_time(container_finished, sizeof container_finished);
        }
    }
}

static void report(int fd, char kind, const char *msg) {
    struct strbuf sb = {0};
    sb_add(&sb, &kind, 1);
    if (msg) sb_adds(&sb, msg);
    (void)write_all(fd, sb.data, sb.len);
    free(sb.data);
    close(fd);
}

static int write_state(const char *state_dir, const struct cgroup_set *cg) {
    char start_time[32], monitor_start[32], now[48];
    if (proc_start_time(container_pid, start_time, sizeof start_time) < 0) return -1;
    if (proc_start_time(getpid(), monitor_start, sizeof monitor_start) < 0) return -1;
    format_time(now, sizeof now);
    struct strbuf sb = {0};
    sb_printf(&sb, "{\"pid\":%ld,\"startTime\":\"%s\",\"monitorPid\":%ld,\"monitorStartTime\":\"%s\",\"started\":\"%s\",\"cgroups\":[",
              (long)container_pid, start_time, (long)getpid(), monitor_start, now);
    for (int i = 0; i < cg->count; i++) {
        if (i) sb_adds(&sb, ",");
        sb_json_string(&sb, cg->dirs[i], strlen(cg->dirs[i]));
    }
    sb_adds(&sb, "]}\n");
    int r = write_file_atomic(state_dir, "state.json", sb.data, sb.len);
    free(sb.data);
    return r;
}

static void write_exit(const char *state_dir) {
    struct strbuf sb = {0};
    int code = WIFEXITED(container_status) ? WEXITSTATUS(container_status) : 128 + WTERMSIG(container_status);
    if (WIFSIGNALED(container_status))
        sb_printf(&sb, "{\"exitCode\":%d,\"signal\":\"%s\",\"finished\":\"%s\"}\n", code, signal_name(WTERMSIG(container_status)),
                  container_finished);
    else
        sb_printf(&sb, "{\"exitCode\":%d,\"signal\":null,\"finished\":\"%s\"}\n", code, container_finished);
    (void)write_file_atomic(state_dir, "exit.json", sb.data, sb.len);
    free(sb.data);
}

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Logs until pid 1 has exited and its output is drained; reaps every orphan on the way. */
static void supervise(int sigfd, int stdout_r, int stderr_r, int log_fd) {
    static struct log_stream out, err;
    out.fd = stdout_r;
    out.name = "stdout";
    err.fd = stderr_r;
    err.name = "stderr";
    long deadline = 0;
    while (!container_exited || out.fd >= 0 || err.fd >= 0) {
        struct pollfd pfd[3] = {{sigfd, POLLIN, 0}, {out.fd, POLLIN, 0}, {err.fd, POLLIN, 0}};
        int timeout = -1;
        if (container_exited) {
            if (!deadline) deadline = now_ms() + DRAIN_TIMEOUT_MS;
            timeout = (int)(deadline - now_ms());
            if (timeout <= 0) break;
        }
        int n = poll(pfd, 3, timeout);
        if (n < 0 && errno != EINTR) break;
        if (n <= 0) continue;
        if (pfd[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sigfd, &si, sizeof si) == sizeof si) {
            }
            reap_children();
        }
        if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) log_pump(&out, log_fd);
        if (pfd[2].revents & (POLLIN | POLLHUP | POLLERR)) log_pump(&err, log_fd);
    }
    /* output still held open by someone else past the deadline: flush what we have */
    if (out.fd >= 0) close(out.fd);
    if (err.fd >= 0) close(err.fd);
}

static void detach_from_caller(void) {
    setsid();
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    signal(SIGHUP, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTTIN, SIG_IGN);
    signal(SIGTTOU, SIG_IGN);
    signal(SIGTSTP, SIG_IGN);
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(devnull, 2);
        close(devnull);
    }
    if (chdir("/") < 0) { /* keeps no directory of the caller busy; / always exists */
    }
}

static void run_monitor(const struct runtime_spec *spec, const char *state_dir, int report_fd) {
    detach_from_caller();
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    int sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sigfd < 0) {
        fail_errno("signalfd");
        report(report_fd, 'E', last_error());
        _exit(1);
    }
    char log_path[PATH_MAX];
    int log_fd = path_join(log_path, sizeof log_path, state_dir, "container.log") < 0 ? -1 : open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    int out[2], err[2], sync[2], errp[2];
    if (log_fd < 0) fail_errno("cannot open the log %s", log_path);
    if (log_fd < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 || pipe2(sync, O_CLOEXEC) < 0 ||
        pipe2(errp, O_CLOEXEC) < 0) {
        if (log_fd >= 0) fail_errno("pipe");
        report(report_fd, 'E', last_error());
        _exit(1);
    }
    struct init_context ctx = {spec, out[1], err[1], sync[0], errp[1], open("/dev/null", O_RDONLY | O_CLOEXEC), report_fd};
    char *stack = xcalloc(INIT_STACK_SIZE, 1);
    container_pid = clone(container_init, stack + INIT_STACK_SIZE, spec->clone_flags | SIGCHLD, &ctx);
    if (container_pid < 0) {
        fail_errno("clone into new namespaces (is the kernel built with namespaces, and are we root?)");
        report(report_fd, 'E', last_error());
        _exit(1);
    }
    close(out[1]);
    close(err[1]);
    close(sync[0]);
    close(errp[1]);
    close(ctx.devnull);

    struct cgroup_set cg;
    if (cgroups_create(spec, &cg) < 0 || cgroups_add_pid(&cg, container_pid) < 0) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", last_error());
        kill(container_pid, SIGKILL);
        waitpid(container_pid, NULL, 0);
        cgroups_remove(&cg, NULL);
        report(report_fd, 'E', msg);
        _exit(1);
    }
    (void)write_all(sync[1], "g", 1);
    close(sync[1]);

    /* EOF without a message: the exec succeeded */
    struct strbuf msg = {0};
    char buf[512];
    ssize_t r;
    while ((r = read(errp[0], buf, sizeof buf)) != 0) {
        if (r < 0) {
            if (errno == EINTR) continue;
            break;
        }
        sb_add(&msg, buf, (size_t)r);
    }
    close(errp[0]);
    if (msg.len > 0) {
        waitpid(container_pid, NULL, 0);
        cgroups_remove(&cg, NULL);
        report(report_fd, 'E', msg.data);
        _exit(1);
    }
    if (write_state(state_dir, &cg) < 0) {
        char m[1024];
        snprintf(m, sizeof m, "%s", last_error());
        kill(container_pid, SIGKILL);
        waitpid(container_pid, NULL, 0);
        cgroups_remove(&cg, NULL);
        report(report_fd, 'E', m);
        _exit(1);
    }
    report(report_fd, 'O', NULL);

    supervise(sigfd, out[0], err[0], log_fd);
    if (!container_exited) { /* the drain loop broke early: wait for pid 1 itself */
        int status;
        if (waitpid(container_pid, &status, 0) == container_pid) {
            container_exited = 1;
            container_status = status;
            format_time(container_finished, sizeof container_finished);
        }
    }
    cgroups_remove(&cg, reap_children);
    reap_children();
    write_exit(state_dir);
    _exit(0);
}

/* ---- the caller's side ----------------------------------------------------------------- */

static int valid_id(const char *id) {
    size_t n = strlen(id);
    if (n == 0 || n > 128) return 0;
    if (!((id[0] >= 'a' && id[0] <= 'z') || (id[0] >= 'A' && id[0] <= 'Z') || (id[0] >= '0' && id[0] <= '9'))) return 0;
    return strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

/* Refuses a state directory whose container still runs; clears a finished one's state (the log is kept). */
static int claim_state_dir(const char *state_dir, const char *id) {
    char path[PATH_MAX], exit_path[PATH_MAX];
    if (path_join(path, sizeof path, state_dir, "state.json") < 0 || path_join(exit_path, sizeof exit_path, state_dir, "exit.json") < 0)
        return -1;
    size_t len;
    char *text = read_file(path, 1 << 20, &len);
    if (text && access(exit_path, F_OK) != 0) {
        struct json *doc = json_parse(text, len);
        const struct json *pid = json_get(doc, "pid"), *st = json_get(doc, "startTime");
        char now[32];
        if (pid && pid->type == JSON_NUMBER && st && st->type == JSON_STRING &&
            proc_start_time((pid_t)pid->number, now, sizeof now) == 0 && strcmp(now, st->str) == 0)
            return fail("container %s is already running (pid %ld); stop it before starting it again", id, (long)pid->number);
    }
    free(text);
    if (unlink(path) < 0 && errno != ENOENT) return fail_errno("cannot remove the old %s", path);
    if (unlink(exit_path) < 0 && errno != ENOENT) return fail_errno("cannot remove the old %s", exit_path);
    return 0;
}

/* Whatever the caller left open must not be held by the long-lived monitor. */
static void close_inherited_fds(void) {
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0) return;
#endif
    for (int fd = 3; fd < 1024; fd++) close(fd);
}

static int usage(void) {
    fprintf(stderr, "usage: " PROG " start --bundle DIR --state DIR --id ID\n");
    return 2;
}

int cmd_start(int argc, char **argv) {
    const char *bundle = NULL, *state_dir = NULL, *id = NULL;
    for (int i = 0; i < argc; i++) {
        const char **dest = strcmp(argv[i], "--bundle") == 0  ? &bundle
                            : strcmp(argv[i], "--state") == 0 ? &state_dir
                            : strcmp(argv[i], "--id") == 0    ? &id
                                                              : NULL;
        if (!dest || i + 1 >= argc) return usage();
        *dest = argv[++i];
    }
    if (!bundle || !state_dir || !id) return usage();
    close_inherited_fds();
    if (!valid_id(id)) {
        fprintf(stderr, PROG ": container id \"%s\" must be 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit\n", id);
        return 2;
    }
    struct runtime_spec spec;
    if (spec_load(bundle, &spec) < 0) {
        fprintf(stderr, PROG ": %s\n", last_error());
        return 1;
    }
    char state_real[PATH_MAX];
    if (mkdir_p(state_dir, 0700) < 0 || !realpath(state_dir, state_real)) {
        if (errno) fail_errno("state directory %s", state_dir);
        fprintf(stderr, PROG ": %s\n", last_error());
        return 1;
    }
    char lock_path[PATH_MAX];
    if (path_join(lock_path, sizeof lock_path, state_real, "start.lock") < 0) {
        fprintf(stderr, PROG ": %s\n", last_error());
        return 1;
    }
    int lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) < 0) {
        fprintf(stderr, PROG ": container %s is being started by another process (%s is locked)\n", id, lock_path);
        return 1;
    }
    if (claim_state_dir(state_real, id) < 0) {
        fprintf(stderr, PROG ": %s\n", last_error());
        return 1;
    }
    int rp[2];
    if (pipe2(rp, O_CLOEXEC) < 0) {
        perror(PROG ": pipe");
        return 1;
    }
    pid_t monitor = fork();
    if (monitor < 0) {
        perror(PROG ": fork");
        return 1;
    }
    if (monitor == 0) {
        close(rp[0]);
        close(lock);
        run_monitor(&spec, state_real, rp[1]);
    }
    close(rp[1]);
    struct strbuf sb = {0};
    char buf[512];
    ssize_t r;
    while ((r = read(rp[0], buf, sizeof buf)) != 0) {
        if (r < 0) {
            if (errno == EINTR) continue;
            break;
        }
        sb_add(&sb, buf, (size_t)r);
    }
    if (sb.len > 0 && sb.data[0] == 'O') return 0;
    if (sb.len > 1 && sb.data[0] == 'E') {
        fprintf(stderr, PROG ": %s\n", sb.data + 1);
        return 1;
    }
    int status = 0;
    waitpid(monitor, &status, WNOHANG);
    fprintf(stderr, PROG ": the monitor of container %s died while starting it (status %d); nothing was started\n", id, status);
    return 1;
}
