#define _GNU_SOURCE
#include "CEventLoop.h"
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

int CEventLoop_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int CEventLoop_epoll_ctl(int epfd, CEventLoop_Operation operation, int fd, uint32_t interest, uint64_t token) {
    struct epoll_event event;
    memset(&event, 0, sizeof event);
    event.events = ((interest & CEventLoop_READABLE) ? EPOLLIN | EPOLLRDHUP : 0) |
                   ((interest & CEventLoop_WRITABLE) ? EPOLLOUT : 0);
    event.data.u64 = token;
    int mode = operation == CEventLoop_OperationAdd      ? EPOLL_CTL_ADD
               : operation == CEventLoop_OperationModify ? EPOLL_CTL_MOD
                                                         : EPOLL_CTL_DEL;
    return epoll_ctl(epfd, mode, fd, &event);
}

int CEventLoop_epoll_wait(int epfd, uint64_t *tokens, uint32_t *events, int capacity, int timeout_ms) {
    struct epoll_event ready[CEventLoop_MAX_EVENTS];
    if (capacity > CEventLoop_MAX_EVENTS) capacity = CEventLoop_MAX_EVENTS;
    int count = epoll_wait(epfd, ready, capacity, timeout_ms);
    if (count < 0) return -1;
    for (int i = 0; i < count; i++) {
        tokens[i] = ready[i].data.u64;
        uint32_t e = ready[i].events;
        events[i] = ((e & EPOLLIN) ? CEventLoop_READABLE : 0u) | ((e & EPOLLOUT) ? CEventLoop_WRITABLE : 0u) |
                    ((e & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)) ? CEventLoop_HANGUP : 0u);
    }
    return count;
}

int CEventLoop_listen_tcp4(const char *host, int port, int backlog) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &address.sin_addr) != 1) { close(fd); return -EINVAL; }
    if (bind(fd, (struct sockaddr *)&address, sizeof address) < 0 || listen(fd, backlog) < 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    return fd;
}

int CEventLoop_local_port(int fd) {
    struct sockaddr_in address;
    socklen_t length = sizeof address;
    if (getsockname(fd, (struct sockaddr *)&address, &length) < 0) return -1;
    return ntohs(address.sin_port);
}

int CEventLoop_accept(int fd) {
    int client = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (client >= 0) {
        int one = 1;
        setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return client;
}

int CEventLoop_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

int CEventLoop_connect_tcp4(const char *host, int port) {
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &address.sin_addr) != 1) return -EINVAL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) < 0 && errno != EINPROGRESS) {
        int error = errno;
        close(fd);
        return -error;
    }
    return fd;
}

int CEventLoop_socket_error(int fd) {
    int error = 0;
    socklen_t length = sizeof error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) < 0) return errno;
    return error;
}

int CEventLoop_address(int fd, int peer, uint8_t *bytes) {
    struct sockaddr_in address;
    socklen_t length = sizeof address;
    int result = peer ? getpeername(fd, (struct sockaddr *)&address, &length)
                      : getsockname(fd, (struct sockaddr *)&address, &length);
    if (result < 0 || address.sin_family != AF_INET) return -1;
    memcpy(bytes, &address.sin_addr, 4);
    return ntohs(address.sin_port);
}

int CEventLoop_cap_send_buffer(int fd, int max_rtt_us, int bytes) {
    struct tcp_info info;
    socklen_t length = sizeof info;
    memset(&info, 0, sizeof info);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) < 0) return -errno;
    int rtt = (int)info.tcpi_rtt;
    if (rtt < max_rtt_us) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
    return rtt;
}

void CEventLoop_keep_heap(int trim_bytes, int pad_bytes, int mmap_bytes) {
    mallopt(M_TRIM_THRESHOLD, trim_bytes);
    mallopt(M_TOP_PAD, pad_bytes);
    mallopt(M_MMAP_THRESHOLD, mmap_bytes);
}

int CEventLoop_reexec_with_huge_pages(char *const argv[]) {
    static const char tunable[] = "glibc.malloc.hugetlb=1";
    // The marker keeps a process from starting again in a loop should its C library drop the tunable.
    if (getenv("OPENLEDGER_HUGE_PAGES_TRIED") != NULL) return 0;
    const char *found = getenv("GLIBC_TUNABLES");
    if (found != NULL && strstr(found, "glibc.malloc.hugetlb") != NULL) return 0;
    char saved[2048];
    if (found != NULL && strlen(found) >= sizeof saved) return 0;
    const char *current = found != NULL ? strcpy(saved, found) : NULL;
    char mode[64] = {0};
    FILE *file = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (file == NULL) return 0;
    size_t length = fread(mode, 1, sizeof mode - 1, file);
    fclose(file);
    mode[length] = 0;
    if (strstr(mode, "[never]") != NULL) return 0;
    char value[4096];
    int written = current != NULL && current[0] != 0
        ? snprintf(value, sizeof value, "%s:%s", current, tunable)
        : snprintf(value, sizeof value, "%s", tunable);
    if (written < 0 || (size_t)written >= sizeof value) return 0;
    if (setenv("GLIBC_TUNABLES", value, 1) != 0) return -errno;
    setenv("OPENLEDGER_HUGE_PAGES_TRIED", "1", 1);
    execv("/proc/self/exe", argv);
    int code = errno;
    // Not started again: leave the environment as it was, so children see what this process saw.
    if (current != NULL) setenv("GLIBC_TUNABLES", current, 1); else unsetenv("GLIBC_TUNABLES");
    unsetenv("OPENLEDGER_HUGE_PAGES_TRIED");
    return -code;
}
