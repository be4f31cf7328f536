/* wotgw-passwd.c - the installers' companion command: edits the users
 * file and the API keys file that wotgw reads; see wotgw-passwd(8).
 *
 * Both files are line oriented: NAME:SECRET[:GROUP,GROUP...] (formats in
 * auth/users.h and auth/apikeys.h). An edit takes FILE.lock (flock), reads
 * the file, changes only the lines it must, and writes the whole file back
 * atomically (temp file, fsync, rename) with mode 0640, keeping owner and
 * group. Comments, blank lines, order and lines it cannot parse are kept
 * byte for byte; the last are reported as warnings.
 *
 * Exit status: 0 success, 1 usage or input error, 2 I/O error.
 *
 * Each file kind is one entry in the stores[] table and each command one
 * entry in commands[]; pre-shared keys (CoAP/DTLS PSK) and OSCORE security
 * contexts (auth/oscore_ctx.h: "oscore add|del|list") are such stores.
 *
 * Cleanup style: goto to one exit.
 */
#define _GNU_SOURCE
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "auth/oscore_ctx.h"
#include "oauth/clients.h"
#include "oauth/form.h"
#include "cose_consumers.h"
#include "cose_sign.h"
#include "oauth/keys.h"
#include "util.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_KEY_DIR   "/var/lib/wotgw/oauth"          /* [gateway] state_dir + "/oauth" */
#define DEFAULT_COSE_DIR  "/var/lib/wotgw/" COSE_SIGN_DIR /* [gateway] state_dir + "/cose" */
#define DEFAULT_COSE_KEYS SYSCONFDIR "/wotgw/cose_keys"   /* consumers' keys */

enum {
    EXIT_OK = 0,
    EXIT_INPUT = 1, /* usage or input error */
    EXIT_IO = 2,    /* a file could not be read, locked or written */
};

#define FILE_MAX_SIZE   (16u << 20) /* refuse larger credential files */
#define NAME_MAX_LEN    64
#define GROUP_MAX_LEN   64
#define GROUPS_MAX      32
#define HASH_MAX_LEN    512
#define PASS_MIN_LEN    8
#define PASS_MAX_LEN    1024
#define BCRYPT_MAX_LEN  72 /* bcrypt ignores everything after 72 bytes */
#define BCRYPT_COST     12 /* libxcrypt's default for $2b$ is only 5 */
#define LOCK_TIMEOUT_MS 30000
#define APIKEY_BYTES    32 /* 256 bits */
#define APIKEY_PREFIX   "wgk_"
#define SECRET_PREFIX   "wgs_" /* OAuth client secrets */
#define FILE_MODE       0640

static const char *prog = "wotgw-passwd";
static bool quiet;

/* ---- messages ------------------------------------------------------------ */

static void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void info(const char *fmt, ...)
{
    if (quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- names, groups, secrets ---------------------------------------------- */

static bool name_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '@' || c == '-';
}

/* NAME and GROUP: [A-Za-z0-9._@-]{1,64} (auth/users.h). */
static bool word_ok(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!name_char(s[i]))
            return false;
    return true;
}

/* A stored group list: GROUP[,GROUP...] (or empty), at most GROUPS_MAX. */
static bool groups_field_ok(const char *s, size_t len)
{
    size_t count = 0, start = 0;
    if (len == 0)
        return true;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == ',') {
            if (!word_ok(s + start, i - start, GROUP_MAX_LEN) || ++count > GROUPS_MAX)
                return false;
            start = i + 1;
        }
    }
    return true;
}

/* Normalises a -g argument ("a,b c" -> "a,b c" split on commas and blanks,
 * duplicates dropped) into "a,b,c". "" clears the groups. */
static int groups_normalize(const char *arg, char **out)
{
    char **v = NULL, *res = NULL;
    size_t n = 0, used = 0;
    int r = util_split_words(arg, &v, &n);
    if (r < 0)
        goto out;
    if (n > GROUPS_MAX) {
        msg("too many groups (at most %d)", GROUPS_MAX);
        r = -EINVAL;
        goto out;
    }
    res = calloc(1, n * (GROUP_MAX_LEN + 1) + 1);
    if (!res) {
        r = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(v[i]);
        if (!word_ok(v[i], len, GROUP_MAX_LEN)) {
            msg("invalid group name (allowed: 1 to %d of A-Z a-z 0-9 . _ @ -)", GROUP_MAX_LEN);
            r = -EINVAL;
            goto out;
        }
        bool dup = false;
        for (size_t j = 0; j < i; j++)
            dup = dup || !strcmp(v[i], v[j]);
        if (dup)
            continue;
        if (used)
            res[used++] = ',';
        memcpy(res + used, v[i], len);
        used += len;
    }
    res[used] = '\0';
    *out = res;
    res = NULL;
out:
    free(res);
    util_strv_free(v);
    return r;
}

static bool crypt_char(char c)
{
    return name_char(c) || c == '/' || c == '$';
}

/* Hash methods wotgw accepts (auth/users.h). */
static bool hash_method_known(const char *s, size_t len)
{
    static const char *const prefixes[] = {"$y$", "$2b$", "$7$", "$gy$"};
    for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++) {
        size_t pl = strlen(prefixes[i]);
        if (len > pl && !strncmp(s, prefixes[i], pl))
            return true;
    }
    return false;
}

/* users: "!" or a crypt(5) string. */
static bool users_secret_ok(const char *s, size_t len)
{
    if (len == 1 && s[0] == '!')
        return true;
    if (len < 2 || len > HASH_MAX_LEN || s[0] != '$')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!crypt_char(s[i]))
            return false;
    return true;
}

/* apikeys: 64 hex digits. */
#define PSK_BYTES 32 /* what psk-add makes: 256 bits */

/* 16 to 64 bytes in hex, as auth/psk.h reads them */
static bool psk_secret_ok(const char *s, size_t len)
{
    if (len < 32 || len > 128 || len % 2)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return true;
}

static bool apikeys_secret_ok(const char *s, size_t len)
{
    if (len != 64)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return true;
}

/* ---- stores: one kind of credential file --------------------------------- */

enum store_kind {
    STORE_USERS,
    STORE_APIKEYS,
    STORE_CLIENTS, /* OAuth clients (oauth/clients.h): NAME KEY=VALUE... */
    STORE_KEYS,    /* the authorization server's signing keys: not a line file */
    STORE_PSK,     /* CoAPS pre-shared keys (auth/psk.h): IDENTITY:KEYHEX, the key
                    * itself (DTLS needs it), so a file only root and wotgw read */
    STORE_OSCORE,  /* OSCORE security contexts (auth/oscore_ctx.h): NAME KEY=VALUE...,
                    * master secrets, so a file only root and wotgw read */
};

struct store {
    const char *what;   /* for messages: "user", "API key" */
    const char *plural; /* file name under SYSCONFDIR/wotgw */
    bool (*secret_ok)(const char *s, size_t len);
};

/* clients: the whole line is checked by clients_check_line() */
static bool clients_secret_ok(const char *s, size_t len)
{
    (void)s;
    (void)len;
    return true;
}

static const struct store stores[] = {
        [STORE_USERS] = {"user", "users", users_secret_ok},
        [STORE_APIKEYS] = {"API key", "apikeys", apikeys_secret_ok},
        [STORE_CLIENTS] = {"client", "clients", clients_secret_ok},
        [STORE_KEYS] = {"signing key", "oauth", NULL},
        [STORE_PSK] = {"PSK identity", "psk", psk_secret_ok},
        [STORE_OSCORE] = {"OSCORE context", "oscore", clients_secret_ok},
};

/* One parsed entry: spans into the line's text. */
struct entry {
    const char *name, *secret, *groups;
    size_t name_len, secret_len, groups_len;
    bool has_groups;
};

/* NAME:SECRET[:GROUPS]. False for anything else (not for comments: the
 * caller skips those first). */
static bool entry_parse(const struct store *st, const char *text, struct entry *e)
{
    if (st == &stores[STORE_OSCORE]) {
        /* NAME KEY=VALUE...: checked as wotgw reads it */
        size_t nl = strcspn(text, " \t");
        *e = (struct entry){.name = text,
                            .name_len = nl,
                            .secret = text + nl,
                            .secret_len = strlen(text + nl),
                            .groups = ""};
        return oscore_ctx_check_line(text, NULL, 0) == 0;
    }
    if (st == &stores[STORE_CLIENTS]) {
        /* NAME KEY=VALUE...: the name, then the rest as the "secret" */
        size_t nl = strcspn(text, " \t");
        char err[8];
        *e = (struct entry){.name = text,
                            .name_len = nl,
                            .secret = text + nl,
                            .secret_len = strlen(text + nl),
                            .groups = ""};
        return word_ok(text, nl, NAME_MAX_LEN) && clients_check_line(text, err, sizeof(err)) == 0;
    }
    const char *c1 = strchr(text, ':');
    if (!c1)
        return false;
    const char *c2 = strchr(c1 + 1, ':');
    *e = (struct entry){.name = text, .name_len = (size_t)(c1 - text), .secret = c1 + 1};
    if (c2) {
        e->secret_len = (size_t)(c2 - c1 - 1);
        e->groups = c2 + 1;
        e->groups_len = strlen(c2 + 1);
        e->has_groups = true;
    } else {
        e->secret_len = strlen(c1 + 1);
        e->groups = "";
    }
    return word_ok(e->name, e->name_len, NAME_MAX_LEN) && st->secret_ok(e->secret, e->secret_len) &&
           groups_field_ok(e->groups, e->groups_len);
}

