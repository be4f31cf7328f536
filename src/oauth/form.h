/* form.h - what the authorization server needs to read and write text:
 * a strict application/x-www-form-urlencoded parser (request bodies and
 * URL queries), percent-encoding, HTML escaping, and a growable string
 * buffer with an upper bound.
 *
 * Parsing rules (form_parse):
 *   input  = "" / pair *( "&" pair )
 *   pair   = name "=" value          ; both percent-decoded, "+" is a space
 * Refused with -EINVAL and a static reason: an empty pair ("a=1&&b=2", a
 * trailing "&"), a pair without "=", an empty name, a name outside
 * [A-Za-z0-9_.-] after decoding, a "%" not followed by two hex digits, a
 * decoded control character (0x00-0x1f, 0x7f), invalid UTF-8 (overlong
 * forms and surrogates included), and a name given twice (RFC 6749 §3.1:
 * parameters must not repeat). Over a limit: -E2BIG (input longer than
 * FORM_MAX_INPUT, more than FORM_MAX_PARAMS pairs, a name over
 * FORM_MAX_NAME or a value over FORM_MAX_VALUE bytes, decoded). An empty
 * value is kept; form_get() treats it as absent (RFC 6749 §3.1).
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define FORM_MAX_INPUT  16384
#define FORM_MAX_PARAMS 64
#define FORM_MAX_NAME   64
#define FORM_MAX_VALUE  4096

struct form_param {
    char *name;
    char *value; /* NUL-terminated; no NUL inside (refused) */
    size_t value_len;
};

struct form {
    struct form_param *v;
    size_t n;
};

/* Parses len bytes of s (need not be NUL-terminated). On error *why (may
 * be NULL) gets a short static text for an error_description and out is
 * left empty. Values are wiped when freed: they may hold passwords. */
int form_parse(const char *s, size_t len, struct form *out, const char **why);
void form_free(struct form *f);
/* The value of name, NULL when absent or empty. */
const char *form_get(const struct form *f, const char *name);
/* True when name is present (even with an empty value). */
bool form_has(const struct form *f, const char *name);

/* A growable string, always NUL-terminated while not failed. Any
 * allocation failure or growth past max sets failed; later appends do
 * nothing. */
struct sbuf {
    char *p;
    size_t n, cap;
    size_t max; /* 0: 1 MiB */
    bool failed;
};

void sb_put(struct sbuf *b, const char *s, size_t n);
void sb_puts(struct sbuf *b, const char *s);
void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* HTML text and attribute values: & < > " ' escaped; control characters
 * other than tab/newline dropped. */
void sb_html(struct sbuf *b, const char *s);
/* Percent-encodes everything but RFC 3986 unreserved characters. */
void sb_urlenc(struct sbuf *b, const char *s);
/* Hands the string over (caller frees) and resets b. NULL when failed
 * (b's memory is freed). len may be NULL. */
char *sb_steal(struct sbuf *b, size_t *len);
void sb_free(struct sbuf *b);

/* Percent-decodes s (RFC 3986, "+" stays "+"); for the user:password of
 * client_secret_basic (RFC 6749 §2.3.1). Refuses broken escapes, control
 * characters and over max bytes. Caller frees (wiping: secrets). */
int form_pct_decode(const char *s, size_t len, size_t max, char **out);
