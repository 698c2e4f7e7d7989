package dev.livetap.engine.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.nativeio.NativeException;
import dev.livetap.nativeio.Os;
import dev.livetap.nativeio.OwnedFd;
import dev.livetap.nativeio.Reactor;
import dev.livetap.nativeio.UnixSockets;
import dev.livetap.nativeio.linux.JnaOs;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A blocking QMP client: connect, read the greeting, negotiate, execute commands one at a time,
 * collect events, pass fds with {@code getfd} (SCM_RIGHTS). One caller thread at a time.
 *
 * <p>Threading (docs/architecture.md, "QMP"): the socket is read by the process's
 * {@link Reactor} (design decision 1), which frames and parses messages into a bounded inbox and
 * signals; the caller's thread sleeps on that signal, with a deadline, and dispatches what
 * arrived itself, so the line observer, the event list and reply matching run on the caller's
 * thread in arrival order. A closed connection wakes every wait at once.
 */
public final class QmpClient implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(QmpClient.class);
    /** Messages read ahead of the caller; at this many the reactor stops reading (backpressure, nothing lost). */
    static final int MAX_INBOX = 4096;
    /** Events kept for {@link #drainEvents}/{@link #awaitEvent}; beyond this the oldest are dropped and counted. */
    public static final int MAX_EVENTS = 10_000;

    private final UnixSockets unix;
    private final OwnedFd fd;
    private final QmpConnection connection;
    private final Duration timeout;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    // guarded by lock: shared with the reactor thread
    private final ArrayDeque<QmpConnection.Received> inbox = new ArrayDeque<>();
    private final ByteBuffer readBuffer = ByteBuffer.allocate(64 * 1024);
    private Reactor.Registration registration;
    private boolean readPaused;
    private boolean readHeld;
    private boolean writeWanted;
    private boolean eof;
    private String failure;
    private boolean closed;
    // the caller's thread only
    private final ArrayDeque<JsonNode> events = new ArrayDeque<>();
    private long droppedEvents;

    private QmpClient(UnixSockets unix, Reactor reactor, OwnedFd fd, String name, Duration timeout) throws TimeoutException {
        this.unix = unix;
        this.fd = fd;
        this.timeout = timeout;
        this.connection = new QmpConnection(name);
        connection.onEvent(e -> keep(e.message()));
        try {
            lock.lock();
            try {
                registration = reactor.register(fd, Reactor.READ, this::onReady);
            } finally {
                lock.unlock();
            }
            dispatch(next(deadline(), "the greeting"));
        } catch (RuntimeException | TimeoutException e) {
            close();
            throw e;
        }
    }

    /** Connects through the process's native sockets and reactor ({@link JnaOs}); a refused connect is an IOException. */
    public static QmpClient connect(Path path, Duration timeout) throws IOException, TimeoutException {
        Os os = JnaOs.instance();
        OwnedFd fd;
        try {
            fd = os.unix().connect(path);
        } catch (NativeException e) {
            throw new IOException(e.getMessage(), e);
        }
        return new QmpClient(os.unix(), os.reactor(), fd, "qmp-client " + path.getFileName(), timeout);
    }

    /** Connects through {@code os}'s sockets; its reactor reads the replies. */
    public static QmpClient connect(Os os, Path path, Duration timeout) throws TimeoutException {
        return connect(os.unix(), os.reactor(), path, timeout);
    }

    /** Connects through {@code unix}; {@code reactor} reads the replies. */
    public static QmpClient connect(UnixSockets unix, Reactor reactor, Path path, Duration timeout) throws TimeoutException {
        return new QmpClient(unix, reactor, unix.connect(path), "qmp-client " + path.getFileName(), timeout);
    }

    public JsonNode greeting() {
        return connection.greeting();
    }

    /** qmp_capabilities; fails unless it returns {}. */
    public void negotiate() throws TimeoutException {
        execute("qmp_capabilities", null);
    }

    /** Sends a command and waits for its reply; returns the whole reply ({"return"} or {"error"}). */
    public ObjectNode request(String command, ObjectNode args, List<OwnedFd> fds) throws TimeoutException {
        return request(command, args, fds, timeout);
    }

    /** {@link #request} with its own bound instead of the client's. */
    public ObjectNode request(String command, ObjectNode args, List<OwnedFd> fds, Duration wait) throws TimeoutException {
        long deadline = System.nanoTime() + wait.toNanos();
        ObjectNode[] reply = new ObjectNode[1];
        ByteBuffer line = connection.encode(command, args, r -> reply[0] = r.reply());
        long id = connection.lastId();
        try {
            send(line, fds, deadline, command);
            while (reply[0] == null) {
                dispatchAll(nextBatch(deadline, command));
            }
            return reply[0];
        } finally {
            connection.abandon(id);
        }
    }

    /** Executes a command: its {@code return} value, or a {@link QmpException} with the error. */
    public JsonNode execute(String command, ObjectNode args) throws TimeoutException {
        return QmpConnection.unwrap(request(command, args, List.of()));
    }

    /** getfd with {@code fd} attached by SCM_RIGHTS; the caller keeps its fd. */
    public void getfd(String fdname, OwnedFd fd) throws TimeoutException {
        QmpConnection.unwrap(request("getfd", QmpJson.object().put("fdname", fdname), List.of(fd)));
    }

    /** Events received so far (while waiting for replies or in {@link #awaitEvent}), then forgotten. */
    public List<JsonNode> drainEvents() {
        List<JsonNode> l = List.copyOf(events);
        events.clear();
        return l;
    }

    /** Events dropped because more than {@link #MAX_EVENTS} were kept undrained. */
    public long droppedEvents() {
        return droppedEvents;
    }

    /** Waits for the next event named {@code name}; earlier events stay available. */
    public JsonNode awaitEvent(String name) throws TimeoutException {
        long deadline = deadline();
        Optional<JsonNode> found = takeEvent(name);
        while (found.isEmpty()) {
            dispatchAll(nextBatch(deadline, "event " + name));
            found = takeEvent(name);
        }
        return found.get();
    }

    /**
     * Waits up to {@code wait} for the next event (one already received comes first); empty if none
     * arrives in time or the server closed the connection.
     */
    public Optional<JsonNode> pollEvent(Duration wait) {
        long deadline = System.nanoTime() + wait.toNanos();
        while (events.isEmpty()) {
            try {
                dispatchAll(nextBatch(deadline, "an event"));
            } catch (TimeoutException | IllegalStateException quietOrClosed) {
                return Optional.empty();
            }
        }
        return Optional.of(events.poll());
    }

    /**
     * Sees every line the server sends after the greeting, events and replies, in arrival order (the
     * differential suite compares the order of events relative to replies). One observer; called on
     * the calling thread.
     */
    public void observeLines(Consumer<JsonNode> observer) {
        connection.observeLines(observer);
    }

    /**
     * Leaves the socket unread until the caller next waits on this client (a command, an event):
     * no reactor wake-up and no parsing for what the server sends meanwhile, which waits in the
     * socket. A driver uses it to stay off the CPU while a VMM it does not need to hear is busy.
     */
    public void holdReading() {
        lock.lock();
        try {
            readHeld = true;
            updateInterest();
        } finally {
            lock.unlock();
        }
    }

    /** True once the server closed the connection. */
    public boolean atEof() {
        lock.lock();
        try {
            return eof;
        } finally {
            lock.unlock();
        }
    }

    /** Stops reading, closes the socket and wakes every wait of this client (idempotent; any thread). */
    @Override
    public void close() {
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            if (registration != null) {
                registration.cancel();
            }
            fd.close();
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    private long deadline() {
        return System.nanoTime() + timeout.toNanos();
    }

    private void keep(JsonNode event) {
        if (events.size() >= MAX_EVENTS) {
            events.poll();
            if (droppedEvents++ == 0) {
                LOG.warn("{}: more than {} events not drained; dropping the oldest", connection.name(), MAX_EVENTS);
            }
        }
        events.add(event);
    }

    private Optional<JsonNode> takeEvent(String name) {
        for (Iterator<JsonNode> it = events.iterator(); it.hasNext();) {
            JsonNode e = it.next();
            if (name.equals(e.path("event").asText())) {
                it.remove();
                return Optional.of(e);
            }
        }
        return Optional.empty();
    }

    private void dispatch(QmpConnection.Received m) {
        try {
            connection.dispatch(m);
        } catch (QmpConnection.ProtocolException e) {
            throw new IllegalStateException(e.getMessage(), e);
        }
    }

    private void dispatchAll(List<QmpConnection.Received> batch) {
        for (QmpConnection.Received m : batch) {
            dispatch(m);
        }
    }

    /** The next message (the greeting), waiting for the reactor's signal until {@code deadline}. */
    private QmpConnection.Received next(long deadline, String what) throws TimeoutException {
        return nextBatch(deadline, what, 1).get(0);
    }

    /**
     * Every message that has arrived (at least one), waiting for the reactor's signal until
     * {@code deadline}. All of them are dispatched, the reply awaited or not, so the line observer
     * sees whatever arrived by the time the caller looks, as a read of the socket would.
     */
    private List<QmpConnection.Received> nextBatch(long deadline, String what) throws TimeoutException {
        return nextBatch(deadline, what, Integer.MAX_VALUE);
    }

    private List<QmpConnection.Received> nextBatch(long deadline, String what, int max) throws TimeoutException {
        lock.lock();
        try {
            if (readHeld) {
                readHeld = false;
                updateInterest();
            }
            while (inbox.isEmpty()) {
                ensureOpen();
                if (eof) {
                    throw new IllegalStateException(connection.name() + ": QMP server closed the connection");
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new TimeoutException(connection.name() + ": timed out waiting for " + what);
                }
                awaitSignal(left);
            }
            List<QmpConnection.Received> batch = new ArrayList<>(Math.min(max, inbox.size()));
            while (!inbox.isEmpty() && batch.size() < max) {
                batch.add(inbox.poll());
            }
            if (readPaused && inbox.size() <= MAX_INBOX / 2) {
                readPaused = false;
                updateInterest();
            }
            return batch;
        } finally {
            lock.unlock();
        }
    }

    private void send(ByteBuffer data, List<OwnedFd> fds, long deadline, String what) throws TimeoutException {
        lock.lock();
        try {
            List<OwnedFd> attach = fds;
            while (data.hasRemaining()) {
                ensureOpen();
                if (eof) {
                    throw new IllegalStateException(connection.name() + ": QMP server closed the connection");
                }
                if (unix.sendmsg(fd, data, attach) > 0) {
                    attach = List.of(); // fds ride on the first byte only
                    continue;
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new TimeoutException(connection.name() + ": could not send " + what + " in time (the server does not read)");
                }
                writeWanted = true;
                updateInterest();
                awaitSignal(left);
            }
        } finally {
            if (writeWanted) {
                writeWanted = false;
                updateInterest();
            }
            lock.unlock();
        }
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException(connection.name() + ": the QMP client is closed");
        }
        if (failure != null) {
            throw new IllegalStateException(failure);
        }
    }

    private void awaitSignal(long nanos) {
        try {
            changed.awaitNanos(nanos);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(connection.name() + ": interrupted while waiting for QMP", e);
        }
    }

    /** Called with the lock held. */
    private void updateInterest() {
        if (registration != null && !closed) {
            // a hung-up fd reports HANGUP whatever the mask: once at end of stream, watch nothing
            int ops = eof || failure != null ? 0 : (readPaused || readHeld ? 0 : Reactor.READ) | (writeWanted ? Reactor.WRITE : 0);
            registration.interest(ops);
        }
    }

    /** Reactor thread: read until EAGAIN (or a full inbox), frame and parse, wake the caller. */
    private void onReady(int ops) {
        lock.lock();
        try {
            if (closed) {
                return;
            }
            if ((ops & Reactor.WRITE) != 0) {
                writeWanted = false;
            }
            if ((ops & (Reactor.READ | Reactor.HANGUP)) != 0) {
                readAvailable();
            }
            updateInterest();
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    private void readAvailable() {
        while (!eof && failure == null) {
            if (inbox.size() >= MAX_INBOX) {
                readPaused = true;
                return;
            }
            readBuffer.clear();
            List<OwnedFd> fds = new ArrayList<>();
            int n;
            try {
                n = unix.recvmsg(fd, readBuffer, fds, 4);
            } catch (RuntimeException e) {
                failure = connection.name() + ": QMP read failed: " + e.getMessage();
                return;
            } finally {
                OwnedFd.closeAll(fds); // a QMP server sends no fds
            }
            if (n == 0) {
                return;
            }
            if (n < 0) {
                eof = true;
                return;
            }
            readBuffer.flip();
            try {
                inbox.addAll(connection.decode(readBuffer, System.nanoTime()));
            } catch (QmpConnection.ProtocolException e) {
                failure = e.getMessage();
                return;
            }
        }
    }
}
