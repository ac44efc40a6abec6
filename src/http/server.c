/*
 * server.c — h2o event loops, listeners, limits and graceful shutdown.
 *
 * Each of N loop threads owns an h2o context, its own listening socket
 * (SO_REUSEPORT on one port, so the kernel spreads connections over the
 * threads without a shared accept lock) and its own read-only store handle.
 * The committer thread owns the one write handle.
 *
 * Shutdown (SIGTERM/SIGINT, taken by sigwait on the main thread): every loop
 * closes its listener, keeps running until its writes in flight have been
 * committed and answered, then exits; then the committer drains what is left
 * and stops; exit status 0.  Nothing that was acknowledged is lost, and
 * nothing is acknowledged that is not on disk.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/http.h"
#include "http/metrics.h"
#include "util/clock.h"

static void on_socket_close(void *data) {
    jf_server *srv = data;
    atomic_fetch_sub(&srv->connections, 1);
}

/* Accept what is waiting (bounded per wakeup so one loop cannot starve its
 * connections); beyond JF_HTTP_CONNECTIONS_MAX a new connection is closed. */
static void on_accept(h2o_socket_t *listener, const char *err) {
    jf_loop *loop = listener->data;
    if (err != NULL) return;
    for (int i = 0; i < 32; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL) return;
        long open = atomic_fetch_add(&loop->server->connections, 1) + 1;
        sock->on_close.cb = on_socket_close;
        sock->on_close.data = loop->server;
        if (open > JF_HTTP_CONNECTIONS_MAX) {
            h2o_socket_close(sock);
            continue;
        }
        h2o_accept(&loop->accept_ctx, sock);
    }
}

/* Bind a listening socket on host:port with SO_REUSEPORT; *port is updated
 * with the bound port (so that port 0 picks one for every thread). */