static bool line_is_blank_or_comment(const char *text)
{
    if (text[0] == '#')
        return true;
    return text[strspn(text, " \t")] == '\0';
}

/* ---- the file in memory -------------------------------------------------- */

struct cfile {
    const struct store *st;
    char *path;   /* as used for reading and writing (symlinks resolved) */
    char **lines; /* without the newline */
    size_t n, cap;
    bool exists;
    struct stat stat; /* valid when exists */
};

static void cfile_free(struct cfile *f)
{
    for (size_t i = 0; i < f->n; i++) {
        OPENSSL_cleanse(f->lines[i], strlen(f->lines[i])); /* PSKs, OSCORE secrets */
        free(f->lines[i]);
    }
    free(f->lines);
    free(f->path);
    *f = (struct cfile){0};
}

static int cfile_push(struct cfile *f, char *line)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 64;
        char **v = reallocarray(f->lines, cap, sizeof(*v));
        if (!v)
            return -ENOMEM;
        f->lines = v;
        f->cap = cap;
    }
    f->lines[f->n++] = line;
    return 0;
}

static bool entry_is(const struct cfile *f, size_t i, const char *name, struct entry *e)
{
    const char *t = f->lines[i];
    if (line_is_blank_or_comment(t) || !entry_parse(f->st, t, e))
        return false;
    return e->name_len == strlen(name) && !memcmp(e->name, name, e->name_len);
}

/* Index of the first entry called name, or -1. */
static ssize_t cfile_find(const struct cfile *f, const char *name, struct entry *e)
{
    for (size_t i = 0; i < f->n; i++)
        if (entry_is(f, i, name, e))
            return (ssize_t)i;
    return -1;
}

struct name_at {
    const char *name;
    size_t len, line;
};

static int name_at_cmp(const void *a, const void *b)
{
    const struct name_at *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->name, y->name, n);
    if (c)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

/* Warns (FILE:LINE, never the line itself: it may hold a hash) about lines
 * that will be kept unparsed, user hashes of a method wotgw refuses, and
 * names that appear more than once (sorted, so a big file stays fast). */
static int cfile_report(const struct cfile *f)
{
    struct name_at *v = calloc(f->n ? f->n : 1, sizeof(*v));
    size_t n = 0;
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < f->n; i++) {
        struct entry e;
        if (line_is_blank_or_comment(f->lines[i]))
            continue;
        if (!entry_parse(f->st, f->lines[i], &e)) {
            fprintf(stderr, "%s:%zu: warning: not a valid %s line; kept unchanged\n", f->path,
                    i + 1, f->st->what);
            continue;
        }
        if (f->st == &stores[STORE_USERS] && !(e.secret_len == 1 && e.secret[0] == '!') &&
            !hash_method_known(e.secret, e.secret_len))
            fprintf(stderr,
                    "%s:%zu: warning: %.*s: hash method not accepted by wotgw; set a new "
                    "password\n",
                    f->path, i + 1, (int)e.name_len, e.name);
        v[n++] = (struct name_at){e.name, e.name_len, i + 1};
    }
    qsort(v, n, sizeof(*v), name_at_cmp);
    for (size_t i = 1, first = 0; i < n; i++) {
        if (v[i].len == v[first].len && !memcmp(v[i].name, v[first].name, v[i].len))
            fprintf(stderr, "%s:%zu: warning: %s '%.*s' also on line %zu\n", f->path, v[i].line,
                    f->st->what, (int)v[i].len, v[i].name, v[first].line);
        else
            first = i;
    }
    free(v);
    return 0;
}

/* Reads path into f. A missing file is an empty one. With warn, reports
 * questionable lines (cfile_report). */
static int cfile_load(struct cfile *f, const struct store *st, const char *given, bool warn)
{
    char *buf = NULL;
    size_t len = 0;
    int r;
    *f = (struct cfile){.st = st};
    f->path = realpath(given, NULL);
    if (!f->path) {
        if (errno != ENOENT) {
            r = -errno;
            msg("%s: %s", given, strerror(-r));
            goto out;
        }
        f->path = strdup(given);
        if (!f->path) {
            r = -ENOMEM;
            goto out;
        }
    }
    r = util_read_file(f->path, FILE_MAX_SIZE, &buf, &len);
    if (r == -ENOENT) {
        r = 0;
        goto out;
    }
    if (r < 0) {
        msg("%s: cannot read: %s", f->path, r == -EFBIG ? "larger than 16 MiB" : strerror(-r));
        goto out;
    }
    if (memchr(buf, '\0', len)) {
        msg("%s: holds a NUL byte; not a %s file", f->path, st->plural);
        r = -EBADMSG;
        goto out;
    }
    if (stat(f->path, &f->stat) < 0) {
        r = -errno;
        msg("%s: %s", f->path, strerror(-r));
        goto out;
    }
    f->exists = true;
    for (char *p = buf; p < buf + len;) {
        char *nl = memchr(p, '\n', (size_t)(buf + len - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(buf + len - p);
        char *line = strndup(p, l);
        if (!line || cfile_push(f, line) < 0) {
            free(line);
            r = -ENOMEM;
            goto out;
        }
        p += l + (nl ? 1 : 0);
    }
    if (warn)
        r = cfile_report(f);
out:
    free(buf);
    return r;
}

/* Writes data to path atomically, mode FILE_MODE, owner and group those of
 * the file it replaces (a new file gets the group of its directory).
 * util_write_file_atomic() has no way to set the owner before the rename,
 * and a moment with the wrong group would let a reload of wotgw fail. */
static int write_atomic(const struct cfile *f, const char *data, size_t len)
{
    int r = 0, fd = -1, dfd = -1;
    char *tmp = NULL, *dir = util_dirname(f->path);
    struct stat dst;
    if (!dir || asprintf(&tmp, "%s.tmpXXXXXX", f->path) < 0) {
        tmp = NULL;
        r = -ENOMEM;
        goto out;
    }
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        r = -errno;
        free(tmp);
        tmp = NULL;
        goto out;
    }
    if (fchmod(fd, FILE_MODE) < 0) {
        r = -errno;
        goto out;
    }
    if (f->exists) {
        if (fchown(fd, f->stat.st_uid, f->stat.st_gid) < 0)
            msg("warning: %s: cannot keep owner and group (%s); check that wotgw can still "
                "read it",
                f->path, strerror(errno));
    } else if (stat(dir, &dst) == 0) {
        (void)!fchown(fd, (uid_t)-1, dst.st_gid); /* best effort */
    }
    for (const char *p = data; len;) {
        ssize_t k = write(fd, p, len);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            goto out;
        }
        p += k;
        len -= (size_t)k;
    }
    if (fsync(fd) < 0) {
        r = -errno;
        goto out;
    }
    r = close(fd) < 0 ? -errno : 0;
    fd = -1;
    if (r < 0)
        goto out;
    if (rename(tmp, f->path) < 0) {
        r = -errno;
        goto out;
    }
    free(tmp);
    tmp = NULL;
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
out:
    if (fd >= 0)
        close(fd);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    free(dir);
    return r;
}

static int cfile_save(const struct cfile *f)
{
    size_t total = 0, o = 0;
    for (size_t i = 0; i < f->n; i++)
        total += strlen(f->lines[i]) + 1;
    char *buf = malloc(total + 1);
    if (!buf)
        return -ENOMEM;
    for (size_t i = 0; i < f->n; i++) {
        size_t l = strlen(f->lines[i]);
        memcpy(buf + o, f->lines[i], l);
        o += l;
        buf[o++] = '\n';
    }
    int r = write_atomic(f, buf, o);
    free(buf);
    if (r < 0)
        msg("%s: cannot write: %s", f->path, strerror(-r));
    return r;
}

/* ---- locking ------------------------------------------------------------- */

/* Takes an exclusive flock on PATH.lock, waiting up to LOCK_TIMEOUT_MS.
 * Returns the fd (closing it releases the lock) or a negative errno. */
static int lock_file(const char *path)
{
    char *lp = NULL;
    int fd = -1, r;
    if (asprintf(&lp, "%s.lock", path) < 0)
        return -ENOMEM;
    fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        r = -errno;
        msg("%s: cannot open lock file: %s", lp, strerror(-r));
        goto out;
    }
    for (int waited = 0;; waited += 50) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            r = fd;
            fd = -1;
            goto out;
        }
        if (errno != EWOULDBLOCK && errno != EINTR) {
            r = -errno;
            msg("%s: cannot lock: %s", lp, strerror(-r));
            goto out;
        }
        if (waited >= LOCK_TIMEOUT_MS) {
            r = -ETIMEDOUT;
            msg("%s: still locked by another wotgw-passwd after %d s", lp, LOCK_TIMEOUT_MS / 1000);
            goto out;
        }
        nanosleep(&(struct timespec){.tv_nsec = 50 * 1000000L}, NULL);
    }
out:
    if (fd >= 0)
        close(fd);
    free(lp);
    return r;
}

/* ---- passwords ----------------------------------------------------------- */

struct secret {
    char buf[PASS_MAX_LEN + 2];
    size_t len;
};

static int tty_fd = -1;
static struct termios tty_saved;
static volatile sig_atomic_t tty_echo_off;

