package dev.livetap.nativeio.linux;

import com.sun.jna.Memory;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.Reactor;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The process's epoll(7) loop on one daemon thread, level-triggered. epoll_data carries a
 * registration id, never the fd number, so a closed-and-reused number cannot reach a stale
 * handler. A registration with interest 0 is removed from the epoll set, because epoll reports
 * EPOLLHUP/EPOLLERR even for an empty mask and a paused, hung-up fd would otherwise spin the loop.
 * Handlers should cancel their registration when they see {@link #HANGUP}.
 */
final class EpollReactor implements Reactor {
    private static final Logger LOG = LoggerFactory.getLogger(EpollReactor.class);
    private static final int MAX_EVENTS = 256;
    private static final int EVENT_BYTES = 12; // packed struct epoll_event: u32 events @0, u64 data @4
    private static final long WAKE_ID = 0;
    private static final long JOIN_MILLIS = 2000;

    private final int epfd;
    private final int wakeFd;
    private final Thread thread;
    private final Map<Long, Reg> registrations = new ConcurrentHashMap<>();
    private final AtomicLong ids = new AtomicLong(WAKE_ID);
    private final Queue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean wakePending = new AtomicBoolean();
    private volatile boolean closed;

    /** Creates the epoll set and the wake-up eventfd, then starts the thread. Internal fds are not OwnedFds: they live as long as the reactor. */
    EpollReactor(String threadName) {
        epfd = LinuxC.epoll_create1(LinuxC.EPOLL_CLOEXEC);
        if (epfd < 0) {
            throw Errno.failure("epoll_create1(EPOLL_CLOEXEC)", "the reactor", LinuxC.errno());
        }
        wakeFd = LinuxC.eventfd(0, LinuxC.EFD_CLOEXEC | LinuxC.EFD_NONBLOCK);
        if (wakeFd < 0) {
            int errno = LinuxC.errno();
            LinuxC.close(epfd);
            throw Errno.failure("eventfd(EFD_CLOEXEC|EFD_NONBLOCK)", "the reactor", errno);
        }
        Memory ev = new Memory(EVENT_BYTES);
        ev.setInt(0, LinuxC.EPOLLIN);
        ev.setLong(4, WAKE_ID);
        if (LinuxC.epoll_ctl(epfd, LinuxC.EPOLL_CTL_ADD, wakeFd, ev) != 0) {
            int errno = LinuxC.errno();
            LinuxC.close(wakeFd);
            LinuxC.close(epfd);
            throw Errno.failure("epoll_ctl(EPOLL_CTL_ADD)", "the reactor's eventfd", errno);
        }
        thread = new Thread(this::run, threadName);
        thread.setDaemon(true);
        thread.start();
    }

    @Override
    public Registration register(OwnedFd fd, int interestOps, ReadinessHandler handler) {
        if (closed) {
            throw new IllegalStateException("the reactor is closed; cannot register " + fd);
        }
        Reg reg = new Reg(ids.incrementAndGet(), fd, handler);
        registrations.put(reg.id, reg);
        try {
            reg.interest(interestOps);
        } catch (RuntimeException e) {
            registrations.remove(reg.id);
            throw e;
        }
        return reg;
    }

    @Override
    public void execute(Runnable task) {
        if (closed) {
            throw new RejectedExecutionException("the reactor is closed");
        }
        tasks.add(task);
        if (!inReactorThread() && wakePending.compareAndSet(false, true)) {
            wake();
        }
    }

    @Override
    public boolean inReactorThread() {
        return Thread.currentThread() == thread;
    }

    boolean isClosed() {
        return closed;
    }

    /** Registrations currently held (for tests and diagnostics). */
    int registrationCount() {
        return registrations.size();
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        wake();
        if (!inReactorThread()) {
            try {
                thread.join(JOIN_MILLIS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (thread.isAlive()) {
                LOG.error("reactor thread {} did not stop within {} ms (a handler is blocking?)", thread.getName(), JOIN_MILLIS);
            }
        }
    }

    private void wake() {
        Memory one = Scratch.get().small;
        one.setLong(0, 1);
        if (LinuxC.write(wakeFd, one, 8) < 0) {
            int errno = LinuxC.errno();
            if (errno != LinuxC.EAGAIN) { // EAGAIN: the counter is saturated, a wake-up is pending anyway
                LOG.error("write to the reactor's eventfd failed: {}", Errno.describe(errno));
            }
        }
    }

    private void run() {
        Memory events = new Memory((long) EVENT_BYTES * MAX_EVENTS);
        Memory drain = new Memory(8);
        try {
            while (!closed) {
                int n = LinuxC.epoll_wait(epfd, events, MAX_EVENTS, tasks.isEmpty() ? -1 : 0);
                if (n < 0) {
                    int errno = LinuxC.errno();
                    if (errno == LinuxC.EINTR) {
                        continue;
                    }
                    LOG.error("epoll_wait failed ({}); the reactor stops", Errno.describe(errno));
                    closed = true;
                    break;
                }
                for (int i = 0; i < n && !closed; i++) {
                    long base = (long) EVENT_BYTES * i;
                    int ev = events.getInt(base);
                    long id = events.getLong(base + 4);
                    if (id == WAKE_ID) {
                        // Drain first, then allow the next wake-up. The other order lost wake-ups: a
                        // producer's write between set(false) and read() was drained here while its CAS
                        // left wakePending true, so every later execute() skipped wake() and its task
                        // waited for some unrelated fd event (seen as QMP replies that never came on an
                        // idle VMM: profile-switchover.md, finding 7).
                        LinuxC.read(wakeFd, drain, 8);
                        wakePending.set(false);
                        continue;
                    }
                    Reg reg = registrations.get(id);
                    if (reg != null) {
                        reg.dispatch(ev);
                    }
                }
                runTasks();
            }
        } catch (Throwable t) {
            LOG.error("the reactor loop failed and stops", t);
            closed = true;
        } finally {
            registrations.clear();
            tasks.clear();
            LinuxC.close(wakeFd);
            LinuxC.close(epfd);
        }
    }

    private void runTasks() {
        // Only the tasks present now: a task that queues another cannot starve the epoll set.
        for (int budget = tasks.size(); budget > 0 && !closed; budget--) {
            Runnable task = tasks.poll();
            if (task == null) {
                return;
            }
            try {
                task.run();
            } catch (Throwable t) {
                LOG.error("a reactor task threw; the loop continues", t);
            }
        }
    }

    private final class Reg implements Registration {
        final long id;
        final OwnedFd fd;
        final ReadinessHandler handler;
        volatile int interest;
        volatile boolean cancelled;
        private boolean inEpoll;

        Reg(long id, OwnedFd fd, ReadinessHandler handler) {
            this.id = id;
            this.fd = fd;
            this.handler = handler;
        }

        void dispatch(int ev) {
            if (cancelled) {
                return;
            }
            int wanted = interest;
            int ready = 0;
            if ((ev & LinuxC.EPOLLIN) != 0) {
                ready |= READ;
            }
            if ((ev & LinuxC.EPOLLOUT) != 0) {
                ready |= WRITE;
            }
            ready &= wanted;
            if ((ev & (LinuxC.EPOLLHUP | LinuxC.EPOLLERR)) != 0 && wanted != 0) {
                ready |= HANGUP | READ;
            }
            if (ready == 0) {
                return;
            }
            try {
                handler.onReady(ready);
            } catch (Throwable t) {
                LOG.error("readiness handler for {} threw; the loop continues", this, t);
            }
        }

        @Override
        public synchronized void interest(int ops) {
            if (cancelled) {
                return;
            }
            if ((ops & ~(READ | WRITE)) != 0) {
                throw new IllegalArgumentException("interest is READ and/or WRITE, got " + ops);
            }
            int old = interest;
            interest = ops;
            int events = ((ops & READ) != 0 ? LinuxC.EPOLLIN : 0) | ((ops & WRITE) != 0 ? LinuxC.EPOLLOUT : 0);
            if (ops == 0) {
                if (inEpoll) {
                    ctl(LinuxC.EPOLL_CTL_DEL, 0);
                    inEpoll = false;
                }
            } else if (!inEpoll) {
                ctl(LinuxC.EPOLL_CTL_ADD, events);
                inEpoll = true;
            } else if (ops != old) {
                ctl(LinuxC.EPOLL_CTL_MOD, events);
            }
        }

        @Override
        public int interest() {
            return interest;
        }

        @Override
        public synchronized void cancel() {
            if (cancelled) {
                return;
            }
            cancelled = true;
            registrations.remove(id);
            // A closed fd has left the epoll set already (or its number now names another file): never DEL by number then.
            if (inEpoll && fd.isOpen() && !closed) {
                try {
                    ctl(LinuxC.EPOLL_CTL_DEL, 0);
                } catch (RuntimeException e) {
                    LOG.warn("cancelling {}: {}", this, e.getMessage());
                }
            }
            inEpoll = false;
        }

        private void ctl(int op, int events) {
            Memory ev = Scratch.get().small;
            ev.setInt(0, events);
            ev.setLong(4, id);
            if (LinuxC.epoll_ctl(epfd, op, fd.fd(), ev) != 0) {
                int errno = LinuxC.errno();
                String name = op == LinuxC.EPOLL_CTL_ADD ? "EPOLL_CTL_ADD" : op == LinuxC.EPOLL_CTL_MOD ? "EPOLL_CTL_MOD" : "EPOLL_CTL_DEL";
                throw Errno.failure("epoll_ctl(" + name + ")", fd.toString(), errno,
                        errno == LinuxC.EEXIST ? "this fd number is registered already (cancel the other registration first);" : null);
            }
        }

        @Override
        public String toString() {
            return "registration " + id + " of " + fd;
        }
    }
}
