package dev.livetap.testbed.bench;

/** Scratch: a second namespace class, to see OneClassPerConceptTest fail. */
final class Netns {
    static Process add(String name) throws java.io.IOException {
        return new ProcessBuilder("ip", "netns", "add", name).start();
    }
}
