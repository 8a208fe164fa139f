#include "common/error.h"

#include <errno.h>
#include <string.h>

static const char *const hc_msgs[] = {
    [0] = "unknown hubcap error",
    [1] = "buffer is full (capacity cap reached)",
    [2] = "stored record is corrupt",
    [3] = "parse error",
    [4] = "over the size limit",
    [5] = "invalid value",
    [6] = "invalid UTF-8",
    [7] = "not found",
    [8] = "buffer map is full (raise max_bytes)",
    [9] = "no space left on device",
    [10] = "on-disk format of another version",
    [11] = "locked by another process",
    [12] = "authentication refused",
    [13] = "temporary failure, will retry",
    [14] = "rejected",
    [15] = "stopped",
    [16] = "nothing to do",
};

const char *hc_strerror(int err)
{
    if (err == 0)
        return "success";
    if (err <= HC_E_BASE && err > HC_E_LAST) {
        int i = HC_E_BASE - err;
        if (i > 0 && i < (int)(sizeof hc_msgs / sizeof hc_msgs[0]) && hc_msgs[i])
            return hc_msgs[i];
        return hc_msgs[0];
    }
    if (err < 0)
        return strerror(-err);
    return "unknown error";
}
