#ifndef CEVENTLOOP_H
#define CEVENTLOOP_H
#include <stdint.h>

/* epoll is not exported by Glibc's Swift module, and struct epoll_event is packed on x86-64, so the event
 * loop reaches it only through these functions. Every name carries the module prefix. Failures return -1 with
 * errno set (EINTR included): the Swift side retries and classifies them in one place. */

/* Interest and readiness bits, the shim's own (translated to and from EPOLLIN/EPOLLOUT/... in the .c file). */
#define CEventLoop_READABLE 1u
#define CEventLoop_WRITABLE 2u
/* Readiness only: hang-up, peer shutdown or error. */
#define CEventLoop_HANGUP 4u

/* The operations of CEventLoop_epoll_ctl. */
typedef enum CEventLoop_Operation {
    CEventLoop_OperationAdd = 1,
    CEventLoop_OperationModify = 2,
    CEventLoop_OperationDelete = 3,
} CEventLoop_Operation;

/* The most events one CEventLoop_epoll_wait reports. */
#define CEventLoop_MAX_EVENTS 256

int CEventLoop_epoll_create(void);
/* interest: CEventLoop_READABLE | CEventLoop_WRITABLE; token comes back with every event of fd. */
int CEventLoop_epoll_ctl(int epfd, CEventLoop_Operation operation, int fd, uint32_t interest, uint64_t token);
/* Fills tokens[i] and events[i] (CEventLoop_READABLE | CEventLoop_WRITABLE | CEventLoop_HANGUP); returns the
 * count (0 on timeout), -1 with errno on failure. timeout_ms -1 waits without limit. */
int CEventLoop_epoll_wait(int epfd, uint64_t *tokens, uint32_t *events, int capacity, int timeout_ms);

/* A nonblocking TCP listening socket on IPv4 host:port (port 0 picks one); returns the fd or -errno. */
int CEventLoop_listen_tcp4(const char *host, int port, int backlog);
/* The bound port of a socket, or -1. */
int CEventLoop_local_port(int fd);
/* accept4 with SOCK_NONBLOCK|SOCK_CLOEXEC and TCP_NODELAY; -1 with errno (EAGAIN when none is pending). */
int CEventLoop_accept(int fd);
/* A nonblocking eventfd for waking the loop from other threads. */
int CEventLoop_eventfd(void);
/* A nonblocking TCP connection to IPv4 host:port, in progress (wait for writable, then check
 * CEventLoop_socket_error); returns the fd or -errno. TCP_NODELAY is set. */
int CEventLoop_connect_tcp4(const char *host, int port);
/* The pending error of a socket (SO_ERROR): 0 when a connect succeeded. */
int CEventLoop_socket_error(int fd);

/* When the connection's smoothed round trip (TCP_INFO) is below max_rtt_us, fixes its send buffer at bytes
 * (SO_SNDBUF, which the kernel doubles and which ends its autotuning). Returns the round trip in microseconds, or
 * -errno when TCP_INFO cannot be read. */
int CEventLoop_cap_send_buffer(int fd, int max_rtt_us, int bytes);
/* The remote (peer != 0) or local IPv4 address of a socket: writes 4 address bytes, returns the port or -1. */
int CEventLoop_address(int fd, int peer, uint8_t *address);

/* Makes glibc's malloc keep freed memory (mallopt, which Glibc's Swift module does not export): the top of the heap
 * is trimmed only past trim_bytes free, each growth takes pad_bytes extra, and blocks go to mmap only from
 * mmap_bytes up. */
void CEventLoop_keep_heap(int trim_bytes, int pad_bytes, int mmap_bytes);

/// Starts this program again (`/proc/self/exe` with `argv`) with `glibc.malloc.hugetlb=1` added to
/// `GLIBC_TUNABLES`, so that glibc's allocator asks for transparent huge pages for its heap; the restarted process
/// carries OPENLEDGER_HUGE_PAGES_TRIED=1 so that it never restarts again. Returns 0 without starting again when the
/// tunable or the marker is already set or the kernel has transparent huge pages off ("[never]"), and -errno when
/// the exec fails (the environment is then put back as it was); on success it does not return.
int CEventLoop_reexec_with_huge_pages(char *const argv[]);
#endif
