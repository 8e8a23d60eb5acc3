/* veritee serve: run the key broker until SIGINT/SIGTERM. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "veritee/broker.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: veritee serve --config FILE [--listen HOST:PORT] [--print-port]\n"
		   "\n"
		   "Run the key broker (KBS protocol 0.4.0).  The config file is JSON; see docs/broker.md.\n"
		   "Plain HTTP is served only on loopback unless \"insecure_http\" is set; configure\n"
		   "tls_cert/tls_key for HTTPS.  Stops cleanly on SIGINT or SIGTERM.\n"
		   "\n"
		   "  --listen HOST:PORT   override the config's listen address (port 0 = any free port)\n"
		   "  --print-port         print the bound port on stdout once listening\n");
}

int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, 0, 'c'}, {"listen", required_argument, 0, 'l'},
		{"print-port", no_argument, 0, 'p'},	{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	const char *config = NULL, *listen = NULL;
	bool print_port = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "hc:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'l': listen = optarg; break;
		case 'p': print_port = true; break;
		case 'h': usage(stdout); return CLI_OK;
		default: usage(stderr); return CLI_ERROR;
		}
	}
	if (config == NULL || optind != argc) {
		usage(stderr);
		return CLI_ERROR;
	}
	struct vt_broker_config cfg;
	struct vt_broker *b = NULL;
	struct vt_err e = {0};
	int ret = CLI_ERROR;
	vt_broker_config_init(&cfg);
	if (vt_broker_config_load(config, &cfg, &e) != VT_OK) {
		cli_err("serve", &e);
		goto out;
	}
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
	/* Block the stop signals in every thread; the main thread waits for them. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
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
	int sig = 0;
	sigwait(&set, &sig);
	fprintf(stderr, "veritee serve: signal %d, stopping\n", sig);
	ret = CLI_OK;
out:
	vt_broker_free(b);
	vt_broker_config_free(&cfg);
	return ret;
}
