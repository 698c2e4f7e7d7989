package dev.livetap.nativeio.linux;

import dev.livetap.nativeio.FdInspector;
import dev.livetap.nativeio.FdKind;
import dev.livetap.nativeio.NativeException;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.Tun;
import dev.livetap.nativeio.TunFlags;
import dev.livetap.nativeio.TunInfo;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Run by {@link TapKernelFactsTest} in a child JVM started inside a private network namespace
 * (design decision 6). Each check prints {@code CHECK <name> PASS <detail>} or
 * {@code CHECK <name> FAIL <contract and what happened>}; the parent turns them into tests.
 */
public final class TapFactsMain {
    private static int failures;

    private TapFactsMain() {
    }

    interface Check {
        String run() throws Exception;
    }

    static final class Broken extends RuntimeException {
        Broken(String message) {
            super(message);
        }
    }

    static void expect(boolean ok, String contract) {
        if (!ok) {
            throw new Broken(contract);
        }
    }

    static void check(String name, Check check) {
        String line;
        try {
            String detail = check.run();
            line = "CHECK " + name + " PASS " + (detail == null ? "" : detail);
        } catch (Throwable t) {
            failures++;
            line = "CHECK " + name + " FAIL " + (t instanceof Broken ? t.getMessage() : t.toString());
        }
        System.out.println(line.replace('\n', ' '));
    }

