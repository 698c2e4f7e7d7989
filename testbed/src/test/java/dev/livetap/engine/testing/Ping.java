package dev.livetap.engine.testing;

import dev.livetap.nativeio.testing.PrivateNetns;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A real iputils {@code ping} run inside a namespace in the background; its own transmitted/received counts. */
public final class Ping implements AutoCloseable {
    private static final Pattern SUMMARY = Pattern.compile("(\\d+) packets transmitted, (\\d+) received");
    private final Process process;
    private final Path out;

    public record Result(int transmitted, int received, String output) {
        public int lost() {
            return transmitted - received;
        }
    }

    private Ping(Process process, Path out) {
        this.process = process;
        this.out = out;
    }

    /** {@code ping -q -i INTERVAL -c COUNT -W 2 ADDRESS} inside {@code ns}. */
    public static Ping start(PrivateNetns ns, String address, String interval, int count) throws IOException {
        Path out = Files.createTempFile("livetap-ping", ".out");
        List<String> cmd = ns.wrap(List.of("ping", "-q", "-i", interval, "-c", String.valueOf(count), "-W", "2", address));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile()).start();
        return new Ping(p, out);
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    public Result await(Duration timeout) throws Exception {
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            process.destroyForcibly();
            throw new AssertionError("ping did not finish within " + timeout);
        }
        String text = Files.readString(out, StandardCharsets.UTF_8);
        Matcher m = SUMMARY.matcher(text);
        if (!m.find()) {
            throw new AssertionError("no ping summary in: " + text);
        }
        return new Result(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)), text.strip());
    }

    @Override
    public void close() throws IOException {
        if (process.isAlive()) {
            process.destroyForcibly();
        }
        Files.deleteIfExists(out);
    }
}
