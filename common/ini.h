/*
 * ini.h - reading an INI file with inih while counting its lines, so the caller's messages can
 * name the line a key came from.
 */
#ifndef HC_INI_H
#define HC_INI_H

#include <ini.h>

/*
 * Parse the file at path with inih, calling handler(user, section, key, value) for each key.
 * *line is set to 0 before reading and holds the number of the line being parsed while handler
 * runs (1 for the first line).
 *
 * Returns 0 on success, a negative errno when the file cannot be opened (nothing is parsed) or
 * -ENOMEM, or, like ini_parse, the number of the first line inih could not parse or whose handler
 * returned 0 (a read error ends the file early, as with ini_parse). Logs nothing.
 */
int hc_ini_load(const char *path, ini_handler handler, void *user, int *line);

#endif