    public static void main(String[] args) {
        JnaOs os = JnaOs.instance();
        Tun tun = os.tun();
        FdInspector fds = os.fds();
        int ownedStart = OwnedFd.openCount();
        int processStart = fds.countProcessFds();
        int flags = TunFlags.TAP_VNET_MQ;

        List<OwnedFd> q = tun.openQueues("lt4q", 4, flags);
        try {
            check("four-queues", () -> {
                expect(q.size() == 4, "openQueues returns one fd per queue");
                for (OwnedFd fd : q) {
                    TunInfo info = tun.info(fd);
                    expect(info.name().equals("lt4q"), "TUNGETIFF names the interface, got " + info.name());
                    expect((info.flags() & flags) == flags, "TUNGETIFF reports IFF_TAP|IFF_NO_PI|IFF_VNET_HDR|IFF_MULTI_QUEUE, got 0x"
                            + Integer.toHexString(info.flags()));
                    expect(!info.detached(), "a fresh queue is attached");
                    expect(fds.isNonBlocking(fd), "queue fds are non-blocking");
                    expect((LinuxC.fcntl(fd.fd(), LinuxC.F_GETFD, 0) & LinuxC.FD_CLOEXEC) != 0, "queue fds are close-on-exec");
                    expect(fds.kind(fd) == FdKind.TUN, "fstat classifies a queue fd as TUN (char 10:200)");
                }
                return "flags 0x" + Integer.toHexString(tun.info(q.get(0)).flags());
            });
            check("features", () -> {
                int f = tun.features();
                expect((f & flags) == flags, "TUNGETFEATURES offers TAP, NO_PI, VNET_HDR and MULTI_QUEUE, got 0x" + Integer.toHexString(f));
                return "0x" + Integer.toHexString(f);
            });
            check("vnet-hdr-per-device", () -> {
                expect(tun.vnetHdrSize(q.get(1)) == 10, "the default vnet header is 10 bytes");
                tun.setVnetHdrSize(q.get(0), 12);
                int seen = tun.vnetHdrSize(q.get(3));
                tun.setVnetHdrSize(q.get(0), 10);
                expect(seen == 12, "TUNSETVNETHDRSZ on one queue changes it for every queue of the device, got " + seen);
                return null;
            });
            check("offload-and-persist", () -> {
                tun.setOffload(q.get(0), TunFlags.TUN_F_CSUM | TunFlags.TUN_F_TSO4 | TunFlags.TUN_F_TSO6);
                tun.setOffload(q.get(0), 0);
                tun.setPersist(q.get(0), true);
                boolean persistent = (tun.info(q.get(0)).flags() & TunFlags.IFF_PERSIST) != 0;
                tun.setPersist(q.get(0), false);
                expect(persistent, "TUNSETPERSIST 1 shows as IFF_PERSIST in TUNGETIFF");
                expect((tun.info(q.get(0)).flags() & TunFlags.IFF_PERSIST) == 0, "TUNSETPERSIST 0 clears IFF_PERSIST");
                return null;
            });
            check("detach-flag", () -> {
                tun.setQueueAttached(q.get(2), false);
                TunInfo detached = tun.info(q.get(2));
                expect((detached.flags() & TunFlags.IFF_DETACH_QUEUE) != 0,
                        "TUNGETIFF on a detached queue adds IFF_DETACH_QUEUE (0x400), got 0x" + Integer.toHexString(detached.flags()));
                expect(!tun.info(q.get(0)).detached(), "detaching one queue leaves the others attached");
                NativeException twice = null;
                try {
                    tun.setQueueAttached(q.get(2), false);
                } catch (NativeException e) {
                    twice = e;
                }
                expect(twice != null && twice.getMessage().contains("TUNSETQUEUE"), "detaching a detached queue fails naming TUNSETQUEUE");
                tun.setQueueAttached(q.get(2), true);
                expect(!tun.info(q.get(2)).detached(), "re-attaching clears IFF_DETACH_QUEUE");
                return "detached flags 0x" + Integer.toHexString(detached.flags()) + "; " + twice.getMessage();
            });
            check("kcmp", () -> {
                try (OwnedFd copy = q.get(0).dup()) {
                    expect(fds.sameOpenFile(q.get(0), copy), "kcmp(KCMP_FILE) finds a dup of a queue fd to be the same open file");
                }
                expect(!fds.sameOpenFile(q.get(0), q.get(1)), "kcmp(KCMP_FILE) tells two queue fds of one TAP apart");
                return null;
            });
            check("read-eagain", () -> {
                ByteBuffer buf = ByteBuffer.allocateDirect(2048);
                expect(tun.readFrame(q.get(0), buf) == 0, "readFrame on an empty queue returns 0 (EAGAIN), it never blocks");
                expect(buf.position() == 0, "nothing read: the buffer is unchanged");
                return null;
            });
            check("einval-mixed-flags", () -> {
                try {
                    OwnedFd.closeAll(tun.openQueues("lt4q", 1, TunFlags.IFF_TAP | TunFlags.IFF_NO_PI));
                    throw new Broken("a queue without IFF_MULTI_QUEUE on a multi-queue TAP must be refused");
                } catch (NativeException e) {
                    expect(e.errno() == LinuxC.EINVAL, "EINVAL expected, got " + e.getMessage());
                    return e.getMessage();
                }
            });
        } finally {
            OwnedFd.closeAll(q);
        }

        check("ebusy-single-queue", () -> {
            List<OwnedFd> single = tun.openQueues("lt1q", 1, TunFlags.IFF_TAP | TunFlags.IFF_NO_PI);
            try {
                OwnedFd.closeAll(tun.openQueues("lt1q", 1, TunFlags.IFF_TAP | TunFlags.IFF_NO_PI));
                throw new Broken("a second fd on a single-queue TAP must be refused");
            } catch (NativeException e) {
                expect(e.errno() == LinuxC.EBUSY && e.getMessage().contains("IFF_MULTI_QUEUE"), "EBUSY explained, got " + e.getMessage());
                return e.getMessage();
            } finally {
                OwnedFd.closeAll(single);
            }
        });

        check("queue-257", () -> {
            int ownedBefore = OwnedFd.openCount();
            int processBefore = fds.countProcessFds();
            try {
                OwnedFd.closeAll(tun.openQueues("lt257", 257, flags));
                throw new Broken("the 257th queue must be refused");
            } catch (NativeException.TooManyQueuesException e) {
                expect(e.errno() == LinuxC.E2BIG, "E2BIG expected");
                expect(e.call().equals("ioctl(TUNSETIFF)"), "the call is named");
                expect(OwnedFd.openCount() == ownedBefore, "a failed openQueues closes every queue it had opened");
                expect(fds.countProcessFds() == processBefore, "/proc/self/fd is back where it was after the failed openQueues");
                return e.getMessage();
            }
        });

        check("queue-257-after-256", () -> {
            List<OwnedFd> full = tun.openQueues("lt256", 256, flags);
            try {
                OwnedFd.closeAll(tun.openQueues("lt256", 1, flags));
                throw new Broken("a 257th queue opened by a second call must be refused too");
            } catch (NativeException.TooManyQueuesException e) {
                return e.getMessage();
            } finally {
                OwnedFd.closeAll(full);
            }
        });

        check("netns-refusal", () -> {
            expect(os.threadInProcessNetns(), "the main thread is in the process's namespace");
            AtomicReference<Object> outcome = new AtomicReference<>();
            Thread t = new Thread(() -> {
                if (LinuxC.unshare(LinuxC.CLONE_NEWNET) != 0) {
                    outcome.set("unshare(CLONE_NEWNET) failed: " + Errno.describe(LinuxC.errno()));
                    return;
                }
                if (os.threadInProcessNetns()) {
                    outcome.set("threadInProcessNetns() must be false after unshare(CLONE_NEWNET) on this thread");
                    return;
                }
                try {
                    OwnedFd.closeAll(tun.openQueues("ltns", 1, flags));
                    outcome.set("openQueues from a thread in another namespace must be refused");
                } catch (NativeException e) {
                    outcome.set(e);
                }
            }, "unshared-thread");
            t.start();
            t.join(10_000);
            Object o = outcome.get();
            expect(o instanceof NativeException, String.valueOf(o));
            String message = ((NativeException) o).getMessage();
            expect(message.contains("design decision 6") && message.contains("ip netns exec"), "the refusal cites design decision 6: " + message);
            expect(os.threadInProcessNetns(), "other threads are unaffected by one thread's unshare");
            return message;
        });

        check("no-leak", () -> {
            expect(OwnedFd.openCount() == ownedStart, "every owned fd is closed: " + ownedStart + " at start, " + OwnedFd.openCount() + " now");
            expect(fds.countProcessFds() == processStart, "/proc/self/fd count is back to " + processStart + ", is " + fds.countProcessFds());
            return null;
        });
        System.out.println("DONE failures=" + failures);
        System.exit(failures == 0 ? 0 : 1);
    }
}
