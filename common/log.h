/*
 * log.h - leveled messages to stderr, one line each, safe from any thread.
 *
 * Leaf functions do not log; the caller that decides what to do logs once.
 */
#ifndef HC_LOG_H
#define HC_LOG_H

enum hc_log_level { HC_LOG_DEBUG, HC_LOG_INFO, HC_LOG_WARN, HC_LOG_ERROR };

/* Messages below this level are dropped. Default HC_LOG_INFO; HUBCAP_LOG=debug|info|warn|error. */
void hc_log_set_level(enum hc_log_level level);
enum hc_log_level hc_log_get_level(void);
/* Program name printed before every line ("hubcap-agent"). The string must outlive logging. */
void hc_log_set_prog(const char *prog);

void hc_log(enum hc_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define hc_debug(...) hc_log(HC_LOG_DEBUG, __VA_ARGS__)
#define hc_info(...)  hc_log(HC_LOG_INFO, __VA_ARGS__)
#define hc_warn(...)  hc_log(HC_LOG_WARN, __VA_ARGS__)
#define hc_error(...) hc_log(HC_LOG_ERROR, __VA_ARGS__)

#endif
