/* users.h - the users file managed by wotgw-passwd(8).
 *
 * One user a line:  NAME:HASH[:GROUP,GROUP...]
 * NAME is [A-Za-z0-9._@-]{1,64}; HASH is a crypt(5) hash of a strong
 * method (yescrypt "$y$", bcrypt "$2b$", scrypt "$7$", gost-yescrypt
 * "$gy$"), or "!" for an identity that may not log in with a password
 * (certificate or PSK users that still need groups). "#" starts a comment
 * line; blank lines are ignored; a trailing CR is tolerated. GROUP is
 * [A-Za-z0-9._@-]{1,64}, at most USERS_MAX_GROUPS of them. Anything else
 * (weak hash methods such as DES, "$1$", "$5$", "$6$" included) is an
 * error with FILE:LINE that refuses the whole file.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "../util.h"

#define USERS_MAX_FILE_SIZE (16u << 20)
#define USERS_MAX_ENTRIES   100000
#define USERS_MAX_NAME      64
#define USERS_MAX_GROUPS    32
#define USERS_MAX_LINE      4096
#define USERS_MAX_PASSWORD  1024 /* longer passwords never verify */

struct user {
    char *name;
    char *hash;    /* "!" : no password login */
    char **groups; /* NULL-terminated, never NULL */
};

struct users {
    struct user *v; /* sorted by name */
    size_t n;
    /* crypt(5) setting hashed for unknown users and "!" hashes: the first
     * user's hash (same method and cost), or a built-in yescrypt one. */
    char *dummy;
};

int users_parse(const char *path, const char *text, size_t len, struct users **out,
                struct diags *d);
int users_load(const char *path, struct users **out, struct diags *d);
void users_free(struct users *u);

const struct user *users_find(const struct users *u, const char *name);
/* Checks a password with crypt_r. For an unknown user or a "!" hash it
 * still spends the time of one hash against a dummy, then returns false,
 * so response time does not tell which users exist. */
bool users_verify(const struct users *u, const char *name, const char *pass, size_t pass_len,
                  const struct user **out);
bool user_in_group(const struct user *u, const char *group);

/* True when hash is a crypt(5) hash of an accepted method. */
bool users_hash_method_ok(const char *hash);
