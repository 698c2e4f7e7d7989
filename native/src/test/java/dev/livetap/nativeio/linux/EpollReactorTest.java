package dev.livetap.nativeio.linux;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.Reactor;
import dev.livetap.nativeio.UnixSockets;
import dev.livetap.nativeio.testing.FdCounter;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 30, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class EpollReactorTest {
    private static final long WAIT_S = 5;
    private final UnixSockets unix = JnaOs.instance().unix();
    private final List<OwnedFd> toClose = new ArrayList<>();
    private final List<Reactor.Registration> toCancel = new ArrayList<>();
    private Reactor reactor;
    private FdCounter counter;

    @BeforeAll
    static void startReactor() {
        JnaOs.instance().reactor(); // its epoll fd and eventfd live for the process, not for one test
    }

    @BeforeEach
    void setUp() {
        reactor = JnaOs.instance().reactor();
        counter = FdCounter.snapshot();
    }

    @AfterEach
    void tearDown() {
        toCancel.forEach(Reactor.Registration::cancel);
        OwnedFd.closeAll(toClose);
        counter.assertNoLeak();
    }

    private OwnedFd[] pair() {
        OwnedFd[] p = unix.socketPair();
        toClose.addAll(List.of(p));
        return p;
    }

    private Reactor.Registration register(OwnedFd fd, int ops, Reactor.ReadinessHandler h) {
        Reactor.Registration r = reactor.register(fd, ops, h);
        toCancel.add(r);
        return r;
    }

    private static void send(OwnedFd fd, int b) {
        assertEquals(1, JnaOs.instance().unix().sendmsg(fd, ByteBuffer.wrap(new byte[] {(byte) b}), List.of()));
    }

    private static int drain(OwnedFd fd) {
        ByteBuffer buf = ByteBuffer.allocate(64);
        return JnaOs.instance().unix().recvmsg(fd, buf, new ArrayList<>(), 0);
    }

    @Test
    void readReadinessArrivesOnTheReactorThread() throws InterruptedException {
        OwnedFd[] s = pair();
        BlockingQueue<String> seen = new LinkedBlockingQueue<>();
        register(s[1], Reactor.READ, ops -> {
            seen.add(Thread.currentThread().getName() + " " + ops + " " + drain(s[1]) + " " + reactor.inReactorThread());
        });
        send(s[0], 1);
        assertEquals(JnaOs.REACTOR_THREAD + " " + Reactor.READ + " 1 true", seen.poll(WAIT_S, TimeUnit.SECONDS),
                "a readable socket is reported as READ on the livetap-reactor thread");
        assertFalse(reactor.inReactorThread(), "the test thread is not the reactor thread");
    }

    @Test
    void writeReadinessIsReportedAndInterestCanChangeFromAnyThread() throws InterruptedException {
        OwnedFd[] s = pair();
        BlockingQueue<Integer> seen = new LinkedBlockingQueue<>();
        AtomicReference<Reactor.Registration> self = new AtomicReference<>();
        self.set(register(s[0], 0, ops -> {
            self.get().interest(0); // level-triggered: drop WRITE once served (before telling the test)
            seen.add(ops);
        }));
        assertEquals(0, self.get().interest());
        self.get().interest(Reactor.WRITE);
        assertEquals(Reactor.WRITE, seen.poll(WAIT_S, TimeUnit.SECONDS), "an empty socket is writable: WRITE is reported");
        assertEquals(0, self.get().interest(), "the handler paused itself");
        self.get().interest(Reactor.WRITE);
        assertEquals(Reactor.WRITE, seen.poll(WAIT_S, TimeUnit.SECONDS), "interest restored from the test thread takes effect");
    }

    @Test
    void aThrowingHandlerDoesNotStopTheLoop() throws InterruptedException {
        OwnedFd[] s = pair();
        AtomicInteger calls = new AtomicInteger();
        CountDownLatch second = new CountDownLatch(1);
        register(s[1], Reactor.READ, ops -> {
            drain(s[1]);
            if (calls.incrementAndGet() == 1) {
                throw new IllegalStateException("deliberate failure in a handler (expected in this test's log)");
            }
            second.countDown();
        });
        send(s[0], 1);
        awaitCalls(calls, 1);
        send(s[0], 2);
        assertTrue(second.await(WAIT_S, TimeUnit.SECONDS), "after a handler threw, the loop keeps delivering readiness");
        CountDownLatch task = new CountDownLatch(1);
        reactor.execute(task::countDown);
        assertTrue(task.await(WAIT_S, TimeUnit.SECONDS), "tasks still run after a handler threw");
    }

    @Test
    void executeRunsTasksInOrderOnTheReactorThread() throws InterruptedException {
        BlockingQueue<String> ran = new LinkedBlockingQueue<>();
        for (int i = 0; i < 3; i++) {
            int n = i;
            reactor.execute(() -> ran.add(n + " " + reactor.inReactorThread()));
        }
        reactor.execute(() -> {
            throw new IllegalStateException("deliberate failure in a task (expected in this test's log)");
        });
        reactor.execute(() -> ran.add("after"));
        for (int i = 0; i < 3; i++) {
            assertEquals(i + " true", ran.poll(WAIT_S, TimeUnit.SECONDS), "execute runs tasks in order, on the reactor thread");
        }
        assertEquals("after", ran.poll(WAIT_S, TimeUnit.SECONDS), "a throwing task does not stop later tasks");
    }

    @Test
    void hangupIsReportedWithRead() throws InterruptedException {
        OwnedFd[] s = unix.socketPair();
        toClose.add(s[1]);
        BlockingQueue<Integer> seen = new LinkedBlockingQueue<>();
        AtomicReference<Reactor.Registration> self = new AtomicReference<>();
        self.set(register(s[1], Reactor.READ, ops -> {
            seen.add(ops);
            self.get().cancel(); // a handler cancels on HANGUP, otherwise level-triggered epoll reports it again
        }));
        s[0].close();
        Integer ops = seen.poll(WAIT_S, TimeUnit.SECONDS);
        assertTrue(ops != null && (ops & Reactor.HANGUP) != 0 && (ops & Reactor.READ) != 0,
                "a closed peer is reported as HANGUP together with READ, got " + ops);
    }

    @Test
    void cancelledRegistrationsNeverFireEvenWhenTheFdNumberIsReused() throws InterruptedException {
        // The kernel hands out the lowest free number, but other threads of this JVM (earlier tests'
        // reactors, surefire) may open or close fds in between: retry until the number is reused.
        AtomicInteger staleCalls = new AtomicInteger();
        OwnedFd reused = null;
        OwnedFd other = null;
        for (int attempt = 0; attempt < 20 && reused == null; attempt++) {
            OwnedFd[] first = unix.socketPair();
            int number = first[1].number();
            Reactor.Registration stale = reactor.register(first[1], Reactor.READ, ops -> staleCalls.incrementAndGet());
            stale.cancel();
            stale.cancel(); // idempotent
            OwnedFd.closeAll(List.of(first[1], first[0]));

            OwnedFd[] second = pair();
            if (second[0].number() == number || second[1].number() == number) {
                reused = second[0].number() == number ? second[0] : second[1];
                other = reused == second[0] ? second[1] : second[0];
            }
        }
        assertNotNull(reused, "the kernel handed a cancelled registration's fd number out again within 20 attempts");
        OwnedFd reader = reused;
        BlockingQueue<Integer> fresh = new LinkedBlockingQueue<>();
        register(reader, Reactor.READ, ops -> {
            fresh.add(ops);
            drain(reader);
        });
        send(other, 1);
        assertEquals(Reactor.READ, fresh.poll(WAIT_S, TimeUnit.SECONDS), "the new registration of the reused number fires");
        CountDownLatch barrier = new CountDownLatch(1);
        reactor.execute(barrier::countDown);
        assertTrue(barrier.await(WAIT_S, TimeUnit.SECONDS));
        assertEquals(0, staleCalls.get(), "a cancelled registration is never called, whatever the fd number now names");
    }

    @Test
    void aPrivateReactorStopsItsThreadOnCloseAndRefusesWork() throws InterruptedException {
        EpollReactor own = new EpollReactor("livetap-reactor-test");
        CountDownLatch ran = new CountDownLatch(1);
        own.execute(ran::countDown);
        assertTrue(ran.await(WAIT_S, TimeUnit.SECONDS));
        Thread[] threads = new Thread[Thread.activeCount() + 8];
        int n = Thread.enumerate(threads);
        Thread t = null;
        for (int i = 0; i < n; i++) {
            if (threads[i].getName().equals("livetap-reactor-test")) {
                t = threads[i];
            }
        }
        if (t == null) {
            fail("the reactor runs on its own named thread");
        }
        assertTrue(t.isDaemon(), "the reactor thread is a daemon: it never keeps the JVM alive");
        own.close();
        t.join(TimeUnit.SECONDS.toMillis(WAIT_S));
        assertFalse(t.isAlive(), "close() stops the reactor thread");
        assertThrows(RejectedExecutionException.class, () -> own.execute(() -> { }), "a closed reactor refuses tasks");
        OwnedFd[] s = pair();
        assertThrows(IllegalStateException.class, () -> own.register(s[0], Reactor.READ, ops -> { }));
    }

    private static void awaitCalls(AtomicInteger calls, int n) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
        while (calls.get() < n && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertTrue(calls.get() >= n, "handler called " + n + " time(s)");
    }
}