static void tty_restore_on_signal(int sig)
{
    if (tty_echo_off)
        tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Reads one line from fd into s (without the line end; a trailing CR is
 * dropped too). -E2BIG for a line over PASS_MAX_LEN bytes, -ENODATA for
 * end of file before anything was read. */
static int read_secret_line(int fd, struct secret *s)
{
    size_t n = 0;
    bool any = false, big = false;
    for (;;) {
        char c;
        ssize_t k = read(fd, &c, 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        if (k == 0) {
            if (!any)
                return -ENODATA;
            break;
        }
        any = true;
        if (c == '\n')
            break;
        if (n < PASS_MAX_LEN + 1)
            s->buf[n++] = c;
        else
            big = true;
        c = 0;
    }
    if (n > 0 && s->buf[n - 1] == '\r')
        n--;
    if (big || n > PASS_MAX_LEN) {
        OPENSSL_cleanse(s->buf, sizeof(s->buf));
        return -E2BIG;
    }
    s->buf[n] = '\0';
    s->len = n;
    return 0;
}

static int tty_prompt(int fd, const char *prompt, struct secret *s)
{
    struct termios t;
    int r;
    if (tcgetattr(fd, &tty_saved) < 0)
        return -errno;
    t = tty_saved;
    t.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
    t.c_lflag |= ICANON;
    tty_fd = fd;
    tty_echo_off = 1;
    if (tcsetattr(fd, TCSAFLUSH, &t) < 0) {
        tty_echo_off = 0;
        return -errno;
    }
    (void)!write(fd, prompt, strlen(prompt));
    r = read_secret_line(fd, s);
    tcsetattr(fd, TCSAFLUSH, &tty_saved);
    tty_echo_off = 0;
    (void)!write(fd, "\n", 1);
    return r;
}

/* The password twice on /dev/tty with echo off, or one line of stdin. */
static int read_password(bool from_stdin, struct secret *pw, struct secret *again)
{
    int r, fd = -1;
    struct sigaction sa = {.sa_handler = tty_restore_on_signal}, old[4];
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    if (from_stdin) {
        r = read_secret_line(STDIN_FILENO, pw);
        if (r == -ENODATA)
            msg("no password on standard input");
        goto out;
    }
    fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        msg("no terminal to ask for the password on; use --stdin");
        r = -ENOTTY;
        goto out;
    }
    for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
        sigaction(sigs[i], &sa, &old[i]);
    r = tty_prompt(fd, "Password: ", pw);
    if (r == 0)
        r = tty_prompt(fd, "Password again: ", again);
    for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
        sigaction(sigs[i], &old[i], NULL);
    if (r == -ENODATA)
        msg("no password given");
    else if (r == 0 && !util_secret_eq(pw->buf, pw->len, again->buf, again->len)) {
        msg("the passwords do not match");
        r = -EINVAL;
    }
out:
    if (r == -E2BIG)
        msg("password longer than %d bytes", PASS_MAX_LEN);
    else if (r < 0 && r != -ENODATA && r != -ENOTTY && r != -EINVAL)
        msg("cannot read the password: %s", strerror(-r));
    if (fd >= 0)
        close(fd);
    return r;
}

enum method { METHOD_YESCRYPT, METHOD_BCRYPT };

static int check_password(const struct secret *pw, const char *name, enum method m,
                          bool allow_short)
{
    if (pw->len == 0) {
        msg("empty password refused (use --no-password for a user without one)");
        return -EINVAL;
    }
    if (memchr(pw->buf, '\0', pw->len)) {
        msg("password contains a NUL byte");
        return -EINVAL;
    }
    if (m == METHOD_BCRYPT && pw->len > BCRYPT_MAX_LEN) {
        msg("bcrypt uses only the first %d bytes of a password; use yescrypt", BCRYPT_MAX_LEN);
        return -EINVAL;
    }
    if (!allow_short && pw->len < PASS_MIN_LEN) {
        msg("password shorter than %d characters refused (--allow-short accepts it)", PASS_MIN_LEN);
        return -EINVAL;
    }
    if (!allow_short && pw->len == strlen(name) && !strncasecmp(pw->buf, name, pw->len)) {
        msg("password equal to the user name refused (--allow-short accepts it)");
        return -EINVAL;
    }
    return 0;
}

/* crypt(5) hash with a fresh random salt from the kernel. */
static int hash_password(const struct secret *pw, enum method m, char **out)
{
    struct crypt_data *cd = NULL;
    char *salt = NULL;
    int r = 0;
    errno = 0;
    salt = m == METHOD_BCRYPT ? crypt_gensalt_ra("$2b$", BCRYPT_COST, NULL, 0)
                              : crypt_gensalt_ra("$y$", 0, NULL, 0);
    if (!salt) {
        r = errno ? -errno : -EIO;
        msg("cannot make a salt: %s", strerror(-r));
        goto out;
    }
    cd = calloc(1, sizeof(*cd));
    if (!cd) {
        r = -ENOMEM;
        goto out;
    }
    const char *h = crypt_r(pw->buf, salt, cd);
    if (!h || h[0] == '*' || !users_secret_ok(h, strlen(h)) || !hash_method_known(h, strlen(h))) {
        r = -EIO;
        msg("password hashing failed");
        goto out;
    }
    *out = strdup(h);
    if (!*out)
        r = -ENOMEM;
out:
    if (cd) {
        OPENSSL_cleanse(cd, sizeof(*cd));
        free(cd);
    }
    free(salt);
    return r;
}

/* ---- commands ------------------------------------------------------------ */

enum opt_bits {
    O_GROUPS = 1u << 0,
    O_STDIN = 1u << 1,
    O_NOPASS = 1u << 2,
    O_METHOD = 1u << 3,
    O_SHORT = 1u << 4,
    O_REDIRECT = 1u << 5, /* client-add --redirect-uri (repeatable) */
    O_PUBLIC = 1u << 6,
    O_CONFIDENTIAL = 1u << 7,
    O_GRANTS = 1u << 8,
    O_SCOPES = 1u << 9,
    O_ALG = 1u << 10, /* key-rotate */
    O_DROP = 1u << 11,
    O_ROTATE = 1u << 12, /* cose-key */
    O_IDCTX = 1u << 13,  /* oscore add --id-context */
};

struct args {
    const char *file;
    const char *name;
    char *groups; /* normalised -g, NULL if not given */
    unsigned opts;
    enum method method;
    /* client-add */
    const char *redirects[CLIENT_MAX_REDIRECTS + 1];
    size_t n_redirects;
    const char *grants, *scopes;
    /* key-rotate */
    unsigned alg;
    /* oscore add */
    const char *id_context; /* hex, NULL if not given */
};

/* Input errors are -EINVAL, -EEXIST (name taken), -ESRCH (no such name),
 * -E2BIG, -ENODATA (no password), -ENOTTY (no terminal); any other
 * negative errno is an I/O error. */
struct command {
    const char *name;
    enum store_kind store;
    bool takes_name;
    bool writes;
    unsigned opts;     /* allowed */
    unsigned required; /* required */
    const char *synopsis;
};

static char *make_line(const char *name, const char *secret, size_t secret_len, const char *groups,
                       size_t groups_len)
{
    char *s = NULL;
    if (groups_len)
        return asprintf(&s, "%s:%.*s:%.*s", name, (int)secret_len, secret, (int)groups_len,
                        groups) < 0
                       ? NULL
                       : s;
    return asprintf(&s, "%s:%.*s", name, (int)secret_len, secret) < 0 ? NULL : s;
}

static int add_entry(struct cfile *f, const char *name, const char *secret, const char *groups)
{
    struct entry e;
    if (cfile_find(f, name, &e) >= 0) {
        msg("%s '%s' already exists in %s", f->st->what, name, f->path);
        return -EEXIST;
    }
    char *line = make_line(name, secret, strlen(secret), groups ? groups : "",
                           groups ? strlen(groups) : 0);
    if (!line || cfile_push(f, line) < 0) {
        free(line);
        return -ENOMEM;
    }
    return 0;
}

/* Adds a complete line (clients) for a new name. */
static int add_line(struct cfile *f, const char *name, const char *line)
{
    struct entry e;
    if (cfile_find(f, name, &e) >= 0) {
        msg("%s '%s' already exists in %s", f->st->what, name, f->path);
        return -EEXIST;
    }
    char *copy = strdup(line);
    if (!copy || cfile_push(f, copy) < 0) {
        free(copy);
        return -ENOMEM;
    }
    return 0;
}

/* Replaces the secret (secret != NULL) and/or the groups (groups != NULL)
 * of the first entry called name. */
static int change_entry(struct cfile *f, const char *name, const char *secret, const char *groups)
{
    struct entry e;
    ssize_t i = cfile_find(f, name, &e);
    if (i < 0) {
        msg("no %s '%s' in %s", f->st->what, name, f->path);
        return -ESRCH;
    }
    char *line = make_line(name, secret ? secret : e.secret, secret ? strlen(secret) : e.secret_len,
                           groups ? groups : e.groups, groups ? strlen(groups) : e.groups_len);
    if (!line)
        return -ENOMEM;
    free(f->lines[i]);
    f->lines[i] = line;
    return 0;
}

/* Removes every entry called name. */
static int delete_entry(struct cfile *f, const char *name)
{
    size_t o = 0, removed = 0;
    for (size_t i = 0; i < f->n; i++) {
        struct entry e;
        if (entry_is(f, i, name, &e)) {
            free(f->lines[i]);
            removed++;
        } else {
            f->lines[o++] = f->lines[i];
        }
    }
    f->n = o;
    if (!removed) {
        msg("no %s '%s' in %s", f->st->what, name, f->path);
        return -ESRCH;
    }
    return 0;
}

/* NAME TYPE GRANTS SCOPES REDIRECT_URIS, never the secret's hash. */
static void list_client(const char *line)
{
    struct as_clients *c = NULL;
    if (clients_parse("", line, strlen(line), &c, NULL) < 0 || c->n != 1) {
        clients_free(c);
        return;
    }
    const struct as_client *cl = &c->v[0];
    static const char *const gn[] = {"authorization_code", "refresh_token", "client_credentials",
                                     "device_code"};
    printf("%s\t%s\t", cl->id, cl->confidential ? "confidential" : "public");
    for (unsigned b = 0, k = 0; b < 4; b++)
        if (cl->grants & (1u << b))
            printf("%s%s", k++ ? "," : "", gn[b]);
    putchar('\t');
    for (char **sc = cl->scopes; *sc; sc++)
        printf("%s%s", sc == cl->scopes ? "" : ",", *sc);
    putchar('\t');
    for (size_t i = 0; i < cl->n_redirect_uris; i++)
        printf("%s%s", i ? " " : "", cl->redirect_uris[i]);
    if (!cl->n_redirect_uris)
        putchar('-');
    putchar('\n');
    clients_free(c);
}

/* NAME KID SENDER_ID ID_CONTEXT (hex; "-": no ID Context, "\"\"": empty),
 * never the master secret or salt. */
static void list_oscore(const char *line)
{
    struct oscore_ctx_store *s = NULL;
    struct diags d = {0};
    if (oscore_ctx_parse("", line, strlen(line), &s, &d) == 0 && s->n == 1) {
        const struct oscore_ctx_entry *e = &s->v[0];
        char rid[2 * OSCORE_MAX_ID + 1], sid[2 * OSCORE_MAX_ID + 1],
                ctx[2 * OSCORE_MAX_ID_CONTEXT + 1];
        hex_encode(e->recipient_id, e->recipient_id_len, rid);
        hex_encode(e->sender_id, e->sender_id_len, sid);
        hex_encode(e->id_context, e->id_context_len, ctx);
        const char *c = !e->has_id_context ? "-" : ctx[0] ? ctx : "\"\"";
        printf("%s\t%s\t%s\t%s\n", e->name, rid[0] ? rid : "\"\"", sid[0] ? sid : "\"\"", c);
    }
    oscore_ctx_store_free(s);
    diag_free(&d);
}

static void list_entries(const struct cfile *f)
{
    for (size_t i = 0; i < f->n; i++) {
        struct entry e;
        if (line_is_blank_or_comment(f->lines[i]) || !entry_parse(f->st, f->lines[i], &e))
            continue;
        if (f->st == &stores[STORE_CLIENTS]) {
            list_client(f->lines[i]);
            continue;
        }
        if (f->st == &stores[STORE_OSCORE]) {
            list_oscore(f->lines[i]);
            continue;
        }
        printf("%.*s\t%.*s", (int)e.name_len, e.name, (int)(e.groups_len ? e.groups_len : 1),
               e.groups_len ? e.groups : "-");
        if (f->st == &stores[STORE_USERS])
            printf("\t%s", e.secret_len == 1 && e.secret[0] == '!' ? "no-password" : "password");
        putchar('\n');
    }
}

static const struct command commands[] = {
        {"useradd", STORE_USERS, true, true, O_GROUPS | O_STDIN | O_NOPASS | O_METHOD | O_SHORT, 0,
         "useradd NAME [-g GROUPS] [--stdin | --no-password] [-m METHOD] [--allow-short]"},
        {"passwd", STORE_USERS, true, true, O_STDIN | O_METHOD | O_SHORT, 0,
         "passwd NAME [--stdin] [-m METHOD] [--allow-short]"},
        {"usermod", STORE_USERS, true, true, O_GROUPS, O_GROUPS, "usermod NAME -g GROUPS"},
        {"userdel", STORE_USERS, true, true, 0, 0, "userdel NAME"},
        {"users", STORE_USERS, false, false, 0, 0, "users"},
        {"apikey-add", STORE_APIKEYS, true, true, O_GROUPS, 0, "apikey-add NAME [-g GROUPS]"},
        {"apikey-del", STORE_APIKEYS, true, true, 0, 0, "apikey-del NAME"},
        {"apikeys", STORE_APIKEYS, false, false, 0, 0, "apikeys"},
        {"client-add", STORE_CLIENTS, true, true,
         O_REDIRECT | O_PUBLIC | O_CONFIDENTIAL | O_GRANTS | O_SCOPES, O_GRANTS | O_SCOPES,
         "client-add NAME --public|--confidential --grants LIST --scopes LIST "
         "[--redirect-uri URI]..."},
        {"client-del", STORE_CLIENTS, true, true, 0, 0, "client-del NAME"},
        {"clients", STORE_CLIENTS, false, false, 0, 0, "clients"},
        {"psk-add", STORE_PSK, true, true, 0, 0, "psk-add IDENTITY"},
        {"psk-del", STORE_PSK, true, true, 0, 0, "psk-del IDENTITY"},
        {"psks", STORE_PSK, false, false, 0, 0, "psks"},
        {"oscore-add", STORE_OSCORE, true, true, O_IDCTX, 0, "oscore add NAME [--id-context HEX]"},
        {"oscore-del", STORE_OSCORE, true, true, 0, 0, "oscore del NAME"},
        {"oscore-list", STORE_OSCORE, false, false, 0, 0, "oscore list"},
        {"key-rotate", STORE_KEYS, false, true, O_ALG | O_DROP, 0,
         "key-rotate [--alg ES256|EdDSA] [--drop-old]"},
        {"cose-key", STORE_KEYS, true, true, O_ROTATE, 0, "cose-key THING [--rotate]"},
        {"cose-consumer-add", STORE_KEYS, true, true, 0, 0, "cose-consumer-add PRINCIPAL KEYFILE"},
        {"cose-consumer-secret", STORE_KEYS, true, true, 0, 0,
         "cose-consumer-secret PRINCIPAL A128GCM|AES-CCM-16-64-128|HMAC256/64|HMAC256/256 OUTFILE"},
};

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: %s [-f FILE] [-q] COMMAND [ARGS]\n"
            "Manages the users, API keys, OAuth clients, CoAPS pre-shared keys and OSCORE\n"
            "contexts files of wotgw(8) and the signing keys of its authorization server.\n\n"
            "Commands:\n",
            prog);
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        fprintf(out, "  %s\n", commands[i].synopsis);
    fprintf(out,
            "\nOptions:\n"
            "  -f, --file FILE     file to edit (default %s/wotgw/users, apikeys, clients\n"
            "                      psk or oscore;\n"
            "                      key-rotate: the key directory, default " DEFAULT_KEY_DIR ";\n"
            "                      cose-key: the directory, default " DEFAULT_COSE_DIR ";\n"
            "                      cose-consumer-add, cose-consumer-secret: "
            "default " DEFAULT_COSE_KEYS ")\n"
            "  -g, --groups LIST   groups, separated by commas (\"\" for none)\n"
            "      --stdin         read the password from one line of standard input\n"
            "      --no-password   a user that cannot log in with a password (hash \"!\")\n"
            "  -m, --method M      password hash: yescrypt (default) or bcrypt\n"
            "      --allow-short   accept passwords under %d characters or equal to NAME\n"
            "      --public        a client without a secret (apps, devices)\n"
            "      --confidential  a client with a secret (shown once)\n"
            "      --grants LIST   authorization_code, refresh_token, client_credentials,\n"
            "                      device_code (separated by commas)\n"
            "      --scopes LIST   scopes the client may ask for, or \"*\"\n"
            "      --redirect-uri URI  a redirect URI of the code flow (repeatable)\n"
            "      --alg ALG       key-rotate: ES256 (default) or EdDSA\n"
            "      --drop-old      key-rotate: stop publishing the old keys at once\n"
            "      --rotate        cose-key: replace the thing's COSE signing key\n"
            "      --id-context HEX  oscore add: the context's ID Context (hex, 0-64 bytes)\n"
            "  -q, --quiet         no confirmation messages\n"
            "  -h, --help          this help\n"
            "      --version       print the version\n\n"
            "Exit status: 0 success, 1 usage or input error, 2 I/O error.\n"
            "See wotgw-passwd(8).\n",
            SYSCONFDIR, PASS_MIN_LEN);
}