static int listen_on(const char *host, uint16_t *port, char *err, size_t err_cap) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    char port_text[8];
    snprintf(port_text, sizeof port_text, "%u", (unsigned)*port);
    int gai = getaddrinfo(host, port_text, &hints, &res);
    if (gai != 0) {
        snprintf(err, err_cap, "cannot resolve %.255s: %s", host, gai_strerror(gai));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
            snprintf(err, err_cap, "cannot listen on %.255s:%u: %s", host, (unsigned)*port, strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) return -1;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* One turn of the event loop: wait for events (at most wait_ms), run their
 * callbacks, then end the read snapshot its requests shared. */
static void turn(jf_loop *loop, int32_t wait_ms) {
    h2o_evloop_run(loop->ctx.loop, wait_ms);
    jf_loop_read_end(loop);
}

static void *loop_main(void *arg) {
    jf_loop *loop = arg;
    jf_server *srv = loop->server;
    h2o_context_init(&loop->ctx, h2o_evloop_create(), &srv->globalconf);
    loop->accept_ctx.ctx = &loop->ctx;
    loop->accept_ctx.hosts = srv->globalconf.hosts;
    loop->queue = h2o_multithread_create_queue(loop->ctx.loop);
    h2o_multithread_register_receiver(loop->queue, &loop->done_receiver, jf_write_jobs_done);
    loop->listener = h2o_evloop_socket_create(loop->ctx.loop, loop->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    loop->listener->data = loop;
    h2o_socket_read_start(loop->listener, on_accept);

    /* The wait bound is how fast a loop notices the stop flag. */
    while (!atomic_load(&srv->stopping)) turn(loop, 100);

    h2o_socket_read_stop(loop->listener);
    h2o_socket_close(loop->listener);
    loop->listener = NULL;
    /* Writes in flight are always finished: they may already be on disk,
     * and their clients are owed the answer.  Then a short grace period
     * lets the answers leave the socket buffers. */
    while (loop->writes_in_flight > 0) turn(loop, 10);
    int64_t flush_until = jf_mono_ms() + 100;
    while (jf_mono_ms() < flush_until) turn(loop, 10);
    return NULL;
}

static void globalconf_init(jf_server *srv) {
    h2o_config_init(&srv->globalconf);
    srv->globalconf.server_name = h2o_iovec_init(H2O_STRLIT("jifen"));
    srv->globalconf.max_request_entity_size = JF_HTTP_BODY_BYTES_HARD_MAX;
    srv->globalconf.http1.req_timeout = JF_HTTP_IO_TIMEOUT_MS;
    srv->globalconf.http1.upgrade_to_http2 = 0;
    srv->globalconf.http2.idle_timeout = JF_HTTP_IO_TIMEOUT_MS;
    srv->hostconf = h2o_config_register_host(&srv->globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(srv->hostconf, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(path, sizeof *handler);
    handler->on_req = jf_dispatch;
}

static void close_loops(jf_server *srv, int n) {
    for (int i = 0; i < n; i++) {
        if (srv->loops[i].store) jf_store_close(srv->loops[i].store);
        if (srv->loops[i].listen_fd >= 0 && srv->loops[i].listener == NULL) close(srv->loops[i].listen_fd);
    }
}

/* Open every loop's listener and read handle before any thread starts, so
 * that a bad address or database fails the start, not a thread. */
static int prepare_loops(jf_server *srv) {
    uint16_t port = srv->cfg.listen_port;
    char err[512];
    for (int i = 0; i < srv->loops_n; i++) {
        jf_loop *loop = &srv->loops[i];
        loop->index = i;
        loop->server = srv;
        loop->listen_fd = listen_on(srv->cfg.listen_host, &port, err, sizeof err);
        if (loop->listen_fd < 0) {
            fprintf(stderr, "jifen serve: %s\n", err);
            close_loops(srv, i);
            return -1;
        }
        jf_error e;
        jf_error_clear(&e);
        if (jf_store_open(srv->cfg.db_path, &loop->store, &e) != JF_OK) {
            fprintf(stderr, "jifen serve: cannot open %s: %s\n", srv->cfg.db_path, e.detail);
            close_loops(srv, i + 1);
            return -1;
        }
    }
    srv->cfg.listen_port = port;
    return 0;
}

static void wait_for_signal(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int sig = 0;
    while (sigwait(&set, &sig) != 0) {
    }
    fprintf(stderr, "jifen: %s received; finishing requests in flight\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

int jf_server_run(const jf_serve_config *cfg) {
    jf_server *srv = calloc(1, sizeof *srv);
    if (srv == NULL) return 1;
    srv->cfg = *cfg;
    srv->loops_n = cfg->threads;
    srv->loops = calloc((size_t)cfg->threads, sizeof *srv->loops);
    if (srv->loops == NULL) return 1;
    for (int i = 0; i < srv->loops_n; i++) srv->loops[i].listen_fd = -1;

    /* Signals are taken by sigwait below; every thread inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Keep freed memory instead of handing it back at once: an event's
     * block (handlers_events.c, 90 KiB) is allocated on a loop thread,
     * written by the committer and freed after the answer, and glibc gave
     * the top of the loop's heap back to the kernel (trim threshold 128
     * KiB) over and over, so that the committer page-faulted and the kernel
     * zeroed pages for every event: ~1-2 us of the committer's ~29 per
     * order.paid.  MALLOC_TRIM_THRESHOLD_ in the environment still rules. */
    if (getenv("MALLOC_TRIM_THRESHOLD_") == NULL) mallopt(M_TRIM_THRESHOLD, 64 << 20);

    globalconf_init(srv);
    if (prepare_loops(srv) != 0) return 1;
    jf_error err;
    jf_error_clear(&err);
    if (jf_committer_start(srv, &srv->committer, &err) != JF_OK) {
        fprintf(stderr, "jifen serve: cannot start the committer: %s\n", err.detail);
        close_loops(srv, srv->loops_n);
        return 1;
    }
    /* Named for top -H and perf: one name a kind of thread. */
    for (int i = 0; i < srv->loops_n; i++)
        if (pthread_create(&srv->loops[i].thread, NULL, loop_main, &srv->loops[i]) == 0)
            pthread_setname_np(srv->loops[i].thread, "jf-loop");

    size_t committers = jf_committer_writers(srv->committer);
    printf("jifen: listening on http://%s:%u (%d threads, %zu committer%s%s)\n", cfg->listen_host,
           (unsigned)srv->cfg.listen_port, srv->loops_n, committers, committers == 1 ? "" : "s",
           cfg->test_clock ? ", test clock" : "");
    fflush(stdout);

    wait_for_signal();
    atomic_store(&srv->stopping, 1);
    for (int i = 0; i < srv->loops_n; i++) pthread_join(srv->loops[i].thread, NULL);
    jf_committer_stop(srv->committer);
    /* The h2o contexts are not disposed: idle keep-alive connections may
     * still be open, and h2o 2.2 has no way to close them from outside
     * (disposing a context with live connections aborts).  The process
     * exits; the kernel closes the sockets.  Everything durable is closed. */
    for (int i = 0; i < srv->loops_n; i++) jf_store_close(srv->loops[i].store);
    free(srv->loops);
    free(srv);
    fprintf(stderr, "jifen: stopped\n");
    return 0;
}
