package dev.livetap.engine.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;

/** A byte-level QMP peer for conformance tests: sends any text (malformed JSON too) and reads reply lines, bounded. */
public final class RawQmp implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final SocketChannel ch;
    private final StringBuilder partial = new StringBuilder();
    private final ArrayDeque<String> lines = new ArrayDeque<>();
    private final Duration timeout;

    public RawQmp(Path path, Duration timeout) throws IOException {
        this.ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        ch.connect(UnixDomainSocketAddress.of(path));
        ch.configureBlocking(false);
        this.timeout = timeout;
    }

    public void send(String text) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
        long deadline = System.nanoTime() + timeout.toNanos();
        while (b.hasRemaining() && System.nanoTime() < deadline) {
            if (ch.write(b) == 0) {
                Thread.onSpinWait();
            }
        }
    }

    /** The next line as JSON; throws AssertionError when none comes in time. */
    public JsonNode next() throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        ByteBuffer buf = ByteBuffer.allocate(8192);
        while (lines.isEmpty()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no QMP line within " + timeout + "; partial: " + partial);
            }
            buf.clear();
            int n = ch.read(buf);
            if (n < 0) {
                throw new AssertionError("the server closed the connection; partial: " + partial);
            }
            if (n == 0) {
                try {
                    Thread.sleep(1);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new AssertionError(e);
                }
                continue;
            }
            partial.append(new String(buf.array(), 0, n, StandardCharsets.UTF_8));
            int nl;
            while ((nl = partial.indexOf("\n")) >= 0) {
                String line = partial.substring(0, nl).trim();
                partial.delete(0, nl + 1);
                if (!line.isEmpty()) {
                    lines.add(line);
                }
            }
        }
        return JSON.readTree(lines.poll());
    }

    /** The next line that is not an event. */
    public JsonNode nextReply() throws IOException {
        while (true) {
            JsonNode n = next();
            if (!n.has("event")) {
                return n;
            }
        }
    }

    @Override
    public void close() throws IOException {
        ch.close();
    }
}