/* ---- OSCORE contexts ------------------------------------------------------ */

#define OSCORE_SECRET_BYTES 32
#define OSCORE_SALT_BYTES   16
#define OSCORE_GW_SENDER_ID 0x00 /* the gateway's Sender ID in every context it adds */

/* What oscore add made, printed once for the peer after the file is saved. */
static struct oscore_new {
    uint8_t secret[OSCORE_SECRET_BYTES], salt[OSCORE_SALT_BYTES];
    uint8_t kid[2]; /* the peer's Sender ID (our recipient_id) */
    size_t kid_len;
    uint8_t idctx[OSCORE_MAX_ID_CONTEXT];
    size_t idctx_len;
    bool has_idctx;
} oscnew;

/* id_context for --id-context: strict hex, at most OSCORE_MAX_ID_CONTEXT bytes */
static int oscore_idctx_arg(const char *hex)
{
    size_t n = strlen(hex);
    if (n % 2 || n / 2 > OSCORE_MAX_ID_CONTEXT || strspn(hex, "0123456789abcdefABCDEF") != n ||
        (n && hex_decode(hex, oscnew.idctx, sizeof(oscnew.idctx), &oscnew.idctx_len) < 0)) {
        msg("--id-context: hex digits for 0 to %d bytes", OSCORE_MAX_ID_CONTEXT);
        return -EINVAL;
    }
    if (!n)
        oscnew.idctx_len = 0;
    oscnew.has_idctx = true;
    return 0;
}

