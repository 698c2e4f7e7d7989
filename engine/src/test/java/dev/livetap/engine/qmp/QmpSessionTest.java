package dev.livetap.engine.qmp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.nativeio.OwnedFd;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** QMP protocol conformance of the transport-independent session core (no sockets). */
@Timeout(value = 10, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class QmpSessionTest {
    static final Clock CLOCK = Clock.fixed(Instant.ofEpochSecond(1_700_000_000L, 123_456_789L), ZoneOffset.UTC);

    final TestFds fds = new TestFds();
    final List<byte[]> raw = new ArrayList<>();
    final List<JsonNode> out = new ArrayList<>();
    final AtomicInteger resumes = new AtomicInteger();
    final RecordingVmBackend vm = new RecordingVmBackend();
    final List<CompletableFuture<ObjectNode>> slow = new ArrayList<>();
    QmpCommandRegistry registry;
    QmpSession session;
    int openAtStart;

    @BeforeEach
    void setUp() {
        openAtStart = OwnedFd.openCount();
        session = newSession(QmpSession.Settings.defaults(CLOCK));
    }

    QmpSession newSession(QmpSession.Settings settings) {
        registry = new QmpCommandRegistry();
        QmpBuiltins.register(registry, settings.version());
        QmpVmCommands.register(registry, vm);
        registry.register(QmpCommand.builder("x-slow").handler((a, f, s) -> {
            CompletableFuture<ObjectNode> c = new CompletableFuture<>();
            slow.add(c);
            return c.thenApply(n -> n);
        }));
        registry.register(QmpCommand.builder("x-echo").extraArgs().handler((a, f, s) -> CompletableFuture.completedFuture(a)));
        registry.register(QmpCommand.builder("x-boom").handler((a, f, s) -> {
            throw new IllegalStateException("boom happened");
        }));
        registry.register(QmpCommand.builder("x-types").args(
                QmpArg.optional("s", QmpType.STR), QmpArg.optional("i", QmpType.INT), QmpArg.optional("b", QmpType.BOOL),
                QmpArg.optional("n", QmpType.NUMBER), QmpArg.optional("o", QmpType.OBJECT), QmpArg.optional("a", QmpType.ARRAY))
                .handler((a, f, s) -> CompletableFuture.completedFuture(a)));
        QmpSession s = new QmpSession("qmp#test", registry, settings, new QmpSession.Output() {
            @Override
            public void send(byte[] message) {
                raw.add(message);
                out.add(QmpJson.parse(new String(message, StandardCharsets.US_ASCII)));
            }

            @Override
            public void resumeInput() {
                resumes.incrementAndGet();
            }
        }, Runnable::run);
        s.start();
        return s;
    }

    @AfterEach
    void tearDown() {
        session.close();
        OwnedFd.closeAll(vm.takenFds);
        assertEquals(openAtStart, OwnedFd.openCount(), "every fd handed to a session must be closed once the session ends");
    }

    boolean send(String text) {
        return session.receive(ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8)), List.of());
    }

    JsonNode last() {
        return out.get(out.size() - 1);
    }

    void negotiate() {
        send("{\"execute\": \"qmp_capabilities\"}");
        assertEquals(QmpJson.parse("{\"return\": {}}"), last(), "qmp_capabilities answers {}");
    }

    JsonNode exec(String json) {
        int before = out.size();
        send(json);
        assertEquals(before + 1, out.size(), "exactly one reply for " + json);
        return last();
    }

    static void assertError(String cls, String desc, JsonNode reply) {
        assertEquals(cls, reply.path("error").path("class").asText(), "error class of " + reply);
        assertEquals(desc, reply.path("error").path("desc").asText(), "error text of " + reply);
    }

    @Test
    void greetingAnnouncesVersionAndOobAndEndsWithCrlf() {
        assertEquals(QmpJson.parse("{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 50, \"minor\": 2, \"major\": 10},"
                + " \"package\": \"livetap-0.2.0\"}, \"capabilities\": [\"oob\"]}}"), out.get(0));
        String text = new String(raw.get(0), StandardCharsets.US_ASCII);
        assertTrue(text.endsWith("}\r\n"), "every server message ends with CRLF: " + text);
        assertEquals("{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 50, \"minor\": 2, \"major\": 10}, \"package\": \"livetap-0.2.0\"},"
                + " \"capabilities\": [\"oob\"]}}\r\n", text, "QEMU's separators");
        assertThrows(IllegalStateException.class, session::start, "the greeting is sent once");
    }

    @Test
    void onlyQmpCapabilitiesRunsBeforeNegotiation() {
        assertError("CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'",
                exec("{\"execute\": \"query-version\", \"id\": 1}"));
        assertEquals(1, last().get("id").asInt(), "id echoed on negotiation errors");
        assertError("CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'",
                exec("{\"execute\": \"no-such-command\"}"));
        assertError("GenericError", "QMP input lacks member 'execute'", exec("{\"id\": 2}"));
        assertTrue(vm.calls.isEmpty(), "nothing reaches the VM before negotiation");
        negotiate();
        assertTrue(session.negotiated());
        assertEquals(QmpVersion.DEFAULT.toJson(), exec("{\"execute\": \"query-version\"}").get("return"));
        assertError("CommandNotFound", "Capabilities negotiation is already complete, command ignored",
                exec("{\"execute\": \"qmp_capabilities\"}"));
    }

    @Test
    void qmpCapabilitiesRefusesUnofferedCapabilitiesAndEnablesOob() {
        assertError("GenericError", "Parameter 'enable[0]' does not accept value 'nope'",
                exec("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"nope\"]}}"));
        assertFalse(session.negotiated(), "a failed qmp_capabilities leaves negotiation mode");
        assertEquals(QmpJson.parse("{\"return\": {}}"),
                exec("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}}"));
        assertTrue(session.oobEnabled(), "oob is enabled as QEMU 7.2 enables it");
        assertError("GenericError", "The command query-version does not support OOB",
                exec("{\"exec-oob\": \"query-version\", \"id\": 7}"));
    }

    @Test
    void idIsEchoedVerbatimOnSuccessAndError() {
        negotiate();
        for (String id : List.of("\"abc\"", "42", "-1.5", "{\"a\": [1, {\"b\": null}]}", "[1, \"x\"]", "null", "true")) {
            JsonNode ok = exec("{\"execute\": \"query-status\", \"id\": " + id + "}");
            assertEquals(QmpJson.parse(id), ok.get("id"), "success echoes id " + id);
            JsonNode err = exec("{\"id\": " + id + ", \"execute\": \"nope\"}");
            assertEquals(QmpJson.parse(id), err.get("id"), "error echoes id " + id);
            assertError("CommandNotFound", "The command nope has not been found", err);
        }
        assertFalse(exec("{\"execute\": \"query-status\"}").has("id"), "no id in, no id out");
    }

    @Test
    void requestShapeErrorsUseQemuTexts() {
        negotiate();
        assertError("GenericError", "QMP input must be a JSON object", exec("[1, 2]"));
        assertError("GenericError", "QMP input must be a JSON object", exec("42 "));
        assertError("GenericError", "QMP input must be a JSON object", exec("\"query-status\""));
        assertError("GenericError", "QMP input lacks member 'execute'", exec("{}"));
        assertError("GenericError", "QMP input member 'execute' must be a string", exec("{\"execute\": 1}"));
        assertError("GenericError", "QMP input member 'arguments' must be an object",
                exec("{\"execute\": \"stop\", \"arguments\": [1]}"));
        assertError("GenericError", "QMP input member 'foo' is unexpected", exec("{\"execute\": \"stop\", \"foo\": 1, \"id\": 7}"));
        assertEquals(7, last().get("id").asInt(), "shape errors still echo a readable id");
        assertError("GenericError", "QMP input member 'exec-oob' is unexpected", exec("{\"exec-oob\": \"stop\"}"));
        assertError("CommandNotFound", "The command foo has not been found", exec("{\"execute\": \"foo\"}"));
        assertTrue(vm.calls.isEmpty(), "no malformed request reaches the VM");
    }

    @Test
    void argumentValidationUsesQapiTexts() {
        negotiate();
        assertError("GenericError", "Parameter 'id' is missing", exec("{\"execute\": \"netdev_del\"}"));
        assertError("GenericError", "Parameter 'id' is missing", exec("{\"execute\": \"netdev_del\", \"arguments\": {}}"));
        assertError("GenericError", "Invalid parameter type for 'id', expected: string",
                exec("{\"execute\": \"netdev_del\", \"arguments\": {\"id\": 5}}"));
        assertError("GenericError", "Parameter 'force' is unexpected",
                exec("{\"execute\": \"netdev_del\", \"arguments\": {\"id\": \"n\", \"force\": true}}"));
        assertError("GenericError", "Parameter 'type' does not accept value 'user'",
                exec("{\"execute\": \"netdev_add\", \"arguments\": {\"type\": \"user\", \"id\": \"n0\"}}"));
        assertError("GenericError", "Invalid parameter type for 'i', expected: integer", exec("{\"execute\": \"x-types\", \"arguments\": {\"i\": 1.5}}"));
        assertError("GenericError", "Invalid parameter type for 'i', expected: integer",
                exec("{\"execute\": \"x-types\", \"arguments\": {\"i\": 99999999999999999999999}}"));
        assertError("GenericError", "Invalid parameter type for 'b', expected: boolean", exec("{\"execute\": \"x-types\", \"arguments\": {\"b\": \"on\"}}"));
        assertError("GenericError", "Invalid parameter type for 'n', expected: number", exec("{\"execute\": \"x-types\", \"arguments\": {\"n\": \"1\"}}"));
        assertError("GenericError", "Invalid parameter type for 'o', expected: object", exec("{\"execute\": \"x-types\", \"arguments\": {\"o\": []}}"));
        assertError("GenericError", "Invalid parameter type for 'a', expected: array", exec("{\"execute\": \"x-types\", \"arguments\": {\"a\": {}}}"));
        assertError("GenericError", "Invalid parameter type for 's', expected: string", exec("{\"execute\": \"x-types\", \"arguments\": {\"s\": null}}"));
        JsonNode ok = exec("{\"execute\": \"x-types\", \"arguments\": {\"s\": \"x\", \"i\": -3, \"b\": false, \"n\": 2, \"o\": {}, \"a\": []}}");
        assertEquals(-3, ok.path("return").path("i").asInt(), "valid arguments reach the handler unchanged");
        assertError("GenericError", "Invalid parameter type for 'capabilities[1].state', expected: boolean",
                exec("{\"execute\": \"migrate-set-capabilities\", \"arguments\": {\"capabilities\": "
                        + "[{\"capability\": \"events\", \"state\": true}, {\"capability\": \"return-path\", \"state\": 1}]}}"));
        assertError("GenericError", "Parameter 'capabilities[0].capability' does not accept value 'warp'",
                exec("{\"execute\": \"migrate-set-capabilities\", \"arguments\": {\"capabilities\": [{\"capability\": \"warp\", \"state\": true}]}}"));
        assertError("GenericError", "Parameter 'capabilities[0].state' is missing",
                exec("{\"execute\": \"migrate-set-capabilities\", \"arguments\": {\"capabilities\": [{\"capability\": \"events\"}]}}"));
        assertError("GenericError", "Parameter 'channels' is unexpected",
                exec("{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"unix:/x\", \"channels\": []}}"));
        assertTrue(vm.calls.isEmpty(), "validation errors happen before any side effect: " + vm.calls);
    }

    @Test
    void vmCommandsAreForwardedWithTheirArguments() {
        negotiate();
        exec("{\"execute\": \"netdev_add\", \"arguments\": {\"type\": \"tap\", \"id\": \"n0\", \"incoming-fds\": true, \"script\": \"no\","
                + " \"downscript\": \"no\", \"queues\": 4}}");
        exec("{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"virtio-net-pci\", \"id\": \"nic0\", \"netdev\": \"n0\","
                + " \"backend-transfer\": true, \"mq\": \"on\"}}");
        exec("{\"execute\": \"migrate-set-parameters\", \"arguments\": {\"local\": true, \"x-switchover-limit\": 100}}");
        exec("{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"unix:/run/m.sock\"}}");
        assertEquals(QmpJson.parse("{\"status\": \"none\"}"), exec("{\"execute\": \"query-migrate\"}").get("return"));
        assertError("DeviceNotFound", "Device 'missing' not found", exec("{\"execute\": \"netdev_del\", \"arguments\": {\"id\": \"missing\"}}"));
        assertError("DeviceNotActive", "Device 'inactive' has not been activated",
                exec("{\"execute\": \"device_del\", \"arguments\": {\"id\": \"inactive\"}}"));
        assertEquals(List.of("netdev_add", "device_add", "migrate-set-parameters", "migrate", "query-migrate"),
                vm.calls.stream().map(RecordingVmBackend.Call::command).toList());
        assertEquals("on", vm.calls.get(1).args().get("mq").asText(), "device_add passes undeclared properties on");
        assertEquals(4, vm.calls.get(0).args().get("queues").asInt());
        assertEquals(QmpJson.parse("{\"return\": {}}"), exec("{\"execute\": \"quit\"}"));
        assertTrue(vm.quitCalled, "quit reaches the VM backend after its reply");
    }

    @Test
    void queryCommandsListsTheRegistryInOrder() {
        negotiate();
        JsonNode list = exec("{\"execute\": \"query-commands\"}").get("return");
        List<String> names = new ArrayList<>();
        list.forEach(n -> names.add(n.get("name").asText()));
        assertEquals(registry.names(), names);
        for (String c : List.of("qmp_capabilities", "query-version", "query-commands", "getfd", "closefd", "quit", "netdev_add",
                "netdev_del", "device_add", "device_del", "migrate-set-parameters", "query-migrate-parameters",
                "migrate-set-capabilities", "query-migrate-capabilities", "migrate-incoming", "migrate", "migrate_cancel",
                "query-migrate", "query-status", "stop", "cont")) {
            assertTrue(names.contains(c), "query-commands lists " + c);
        }
    }

    @Test
    void malformedJsonIsReportedAndTheSessionContinues() {
        negotiate();
        JsonNode e = exec("{ \"execute\": }");
        assertEquals("GenericError", e.path("error").path("class").asText());
        assertTrue(e.path("error").path("desc").asText().startsWith("JSON parse error, "), e.toString());
        assertFalse(e.has("id"), "no id can be read from unparsable input");
        assertEquals("running", exec("{\"execute\": \"query-status\"}").path("return").path("status").asText(),
                "a good command after malformed input still works");
        assertError("GenericError", "JSON parse error, stray '}'", exec("}"));
        // an unterminated string ends at the line end (a raw newline is a lexical error)
        assertError("GenericError", "JSON parse error, invalid character 0x0a", exec("{\"execute\": \"query-sta\n"));
        // an unbalanced object is abandoned at a control character (the spec's resync technique)
        send("{\"execute\": \"query-status\", \"arguments\": {");
        assertError("GenericError", "JSON parse error, invalid character 0x1b", exec("\u001b"));
        assertError("GenericError", "JSON parse error, invalid character 0xff",
                session.receive(ByteBuffer.wrap(new byte[] {'{', (byte) 0xff}), List.of()) ? last() : last());
        assertEquals("running", exec("{\"execute\": \"query-status\"}").path("return").path("status").asText());
        assertError("GenericError", "QMP input must be a JSON object", exec("true\n"));
        JsonNode bad = exec("nonsense\n");
        assertTrue(bad.path("error").path("desc").asText().startsWith("JSON parse error, "), bad.toString());
    }

    @Test
    void inputSplitByteByByteAssemblesWholeMessages() {
        byte[] all = ("{\"execute\": \"qmp_capabilities\"}{\"execute\": \"x-echo\", \"arguments\": {\"s\": \"}{\\\"\\\\\", \"q\": 'it\\'s'},"
                + " \"id\": \"a\"}").getBytes(StandardCharsets.UTF_8);
        for (byte b : all) {
            session.receive(ByteBuffer.wrap(new byte[] {b}), List.of());
        }
        assertEquals(3, out.size(), "greeting + two replies: " + out);
        assertEquals(QmpJson.parse("{\"return\": {\"s\": \"}{\\\"\\\\\", \"q\": \"it's\"}, \"id\": \"a\"}"), last(),
                "brackets and quotes inside strings do not end a message; single quotes are accepted");
    }

    @Test
    void severalMessagesInOneChunkAndMessagesSpanningLines() {
        send("{\"execute\": \"qmp_capabilities\", \"id\": 1}{\"execute\": \"stop\", \"id\": 2}\r\n"
                + "{\"execute\": \"cont\",\n \"id\": 3\n}\n");
        assertEquals(4, out.size());
        for (int i = 1; i <= 3; i++) {
            assertEquals(i, out.get(i).get("id").asInt(), "replies in request order");
        }
        assertEquals(List.of("stop", "cont"), vm.calls.stream().map(RecordingVmBackend.Call::command).toList());
    }

    @Test
    void oversizeMessageIsDiscardedWithAnErrorAndTheSessionContinues() {
        session.close();
        out.clear();
        session = newSession(new QmpSession.Settings(QmpVersion.DEFAULT, 256, 8, CLOCK));
        negotiate();
        String big = "{\"execute\": \"x-echo\", \"arguments\": {\"pad\": \"" + "x".repeat(10_000) + "\"}, \"id\": 9}";
        assertError("GenericError", "JSON parse error, message longer than 256 bytes", exec(big));
        assertFalse(last().has("id"), "an id inside a discarded message cannot be trusted");
        assertEquals(5, exec("{\"execute\": \"x-echo\", \"arguments\": {\"v\": 5}}").path("return").path("v").asInt(),
                "the next message is accepted");
        // exactly at the limit is still fine
        String exact = "{\"execute\": \"x-echo\", \"arguments\": {\"p\": \"\"}}";
        String padded = exact.replace("\"p\": \"\"", "\"p\": \"" + "y".repeat(256 - exact.length()) + "\"");
        assertEquals(256, padded.length());
        assertTrue(exec(padded).has("return"), "a message of exactly maxMessageBytes is accepted");
    }

    @Test
    void eventsAreSentOnlyToNegotiatedSessionsWithTheInjectedClock() {
        session.event("MIGRATION", QmpJson.object().put("status", "setup"));
        assertEquals(1, out.size(), "no event before negotiation");
        negotiate();
        session.event("MIGRATION", QmpJson.object().put("status", "active"));
        assertEquals(QmpJson.parse("{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 123456},"
                + " \"event\": \"MIGRATION\", \"data\": {\"status\": \"active\"}}"), last());
        session.event("STOP", null);
        assertFalse(last().has("data"), "data is optional");
    }

    @Test
    void repliesKeepRequestOrderWhenASlowHandlerPrecedesAFastOne() {
        negotiate();
        send("{\"execute\": \"x-slow\", \"id\": \"slow\"}{\"execute\": \"query-status\", \"id\": \"fast\"}");
        assertEquals(2, out.size(), "nothing is answered while the slow command runs");
        assertTrue(vm.calls.isEmpty(), "commands run one at a time: the fast one has not started");
        assertEquals(2, session.pendingRequests());
        slow.get(0).complete(QmpJson.object().put("done", true));
        assertEquals(4, out.size());
        assertEquals("slow", out.get(2).get("id").asText());
        assertEquals("fast", out.get(3).get("id").asText());
    }

    @Test
    void asyncFailureAndUnexpectedExceptionsBecomeErrorReplies() {
        negotiate();
        send("{\"execute\": \"x-slow\", \"id\": 1}");
        slow.get(0).completeExceptionally(QmpException.deviceNotFound("nic9"));
        assertError("DeviceNotFound", "Device 'nic9' not found", last());
        assertError("GenericError", "boom happened", exec("{\"execute\": \"x-boom\"}"));
    }

    @Test
    void inputIsPausedWhileTooManyRequestsWait() {
        negotiate();
        StringBuilder many = new StringBuilder("{\"execute\": \"x-slow\"}");
        for (int i = 0; i < 8; i++) {
            many.append("{\"execute\": \"stop\"}");
        }
        assertFalse(send(many.toString()), "9 unanswered requests: the transport must stop reading");
        slow.get(0).complete(QmpJson.object());
        assertEquals(1, resumes.get(), "reading resumes once the queue drains");
        assertEquals(8, vm.calls.size());
    }

    @Test
    void getfdStoresClosefdClosesAndReplacingClosesTheOld() {
        negotiate();
        OwnedFd a = fds.open();
        session.receive(utf8("{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"tap0\"}}"), List.of(a));
        assertEquals(QmpJson.parse("{\"return\": {}}"), last());
        assertTrue(a.isOpen(), "getfd keeps the fd");
        assertEquals(java.util.Set.of("tap0"), session.fdNames());
        OwnedFd b = fds.open();
        session.receive(utf8("{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"tap0\"}}"), List.of(b));
        assertFalse(a.isOpen(), "getfd with an existing name closes the fd it replaces");
        assertTrue(b.isOpen());
        assertEquals(QmpJson.parse("{\"return\": {}}"), exec("{\"execute\": \"closefd\", \"arguments\": {\"fdname\": \"tap0\"}}"));
        assertFalse(b.isOpen(), "closefd closes the fd");
        assertError("GenericError", "File descriptor named 'tap0' not found",
                exec("{\"execute\": \"closefd\", \"arguments\": {\"fdname\": \"tap0\"}}"));
        assertError("GenericError", "No file descriptor supplied via SCM_RIGHTS",
                exec("{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"x\"}}"));
        OwnedFd c = fds.open();
        session.receive(utf8("{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"7up\"}}"), List.of(c));
        assertError("GenericError", "Parameter 'fdname' expects a name not starting with a digit", last());
        assertFalse(c.isOpen(), "a refused getfd closes its fd");
        List<OwnedFd> two = fds.open(2);
        session.receive(utf8("{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"q\"}}"), two);
        assertTrue(two.get(0).isOpen(), "getfd keeps the first fd of the message");
        assertFalse(two.get(1).isOpen(), "and closes the others");
        OwnedFd d = fds.open();
        session.receive(utf8("{\"execute\": \"getfd\"}"), List.of(d));
        assertError("GenericError", "Parameter 'fdname' is missing", last());
        assertFalse(d.isOpen(), "a getfd failing validation closes its fd");
    }

    @Test
    void fdsOnOtherMessagesOrOnNoMessageAreClosed() {
        negotiate();
        OwnedFd a = fds.open();
        session.receive(utf8("{\"execute\": \"stop\"}"), List.of(a));
        assertTrue(last().has("return"), "the command itself still runs");
        assertFalse(a.isOpen(), "an fd that came with a command other than getfd is closed");
        OwnedFd b = fds.open();
        session.receive(utf8("  \r\n"), List.of(b));
        assertFalse(b.isOpen(), "fds that came with whitespace only are closed");
        OwnedFd c = fds.open();
        session.receive(utf8("{ \"execute\": }"), List.of(c));
        assertFalse(c.isOpen(), "fds of an unparsable message are closed");
        OwnedFd d = fds.open();
        session.receive(utf8("{\"execute\": \"qmp_capabilities\"}"), List.of(d));
        assertFalse(d.isOpen(), "fds of a refused command are closed");
    }

    @Test
    void fdsAttachToTheMessageThatBeginsInTheirChunk() {
        negotiate();
        session.receive(utf8("{\"execute\": \"stop\"}{\"execute\": \"get"), List.of());
        OwnedFd a = fds.open();
        // the kernel hands fds with the first byte of the sendmsg that carried them: here the
        // tail of getfd arrives with them, so they belong to the message in progress
        session.receive(utf8("fd\", \"arguments\": {\"fdname\": \"n1\"}}"), List.of(a));
        assertTrue(a.isOpen());
        assertEquals(java.util.Set.of("n1"), session.fdNames());
        OwnedFd b = fds.open();
        session.receive(utf8("{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"n2\"}}{\"execute\": \"getfd\", "), List.of(b));
        OwnedFd c = fds.open();
        session.receive(utf8("\"arguments\": {\"fdname\": \"n3\"}}"), List.of(c));
        assertEquals(java.util.Set.of("n1", "n2", "n3"), session.fdNames());
        assertTrue(b.isOpen() && c.isOpen());
    }

    @Test
    void aCommandWhoseFdsTheKernelDroppedFailsAndTheSessionGoesOn() {
        negotiate();
        String lost = "the kernel dropped them (MSG_CTRUNC)";
        session.receiveWithoutItsFds(utf8("{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"a\"}, \"id\": 1}"), lost);
        assertError("GenericError", "the file descriptors sent with 'getfd' did not arrive: " + lost + "; nothing was done",
                last());
        assertEquals(1, last().path("id").asInt(), "the failed command's id is echoed");
        assertTrue(session.fdNames().isEmpty(), "nothing was stored under the name");
        // the lost fds belong to the message in progress when the chunk continues one
        session.receive(utf8("{\"execute\": \"stop\"}{\"execute\": \"get"), List.of());
        session.receiveWithoutItsFds(utf8("fd\", \"arguments\": {\"fdname\": \"b\"}}{\"execute\": \"query-version\"}"), lost);
        assertError("GenericError", "the file descriptors sent with 'getfd' did not arrive: " + lost + "; nothing was done",
                out.get(out.size() - 2));
        assertTrue(last().has("return"), "the next message runs: " + last());
        // a command that takes no fds runs as if none had been sent (QEMU closes such fds)
        assertTrue(exec("{\"execute\": \"query-version\"}").has("return"));
        session.receiveWithoutItsFds(utf8("{\"execute\": \"query-version\"}"), lost);
        assertTrue(last().has("return"), "a command that takes no fds is not failed by lost fds: " + last());
        OwnedFd a = fds.open();
        session.receive(utf8("{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"c\"}}"), List.of(a));
        assertEquals(java.util.Set.of("c"), session.fdNames(), "fds that arrive later are taken as usual");
    }

    @Test
    void takeFdHandsOwnershipToTheVmLayer() {
        negotiate();
        OwnedFd a = fds.open();
        session.receive(utf8("{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"tapfd\"}}"), List.of(a));
        exec("{\"execute\": \"netdev_add\", \"arguments\": {\"type\": \"tap\", \"id\": \"n0\", \"fd\": \"tapfd\"}}");
        assertEquals(List.of(a), vm.takenFds, "netdev_add fd=NAME resolves the getfd name");
        assertTrue(session.fdNames().isEmpty(), "a taken fd leaves the session");
        session.close();
        assertTrue(a.isOpen(), "a taken fd is not closed by the session");
        assertError("GenericError", "File descriptor named 'nope' has not been found",
                errorOf(() -> session.takeFd("nope")));
    }

    @Test
    void sessionEndClosesEveryFdItHolds() {
        negotiate();
        int closesBefore = fds.closes.get();
        session.receive(utf8("{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"a\"}}"), List.of(fds.open()));
        session.receive(utf8("{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"b\"}}"), List.of(fds.open()));
        send("{\"execute\": \"x-slow\"}");
        session.receive(utf8("{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"queued\"}}"), List.of(fds.open()));
        session.receive(utf8("{\"execute\": \"getfd\", \"arguments\": {\"fd"), List.of(fds.open()));
        assertEquals(openAtStart + 4, OwnedFd.openCount());
        session.close();
        assertEquals(openAtStart, OwnedFd.openCount(), "stored, queued and half-received fds are all closed at session end");
        assertEquals(closesBefore + 4, fds.closes.get(), "each closed exactly once");
        int sent = out.size();
        slow.get(0).complete(QmpJson.object());
        assertEquals(sent, out.size(), "nothing is sent after the session closed");
        OwnedFd late = fds.open();
        session.receive(utf8("{}"), List.of(late));
        assertFalse(late.isOpen(), "fds arriving after close are closed");
    }

    @Test
    void quitAnswersFirstThenCallsBack() {
        int[] repliesWhenQuitRan = {-1};
        session.close();
        out.clear();
        session = newSession(QmpSession.Settings.defaults(CLOCK));
        QmpCommandRegistry r = new QmpCommandRegistry();
        QmpBuiltins.register(r, QmpVersion.DEFAULT);
        QmpBuiltins.registerQuit(r, () -> repliesWhenQuitRan[0] = out.size());
        session.close();
        out.clear();
        session = new QmpSession("qmp#quit", r, QmpSession.Settings.defaults(CLOCK), m -> out.add(QmpJson.parse(new String(m,
                StandardCharsets.US_ASCII))), Runnable::run);
        session.start();
        negotiate();
        send("{\"execute\": \"quit\", \"id\": \"q\"}");
        assertEquals("q", last().get("id").asText());
        assertEquals(3, repliesWhenQuitRan[0], "the quit callback runs after the reply was sent (greeting, caps, quit)");
    }

    @Test
    void outputIsAsciiEvenForNonAsciiInput() {
        negotiate();
        send("{\"execute\": \"x-echo\", \"arguments\": {\"name\": \"n\u00e9t\u2603\"}}");
        String text = new String(raw.get(raw.size() - 1), StandardCharsets.US_ASCII);
        assertTrue(text.contains("n\\u00E9t\\u2603") || text.contains("n\\u00e9t\\u2603"), text);
        assertEquals("n\u00e9t\u2603", last().path("return").path("name").asText());
    }

    static ByteBuffer utf8(String s) {
        return ByteBuffer.wrap(s.getBytes(StandardCharsets.UTF_8));
    }

    static JsonNode errorOf(Runnable r) {
        QmpException e = assertThrows(QmpException.class, r::run);
        ObjectNode reply = QmpJson.object();
        reply.putObject("error").put("class", e.errorClass().name()).put("desc", e.desc());
        return reply;
    }

    @Test
    void registryRefusesDuplicates() {
        assertThrows(IllegalStateException.class, () -> QmpBuiltins.register(registry, QmpVersion.DEFAULT));
        assertNull(registry.find("nope").orElse(null));
    }
}
