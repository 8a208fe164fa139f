/*
 * cmd.h - the lake's subcommands of hubcap-receiver: land, promote, rebuild. Each takes argv
 * with argv[0] the command's name and returns a process exit code (RX_EXIT_*).
 */
#ifndef RX_LAKE_CMD_H
#define RX_LAKE_CMD_H

int rx_cmd_land(int argc, char **argv);
int rx_cmd_promote(int argc, char **argv);
int rx_cmd_rebuild(int argc, char **argv);

#endif
