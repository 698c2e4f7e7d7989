package dev.livetap.tools;

import dev.livetap.tools.SubcommandProvider;

/** Adds {@code bench} to the {@code livetap} command line. */
public final class BenchProvider implements SubcommandProvider {
    @Override
    public String name() {
        return "bench";
    }

    @Override
    public Object command() {
        return new BenchCommand();
    }
}
