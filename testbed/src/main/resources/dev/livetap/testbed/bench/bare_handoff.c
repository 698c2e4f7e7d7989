/*
 * The physical limit of a switch-over's hand-off: two processes, one AF_UNIX stream socket,
 * N fds (SCM_RIGHTS, at most 253 per sendmsg, each chunk on its own data byte) plus B bytes of
 * state from the parent to the child, which closes the fds and answers with one ack byte.
 * Prints one JSON object with the round-trip times in microseconds.
 *
 * usage: bare_handoff FDS BYTES ITERATIONS
 * Built by `livetap bench` with gcc -O2; no dependencies beyond libc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SCM_MAX 253

static void die(const char *what) {
    fprintf(stderr, "bare_handoff: %s: %s\n", what, strerror(errno));
    exit(1);
}

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* One sendmsg of len bytes with n fds on its first byte. */
static void send_chunk(int sock, const char *buf, size_t len, const int *fds, int n) {
    struct iovec iov = {(void *)buf, len};
    char control[CMSG_SPACE(sizeof(int) * SCM_MAX)];
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (n > 0) {
        memset(control, 0, sizeof(control));
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * n);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * n);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
    }
    size_t off = 0;
    while (off < len) {
        iov.iov_base = (char *)buf + off;
        iov.iov_len = len - off;
        ssize_t r = sendmsg(sock, &msg, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            die("sendmsg");
        }
        off += (size_t)r;
        msg.msg_control = NULL; /* fds ride only on the first byte */
        msg.msg_controllen = 0;
    }
}

/* Reads exactly len bytes, closing every fd that arrives; returns the fd count. */
static int recv_exact(int sock, char *buf, size_t len) {
    int got = 0;
    size_t off = 0;
    char control[CMSG_SPACE(sizeof(int) * SCM_MAX)];
    while (off < len) {
        struct iovec iov = {buf + off, len - off};
        struct msghdr msg = {0};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof(control);
        ssize_t r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
        if (r < 0) {
            if (errno == EINTR) continue;
            die("recvmsg");
        }
        if (r == 0) {
            fprintf(stderr, "bare_handoff: peer closed\n");
            exit(1);
        }
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
                int *fds = (int *)CMSG_DATA(c);
                for (int i = 0; i < n; i++) close(fds[i]);
                got += n;
            }
        }
        off += (size_t)r;
    }
    return got;
}

static int cmp(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: bare_handoff FDS BYTES ITERATIONS\n");
        return 2;
    }
    int nfds = atoi(argv[1]);
    size_t bytes = (size_t)atol(argv[2]);
    int iters = atoi(argv[3]);
    int chunks = (nfds + SCM_MAX - 1) / SCM_MAX;
    if (nfds < 0 || iters < 1 || bytes < (size_t)(chunks > 0 ? chunks : 1)) {
        fprintf(stderr, "bare_handoff: need FDS >= 0, ITERATIONS >= 1, BYTES >= number of fd chunks\n");
        return 2;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) die("socketpair");
    pid_t child = fork();
    if (child < 0) die("fork");
    char *buf = calloc(bytes, 1);
    if (!buf) die("calloc");
    if (child == 0) {
        close(sv[0]);
        for (int i = 0; i < iters; i++) {
            int got = recv_exact(sv[1], buf, bytes);
            if (got != nfds) {
                fprintf(stderr, "bare_handoff: expected %d fds, got %d\n", nfds, got);
                _exit(1);
            }
            char ack = 'A';
            send_chunk(sv[1], &ack, 1, NULL, 0);
        }
        _exit(0);
    }
    close(sv[1]);
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0) die("pipe2");
    int *fds = malloc(sizeof(int) * (nfds > 0 ? nfds : 1));
    for (int i = 0; i < nfds; i++) {
        fds[i] = fcntl(pipefd[0], F_DUPFD_CLOEXEC, 0);
        if (fds[i] < 0) die("dup");
    }
    long long *samples = malloc(sizeof(long long) * iters);
    for (int i = 0; i < iters; i++) {
        long long t0 = now_ns();
        size_t off = 0;
        for (int c = 0; c < chunks; c++) {
            int n = nfds - c * SCM_MAX < SCM_MAX ? nfds - c * SCM_MAX : SCM_MAX;
            /* every chunk but the last carries one byte; the last carries the rest of the state */
            size_t len = c == chunks - 1 ? bytes - off : 1;
            send_chunk(sv[0], buf + off, len, fds + c * SCM_MAX, n);
            off += len;
        }
        if (chunks == 0) send_chunk(sv[0], buf, bytes, NULL, 0);
        char ack;
        recv_exact(sv[0], &ack, 1);
        samples[i] = now_ns() - t0;
    }
    int status = 0;
    waitpid(child, &status, 0);
    qsort(samples, (size_t)iters, sizeof(long long), cmp);
    double p50 = samples[(iters - 1) / 2] / 1000.0;
    double p99 = samples[(int)((iters * 99 + 99) / 100) - 1] / 1000.0;
    double max = samples[iters - 1] / 1000.0;
    printf("{\"fds\": %d, \"bytes\": %zu, \"iterations\": %d, \"p50_us\": %.3f, \"p99_us\": %.3f, \"max_us\": %.3f}\n",
           nfds, bytes, iters, p50, p99, max);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
