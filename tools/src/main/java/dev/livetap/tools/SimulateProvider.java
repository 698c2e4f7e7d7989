package dev.livetap.tools;

import dev.livetap.tools.SubcommandProvider;

/** Adds {@code simulate} to the {@code livetap} command line. */
public final class SimulateProvider implements SubcommandProvider {
    @Override
    public String name() {
        return "simulate";
    }

    @Override
    public Object command() {
        return new SimulateCommand();
    }
}