/* Adds a new context called a->name: the lowest free recipient_id (kid) of
 * 1 or 2 bytes, fresh random master secret and salt. */
static int oscore_add(struct cfile *f, const struct args *a)
{
    struct entry e;
    static bool used[65536];
    char sh[2 * OSCORE_SECRET_BYTES + 1], salth[2 * OSCORE_SALT_BYTES + 1], kidh[5],
            ctxh[2 * OSCORE_MAX_ID_CONTEXT + 1], *line = NULL, err[160];
    int r = 0;
    if (cfile_find(f, a->name, &e) >= 0) {
        msg("%s '%s' already exists in %s", f->st->what, a->name, f->path);
        return -EEXIST;
    }
    memset(used, 0, sizeof(used));
    for (size_t i = 0; i < f->n; i++) {
        struct oscore_ctx_store *s = NULL;
        struct diags d = {0};
        if (!line_is_blank_or_comment(f->lines[i]) &&
            oscore_ctx_parse("", f->lines[i], strlen(f->lines[i]), &s, &d) == 0 && s->n == 1) {
            const struct oscore_ctx_entry *x = &s->v[0];
            if (x->recipient_id_len == 1)
                used[x->recipient_id[0]] = true;
            else if (x->recipient_id_len == 2 && x->recipient_id[0])
                used[x->recipient_id[0] << 8 | x->recipient_id[1]] = true;
        }
        oscore_ctx_store_free(s);
        diag_free(&d);
    }
    unsigned kid = 1;
    while (kid < 65536 && used[kid])
        kid++;
    if (kid == 65536) {
        msg("%s: no free recipient ID", f->path);
        return -E2BIG;
    }
    oscnew.kid_len = kid < 256 ? 1 : 2;
    oscnew.kid[0] = (uint8_t)(kid < 256 ? kid : kid >> 8);
    oscnew.kid[1] = (uint8_t)kid;
    if (RAND_bytes(oscnew.secret, sizeof(oscnew.secret)) != 1 ||
        RAND_bytes(oscnew.salt, sizeof(oscnew.salt)) != 1) {
        msg("cannot get random bytes");
        return -EIO;
    }
    hex_encode(oscnew.secret, sizeof(oscnew.secret), sh);
    hex_encode(oscnew.salt, sizeof(oscnew.salt), salth);
    hex_encode(oscnew.kid, oscnew.kid_len, kidh);
    hex_encode(oscnew.idctx, oscnew.idctx_len, ctxh);
    if (asprintf(&line, "%s sender_id=%02x recipient_id=%s%s%s master_secret=%s master_salt=%s",
                 a->name, OSCORE_GW_SENDER_ID, kidh, oscnew.has_idctx ? " id_context=" : "",
                 oscnew.has_idctx ? ctxh : "", sh, salth) < 0) {
        line = NULL;
        r = -ENOMEM;
        goto out;
    }
    if (oscore_ctx_check_line(line, err, sizeof(err)) < 0) {
        msg("invalid OSCORE context: %s", err);
        r = -EINVAL;
        goto out;
    }
    r = cfile_push(f, line);
    if (r == 0)
        line = NULL;
out:
    if (line) {
        OPENSSL_cleanse(line, strlen(line));
        free(line);
    }
    OPENSSL_cleanse(sh, sizeof(sh));
    return r;
}

/* The peer's side of the new context, in libcoap's coap-oscore-conf(5)
 * format (coap-client -E FILE): its Sender ID is our recipient_id. */
static int oscore_print(const char *name)
{
    char sh[2 * OSCORE_SECRET_BYTES + 1], salth[2 * OSCORE_SALT_BYTES + 1], kidh[5],
            ctxh[2 * OSCORE_MAX_ID_CONTEXT + 1];
    hex_encode(oscnew.secret, sizeof(oscnew.secret), sh);
    hex_encode(oscnew.salt, sizeof(oscnew.salt), salth);
    hex_encode(oscnew.kid, oscnew.kid_len, kidh);
    hex_encode(oscnew.idctx, oscnew.idctx_len, ctxh);
    printf("# OSCORE context '%s' of wotgw, the peer's side (coap-oscore-conf(5))\n"
           "master_secret,hex,\"%s\"\n"
           "master_salt,hex,\"%s\"\n",
           name, sh, salth);
    if (oscnew.has_idctx)
        printf("id_context,hex,\"%s\"\n", ctxh);
    printf("sender_id,hex,\"%s\"\n"
           "recipient_id,hex,\"%02x\"\n"
           "aead_alg,integer,10\n"
           "hkdf_alg,integer,-10\n",
           kidh, OSCORE_GW_SENDER_ID);
    OPENSSL_cleanse(sh, sizeof(sh));
    return fflush(stdout) != 0 || ferror(stdout) ? -EIO : 0;
}

static int errno_to_exit(int r)
{
    switch (r) {
    case -EINVAL:
    case -EEXIST:
    case -ESRCH:
    case -E2BIG:
    case -ENODATA:
    case -ENOTTY: return EXIT_INPUT;
    default: return EXIT_IO;
    }
}

/* Everything that needs the file: lock, load, change, save. secret is the
 * new hash (users) or hex digest (API keys), NULL when not needed. */
static int run_locked(const struct command *c, const struct args *a, const char *path,
                      const char *secret)
{
    struct cfile f = {0};
    int lock = -1, r;
    if (c->writes) {
        lock = lock_file(path);
        if (lock < 0) {
            r = lock;
            goto out;
        }
    }
    r = cfile_load(&f, &stores[c->store], path, true);
    if (r < 0)
        goto out;
    if (!strcmp(c->name, "users") || !strcmp(c->name, "apikeys") || !strcmp(c->name, "clients") ||
        !strcmp(c->name, "psks") || !strcmp(c->name, "oscore-list")) {
        if (!f.exists) {
            msg("%s: no such file", f.path);
            r = -EIO;
            goto out;
        }
        list_entries(&f);
        r = fflush(stdout) == 0 ? 0 : -EIO;
        goto out;
    }
    if (!strcmp(c->name, "client-add"))
        r = add_line(&f, a->name, secret);
    else if (!strcmp(c->name, "oscore-add"))
        r = oscore_add(&f, a);
    else if (!strcmp(c->name, "useradd") || !strcmp(c->name, "apikey-add") ||
             !strcmp(c->name, "psk-add"))
        r = add_entry(&f, a->name, secret, a->groups);
    else if (!strcmp(c->name, "passwd"))
        r = change_entry(&f, a->name, secret, NULL);
    else if (!strcmp(c->name, "usermod"))
        r = change_entry(&f, a->name, NULL, a->groups);
    else
        r = delete_entry(&f, a->name);
    if (r < 0)
        goto out;
    r = cfile_save(&f);
out:
    cfile_free(&f);
    if (lock >= 0)
        close(lock);
    return r;
}

/* Checks before asking for a password, so that a typo is not found only
 * after typing it twice. The real check happens again under the lock. */
static int precheck(const struct command *c, const struct args *a, const char *path)
{
    struct cfile f = {0};
    struct entry e;
    int r = cfile_load(&f, &stores[c->store], path, false);
    if (r < 0)
        goto out;
    bool present = cfile_find(&f, a->name, &e) >= 0;
    if (!strcmp(c->name, "useradd") && present) {
        msg("user '%s' already exists in %s", a->name, f.path);
        r = -EEXIST;
    } else if (!strcmp(c->name, "client-add") && present) {
        msg("client '%s' already exists in %s", a->name, f.path);
        r = -EEXIST;
    } else if (!strcmp(c->name, "passwd") && !present) {
        msg("no user '%s' in %s", a->name, f.path);
        r = -ESRCH;
    } else {
        char *dir = util_dirname(f.path);
        if (!dir)
            r = -ENOMEM;
        else if (access(dir, W_OK) < 0) {
            r = -errno;
            msg("%s: cannot write to this directory: %s", dir, strerror(-r));
        }
        free(dir);
    }
out:
    cfile_free(&f);
    return r;
}

/* API key: prefix + base64url(32 random bytes); *hex gets the SHA-256
 * of the whole key string in hex. Also OAuth client secrets. */
static int make_secret(const char *prefix, char *key, size_t cap, char hex[65])
{
    uint8_t raw[APIKEY_BYTES], md[32];
    unsigned mdlen = 0;
    int r = 0;
    if (cap < strlen(prefix) + b64url_encoded_len(APIKEY_BYTES) + 1)
        return -ENOBUFS;
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        msg("cannot get random bytes");
        r = -EIO;
        goto out;
    }
    strcpy(key, prefix);
    b64url_encode(raw, sizeof(raw), key + strlen(prefix));
    if (EVP_Digest(key, strlen(key), md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
        msg("SHA-256 failed");
        r = -EIO;
        goto out;
    }
    hex_encode(md, sizeof(md), hex);
out:
    OPENSSL_cleanse(raw, sizeof(raw));
    return r;
}

/* Normalises a comma or blank separated list into "a,b,c". */
static char *comma_list(const char *s)
{
    char **v = NULL, *out = NULL;
    size_t n = 0, len = 0;
    if (util_split_words(s, &v, &n) < 0)
        return NULL;
    for (size_t i = 0; i < n; i++)
        len += strlen(v[i]) + 1;
    out = calloc(1, len + 1);
    for (size_t i = 0; out && i < n; i++) {
        if (i)
            strcat(out, ",");
        strcat(out, v[i]);
    }
    util_strv_free(v);
    return out;
}

