/* veritee serve: run the key broker until SIGINT/SIGTERM; SIGHUP reloads
 * policies and reference values; --check-config only checks. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "cli/cli.h"
#include "veritee/broker.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: veritee serve --config FILE [--listen HOST:PORT] [--print-port]\n"
		   "                     [--log-format text|json] [--log-level error|warn|info|debug]\n"
		   "       veritee serve --config FILE [--listen HOST:PORT] --check-config\n"
		   "\n"
		   "Run the key broker (KBS protocol 0.4.0).  The config file is JSON; see docs/broker.md.\n"
		   "Plain HTTP is served only on loopback unless \"insecure_http\" is set; configure\n"
		   "tls_cert/tls_key for HTTPS.\n"
		   "\n"
		   "  --config FILE        the broker's configuration (JSON)\n"
		   "  --listen HOST:PORT   override the config's listen address (port 0 = any free port)\n"
		   "  --print-port         print the bound port on stdout once listening\n"
		   "  --log-format FORMAT  log lines as \"text\" (the default) or \"json\" (one object a line);\n"
		   "                       overrides the config's \"log_format\"\n"
		   "  --log-level LEVEL    error, warn, info (the default) or debug: lines above it are\n"
		   "                       dropped; overrides the config's \"log_level\"\n"
		   "  --check-config       check the configuration without listening or creating anything:\n"
		   "                       listen address, TLS certificate and key, admin keys, every TEE's\n"
		   "                       options, and the key and database files (those not there yet must\n"
		   "                       be creatable); exit 0 when the broker would start, 2 when not\n"
		   "\n"
		   "Logs go to stderr: one line per request (request id, also sent as X-Request-Id, client,\n"
		   "method, path without the query, status, TEE and outcome of attestations and releases,\n"
		   "failing step and field, duration), never bodies, cookies, tokens or secrets.\n"
		   "\n"
		   "At start it warns on stderr when no admin key is configured and when INSECURE sim\n"
		   "evidence is accepted on a non-loopback address.\n"
		   "\n"
		   "Signals: SIGHUP reloads the policies and reference values from the store and re-reads\n"
		   "tls_cert and tls_key for new connections (what fails to load is logged and the previous\n"
		   "one stays in force); SIGINT and SIGTERM stop the broker.  Under systemd\n"
		   "(Type=notify) it sends READY=1 once listening, RELOADING=1 then READY=1 around a reload,\n"
		   "and STOPPING=1.\n");
}

static void print_warning(void *ctx, const char *text)
{
	(void)ctx;
	fprintf(stderr, "veritee serve: warning: %s\n", text);
}

/* "veritee serve: FILE: error" */
static void config_err(const char *config, const struct vt_err *e)
{
	char buf[1024];
	vt_err_format(e, buf, sizeof(buf));
	fprintf(stderr, "veritee serve: %s: %s\n", config, buf);
}

/* "RELOADING=1" with the monotonic time systemd (Type=notify-reload) wants. */
static void notify_reloading(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading policies and reference values",
		   (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000ull);
}

