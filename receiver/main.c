/* hubcap-receiver: stands in for Azure Event Hubs on premises and writes Capture Avro files. */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "receiver/lake/cmd.h"
#include "receiver/serve.h"

#ifndef HUBCAP_VERSION
#define HUBCAP_VERSION "0.1.0"
#endif

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: hubcap-receiver COMMAND [OPTIONS]\n\n"
        "Event Hubs-compatible ingest that writes Event Hubs Capture Avro files, and lands them\n"
        "in PostgreSQL (bronze, silver, gold).\n\n"
        "Commands:\n"
        "  serve      run the REST endpoint and the capture writer until stopped\n"
        "  land       load closed capture files into bronze (PostgreSQL), each once\n"
        "  promote    promote new bronze rows to silver and gold\n"
        "  rebuild    recompute silver and gold from bronze\n\n"
        "'hubcap-receiver serve --help' tells more. Environment: HUBCAP_LOG=debug|info|"
        "warn|error, HUBCAP_DEV_KEY.\n");
}

int main(int argc, char **argv)
{
    hc_log_set_prog("hubcap-receiver");
    if (argc < 2) {
        usage(stderr);
        return RX_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return RX_EXIT_OK;
    }
    if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
        printf("hubcap-receiver %s\n", HUBCAP_VERSION);
        return RX_EXIT_OK;
    }
    if (!strcmp(argv[1], "serve"))
        return rx_cmd_serve(argc - 1, argv + 1);
    if (!strcmp(argv[1], "land"))
        return rx_cmd_land(argc - 1, argv + 1);
    if (!strcmp(argv[1], "promote"))
        return rx_cmd_promote(argc - 1, argv + 1);
    if (!strcmp(argv[1], "rebuild"))
        return rx_cmd_rebuild(argc - 1, argv + 1);
    fprintf(stderr, "hubcap-receiver: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return RX_EXIT_USAGE;
}
