package dev.livetap.engine.qmp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import dev.livetap.nativeio.OwnedFd;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Hostile QMP input against the transport-independent session core ({@link QmpSession} with the
 * built-in commands and the VM command schemas over {@link RecordingVmBackend}): generated and
 * mutated messages — malformed JSON, wrong types, missing and unknown arguments, huge numbers,
 * deep nesting, control bytes, oversize messages, commands before negotiation, {@code getfd}
 * with fds then {@code netdev_add fd=}, fds on any command, byte-at-a-time delivery.
 *
 * <p>Properties: {@link QmpSession#receive} never throws; every output line is one JSON object
 * (greeting, return, error with a known class, or event), ASCII, CRLF-terminated; a probe
 * command after a resynchronisation byte is answered every {@link #PROBE_EVERY} messages and
 * after the storm; every fake fd handed in is closed exactly once by the end. One seed drives
 * everything: {@code -Dlivetap.qmp.fuzz.seed=S -Dlivetap.qmp.fuzz.cases=N}.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class QmpFuzzTest {
    static final int CASES = Integer.getInteger("livetap.qmp.fuzz.cases", 100_000);
    static final long SEED = Long.getLong("livetap.qmp.fuzz.seed", 20261125L);
    static final int PROBE_EVERY = 200;
    static final Clock CLOCK = Clock.fixed(Instant.ofEpochSecond(1_700_000_000L), ZoneOffset.UTC);
    static final Set<String> CLASSES = Set.of("GenericError", "CommandNotFound", "DeviceNotFound", "DeviceNotActive");

    final TestFds fds = new TestFds();
    final RecordingVmBackend vm = new RecordingVmBackend();
    final Random rnd = new Random(SEED);
    final QmpFuzzInput input = new QmpFuzzInput(rnd);
    final List<byte[]> out = new ArrayList<>();
    final Map<String, Integer> errorClasses = new TreeMap<>();
    int handedFds;
    int returns;
    QmpSession session;
    QmpCommandRegistry registry;
    int sessions;

    @Test
    void hostileInputNeverBreaksTheSessionAndEveryFdIsClosedOnce() {
        System.out.println("SEED=" + SEED + " cases=" + CASES);
        int ownedAtStart = OwnedFd.openCount();
        registry = new QmpCommandRegistry();
        QmpBuiltins.register(registry, QmpVersion.DEFAULT);
        QmpVmCommands.register(registry, vm);
        long start = System.nanoTime();
        newSession();
        for (int i = 1; i <= CASES; i++) {
            String kind = null;
            try {
                kind = feedOne(i);
            } catch (RuntimeException | StackOverflowError e) {
                throw new AssertionError("receive must never throw (case " + i + ", " + kind + "); reproduce with "
                        + "-Dlivetap.qmp.fuzz.seed=" + SEED + " -Dlivetap.qmp.fuzz.cases=" + i, e);
            }
            checkOutput(i);
            if (i % PROBE_EVERY == 0) {
                probe("probe-" + i);
            }
            if (rnd.nextInt(800) == 0) {
                session.close();
                newSession();
            }
            if (vm.takenFds.size() > 64) {
                OwnedFd.closeAll(vm.takenFds);
                vm.takenFds.clear();
            }
        }
        probe("after-the-storm");
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        session.close();
        OwnedFd.closeAll(vm.takenFds);
        System.out.printf("QMP fuzz: %d messages, %d sessions, %d returns, errors %s, %d fds handed in, %d ms%n",
                CASES, sessions, returns, errorClasses, handedFds, ms);
        assertEquals(ownedAtStart, OwnedFd.openCount(), "every fd handed to a session is closed once it ends");
        assertEquals(handedFds, fds.closes.get(), "every fd handed in is closed exactly once");
    }

    private void newSession() {
        sessions++;
        out.clear();
        session = new QmpSession("qmp#fuzz" + sessions, registry, QmpSession.Settings.defaults(CLOCK),
                out::add, Runnable::run);
        session.start();
        if (rnd.nextInt(10) < 7) {
            feed("{\"execute\": \"qmp_capabilities\"}", List.of());
        }
    }

    /** The session answers a good command after a resynchronisation byte: it keeps serving. */
    private void probe(String id) {
        feed("\u001b", List.of());
        out.clear();
        feed("{\"execute\": \"query-version\", \"id\": \"" + id + "\"}", List.of());
        assertTrue(!out.isEmpty(), "the probe " + id + " is answered (seed " + SEED + ")");
        JsonNode reply = QmpJson.parse(new String(out.get(out.size() - 1), StandardCharsets.US_ASCII));
        assertEquals(id, reply.path("id").asText(), "the last reply answers the probe: " + reply);
        assertTrue(reply.has("return") || "CommandNotFound".equals(reply.path("error").path("class").asText()),
                "the probe runs (or is refused before negotiation): " + reply);
        out.clear();
    }

    private void checkOutput(int i) {
        int parsed = 0;
        for (byte[] line : out) {
            String text = new String(line, StandardCharsets.ISO_8859_1);
            if (!text.endsWith("\r\n")) {
                fail("every server message ends with CRLF (case " + i + "): " + text);
            }
            for (byte b : line) {
                if (b < 0) {
                    fail("server output is ASCII (case " + i + "): " + text);
                }
            }
            if (parsed++ >= 4) {
                // stray closing brackets yield one error each; parsing the first few of a run is enough
                errorClasses.merge("(unparsed)", 1, Integer::sum);
                continue;
            }
            JsonNode m = QmpJson.parse(text);
            if (m.has("error")) {
                String cls = m.path("error").path("class").asText();
                assertTrue(CLASSES.contains(cls), "a known error class (case " + i + "): " + text);
                assertTrue(m.path("error").path("desc").isTextual(), "an error has a desc: " + text);
                errorClasses.merge(cls, 1, Integer::sum);
            } else if (m.has("return")) {
                returns++;
            } else {
                assertTrue(m.has("QMP") || m.has("event"), "greeting, return, error or event (case " + i + "): " + text);
            }
        }
        out.clear();
    }

    private String feedOne(int i) {
        int k = rnd.nextInt(100);
        if (k < 25) {
            feedMaybeFds(input.request(), "request");
            return "request";
        } else if (k < 45) {
            String m = input.mutate(input.request());
            feedMaybeFds(m, "mutated");
            return "mutated";
        } else if (k < 55) {
            feedMaybeFds(input.badShape(), "shape");
            return "shape";
        } else if (k < 63) {
            getfdThenNetdevAdd();
            return "getfd";
        } else if (k < 70) {
            feedChunked(input.request());
            return "chunked";
        } else if (k < 76) {
            feed(input.deep(), List.of());
            return "deep";
        } else if (k < 84) {
            feed(input.noise(1 + rnd.nextInt(40)), maybeFds());
            return "noise";
        } else if (k < 92) {
            feed(input.stateCommand(), List.of());
            return "state";
        } else if (i % 20_000 == 7) {
            feed(input.oversize(), maybeFds());
            return "oversize";
        } else {
            feed("{'execute': '" + input.pick(QmpFuzzInput.COMMANDS) + "', 'arguments': {'" + input.pick(QmpFuzzInput.KEYS) + "': 'v\\'x'}, 'id': 'sq'}",
                    List.of());
            return "single-quoted";
        }
    }

    private void feedMaybeFds(String text, String why) {
        feed(text, rnd.nextInt(20) == 0 ? maybeFds() : List.of());
    }

    private List<OwnedFd> maybeFds() {
        int n = rnd.nextInt(4);
        handedFds += n;
        return fds.open(n);
    }

    private void feed(String text, List<OwnedFd> with) {
        session.receive(ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8)), with);
    }

    private void feedChunked(String text) {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        int pos = 0;
        boolean first = true;
        while (pos < b.length) {
            int n = 1 + rnd.nextInt(Math.max(1, Math.min(8, b.length - pos)));
            List<OwnedFd> with = first && rnd.nextInt(10) == 0 ? maybeFds() : List.of();
            session.receive(ByteBuffer.wrap(b, pos, n), with);
            pos += n;
            first = false;
        }
    }

    /** getfd with 1..3 fds (sometimes a bad or reused name), then netdev_add fd=/fds= naming it (or not). */
    private void getfdThenNetdevAdd() {
        String name = switch (rnd.nextInt(5)) {
            case 0 -> "0digit";
            case 1 -> "";
            default -> "fd" + rnd.nextInt(6);
        };
        List<OwnedFd> passed = fds.open(1 + rnd.nextInt(3));
        handedFds += passed.size();
        feed("{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"" + name + "\"}}", passed);
        String key = rnd.nextBoolean() ? "fd" : rnd.nextBoolean() ? "fds" : "vhostfd";
        String value = rnd.nextInt(4) == 0 ? "fd" + rnd.nextInt(6) + ":fd" + rnd.nextInt(6) : name;
        feed("{\"execute\": \"netdev_add\", \"arguments\": {\"type\": \"tap\", \"id\": \"n" + rnd.nextInt(3) + "\", \""
                + key + "\": \"" + value + "\"}}", List.of());
        if (rnd.nextInt(3) == 0) {
            feed("{\"execute\": \"closefd\", \"arguments\": {\"fdname\": \"fd" + rnd.nextInt(6) + "\"}}", List.of());
        }
    }

}