int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, 0, 'c'},	    {"listen", required_argument, 0, 'l'},
		{"print-port", no_argument, 0, 'p'},	    {"check-config", no_argument, 0, 'C'},
		{"help", no_argument, 0, 'h'},		    {"log-format", required_argument, 0, 'F'},
		{"log-level", required_argument, 0, 'L'},   {0, 0, 0, 0},
	};
	const char *config = NULL, *listen = NULL, *log_format = NULL, *log_level = NULL;
	bool print_port = false, check = false;
	int c, bad = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "hc:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': bad |= cli_once("serve", "--config", &config, optarg); break;
		case 'l': bad |= cli_once("serve", "--listen", &listen, optarg); break;
		case 'p': print_port = true; break;
		case 'C': check = true; break;
		case 'F': bad |= cli_once("serve", "--log-format", &log_format, optarg); break;
		case 'L': bad |= cli_once("serve", "--log-level", &log_level, optarg); break;
		case 'h': usage(stdout); return CLI_OK;
		default: usage(stderr); return CLI_ERROR;
		}
	}
	if (bad)
		return CLI_ERROR;
	if (config == NULL || optind != argc) {
		usage(stderr);
		return CLI_ERROR;
	}
	enum vt_log_format fmt = VT_LOG_TEXT;
	enum vt_log_level lvl = VT_LOG_INFO;
	if (log_format && !vt_log_format_parse(log_format, &fmt)) {
		fprintf(stderr, "veritee serve: --log-format wants text or json\n");
		return CLI_ERROR;
	}
	if (log_level && !vt_log_level_parse(log_level, &lvl)) {
		fprintf(stderr, "veritee serve: --log-level wants error, warn, info or debug\n");
		return CLI_ERROR;
	}
	struct vt_broker_config cfg;
	struct vt_broker *b = NULL;
	struct vt_err e = {0};
	int ret = CLI_ERROR;
	vt_broker_config_init(&cfg);
	if (vt_broker_config_load(config, &cfg, &e) != VT_OK) {
		config_err(config, &e);
		goto out;
	}
	if (log_format)
		cfg.log_format = fmt;
	if (log_level)
		cfg.log_level = lvl;
	if (listen) {
		const char *colon = strrchr(listen, ':');
		if (colon == NULL) {
			fprintf(stderr, "veritee serve: --listen wants HOST:PORT\n");
			goto out;
		}
		free(cfg.listen_host);
		const char *h = listen;
		size_t hl = (size_t)(colon - listen);
		if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
			h++;
			hl -= 2;
		}
		cfg.listen_host = strndup(h, hl);
		cfg.port = (uint16_t)strtoul(colon + 1, NULL, 10);
	}
	if (check) {
		if (vt_broker_config_check(&cfg, print_warning, NULL, &e) != VT_OK) {
			config_err(config, &e);
			goto out;
		}
		vt_broker_config_warnings(&cfg, print_warning, NULL);
		printf("veritee serve: %s: the configuration is usable (listen %s://%s:%u)\n", config,
		       cfg.tls_cert ? "https" : "http", cfg.listen_host ? cfg.listen_host : "127.0.0.1",
		       (unsigned)cfg.port);
		ret = CLI_OK;
		goto out;
	}
	vt_broker_config_warnings(&cfg, print_warning, NULL);
	/* Block the stop and reload signals in every thread; the main thread
	 * waits for them. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (vt_broker_new(&cfg, &b, &e) != VT_OK) {
		cli_err("serve", &e);
		goto out;
	}
	uint16_t port = 0;
	if (vt_broker_start(b, &port, &e) != VT_OK) {
		cli_err("serve", &e);
		goto out;
	}
	if (print_port) {
		printf("%u\n", (unsigned)port);
		fflush(stdout);
	}
	/* The listening socket is open: systemd may start what depends on us. */
	sd_notifyf(0, "READY=1\nSTATUS=listening on port %u", (unsigned)port);
	int sig = 0;
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig != SIGHUP)
			break;
		notify_reloading();
		vt_status rc = vt_broker_reload(b, &e);
		struct vt_err te = {0};
		if (vt_broker_reload_tls(b, &te) != VT_OK) /* logged; the old certificate stays */
			rc = rc == VT_OK ? VT_E_USAGE : rc;
		sd_notifyf(0, "READY=1\nSTATUS=listening on port %u%s", (unsigned)port,
			   rc == VT_OK ? "" : "; the last reload failed (see the log)");
		memset(&e, 0, sizeof(e));
	}
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
	fprintf(stderr, "veritee serve: signal %d, stopping\n", sig);
	ret = CLI_OK;
out:
	vt_broker_free(b);
	vt_broker_config_free(&cfg);
	return ret;
}
