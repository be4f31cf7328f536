/* util.h - small helpers shared by every module: diagnostics with
 * FILE:LINE, bounded file reading, size/duration parsing, strict base64url,
 * hex, constant-time comparison and secret wiping.
 *
 * Every function returns 0 or a negative errno unless it says otherwise.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WOTGW_VERSION "0.1.0"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Unlinks node from a doubly linked list whose first element is *headp,
 * through its fields prev and next (named by the caller). */
#define DLIST_UNLINK(headp, node, prev, next)                                                      \
    do {                                                                                           \
        if ((node)->prev)                                                                          \
            (node)->prev->next = (node)->next;                                                     \
        else if (*(headp) == (node))                                                               \
            *(headp) = (node)->next;                                                               \
        if ((node)->next)                                                                          \
            (node)->next->prev = (node)->prev;                                                     \
    } while (0)

/* ---- diagnostics -------------------------------------------------------
 * Loaders never print: they append "FILE:LINE: message" records to a
 * struct diags, which `wotgw -t`, reload and the unit tests read.
 * line 0 means "the file as a whole". */
struct diag {
    char *file;
    unsigned line;
    bool warning; /* false: an error that refuses the file or key */
    char *msg;
};

struct diags {
    struct diag *v;
    size_t n, cap;
    size_t n_errors;
};

void diag_add(struct diags *d, const char *file, unsigned line, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
void diag_warn(struct diags *d, const char *file, unsigned line, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
void diag_addv(struct diags *d, bool warning, const char *file, unsigned line, const char *fmt,
               va_list ap) __attribute__((format(printf, 5, 0)));
/* Writes "FILE:LINE: message" (or "FILE: message" for line 0), one a line;
 * warnings carry "warning: " after the location. */
void diag_print(const struct diags *d, void *stdio_file);
/* true if any record's message contains needle (for tests). */
bool diag_contains(const struct diags *d, const char *needle);
void diag_free(struct diags *d);

/* ---- files ------------------------------------------------------------- */
/* Reads a whole file, refusing files larger than max bytes (-EFBIG).
 * *out is NUL-terminated (the NUL is not counted in *len). */
int util_read_file(const char *path, size_t max, char **out, size_t *len);
/* Writes data to path atomically: temp file in the same directory, fsync,
 * rename, fsync of the directory. mode is applied to the new file. */
int util_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode);
/* Joins dir and a relative path; an absolute rel is returned as is.
 * Caller frees. NULL on ENOMEM. */
char *util_path_join(const char *dir, const char *rel);
/* Directory part of path ("." when there is none). Caller frees. */
char *util_dirname(const char *path);

/* ---- values in config files ------------------------------------------- */
/* "1048576", "64K", "1M", "2G" (binary multiples). */
int util_parse_size(const char *s, uint64_t *out);
/* "250ms", "10s", "5m", "1h", a bare number is seconds. Microseconds. */
int util_parse_duration_us(const char *s, uint64_t *out);
/* "yes/no/true/false/on/off/1/0". */
int util_parse_bool(const char *s, bool *out);
/* Unsigned decimal integer in [min, max]. */
int util_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* Splits s on blanks (spaces, tabs) and commas into a NULL-terminated
 * vector of copies. *n gets the count. */
int util_split_words(const char *s, char ***out, size_t *n);
void util_strv_free(char **v);
bool util_strv_contains(char *const *v, const char *s);

/* ---- encodings --------------------------------------------------------- */
/* Strict base64url (RFC 4648 §5) without padding: '=', '+', '/', white
 * space and non-canonical trailing bits are refused (-EINVAL); output
 * larger than cap gives -ENOBUFS. */
int b64url_decode(const char *in, size_t inlen, uint8_t *out, size_t cap, size_t *outlen);
size_t b64url_encoded_len(size_t n);
/* out must hold b64url_encoded_len(n) + 1 bytes; NUL-terminated. */
void b64url_encode(const uint8_t *in, size_t n, char *out);
/* Standard base64 (RFC 4648 §4) with padding, for HTTP Basic. Strict. */
int b64_decode(const char *in, size_t inlen, uint8_t *out, size_t cap, size_t *outlen);
/* Lower-case hex. out holds 2n+1. */
void hex_encode(const uint8_t *in, size_t n, char *out);
/* Accepts upper and lower case, optional ':' separators. */
int hex_decode(const char *in, uint8_t *out, size_t cap, size_t *outlen);
/* The value of one hex digit (either case), -1 for anything else. */
int hex_digit(char c);

/* ---- secrets ----------------------------------------------------------- */
/* Constant-time equality of two byte strings of possibly different length
 * (the length itself is not secret). */
bool util_secret_eq(const void *a, size_t alen, const void *b, size_t blen);
/* Wipes and frees a secret string (NULL ok). */
void util_secret_free(char *s);
/* A secret kept as the one line of a file (a password file): a trailing
 * LF (and CR before it) dropped. Returns 0 with *out (NUL-terminated, free
 * with util_secret_free) and *len, -EINVAL when the file is not one line
 * of min to max bytes without NUL, CR or LF, or util_read_file()'s errors
 * (-EFBIG when longer than max + 2 bytes). */
int util_read_secret_line(const char *path, size_t min, size_t max, char **out, size_t *len);

/* ---- event loop ------------------------------------------------------------ */

#include <systemd/sd-event.h>

/* Arms the one-shot timer *s (made on first use) to fire delay_us from now
 * on CLOCK_MONOTONIC (10 ms accuracy; 0 fires at the next loop iteration).
 * Returns 0 or a negative errno. */
int util_timer_arm(sd_event *ev, sd_event_source **s, uint64_t delay_us, sd_event_time_handler_t cb,
                   void *ud);
