package dev.livetap.simulation.chaos;

import dev.livetap.engine.cli.SubcommandProvider;

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
