package dev.livetap.simulation.report;

import dev.livetap.simulation.Simulator;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Placeholder replaced below. */
public final class HtmlReport {
    private HtmlReport() {
    }

    public static void write(Path dir, Simulator.Batch b, String json) {
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("report.json"), json + "\n");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
