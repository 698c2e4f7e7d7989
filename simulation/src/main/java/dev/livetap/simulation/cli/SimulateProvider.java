package dev.livetap.simulation.cli;

import dev.livetap.engine.cli.SubcommandProvider;

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