/* The clients-file line of client-add, checked as wotgw will read it.
 * secret_hex: the SHA-256 of the secret (confidential), else NULL. */
static int client_line(const struct args *a, const char *secret_hex, char **out)
{
    char *grants = comma_list(a->grants), *scopes = comma_list(a->scopes), err[256];
    struct sbuf b = {.max = 64 * 1024};
    int r = -ENOMEM;
    *out = NULL;
    if (!grants || !scopes)
        goto out;
    if (!*grants || !*scopes) {
        msg("--grants and --scopes need at least one value");
        r = -EINVAL;
        goto out;
    }
    sb_printf(&b, "%s type=%s", a->name, secret_hex ? "confidential" : "public");
    if (secret_hex)
        sb_printf(&b, " secret=%s", secret_hex);
    sb_printf(&b, " grants=%s scopes=%s", grants, scopes);
    for (size_t i = 0; i < a->n_redirects; i++) {
        if (strpbrk(a->redirects[i], " \t")) {
            msg("redirect URI '%s' contains a blank", a->redirects[i]);
            r = -EINVAL;
            goto out;
        }
        sb_printf(&b, " redirect_uri=%s", a->redirects[i]);
    }
    char *line = sb_steal(&b, NULL);
    if (!line)
        goto out;
    if (clients_check_line(line, err, sizeof(err)) < 0) {
        msg("invalid client: %s", err);
        free(line);
        r = -EINVAL;
        goto out;
    }
    *out = line;
    r = 0;
out:
    sb_free(&b);
    free(grants);
    free(scopes);
    return r;
}

/* A [thing NAME]: 1 to 64 of A-Z a-z 0-9 . _ ~ -, not "." or "..". */
static bool thing_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || !strcmp(s, ".") || !strcmp(s, ".."))
        return false;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-") == n;
}

/* cose-key: the thing's COSE_Sign1 key in dir, made when missing or
 * replaced with rotate; prints its kid. The exit status. */
static int cose_key(const char *dir, const char *thing, bool rotate)
{
    struct diags d = {0};
    char kid[2 * COSE_SIGN_KID_LEN + 1] = "";
    struct cose_signer *s = NULL;
    int r;
    if (rotate) {
        r = cose_signer_rotate(dir, thing, kid, &d);
    } else {
        r = cose_signer_load(dir, thing, true, &s, &d);
        if (r == 0)
            memcpy(kid, s->kid_hex, sizeof(kid));
        cose_signer_unref(s);
    }
    diag_print(&d, stderr);
    diag_free(&d);
    if (r < 0) {
        msg("%s: COSE key of '%s': %s", dir, thing, strerror(-r));
        return r == -EINVAL ? EXIT_INPUT : EXIT_IO;
    }
    printf("%s\n", kid);
    if (fflush(stdout) != 0)
        return EXIT_IO;
    if (rotate)
        info("new COSE_Sign1 key %s for thing '%s' in %s/%s.key", kid, thing, dir, thing);
    else
        info("COSE_Sign1 key of thing '%s': kid %s (%s/%s.key)", thing, kid, dir, thing);
    info("run 'systemctl reload wotgw' to sign with it (the thing needs cose_sign = yes)");
    return EXIT_OK;
}

/* Reads the consumers' COSE keys file f->path (missing: empty, *old NULL)
 * and checks that it parses (*cc, NULL when missing). EXIT_OK, else the
 * exit code, said. */
static int cose_keys_read(struct cfile *f, char **old, size_t *old_len, struct cose_consumers **cc,
                          struct diags *d)
{
    int r = util_read_file(f->path, COSE_CONSUMERS_FILE_MAX, old, old_len);
    if (r == -ENOENT)
        return EXIT_OK;
    if (r < 0) {
        msg("%s: %s", f->path, strerror(-r));
        return EXIT_IO;
    }
    f->exists = stat(f->path, &f->stat) == 0;
    if (cose_consumers_load(f->path, cc, d) < 0) {
        diag_print(d, stderr);
        msg("%s: fix the file first", f->path);
        return EXIT_INPUT;
    }
    return EXIT_OK;
}

/* cose-consumer-add: appends the public part of the COSE_Key in keyfile
 * (binary, EC2 P-256 or OKP Ed25519, with a kid) for principal to the
 * consumers' keys file (cose_consumers.h); the exit status. */
static int cose_consumer_add(const char *path, const char *principal, const char *keyfile)
{
    int rc = EXIT_INPUT, lock = -1, r;
    char *raw = NULL, *old = NULL, *buf = NULL;
    size_t raw_len = 0, old_len = 0;
    struct cose_key *k = NULL;
    struct cose_consumers *cc = NULL;
    struct diags d = {0};
    size_t pl = strlen(principal);
    if (!pl || pl > 256 || strcspn(principal, " \t\r\n#") != pl || principal[0] == '#') {
        msg("invalid principal (1 to 256 characters, no blanks; e.g. user:alice)");
        goto out;
    }
    if ((r = util_read_file(keyfile, COSE_KEY_FILE_MAX, &raw, &raw_len)) < 0) {
        msg("%s: %s", keyfile, strerror(-r));
        goto out;
    }
    if ((r = cose_key_decode((const uint8_t *)raw, raw_len, &k)) < 0) {
        msg("%s: not a binary COSE_Key: %s", keyfile, strerror(-r));
        goto out;
    }
    if (k->kty != COSE_KTY_EC2 && k->kty != COSE_KTY_OKP) {
        msg("%s: only EC2 P-256 (ES256) and OKP Ed25519 (EdDSA) keys can sign commands", keyfile);
        goto out;
    }
    if (!k->has_kid || !k->kid_len) {
        msg("%s: the COSE_Key has no kid (2): commands name their key by it", keyfile);
        goto out;
    }
    uint8_t enc[COSE_KEY_ENCODED_MAX];
    size_t enc_len = 0;
    if (cose_key_encode(k, false, enc, sizeof enc, &enc_len) < 0) { /* the public part only */
        msg("%s: cannot encode the public key", keyfile);
        goto out;
    }
    char hex[2 * COSE_KEY_ENCODED_MAX + 1];
    hex_encode(enc, enc_len, hex);
    rc = EXIT_IO;
    if ((lock = lock_file(path)) < 0)
        goto out;
    struct cfile f = {.path = (char *)path};
    if ((rc = cose_keys_read(&f, &old, &old_len, &cc, &d)) != EXIT_OK)
        goto out;
    rc = EXIT_IO;
    for (size_t i = 0; cc && i < cc->n; i++)
        if (!strcmp(cc->v[i].principal, principal) && cc->v[i].key->kid_len == k->kid_len &&
            !memcmp(cc->v[i].key->kid, k->kid, k->kid_len)) {
            msg("%s already has a key with this kid in %s", principal, path);
            rc = EXIT_INPUT;
            goto out;
        }
    int n = asprintf(&buf, "%.*s%s%s %s\n", (int)old_len, old ? old : "",
                     old_len && old[old_len - 1] != '\n' ? "\n" : "", principal, hex);
    if (n < 0) {
        buf = NULL;
        goto out;
    }
    if ((r = write_atomic(&f, buf, (size_t)n)) < 0) {
        msg("%s: cannot write: %s", path, strerror(-r));
        goto out;
    }
    char kid[2 * COSE_KEY_MAX_KID + 1];
    hex_encode(k->kid, k->kid_len, kid);
    info("COSE key %s (%s) of %s added to %s; run 'systemctl reload wotgw' to use it", kid,
         k->kty == COSE_KTY_EC2 ? "ES256" : "EdDSA", principal, path);
    rc = EXIT_OK;
out:
    if (lock >= 0)
        close(lock);
    diag_free(&d);
    cose_consumers_free(cc);
    cose_key_free(k);
    free(raw);
    if (old) /* the file may hold symmetric keys */
        OPENSSL_cleanse(old, old_len);
    free(old);
    if (buf)
        OPENSSL_cleanse(buf, strlen(buf));
    free(buf);
    return rc;
}

/* cose-consumer-secret: a new symmetric COSE_Key (random key, random
 * 8-byte kid, bound to alg) shared with principal: written whole to
 * outfile (binary COSE_Key, mode 0600, never overwritten) for the
 * consumer, and appended to the consumers' keys file (cose_consumers.h);
 * the kid in hex goes to stdout. The key itself is never printed. */
