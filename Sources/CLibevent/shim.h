#ifndef CHAINSTORE_CLIBEVENT_SHIM_H
#define CHAINSTORE_CLIBEVENT_SHIM_H
// System headers first, on purpose: libevent's event-config.h defines _GNU_SOURCE, and if glibc's
// headers were first parsed under it here, their types (fd_set's member names) would differ from
// the ones in Swift's Glibc module and the two modules would clash. Included before any libevent
// header, they come from the Glibc module as they are.
#include <sys/types.h>
#include <sys/time.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netdb.h>
#include <stdint.h>
#include <stddef.h>
#include <stdarg.h>
#include <inttypes.h>
#include <errno.h>
#include <time.h>

// libevent core (event_base, timers, signals), bufferevents for connections, evconnlistener for
// accepting, evhttp for the HTTP endpoints, and the pthreads glue so other threads may activate
// events on a loop (the cross-thread submit path).
#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <event2/util.h>

// TLS: libevent's OpenSSL bufferevents (the SSL objects come from ChainSecurity's TLSContext).
#include <openssl/ssl.h>
#include <event2/bufferevent_ssl.h>

// `evutil_socket_t` is a macro in libevent 2.1, which Swift cannot see; these keep fd types explicit.
static inline int chainstore_bufferevent_fd(struct bufferevent *bev) { return (int)bufferevent_getfd(bev); }

// Swift cannot reach the `struct evkeyvalq` list macros (TAILQ); this walks it.
static inline struct evkeyval *chainstore_evkeyvalq_first(struct evkeyvalq *q) { return q->tqh_first; }
static inline struct evkeyval *chainstore_evkeyval_next(struct evkeyval *kv) { return kv->next.tqe_next; }
#endif
