package dev.livetap.engine.qmp;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import dev.livetap.nativeio.OwnedFd;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** A session holds at most {@code maxNamedFds} fds by getfd name; one more is refused and closed. */
@Timeout(value = 10, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class QmpNamedFdLimitTest {
    final TestFds fds = new TestFds();
    final List<JsonNode> out = new ArrayList<>();

    private JsonNode exec(QmpSession s, String json, List<OwnedFd> with) {
        out.clear();
        s.receive(ByteBuffer.wrap(json.getBytes(StandardCharsets.UTF_8)), with);
        assertEquals(1, out.size(), "one reply for " + json);
        return out.get(0);
    }

    private static String getfd(String name) {
        return "{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"" + name + "\"}}";
    }

    @Test
    void getfdBeyondTheLimitIsRefusedItsFdClosedAndReplacingOrClosingStillWorks() {
        assertEquals(512, QmpSession.Settings.DEFAULT_MAX_NAMED_FDS, "the documented default (docs/security.md)");
        int ownedAtStart = OwnedFd.openCount();
        QmpCommandRegistry registry = QmpBuiltins.register(new QmpCommandRegistry(), QmpVersion.DEFAULT);
        QmpSession s = new QmpSession("qmp#limit", registry,
                QmpSession.Settings.defaults(Clock.systemUTC()).withMaxNamedFds(3),
                m -> out.add(QmpJson.parse(new String(m, StandardCharsets.US_ASCII))), Runnable::run);
        s.start();
        exec(s, "{\"execute\": \"qmp_capabilities\"}", List.of());
        for (int i = 0; i < 3; i++) {
            assertEquals(QmpJson.object(), exec(s, getfd("f" + i), fds.open(1)).path("return"), "within the limit");
        }
        int closesBefore = fds.closes.get();
        JsonNode refused = exec(s, getfd("f3"), fds.open(2));
        assertEquals("GenericError", refused.path("error").path("class").asText(), refused.toString());
        assertEquals("Too many file descriptors held by this session (limit 3); closefd some first",
                refused.path("error").path("desc").asText());
        assertEquals(closesBefore + 2, fds.closes.get(), "both fds of the refused getfd are closed");
        assertEquals(List.of("f0", "f1", "f2"), s.fdNames().stream().sorted().toList(), "the held fds stay");
        assertEquals(QmpJson.object(), exec(s, getfd("f1"), fds.open(1)).path("return"),
                "replacing a held name is not a new fd: allowed at the limit");
        exec(s, "{\"execute\": \"closefd\", \"arguments\": {\"fdname\": \"f0\"}}", List.of());
        assertEquals(QmpJson.object(), exec(s, getfd("f3"), fds.open(1)).path("return"), "a freed slot can be used");
        s.close();
        assertEquals(ownedAtStart, OwnedFd.openCount(), "closing the session closes what it held");
    }
}
