/*
 * A small strict JSON parser (RFC 8259) for config.json: values become a tree
 * of `struct json`. Strings are decoded to UTF-8 (\u escapes and surrogate
 * pairs included). Nesting is limited so a hostile document cannot exhaust
 * the stack. Memory is never freed: the process is short-lived or execs.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define MAX_DEPTH 64

struct parser {
    const char *p, *end;
    const char *start;
    int depth;
};

static int perr(struct parser *ps, const char *what) {
    return fail("config.json: %s at byte %ld", what, (long)(ps->p - ps->start));
}

static void skip_ws(struct parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) ps->p++;
}

static struct json *new_value(enum json_type t) {
    struct json *v = xcalloc(1, sizeof *v);
    v->type = t;
    return v;
}

static int hex4(struct parser *ps, unsigned *out) {
    if (ps->end - ps->p < 4) return perr(ps, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = ps->p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return perr(ps, "bad \\u escape");
    }
    ps->p += 4;
    *out = v;
    return 0;
}

static void put_utf8(struct strbuf *sb, unsigned cp) {
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xc0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xe0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = (char)(0xf0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    sb_add(sb, b, n);
}

/* ps->p is at the opening quote. */
static int parse_string(struct parser *ps, char **out, size_t *len_out) {
    struct strbuf sb = {0};
    ps->p++;
    for (;;) {
        if (ps->p >= ps->end) return perr(ps, "unterminated string");
        unsigned char c = (unsigned char)*ps->p;
        if (c == '"') {
            ps->p++;
            break;
        }
        if (c < 0x20) return perr(ps, "control character in string");
        if (c != '\\') {
            const char *run = ps->p;
            while (ps->p < ps->end && *ps->p != '"' && *ps->p != '\\' && (unsigned char)*ps->p >= 0x20) ps->p++;
            sb_add(&sb, run, (size_t)(ps->p - run));
            continue;
        }
        ps->p++;
        if (ps->p >= ps->end) return perr(ps, "unterminated escape");
        char e = *ps->p++;
        switch (e) {
        case '"': sb_add(&sb, "\"", 1); break;
        case '\\': sb_add(&sb, "\\", 1); break;
        case '/': sb_add(&sb, "/", 1); break;
        case 'b': sb_add(&sb, "\b", 1); break;
        case 'f': sb_add(&sb, "\f", 1); break;
        case 'n': sb_add(&sb, "\n", 1); break;
        case 'r': sb_add(&sb, "\r", 1); break;
        case 't': sb_add(&sb, "\t", 1); break;
        case 'u': {
            unsigned cp;
            if (hex4(ps, &cp) < 0) return -1;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                unsigned lo;
                if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u') return perr(ps, "lone surrogate in \\u escape");
                ps->p += 2;
                if (hex4(ps, &lo) < 0) return -1;
                if (lo < 0xdc00 || lo > 0xdfff) return perr(ps, "bad surrogate pair in \\u escape");
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                return perr(ps, "lone surrogate in \\u escape");
            }
            put_utf8(&sb, cp);
            break;
        }
        default: return perr(ps, "bad escape in string");
        }
    }
    if (!sb.data) sb_add(&sb, "", 0);
    *out = sb.data;
    *len_out = sb.len;
    return 0;
}

static struct json *parse_value(struct parser *ps);

static struct json *parse_number(struct parser *ps) {
    const char *s = ps->p;
    if (ps->p < ps->end && *ps->p == '-') ps->p++;
    if (ps->p >= ps->end) goto bad;
    if (*ps->p == '0') {
        ps->p++;
    } else if (*ps->p >= '1' && *ps->p <= '9') {
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') ps->p++;
    } else {
        goto bad;
    }
    if (ps->p < ps->end && *ps->p == '.') {
        ps->p++;
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') goto bad;
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') ps->p++;
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-')) ps->p++;
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') goto bad;
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') ps->p++;
    }
    char tmp[64];
    size_t n = (size_t)(ps->p - s);
    if (n >= sizeof tmp) {
        ps->p = s;
        perr(ps, "number too long");
        return NULL;
    }
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    struct json *v = new_value(JSON_NUMBER);
    v->number = strtod(tmp, NULL);
    return v;
bad:
    perr(ps, "bad number");
    return NULL;
}

static int literal(struct parser *ps, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) return 0;
    ps->p += n;
    return 1;
}

static struct json *parse_container(struct parser *ps, int object) {
    struct json *v = new_value(object ? JSON_OBJECT : JSON_ARRAY);
    size_t cap = 0;
    if (++ps->depth > MAX_DEPTH) {
        perr(ps, "nesting too deep");
        return NULL;
    }
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == (object ? '}' : ']')) {
        ps->p++;
        ps->depth--;
        return v;
    }
    for (;;) {
        char *key = NULL;
        size_t keylen;
        skip_ws(ps);
        if (object) {
            if (ps->p >= ps->end || *ps->p != '"') {
                perr(ps, "expected a member name");
                return NULL;
            }
            if (parse_string(ps, &key, &keylen) < 0) return NULL;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                perr(ps, "expected ':'");
                return NULL;
            }
            ps->p++;
        }
        struct json *item = parse_value(ps);
        if (!item) return NULL;
        if (v->count == cap) {
            cap = cap ? cap * 2 : 8;
            struct json **ni = xcalloc(cap, sizeof *ni);
            if (v->count) memcpy(ni, v->items, v->count * sizeof *ni);
            v->items = ni;
            if (object) {
                char **nk = xcalloc(cap, sizeof *nk);
                if (v->count) memcpy(nk, v->keys, v->count * sizeof *nk);
                v->keys = nk;
            }
        }
        v->items[v->count] = item;
        if (object) v->keys[v->count] = key;
        v->count++;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == (object ? '}' : ']')) {
            ps->p++;
            break;
        }
        perr(ps, object ? "expected ',' or '}'" : "expected ',' or ']'");
        return NULL;
    }
    ps->depth--;
    return v;
}

static struct json *parse_value(struct parser *ps) {
    skip_ws(ps);
    if (ps->p >= ps->end) {
        perr(ps, "unexpected end of document");
        return NULL;
    }
    switch (*ps->p) {
    case '{': return parse_container(ps, 1);
    case '[': return parse_container(ps, 0);
    case '"': {
        struct json *v = new_value(JSON_STRING);
        if (parse_string(ps, &v->str, &v->len) < 0) return NULL;
        return v;
    }
    case 't':
    case 'f':
    case 'n':
        if (literal(ps, "true") || literal(ps, "false")) {
            struct json *v = new_value(JSON_BOOL);
            v->boolean = ps->p[-4] == 't'; /* "true" ends 4 bytes back; "false" has 'a' there */
            return v;
        }
        if (literal(ps, "null")) return new_value(JSON_NULL);
        perr(ps, "unknown literal");
        return NULL;
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) return parse_number(ps);
        perr(ps, "unexpected character");
        return NULL;
    }
}

struct json *json_parse(const char *text, size_t len) {
    struct parser ps = {text, text + len, text, 0};
    struct json *v = parse_value(&ps);
    if (!v) return NULL;
    skip_ws(&ps);
    if (ps.p != ps.end) {
        perr(&ps, "trailing data after the document");
        return NULL;
    }
    return v;
}

const struct json *json_get(const struct json *obj, const char *key) {
    if (!obj || obj->type != JSON_OBJECT) return NULL;
    /* the last duplicate wins, as in most parsers */
    for (size_t i = obj->count; i > 0; i--)
        if (strcmp(obj->keys[i - 1], key) == 0) return obj->items[i - 1];
    return NULL;
}
