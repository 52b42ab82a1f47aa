/*
 * The container log, in the format of Docker's json-file driver: one JSON
 * object per line of output, {"time":"<RFC 3339, ns>","stream":"stdout","log":"…\n"}.
 * A line longer than the 16 KiB buffer is written in pieces (each without the
 * newline, as Docker does), and what is left at EOF is written as is.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

static void emit(int log_fd, const char *stream, const char *data, size_t len) {
    char now[48];
    struct strbuf sb = {0};
    format_time(now, sizeof now);
    sb_adds(&sb, "{\"time\":\"");
    sb_adds(&sb, now);
    sb_adds(&sb, "\",\"stream\":\"");
    sb_adds(&sb, stream);
    sb_adds(&sb, "\",\"log\":");
    sb_json_string(&sb, data, len);
    sb_adds(&sb, "}\n");
    /* one write per record: with O_APPEND, a reader never sees half a line from us */
    (void)write_all(log_fd, sb.data, sb.len);
    free(sb.data);
}

static void emit_lines(struct log_stream *s, int log_fd, int at_eof) {
    size_t start = 0;
    for (size_t i = 0; i < s->used; i++) {
        if (s->buf[i] != '\n') continue;
        emit(log_fd, s->name, s->buf + start, i + 1 - start);
        start = i + 1;
    }
    if (start < s->used && (at_eof || (start == 0 && s->used == sizeof s->buf))) {
        emit(log_fd, s->name, s->buf + start, s->used - start);
        start = s->used;
    }
    memmove(s->buf, s->buf + start, s->used - start);
    s->used -= start;
}

int log_pump(struct log_stream *s, int log_fd) {
    if (s->fd < 0) return 0;
    ssize_t r = read(s->fd, s->buf + s->used, sizeof s->buf - s->used);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) return 1;
    if (r <= 0) {
        emit_lines(s, log_fd, 1);
        close(s->fd);
        s->fd = -1;
        return 0;
    }
    s->used += (size_t)r;
    emit_lines(s, log_fd, 0);
    return 1;
}
