/* linefile.h - what the line-oriented credential files (users, API keys,
 * certificate identities, ...) share: walking their lines with a line
 * number and the same rules, and the names and group lists in them.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util.h"

/* A user, key or group name: 1 to 64 of A-Z a-z 0-9 . _ @ - */
#define LINEFILE_MAX_NAME 64
bool linefile_name_ok(const char *s, size_t len);

/* Splits "a,b,c" (len bytes, may be 0: no groups) into a NULL-terminated
 * vector of at most max_groups names. -EINVAL with *why set for a bad
 * name or too many; -ENOMEM. */
int linefile_groups_split(const char *s, size_t len, size_t max_groups, char ***out,
                          const char **why);

/* Calls fn(ud, line_number, line) for every entry line of text: a
 * NUL-terminated copy without its line ending ("\n" or "\r\n"); lines
 * starting with '#' and blank lines are skipped. A line over max_line
 * bytes or holding a NUL byte gets a diagnostic and is skipped.
 * fn returns 0; -EINVAL for a bad line (its diagnostic given; the walk
 * goes on); -E2BIG for a bad line after which the walk stops (too many
 * entries); any other negative stops the walk and is returned.
 * Returns 0, -EINVAL when any line was bad, or fn's error. */
int linefile_each(const char *path, const char *text, size_t len, size_t max_line, struct diags *d,
                  int (*fn)(void *ud, unsigned ln, char *line), void *ud);

/* A credential file that holds secrets: reads at most max bytes of path
 * (a read failure: "cannot read WHAT: reason"), checks the permissions
 * others have on it (mode & others_mask: with refuse an error and -EPERM,
 * else a warning; perm_msg says so), hands the text to parse(path, text,
 * len, out, d) and wipes it afterwards. Returns parse's result. */
int linefile_load_secret(const char *path, size_t max, const char *what, mode_t others_mask,
                         bool refuse, const char *perm_msg,
                         int (*parse)(const char *path, const char *text, size_t len, void *out,
                                      struct diags *d),
                         void *out, struct diags *d);
