/*
 * The container's filesystem view, set up inside its new mount namespace in
 * runc's order: `/` made rslave (nothing propagates back to the host), the
 * rootfs's parent mount made private, the rootfs bound onto itself; the
 * config.json mounts (proc, /dev tmpfs, devpts, shm, mqueue, sysfs, volumes…);
 * the standard device nodes and /dev symlinks; pivot_root; read-only and
 * masked paths; a read-only root when asked.
 *
 * Mount destinations are resolved inside the rootfs one component at a time
 * with O_NOFOLLOW: a component that is a symlink is refused (never followed),
 * so an image cannot redirect a mount onto the host. The mount is then made
 * on the resolved O_PATH descriptor (/proc/self/fd/N), not on a path that
 * could change in between.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common.h"

/* ---- mount options ---------------------------------------------------------- */

struct mount_options {
    unsigned long flags;       /* MS_* to set */
    unsigned long propagation; /* MS_PRIVATE / MS_SLAVE / ... (| MS_REC) */
    int bind, recursive;
    char data[2048];           /* filesystem-specific options (mode=755,size=...) */
};

static int parse_options(const struct mount_spec *m, struct mount_options *o) {
    static const struct {
        const char *name;
        int clear;
        unsigned long flag;
    } flags[] = {
        {"ro", 0, MS_RDONLY},        {"rw", 1, MS_RDONLY},         {"nosuid", 0, MS_NOSUID},
        {"suid", 1, MS_NOSUID},      {"nodev", 0, MS_NODEV},       {"dev", 1, MS_NODEV},
        {"noexec", 0, MS_NOEXEC},    {"exec", 1, MS_NOEXEC},       {"sync", 0, MS_SYNCHRONOUS},
        {"async", 1, MS_SYNCHRONOUS}, {"dirsync", 0, MS_DIRSYNC},  {"mand", 0, MS_MANDLOCK},
        {"nomand", 1, MS_MANDLOCK},  {"noatime", 0, MS_NOATIME},   {"atime", 1, MS_NOATIME},
        {"nodiratime", 0, MS_NODIRATIME}, {"diratime", 1, MS_NODIRATIME}, {"relatime", 0, MS_RELATIME},
        {"norelatime", 1, MS_RELATIME}, {"strictatime", 0, MS_STRICTATIME}, {"nostrictatime", 1, MS_STRICTATIME},
    };
    static const struct {
        const char *name;
        unsigned long flag;
    } propagation[] = {
        {"private", MS_PRIVATE}, {"rprivate", MS_PRIVATE | MS_REC}, {"shared", MS_SHARED},
        {"rshared", MS_SHARED | MS_REC}, {"slave", MS_SLAVE}, {"rslave", MS_SLAVE | MS_REC},
        {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
    };
    memset(o, 0, sizeof *o);
    if (strcmp(m->type, "bind") == 0) o->bind = 1;
    for (size_t i = 0; i < m->noptions; i++) {
        const char *opt = m->options[i];
        int known = 0;
        if (strcmp(opt, "bind") == 0 || strcmp(opt, "rbind") == 0) {
            o->bind = 1;
            o->recursive |= opt[0] == 'r';
            continue;
        }
        for (size_t f = 0; f < sizeof flags / sizeof flags[0] && !known; f++) {
            if (strcmp(flags[f].name, opt) != 0) continue;
            known = 1;
            if (flags[f].clear) o->flags &= ~flags[f].flag;
            else o->flags |= flags[f].flag;
        }
        for (size_t p = 0; p < sizeof propagation / sizeof propagation[0] && !known; p++) {
            if (strcmp(propagation[p].name, opt) != 0) continue;
            known = 1;
            o->propagation = propagation[p].flag;
        }
        if (known) continue;
        size_t used = strlen(o->data);
        if (used + strlen(opt) + 2 > sizeof o->data) return fail("mount %s: options too long", m->destination);
        if (used) strcat(o->data, ",");
        strcat(o->data, opt);
    }
    return 0;
}

/* ---- resolving a destination inside the rootfs -------------------------------- */

/*
 * Opens `dest` (absolute, as seen inside the container) below `rootfd` as an
 * O_PATH descriptor, creating what is missing: directories on the way, and
 * the last component as a directory or, with `as_file`, an empty file.
 * Refuses a component that is a symlink and a `..` component.
 */
static int open_in_rootfs(int rootfd, const char *dest, int as_file, const char *what) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s", dest) >= (int)sizeof path) return fail("%s %s: path too long", what, dest);
    int fd = dup(rootfd);
    if (fd < 0) return fail_errno("dup");
    char *save = NULL;
    char walked[PATH_MAX] = "";
    char *comp = strtok_r(path, "/", &save);
    while (comp) {
        char *next = strtok_r(NULL, "/", &save);
        int last = next == NULL;
        if (strcmp(comp, ".") == 0) {
            comp = next;
            continue;
        }
        if (strcmp(comp, "..") == 0) {
            close(fd);
            return fail("%s %s: a .. component is not allowed", what, dest);
        }
        strncat(walked, "/", sizeof walked - strlen(walked) - 1);
        strncat(walked, comp, sizeof walked - strlen(walked) - 1);
        int child = -1;
        for (int attempt = 0; attempt < 3 && child < 0; attempt++) {
            child = openat(fd, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
            if (child >= 0 || errno != ENOENT) break;
            int made;
            if (last && as_file) {
                made = openat(fd, comp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (made >= 0) close(made);
            } else {
                made = mkdirat(fd, comp, 0755);
            }
            if (made < 0 && errno != EEXIST) {
                int saved = errno;
                close(fd);
                errno = saved;
                return fail_errno("%s %s: cannot create %s in the rootfs", what, dest, walked);
            }
        }
        if (child < 0) {
            int saved = errno;
            close(fd);
            errno = saved;
            return fail_errno("%s %s: cannot open %s in the rootfs", what, dest, walked);
        }
        close(fd);
        fd = child;
        struct stat st;
        if (fstat(fd, &st) < 0) {
            close(fd);
            return fail_errno("%s %s: stat %s", what, dest, walked);
        }
        if (S_ISLNK(st.st_mode)) {
            close(fd);
            if (last) return fail("%s %s: a symlink in the rootfs, refused", what, dest);
            return fail("%s %s: %s is a symlink in the rootfs, refused", what, dest, walked);
        }
        if (!last && !S_ISDIR(st.st_mode)) {
            close(fd);
            return fail("%s %s: %s is not a directory in the rootfs", what, dest, walked);
        }
        if (last && !as_file && !S_ISDIR(st.st_mode)) {
            close(fd);
            return fail("%s %s: not a directory in the rootfs (the source is a directory)", what, dest);
        }
        if (last && as_file && S_ISDIR(st.st_mode)) {
            close(fd);
            return fail("%s %s: a directory in the rootfs (the source is a file)", what, dest);
        }
        comp = next;
    }
    return fd;
}

static void fd_path(int fd, char *buf, size_t size) {
    snprintf(buf, size, "/proc/self/fd/%d", fd);
}

/* The MS_* flags a mounted filesystem has now (so a bind remount keeps nosuid, nodev…). */
static unsigned long current_flags(const char *path) {
    struct statvfs sv;
    unsigned long f = 0;
    if (statvfs(path, &sv) < 0) return 0;
    if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
    return f;
}

static int mount_one(int rootfd, const struct mount_spec *m) {
    struct mount_options o;
    char target[64];
    if (parse_options(m, &o) < 0) return -1;
    int as_file = 0;
    if (o.bind) {
        struct stat st;
        if (stat(m->source, &st) < 0) return fail_errno("mount %s: bind source %s", m->destination, m->source);
        as_file = !S_ISDIR(st.st_mode);
    }
    int fd = open_in_rootfs(rootfd, m->destination, as_file, "mount destination");
    if (fd < 0) return -1;
    fd_path(fd, target, sizeof target);
    int r;
    if (o.bind) r = mount(m->source, target, NULL, MS_BIND | (o.recursive ? MS_REC : 0), NULL);
    else r = mount(m->source, target, m->type, o.flags, o.data[0] ? o.data : NULL);
    close(fd);
    if (r < 0) {
        if (o.bind) return fail_errno("mount %s: cannot bind %s", m->destination, m->source);
        return fail_errno("mount %s (%s)", m->destination, m->type);
    }
    /* Remounts and propagation changes act on the new mount: resolve it again (the name now leads to it). */
    if ((o.bind && (o.flags & ~MS_STRICTATIME)) || o.propagation) {
        fd = open_in_rootfs(rootfd, m->destination, as_file, "mount destination");
        if (fd < 0) return -1;
        fd_path(fd, target, sizeof target);
        if (o.bind && (o.flags & ~MS_STRICTATIME) &&
            mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | o.flags | current_flags(target), NULL) < 0) {
            close(fd);
            return fail_errno("mount %s: cannot remount the bind of %s with its options", m->destination, m->source);
        }
        if (o.propagation && mount(NULL, target, NULL, o.propagation, NULL) < 0) {
            close(fd);
            return fail_errno("mount %s: cannot set its propagation", m->destination);
        }
        close(fd);
    }
    return 0;
}

/* ---- /dev ------------------------------------------------------------------------- */

static int create_device(int devfd, const char *name, unsigned major, unsigned minor) {
    if (unlinkat(devfd, name, 0) < 0 && errno != ENOENT)
        return fail_errno("cannot replace /dev/%s in the rootfs", name);
    mode_t old = umask(0);
    int r = mknodat(devfd, name, S_IFCHR | 0666, makedev(major, minor));
    umask(old);
    if (r < 0 && (errno == EPERM || errno == EACCES)) {
        /* no CAP_MKNOD, or a devices cgroup forbids it: bind the host's node instead */
        char host[64], target[64];
        snprintf(host, sizeof host, "/dev/%s", name);
        int f = openat(devfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (f < 0) return fail_errno("cannot create /dev/%s in the rootfs", name);
        close(f);
        int p = openat(devfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (p < 0) return fail_errno("cannot open /dev/%s in the rootfs", name);
        fd_path(p, target, sizeof target);
        r = mount(host, target, NULL, MS_BIND, NULL);
        close(p);
        if (r < 0) return fail_errno("cannot bind the host's %s into the container", host);
        return 0;
    }
    if (r < 0) return fail_errno("mknod /dev/%s", name);
    if (fchownat(devfd, name, 0, 0, AT_SYMLINK_NOFOLLOW) < 0) return fail_errno("chown /dev/%s", name);
    return 0;
}

static int setup_dev(int rootfd) {
    static const struct {
        const char *name;
        unsigned major, minor;
    } devices[] = {{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
    static const char *const links[][2] = {
        {"/proc/self/fd", "fd"},
        {"/proc/self/fd/0", "stdin"},
        {"/proc/self/fd/1", "stdout"},
        {"/proc/self/fd/2", "stderr"},
    };
    int devfd = open_in_rootfs(rootfd, "/dev", 0, "mount destination");
    if (devfd < 0) return -1;
    /* an O_PATH fd cannot be used with mknodat: reopen it as a directory */
    char p[64];
    fd_path(devfd, p, sizeof p);
    int dir = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    close(devfd);
    if (dir < 0) return fail_errno("cannot open /dev in the rootfs");
    for (size_t i = 0; i < sizeof devices / sizeof devices[0]; i++)
        if (create_device(dir, devices[i].name, devices[i].major, devices[i].minor) < 0) {
            close(dir);
            return -1;
        }
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
        if (symlinkat(links[i][0], dir, links[i][1]) < 0 && errno != EEXIST) {
            close(dir);
            return fail_errno("cannot create the /dev/%s symlink", links[i][1]);
        }
    /* like runc: /dev/core only when the kernel has /proc/kcore */
    if (access("/proc/kcore", F_OK) == 0 && symlinkat("/proc/kcore", dir, "core") < 0 && errno != EEXIST) {
        close(dir);
        return fail_errno("cannot create the /dev/core symlink");
    }
    /* /dev/ptmx is the devpts instance's */
    if (unlinkat(dir, "ptmx", 0) < 0 && errno != ENOENT) {
        close(dir);
        return fail_errno("cannot replace /dev/ptmx");
    }
    if (symlinkat("pts/ptmx", dir, "ptmx") < 0) {
        close(dir);
        return fail_errno("cannot create the /dev/ptmx symlink");
    }
    close(dir);
    return 0;
}

/* ---- before and after pivot_root ------------------------------------------------- */

/* The mount point that holds `path` (the longest mount point that is a prefix of it). */
static int mount_point_of(const char *path, char *out, size_t size) {
    size_t len;
    char *text = read_file("/proc/self/mountinfo", 16u << 20, &len);
    if (!text) return -1;
    size_t best = 0;
    snprintf(out, size, "/");
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        /* id parent major:minor root mountpoint ... */
        char *f = line;
        for (int i = 0; i < 4 && f; i++) f = strchr(f + 1, ' ');
        if (!f) continue;
        f++;
        size_t n = strcspn(f, " ");
        char mp[PATH_MAX];
        size_t o = 0;
        for (size_t i = 0; i < n && o + 1 < sizeof mp; i++) {
            if (f[i] == '\\' && i + 3 < n) { /* \040 and friends */
                mp[o++] = (char)(((f[i + 1] - '0') << 6) | ((f[i + 2] - '0') << 3) | (f[i + 3] - '0'));
                i += 3;
            } else {
                mp[o++] = f[i];
            }
        }
        mp[o] = '\0';
        size_t ml = strlen(mp);
        int prefix = strcmp(mp, "/") == 0 || (strncmp(path, mp, ml) == 0 && (path[ml] == '/' || path[ml] == '\0'));
        if (prefix && ml >= best) {
            best = ml;
            snprintf(out, size, "%s", mp);
        }
    }
    free(text);
    return 0;
}

static int pivot_into(const char *root) {
    int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (oldroot < 0) return fail_errno("open /");
    int newroot = open(root, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (newroot < 0) {
        close(oldroot);
        return fail_errno("open the rootfs %s", root);
    }
    int r = -1;
    if (fchdir(newroot) < 0) fail_errno("chdir into the rootfs");
    else if (syscall(SYS_pivot_root, ".", ".") < 0) fail_errno("pivot_root into %s", root);
    /* the old root is now stacked on `/`: detach it (as a slave first, so the unmount does not reach the host) */
    else if (fchdir(oldroot) < 0) fail_errno("fchdir to the old root");
    else if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0) fail_errno("make the old root a slave");
    else if (umount2(".", MNT_DETACH) < 0) fail_errno("detach the old root");
    else if (chdir("/") < 0) fail_errno("chdir /");
    else r = 0;
    close(oldroot);
    close(newroot);
    return r;
}

static int readonly_path(const char *path) {
    if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
        if (errno == ENOENT) return 0;
        return fail_errno("read-only path %s: bind", path);
    }
    if (mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | current_flags(path), NULL) < 0)
        return fail_errno("read-only path %s: remount", path);
    return 0;
}

static int masked_path(const char *path) {
    struct stat st;
    if (stat(path, &st) < 0) {
        if (errno == ENOENT) return 0;
        return fail_errno("masked path %s", path);
    }
    int r = S_ISDIR(st.st_mode) ? mount("tmpfs", path, "tmpfs", MS_RDONLY, NULL) : mount("/dev/null", path, NULL, MS_BIND, NULL);
    if (r < 0) return fail_errno("masked path %s", path);
    return 0;
}

int setup_rootfs(const struct runtime_spec *spec) {
    const char *root = spec->root_path;
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) return fail_errno("make / rslave");
    char parent[PATH_MAX], parent_mp[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", root);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) *slash = '\0';
    else snprintf(parent, sizeof parent, "/");
    if (mount_point_of(parent, parent_mp, sizeof parent_mp) < 0) return -1;
    if (mount(NULL, parent_mp, NULL, MS_PRIVATE, NULL) < 0) return fail_errno("make %s private", parent_mp);
    if (mount(root, root, NULL, MS_BIND | MS_REC, NULL) < 0) return fail_errno("bind the rootfs %s onto itself", root);

    /* opened after the self-bind, so names resolved through it reach mounts made on the new mount */
    int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) return fail_errno("open the rootfs %s", root);
    for (size_t i = 0; i < spec->nmounts; i++)
        if (mount_one(rootfd, &spec->mounts[i]) < 0) {
            close(rootfd);
            return -1;
        }
    if (setup_dev(rootfd) < 0) {
        close(rootfd);
        return -1;
    }
    close(rootfd);
    if (pivot_into(root) < 0) return -1;

    for (size_t i = 0; i < spec->nreadonly; i++)
        if (readonly_path(spec->readonly_paths[i]) < 0) return -1;
    for (size_t i = 0; i < spec->nmasked; i++)
        if (masked_path(spec->masked_paths[i]) < 0) return -1;
    if (spec->root_readonly && mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | current_flags("/"), NULL) < 0)
        return fail_errno("remount the root read-only");
    return 0;
}
