/*
 * serve.h - `hubcap-receiver serve`: load the settings (or development defaults), recover the
 * capture folders, listen, and run until SIGTERM or SIGINT; then answer what is being written,
 * close every capture file (renamed to its final name) and exit 0.
 */
#ifndef RX_SERVE_H
#define RX_SERVE_H

/* Exit codes. */
#define RX_EXIT_OK    0
#define RX_EXIT_FAIL  1 /* could not start: config, folder, port */
#define RX_EXIT_USAGE 2

/* Run the serve command (argv[0] is "serve"). Returns an exit code. */
int rx_cmd_serve(int argc, char **argv);

#endif
