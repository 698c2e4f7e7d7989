/*
 * C reference for HandoffBenchmark: one thread, socketpair, sendmsg of N copies of one pipe fd
 * (SCM_RIGHTS, at most 253 per message), recvmsg with MSG_CMSG_CLOEXEC, close every received fd.
 * Prints the mean microseconds per hand-off for N in 1 4 64 253 256, so that JMH figures can be
 * compared as a ratio measured under the same machine load.
 * Build and run: gcc -O2 -o /tmp/handoff_bench handoff_bench.c && /tmp/handoff_bench [seconds-per-size]
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <fcntl.h>

#define MAX_FD 253

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int handoff(int s0, int s1, int fd, int n, int close_received) {
    char ctrl[CMSG_SPACE(sizeof(int) * MAX_FD)];
    int total = 0;
    for (int left = n; left > 0; left -= MAX_FD) {
        int k = left < MAX_FD ? left : MAX_FD;
        char byte = 1;
        struct iovec iov = {.iov_base = &byte, .iov_len = 1};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl,
                           .msg_controllen = CMSG_SPACE(sizeof(int) * k)};
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * k);
        int *fds = (int *) CMSG_DATA(c);
        for (int i = 0; i < k; i++) fds[i] = fd;
        if (sendmsg(s0, &m, MSG_DONTWAIT | MSG_NOSIGNAL) != 1) { perror("sendmsg"); exit(1); }
        struct msghdr r = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl, .msg_controllen = sizeof ctrl};
        if (recvmsg(s1, &r, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) != 1) { perror("recvmsg"); exit(1); }
        for (c = CMSG_FIRSTHDR(&r); c; c = CMSG_NXTHDR(&r, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
            int got = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            int *in = (int *) CMSG_DATA(c);
            for (int i = 0; i < got; i++) if (close_received) close(in[i]);
            total += got;
        }
    }
    return total;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    int sizes[] = {1, 4, 64, 253, 256};
    int sv[2], p[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) || pipe2(p, O_CLOEXEC)) { perror("setup"); return 1; }
    printf("fds  us/op(send+recv+close)\n");
    for (unsigned s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        int n = sizes[s];
        for (int i = 0; i < 1000; i++) handoff(sv[0], sv[1], p[0], n, 1); /* warm-up */
        long ops = 0;
        double start = now_us(), end;
        do {
            for (int i = 0; i < 100; i++) if (handoff(sv[0], sv[1], p[0], n, 1) != n) { fprintf(stderr, "short\n"); return 1; }
            ops += 100;
            end = now_us();
        } while (end - start < seconds * 1e6);
        printf("%4d %8.2f\n", n, (end - start) / ops);
    }
    return 0;
}
