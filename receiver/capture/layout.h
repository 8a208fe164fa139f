/*
 * layout.h - where capture files go, as Event Hubs Capture names them (pure):
 *
 *   {dir}/{Namespace}/{EventHub}/{PartitionId}/{YYYY}/{MM}/{DD}/{hh}/{mm}/{ss}.avro
 *
 * with the UTC time the file was opened (month, day, hour, minute, second zero-padded to two
 * digits, the partition id in decimal). A file being written has the same name with ".tmp"
 * appended, so nothing looking for "*.avro" sees it before it is complete.
 */
#ifndef RX_LAYOUT_H
#define RX_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#define RX_CAPTURE_EXT     ".avro"
#define RX_CAPTURE_TMP_EXT ".avro.tmp"

/*
 * "{dir}/{ns}/{hub}/{pid}" into out (cap bytes). Returns the length, or HC_E_TOOBIG (out "").
 */
int rx_layout_partition_dir(char *out, size_t cap, const char *dir, const char *ns, const char *hub,
                            int pid);

/*
 * "{pdir}/{YYYY}/{MM}/{DD}/{hh}/{mm}/{ss}.avro" (tmp: with ".tmp") for the UTC second t_s.
 * Returns the length, or HC_E_TOOBIG / HC_E_INVAL (a time before year 1 or after 9999).
 */
int rx_layout_file(char *out, size_t cap, const char *pdir, int64_t t_s, int tmp);

/*
 * The UTC second named by the last six components of path ("YYYY/MM/DD/hh/mm/ss.avro", or
 * ".avro.tmp" when tmp is set), or -1 when path does not end that way.
 */
int64_t rx_layout_time(const char *path, int tmp);

#endif
