package dev.livetap.tools;

import dev.livetap.tools.SubcommandProvider;

/** Adds {@code chaos} to the {@code livetap} command line. */
public final class ChaosProvider implements SubcommandProvider {
    @Override
    public String name() {
        return "chaos";
    }

    @Override
    public Object command() {
        return new ChaosCommand();
    }
}
