/* tsbak-runtime: the built-in runtime's launcher (start) and exec helper. See README.md. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

static int usage(void) {
    fprintf(stderr,
            "usage: " PROG " start --bundle DIR --state DIR --id ID\n"
            "       " PROG " exec --pid PID [--start-time T] [--cwd DIR] [--env K=V]... [--user UID:GID] [--groups G1,G2]\n"
            "              [--cgroup-procs FILE]... -- CMD [ARG]...\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 2) return usage();
    if (geteuid() != 0) {
        fprintf(stderr, PROG ": must run as root (namespaces, cgroups, mounts)\n");
        return 1;
    }
    if (strcmp(argv[1], "start") == 0) return cmd_start(argc - 2, argv + 2);
    if (strcmp(argv[1], "exec") == 0) return cmd_exec(argc - 2, argv + 2);
    return usage();
}
