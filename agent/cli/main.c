/* hubcap-agent: keeps business events durably on an edge board and ships them to Event Hubs. */
#include <stdio.h>
#include <string.h>

#include "agent/cli/cli.h"
#include "common/log.h"

#ifndef HUBCAP_VERSION
#define HUBCAP_VERSION "0.1.0"
#endif

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *what;
} cmds[] = {
    {"generate", cmd_generate, "make realistic order, parcel and car events (into -b, or stdout)"},
    {"enqueue", cmd_enqueue, "put CSV / JSON Lines files into the buffer (resumable)"},
    {"watch", cmd_watch, "load every file that arrives in a folder, then archive it"},
    {"status", cmd_status, "what the buffer holds: queued, shipped, dropped, rejected, retained"},
    {"dump", cmd_dump, "print buffered events as JSON Lines"},
    {"ship", cmd_ship, "send queued events to Event Hubs (continuously, or --once)"},
    {"replay", cmd_replay, "queue already shipped (retained) events to ship again"},
    {"run", cmd_run, "run the sources (and the shipper) of a config file until stopped"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: hubcap-agent COMMAND [OPTIONS]\n\n"
               "Keeps business events durably in an LMDB buffer and ships them to Azure Event "
               "Hubs.\n\nCommands:\n");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].what);
    fprintf(f, "\n'hubcap-agent COMMAND --help' tells more. Environment: HUBCAP_LOG=debug|info|"
               "warn|error, HUBCAP_DEVICE_ID.\n");
}

int main(int argc, char **argv)
{
    hc_log_set_prog("hubcap-agent");
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
        printf("hubcap-agent %s\n", HUBCAP_VERSION);
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name))
            return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "hubcap-agent: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return CLI_USAGE;
}
