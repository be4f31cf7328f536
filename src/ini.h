/* ini.h - a small strict INI reader with a line number on every key.
 *
 * Syntax (documented for installers in wotgw.conf(5)):
 *   # comment            ; comment      (whole lines only)
 *   [type]               [type name]    (name may be "quoted" to hold blanks)
 *   key = value                          (blanks around key and value trimmed)
 * No line-length limit; the whole file is bounded by the caller.
 * Errors (all reported, not just the first, each with FILE:LINE): a key
 * before any section, a line that is neither, a broken "[section" line
 * (its keys are then refused, never filed under the previous section),
 * an empty key, a duplicate key in a section, a duplicate section,
 * control characters or invalid UTF-8, a NUL byte. A CR before LF and a
 * UTF-8 byte order mark at the start are tolerated. Section types are
 * [A-Za-z][A-Za-z0-9_-]{0,63}; names at most 256 bytes; inside a quoted
 * name only \" and \\ are escapes. At most 4096 sections and 2048 keys
 * a section; after 200 errors the reader gives up.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

struct ini_entry {
    char *key;
    char *value;
    unsigned line;
    bool used; /* set by consumers; ini_report_unused() complains about the rest */
};

struct ini_section {
    char *type; /* "thing" for "[thing lamp]" */
    char *name; /* "lamp", or NULL for "[https]" */
    unsigned line;
    struct ini_entry *entries;
    size_t n_entries;
};

struct ini_file {
    char *path;
    struct ini_section *sections;
    size_t n_sections;
};

/* Parses text (len bytes, need not be NUL-terminated). Returns 0 when
 * there was no error (warnings allowed), -EINVAL when d got errors (out is
 * still filled with what parsed), -ENOMEM. */
int ini_parse(const char *path, const char *text, size_t len, struct ini_file *out,
              struct diags *d);
/* Reads path (at most max_size bytes) and parses it. */
int ini_load(const char *path, size_t max_size, struct ini_file *out, struct diags *d);
void ini_free(struct ini_file *f);

/* Looks up a key in a section and marks it used. NULL if absent. */
struct ini_entry *ini_get(struct ini_section *s, const char *key);
/* Writes "[type]", "[type name]" or [type "quoted name"] (for messages)
 * into buf; -ENOBUFS when it does not fit (INI_SECTION_LABEL_MAX always
 * does for a section that ini_parse made). */
#define INI_SECTION_LABEL_MAX 640
int ini_section_label(const struct ini_section *s, char *buf, size_t size);
/* Adds "unknown key 'K' in [type name]" for every entry not marked used. */
void ini_report_unused(const struct ini_file *f, struct diags *d);
