package dev.livetap.testbed.testing;

import java.nio.file.Files;
import java.nio.file.Path;

/** Prints the process's network namespace; with argument {@code hold}, then sleeps (bounded) until killed. */
public final class NetnsReporterMain {
    private NetnsReporterMain() {
    }

    public static void main(String[] args) throws Exception {
        System.out.println("NETNS " + Files.readSymbolicLink(Path.of("/proc/self/ns/net")));
        System.out.flush();
        if (args.length > 0 && args[0].equals("hold")) {
            Thread.sleep(60_000);
        }
    }
}