static int cose_consumer_secret(const char *path, const char *principal, const char *alg_name,
                                const char *outfile)
{
    static const struct {
        const char *name;
        int64_t alg;
    } algs[] = {{"A128GCM", COSE_ALG_A128GCM},
                {"AES-CCM-16-64-128", COSE_ALG_AES_CCM_16_64_128},
                {"HMAC256/64", COSE_ALG_HMAC256_64},
                {"HMAC256/256", COSE_ALG_HMAC256_256}};
    int rc = EXIT_INPUT, lock = -1, fd = -1, r;
    char *old = NULL, *buf = NULL;
    size_t old_len = 0, n = 0, enc_len = 0;
    bool made_out = false;
    struct cose_key *k = NULL;
    struct cose_consumers *cc = NULL;
    struct diags d = {0};
    uint8_t kid[8], enc[COSE_KEY_ENCODED_MAX];
    char hex[2 * COSE_KEY_ENCODED_MAX + 1], kid_hex[2 * sizeof(kid) + 1];
    int64_t alg = COSE_ALG_NONE;
    size_t pl = strlen(principal);
    hex[0] = '\0';
    if (!pl || pl > COSE_CONSUMERS_MAX_PRINCIPAL || strcspn(principal, " \t\r\n#") != pl) {
        msg("invalid principal (1 to %d characters, no blanks or '#')",
            COSE_CONSUMERS_MAX_PRINCIPAL);
        goto out;
    }
    for (size_t i = 0; i < ARRAY_SIZE(algs); i++)
        if (!strcmp(alg_name, algs[i].name))
            alg = algs[i].alg;
    if (alg == COSE_ALG_NONE) {
        msg("unknown algorithm '%s': A128GCM or AES-CCM-16-64-128 (values wotgw encrypts to the "
            "consumer), HMAC256/64 or HMAC256/256 (the consumer's MACed commands)",
            alg_name);
        goto out;
    }
    rc = EXIT_IO;
    if (RAND_bytes(kid, sizeof kid) != 1 || cose_key_generate(alg, kid, sizeof kid, &k) < 0 ||
        cose_key_encode(k, true, enc, sizeof enc, &enc_len) < 0) {
        msg("cannot make a key");
        goto out;
    }
    hex_encode(enc, enc_len, hex);
    hex_encode(kid, sizeof kid, kid_hex);
    if ((lock = lock_file(path)) < 0)
        goto out;
    struct cfile f = {.path = (char *)path};
    if ((rc = cose_keys_read(&f, &old, &old_len, &cc, &d)) != EXIT_OK)
        goto out;
    rc = EXIT_IO;
    /* the consumer's copy first: a key wotgw has and the consumer not is useless */
    fd = open(outfile, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        msg("%s: %s%s", outfile, strerror(errno),
            errno == EEXIST ? " (it is never overwritten)" : "");
        rc = errno == EEXIST ? EXIT_INPUT : EXIT_IO;
        goto out;
    }
    made_out = true;
    if (write(fd, enc, enc_len) != (ssize_t)enc_len || fsync(fd) < 0 || close(fd) < 0) {
        fd = -1;
        msg("%s: cannot write: %s", outfile, strerror(errno));
        goto out;
    }
    fd = -1;
    int m = asprintf(&buf, "%.*s%s%s %s\n", (int)old_len, old ? old : "",
                     old_len && old[old_len - 1] != '\n' ? "\n" : "", principal, hex);
    if (m < 0) {
        buf = NULL;
        goto out;
    }
    n = (size_t)m;
    if ((r = write_atomic(&f, buf, n)) < 0) {
        msg("%s: cannot write: %s", path, strerror(-r));
        goto out;
    }
    made_out = false; /* both written */
    printf("%s\n", kid_hex);
    if (fflush(stdout) != 0)
        goto out;
    info("symmetric COSE key %s (%s) of %s added to %s and written to %s for the consumer; run "
         "'systemctl reload wotgw' to use it",
         kid_hex, alg_name, principal, path, outfile);
    rc = EXIT_OK;
out:
    if (fd >= 0)
        close(fd);
    if (made_out)
        unlink(outfile);
    if (lock >= 0)
        close(lock);
    OPENSSL_cleanse(enc, sizeof enc);
    OPENSSL_cleanse(hex, sizeof hex);
    if (buf) {
        OPENSSL_cleanse(buf, n);
        free(buf);
    }
    if (old) {
        OPENSSL_cleanse(old, old_len);
        free(old);
    }
    diag_free(&d);
    cose_consumers_free(cc);
    cose_key_free(k);
    return rc;
}

