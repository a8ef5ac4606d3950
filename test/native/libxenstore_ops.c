/*
 * Debian's libxenstore as a scriptable peer for test/component-interop:
 * connects as Xen's tools do (XENSTORED_PATH, else the standard socket) and
 * runs one operation per stdin line, fields separated by tabs:
 *   read TX PATH | write TX PATH VALUE | mkdir TX PATH | rm TX PATH
 *   directory TX PATH | get-perms TX PATH | set-perms TX PATH DOMID:ACCESS...
 *   watch PATH TOKEN | unwatch PATH TOKEN | next-event
 *   transaction-start | transaction-end TX commit|abort | get-domain-path DOMID
 * (ACCESS: none, read, write or both). Each line's result is one JSON line:
 * {"ok": RESULT} or {"error": "enoent"} (xenstored's error names, lower
 * case), in the shapes runtime/wasmtime_component.py gives.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenstore.h>

#define MAX_FIELDS 16

/* Indexed by XS_PERM_READ | XS_PERM_WRITE bits, as the WIT's access enum. */
static const char *const access_names[] = { "none", "read", "write", "both" };

/* A JSON string of `length` bytes, each byte one code point (latin-1), as the Python runner encodes list<u8>. */
static void print_string(const char *bytes, size_t length)
{
    putchar('"');
    for (size_t i = 0; i < length; i++) {
        unsigned char c = bytes[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void print_text(const char *text)
{
    print_string(text, strlen(text));
}

/* The failed call's errno by xenstored's name for it (xs_wire.h's table), as the component's xs-error enum spells it. */
static void print_error(void)
{
    int error = errno;
    for (size_t i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++) {
        if (xsd_errors[i].errnum == error) {
            printf("{\"error\":\"");
            for (const char *c = xsd_errors[i].errstring; *c; c++)
                putchar(tolower((unsigned char)*c));
            printf("\"}\n");
            return;
        }
    }
    printf("{\"error\":\"errno %d\"}\n", error);
}

static void print_ok_null(bool ok)
{
    if (ok)
        printf("{\"ok\":null}\n");
    else
        print_error();
}

/* "DOMID:ACCESS" into `perm`; false if malformed. */
static bool parse_permission(const char *text, struct xs_permissions *perm)
{
    char *end;
    perm->id = strtoul(text, &end, 10);
    if (end == text || *end != ':')
        return false;
    for (unsigned int bits = 0; bits < 4; bits++) {
        if (strcmp(end + 1, access_names[bits]) == 0) {
            perm->perms = bits;
            return true;
        }
    }
    return false;
}

/* Runs one operation; false if the line is not one this program knows. */
static bool run(struct xs_handle *xs, char **field, int count)
{
    const char *op = field[0];
    xs_transaction_t tx = count > 1 ? strtoul(field[1], NULL, 10) : XBT_NULL;
    unsigned int length;

    if (strcmp(op, "read") == 0 && count == 3) {
        char *value = xs_read(xs, tx, field[2], &length);
        if (!value)
            return print_error(), true;
        printf("{\"ok\":");
        print_string(value, length);
        printf("}\n");
        free(value);
    } else if (strcmp(op, "write") == 0 && count == 4) {
        print_ok_null(xs_write(xs, tx, field[2], field[3], strlen(field[3])));
    } else if (strcmp(op, "mkdir") == 0 && count == 3) {
        print_ok_null(xs_mkdir(xs, tx, field[2]));
    } else if (strcmp(op, "rm") == 0 && count == 3) {
        print_ok_null(xs_rm(xs, tx, field[2]));
    } else if (strcmp(op, "directory") == 0 && count == 3) {
        char **names = xs_directory(xs, tx, field[2], &length);
        if (!names)
            return print_error(), true;
        printf("{\"ok\":[");
        for (unsigned int i = 0; i < length; i++) {
            if (i)
                putchar(',');
            print_text(names[i]);
        }
        printf("]}\n");
        free(names);
    } else if (strcmp(op, "get-perms") == 0 && count == 3) {
        struct xs_permissions *perms = xs_get_permissions(xs, tx, field[2], &length);
        if (!perms)
            return print_error(), true;
        printf("{\"ok\":[");
        for (unsigned int i = 0; i < length; i++)
            printf("%s{\"domid\":%u,\"access\":\"%s\"}", i ? "," : "", perms[i].id,
                   access_names[perms[i].perms & (XS_PERM_READ | XS_PERM_WRITE)]);
        printf("]}\n");
        free(perms);
    } else if (strcmp(op, "set-perms") == 0 && count >= 3) {
        struct xs_permissions perms[MAX_FIELDS];
        for (int i = 3; i < count; i++)
            if (!parse_permission(field[i], &perms[i - 3]))
                return false;
        print_ok_null(xs_set_permissions(xs, tx, field[2], perms, count - 3));
    } else if (strcmp(op, "watch") == 0 && count == 3) {
        print_ok_null(xs_watch(xs, field[1], field[2]));
    } else if (strcmp(op, "unwatch") == 0 && count == 3) {
        print_ok_null(xs_unwatch(xs, field[1], field[2]));
    } else if (strcmp(op, "next-event") == 0 && count == 1) {
        char **event = xs_read_watch(xs, &length);
        if (!event)
            return print_error(), true;
        printf("{\"ok\":{\"path\":");
        print_text(event[XS_WATCH_PATH]);
        printf(",\"token\":");
        print_text(event[XS_WATCH_TOKEN]);
        printf("}}\n");
        free(event);
    } else if (strcmp(op, "transaction-start") == 0 && count == 1) {
        xs_transaction_t started = xs_transaction_start(xs);
        if (started == XBT_NULL)
            return print_error(), true;
        printf("{\"ok\":%u}\n", started);
    } else if (strcmp(op, "transaction-end") == 0 && count == 3) {
        bool commit = strcmp(field[2], "commit") == 0;
        if (!commit && strcmp(field[2], "abort") != 0)
            return false;
        print_ok_null(xs_transaction_end(xs, tx, !commit));
    } else if (strcmp(op, "get-domain-path") == 0 && count == 2) {
        char *path = xs_get_domain_path(xs, strtoul(field[1], NULL, 10));
        if (!path)
            return print_error(), true;
        printf("{\"ok\":");
        print_text(path);
        printf("}\n");
        free(path);
    } else {
        return false;
    }
    return true;
}

int main(void)
{
    struct xs_handle *xs = xs_open(0);
    if (!xs) {
        perror("xs_open");
        return 1;
    }
    char line[8192];
    while (fgets(line, sizeof(line), stdin)) {
        line[strcspn(line, "\n")] = '\0';
        char *field[MAX_FIELDS + 3];
        int count = 0;
        for (char *rest = line, *f; count < MAX_FIELDS + 3 && (f = strsep(&rest, "\t"));)
            field[count++] = f;
        if (!run(xs, field, count)) {
            fprintf(stderr, "libxenstore_ops: cannot run: %s\n", line);
            return 2;
        }
        fflush(stdout);
    }
    xs_close(xs);
    return 0;
}
