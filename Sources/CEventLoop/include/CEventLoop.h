#ifndef CEVENTLOOP_H
#define CEVENTLOOP_H
#include <stdint.h>

/* epoll is not exported by Glibc's Swift module, and struct epoll_event is packed on x86-64, so the event
 * loop reaches it only through these functions. Every name carries the module prefix. */

int CEventLoop_epoll_create(void);
/* op: 1 add, 2 modify, 3 delete. events: bit 0 readable, bit 1 writable. */
int CEventLoop_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token);
/* Fills tokens[i] and events[i] (bit 0 readable, bit 1 writable, bit 2 hang-up or error); returns the count,
 * 0 on timeout or EINTR, -1 on other errors. */
int CEventLoop_epoll_wait(int epfd, uint64_t *tokens, uint32_t *events, int capacity, int timeout_ms);

/* A nonblocking TCP listening socket on IPv4 host:port (port 0 picks one); returns the fd or -errno. */
int CEventLoop_listen_tcp4(const char *host, int port, int backlog);
/* The bound port of a socket, or -1. */
int CEventLoop_local_port(int fd);
/* accept4 with SOCK_NONBLOCK|SOCK_CLOEXEC; -1 with errno EAGAIN when none is pending. */
int CEventLoop_accept(int fd);
/* An eventfd for waking the loop from other threads. */
int CEventLoop_eventfd(void);
/* A nonblocking TCP connection to IPv4 host:port, in progress (wait for writable, then check
 * CEventLoop_socket_error); returns the fd or -errno. TCP_NODELAY is set. */
int CEventLoop_connect_tcp4(const char *host, int port);
/* The pending error of a socket (SO_ERROR): 0 when a connect succeeded. */
int CEventLoop_socket_error(int fd);
/* The remote (peer != 0) or local IPv4 address of a socket: writes 4 address bytes, returns the port or -1. */
int CEventLoop_address(int fd, int peer, uint8_t *address);
/* Enlarges the kernel socket buffers (bytes each way); best effort. */
void CEventLoop_set_buffers(int fd, int bytes);
#endif