/* key-rotate: a new signing key in dir; the exit status. */
static int key_rotate(const char *dir, unsigned alg, bool drop_old)
{
    struct diags d = {0};
    char kid[AS_KID_MAX];
    int r = as_keys_rotate(dir, alg, drop_old, (int64_t)time(NULL), kid, sizeof(kid), &d);
    diag_print(&d, stderr);
    diag_free(&d);
    if (r < 0) {
        msg("%s: key rotation failed: %s", dir, strerror(-r));
        return r == -EINVAL ? EXIT_INPUT : EXIT_IO;
    }
    printf("%s\n", kid);
    if (fflush(stdout) != 0)
        return EXIT_IO;
    info("new %s signing key %s in %s; keys it replaced stay published for %d hours%s",
         alg == JWT_ALG_EDDSA ? "EdDSA" : "ES256", kid, dir, AS_KEY_RETIRED_PUBLISH_S / 3600,
         drop_old ? " (no: --drop-old removed it; its tokens are no longer accepted)" : "");
    info("run 'systemctl reload wotgw' to sign with it");
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    enum {
        OPT_STDIN = 256,
        OPT_NOPASS,
        OPT_SHORT,
        OPT_VERSION,
        OPT_REDIRECT,
        OPT_PUBLIC,
        OPT_CONFIDENTIAL,
        OPT_GRANTS,
        OPT_SCOPES,
        OPT_ALG,
        OPT_DROP,
        OPT_ROTATE,
        OPT_IDCTX,
    };
    static const struct option lopts[] = {
            {"file", required_argument, NULL, 'f'},
            {"groups", required_argument, NULL, 'g'},
            {"method", required_argument, NULL, 'm'},
            {"stdin", no_argument, NULL, OPT_STDIN},
            {"no-password", no_argument, NULL, OPT_NOPASS},
            {"allow-short", no_argument, NULL, OPT_SHORT},
            {"quiet", no_argument, NULL, 'q'},
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, OPT_VERSION},
            {"redirect-uri", required_argument, NULL, OPT_REDIRECT},
            {"public", no_argument, NULL, OPT_PUBLIC},
            {"confidential", no_argument, NULL, OPT_CONFIDENTIAL},
            {"grants", required_argument, NULL, OPT_GRANTS},
            {"scopes", required_argument, NULL, OPT_SCOPES},
            {"alg", required_argument, NULL, OPT_ALG},
            {"drop-old", no_argument, NULL, OPT_DROP},
            {"rotate", no_argument, NULL, OPT_ROTATE},
            {"id-context", required_argument, NULL, OPT_IDCTX},
            {0},
    };
    static struct secret pw, again;
    struct args a = {0};
    const struct command *cmd = NULL;
    char *path = NULL, *hash = NULL, key[80] = "", hex[65] = "", pskhex[2 * 80 + 1] = "";
    const char *groups_arg = NULL;
    int rc = EXIT_INPUT, r, c;

    (void)mlock(&pw, sizeof(pw));
    (void)mlock(&again, sizeof(again));
    (void)mlock(key, sizeof(key));
    (void)mlock(pskhex, sizeof(pskhex));
    (void)mlock(&oscnew, sizeof(oscnew));
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":f:g:m:qh", lopts, NULL)) != -1) {
        switch (c) {
        case 'f': a.file = optarg; break;
        case 'g':
            groups_arg = optarg;
            a.opts |= O_GROUPS;
            break;
        case 'm':
            a.opts |= O_METHOD;
            if (!strcmp(optarg, "yescrypt"))
                a.method = METHOD_YESCRYPT;
            else if (!strcmp(optarg, "bcrypt"))
                a.method = METHOD_BCRYPT;
            else {
                msg("unknown hash method '%s' (yescrypt or bcrypt)", optarg);
                goto usage_error;
            }
            break;
        case OPT_STDIN: a.opts |= O_STDIN; break;
        case OPT_NOPASS: a.opts |= O_NOPASS; break;
        case OPT_SHORT: a.opts |= O_SHORT; break;
        case OPT_REDIRECT:
            if (a.n_redirects == CLIENT_MAX_REDIRECTS) {
                msg("at most %d redirect URIs", CLIENT_MAX_REDIRECTS);
                goto usage_error;
            }
            a.redirects[a.n_redirects++] = optarg;
            a.opts |= O_REDIRECT;
            break;
        case OPT_PUBLIC: a.opts |= O_PUBLIC; break;
        case OPT_CONFIDENTIAL: a.opts |= O_CONFIDENTIAL; break;
        case OPT_GRANTS:
            a.grants = optarg;
            a.opts |= O_GRANTS;
            break;
        case OPT_SCOPES:
            a.scopes = optarg;
            a.opts |= O_SCOPES;
            break;
        case OPT_ALG:
            a.opts |= O_ALG;
            if (!strcmp(optarg, "ES256"))
                a.alg = JWT_ALG_ES256;
            else if (!strcmp(optarg, "EdDSA"))
                a.alg = JWT_ALG_EDDSA;
            else {
                msg("unknown signing algorithm '%s' (ES256 or EdDSA)", optarg);
                goto usage_error;
            }
            break;
        case OPT_DROP: a.opts |= O_DROP; break;
        case OPT_ROTATE: a.opts |= O_ROTATE; break;
        case OPT_IDCTX:
            a.id_context = optarg;
            a.opts |= O_IDCTX;
            break;
        case 'q': quiet = true; break;
        case 'h':
            usage(stdout);
            rc = EXIT_OK;
            goto out;
        case OPT_VERSION:
            printf("wotgw-passwd %s\n", WOTGW_VERSION);
            rc = EXIT_OK;
            goto out;
        case ':': msg("option '%s' needs a value", argv[optind - 1]); goto usage_error;
        default: msg("unknown option '%s'", argv[optind - 1]); goto usage_error;
        }
    }
    if (optind >= argc) {
        msg("no command given");
        goto usage_error;
    }
    char subcmd[32];
    if (!strcmp(argv[optind], "oscore")) {
        /* "oscore add|del|list": the commands oscore-add, oscore-del, oscore-list */
        const char *sub = optind + 1 < argc ? argv[optind + 1] : "";
        if (strcmp(sub, "add") && strcmp(sub, "del") && strcmp(sub, "list")) {
            msg("usage: %s oscore add NAME [--id-context HEX] | oscore del NAME | oscore list",
                prog);
            goto usage_error;
        }
        snprintf(subcmd, sizeof(subcmd), "oscore-%s", sub);
        optind++;
        argv[optind] = subcmd;
    }
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        if (!strcmp(argv[optind], commands[i].name))
            cmd = &commands[i];
    if (!cmd) {
        msg("unknown command '%s'", argv[optind]);
        goto usage_error;
    }
    if (!strcmp(cmd->name, "cose-consumer-add")) {
        if (argc - optind != 3 || a.opts) {
            msg("usage: %s %s", prog, cmd->synopsis);
            goto usage_error;
        }
        rc = cose_consumer_add(a.file ? a.file : DEFAULT_COSE_KEYS, argv[optind + 1],
                               argv[optind + 2]);
        goto out;
    }
    if (!strcmp(cmd->name, "cose-consumer-secret")) {
        if (argc - optind != 4 || a.opts) {
            msg("usage: %s %s", prog, cmd->synopsis);
            goto usage_error;
        }
        rc = cose_consumer_secret(a.file ? a.file : DEFAULT_COSE_KEYS, argv[optind + 1],
                                  argv[optind + 2], argv[optind + 3]);
        goto out;
    }
    int want = 1 + (cmd->takes_name ? 1 : 0);
    if (argc - optind != want) {
        msg("usage: %s %s", prog, cmd->synopsis);
        goto usage_error;
    }
    if (a.opts & ~cmd->opts) {
        msg("option not valid for %s; usage: %s %s", cmd->name, prog, cmd->synopsis);
        goto usage_error;
    }
    if ((a.opts & cmd->required) != cmd->required) {
        msg("usage: %s %s", prog, cmd->synopsis);
        goto usage_error;
    }
    if ((a.opts & O_NOPASS) && (a.opts & (O_STDIN | O_METHOD | O_SHORT))) {
        msg("--no-password cannot be combined with --stdin, -m or --allow-short");
        goto usage_error;
    }
    if (!strcmp(cmd->name, "cose-key")) {
        if (!thing_name_ok(argv[optind + 1])) {
            msg("invalid thing name (allowed: 1 to 64 of A-Z a-z 0-9 . _ ~ -)");
            goto out;
        }
        rc = cose_key(a.file ? a.file : DEFAULT_COSE_DIR, argv[optind + 1], a.opts & O_ROTATE);
        goto out;
    }
    if (cmd->takes_name) {
        a.name = argv[optind + 1];
        if (!word_ok(a.name, strlen(a.name), NAME_MAX_LEN)) {
            msg("invalid name (allowed: 1 to %d of A-Z a-z 0-9 . _ @ -)", NAME_MAX_LEN);
            goto out;
        }
    }
    if (groups_arg && groups_normalize(groups_arg, &a.groups) < 0)
        goto out;
    if (a.id_context && oscore_idctx_arg(a.id_context) < 0)
        goto usage_error;
    if (!strcmp(cmd->name, "key-rotate")) {
        rc = key_rotate(a.file ? a.file : DEFAULT_KEY_DIR, a.alg ? a.alg : JWT_ALG_ES256,
                        a.opts & O_DROP);
        goto out;
    }
    if (!strcmp(cmd->name, "client-add") && !(a.opts & O_PUBLIC) == !(a.opts & O_CONFIDENTIAL)) {
        msg("client-add needs one of --public or --confidential");
        goto usage_error;
    }
    if (a.file) {
        path = strdup(a.file);
    } else if (asprintf(&path, "%s/wotgw/%s", SYSCONFDIR, stores[cmd->store].plural) < 0)
        path = NULL;
    if (!path) {
        rc = EXIT_IO;
        goto out;
    }
    /* One lock for every name of the file: lock and edit the target of a
     * symbolic link. */
    char *real = realpath(path, NULL);
    if (real) {
        free(path);
        path = real;
    }

    bool needs_password =
            !strcmp(cmd->name, "passwd") || (!strcmp(cmd->name, "useradd") && !(a.opts & O_NOPASS));
    if (needs_password || !strcmp(cmd->name, "useradd") || !strcmp(cmd->name, "client-add")) {
        r = precheck(cmd, &a, path);
        if (r < 0) {
            rc = errno_to_exit(r);
            goto out;
        }
    }
    if (needs_password) {
        r = read_password(a.opts & O_STDIN, &pw, &again);
        if (r == 0)
            r = check_password(&pw, a.name, a.method, a.opts & O_SHORT);
        if (r == 0)
            r = hash_password(&pw, a.method, &hash);
        OPENSSL_cleanse(&pw, sizeof(pw));
        OPENSSL_cleanse(&again, sizeof(again));
        if (r < 0) {
            rc = errno_to_exit(r);
            goto out;
        }
    } else if (!strcmp(cmd->name, "client-add")) {
        if (a.opts & O_CONFIDENTIAL) {
            r = make_secret(SECRET_PREFIX, key, sizeof(key), hex);
            if (r < 0) {
                rc = EXIT_IO;
                goto out;
            }
        }
        r = client_line(&a, (a.opts & O_CONFIDENTIAL) ? hex : NULL, &hash);
        if (r < 0) {
            rc = errno_to_exit(r);
            goto out;
        }
    } else if (!strcmp(cmd->name, "useradd")) {
        hash = strdup("!");
        if (!hash) {
            rc = EXIT_IO;
            goto out;
        }
    } else if (!strcmp(cmd->name, "apikey-add")) {
        r = make_secret(APIKEY_PREFIX, key, sizeof(key), hex);
        if (r < 0) {
            rc = EXIT_IO;
            goto out;
        }
    } else if (!strcmp(cmd->name, "psk-add")) {
        /* DTLS needs the key itself. It is 32 random bytes written as
         * base64url text, and that text (43 bytes) is the key: clients
         * such as coap-client take a PSK as text (-k). The file holds it
         * in hex, as auth/psk.h reads keys. */
        uint8_t raw[PSK_BYTES];
        if (RAND_bytes(raw, sizeof(raw)) != 1) {
            msg("cannot get random bytes");
            rc = EXIT_IO;
            goto out;
        }
        b64url_encode(raw, sizeof(raw), key);
        OPENSSL_cleanse(raw, sizeof(raw));
        hex_encode((const uint8_t *)key, strlen(key), pskhex);
    }

    r = run_locked(cmd, &a, path, hash ? hash : !strcmp(cmd->name, "psk-add") ? pskhex : hex);
    if (r < 0) {
        rc = errno_to_exit(r);
        goto out;
    }
    rc = EXIT_OK;
    if (!strcmp(cmd->name, "oscore-add")) {
        /* Shown once, after it is safely stored. */
        if (oscore_print(a.name) < 0) {
            msg("cannot print the context; remove it with oscore del and add it again");
            rc = EXIT_IO;
            goto out;
        }
        char kidh[5];
        hex_encode(oscnew.kid, oscnew.kid_len, kidh);
        info("OSCORE context '%s' (kid %s) added to %s; its master secret is shown only this "
             "once: the lines above are the peer's coap-oscore-conf(5) file",
             a.name, kidh, path);
    } else if (!strcmp(cmd->name, "psk-add")) {
        printf("%s\n", key);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            msg("cannot print the key; it is in %s", path);
            rc = EXIT_IO;
            goto out;
        }
        info("PSK identity '%s' added to %s; the client uses the identity and this key, "
             "e.g. coap-client-gnutls -u %s -k KEY",
             a.name, path, a.name);
    } else if (!strcmp(cmd->name, "apikey-add") ||
               (!strcmp(cmd->name, "client-add") && (a.opts & O_CONFIDENTIAL))) {
        bool client = !strcmp(cmd->name, "client-add");
        /* Shown once, after it is safely stored. */
        printf("%s\n", key);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            msg("cannot print the %s; remove it with %s and add it again",
                client ? "client secret" : "key", client ? "client-del" : "apikey-del");
            rc = EXIT_IO;
            goto out;
        }
        if (client)
            info("client '%s' added to %s; its secret is shown only this once", a.name, path);
        else
            info("API key for '%s' added to %s; it is shown only this once", a.name, path);
    } else if (cmd->writes) {
        static const char *const done[] = {
                "useradd",      "added to",   "passwd",       "changed in",   "usermod",
                "changed in",   "userdel",    "removed from", "apikey-del",   "removed from",
                "client-add",   "added to",   "client-del",   "removed from", "psk-del",
                "removed from", "oscore-del", "removed from"};
        for (size_t i = 0; i < ARRAY_SIZE(done); i += 2)
            if (!strcmp(cmd->name, done[i]))
                info("%s '%s' %s %s", stores[cmd->store].what, a.name, done[i + 1], path);
    }
    if (cmd->writes)
        info("run 'systemctl reload wotgw' to apply");
    goto out;

usage_error:
    fprintf(stderr, "Try '%s --help'.\n", prog);
    rc = EXIT_INPUT;
out:
    OPENSSL_cleanse(&pw, sizeof(pw));
    OPENSSL_cleanse(&again, sizeof(again));
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(pskhex, sizeof(pskhex));
    OPENSSL_cleanse(&oscnew, sizeof(oscnew));
    free(hash);
    free(a.groups);
    free(path);
    return rc;
}
