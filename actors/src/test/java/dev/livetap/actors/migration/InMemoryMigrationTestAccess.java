package dev.livetap.actors.migration;

/** Shared test constants for tests in other packages. */
public final class InMemoryMigrationTestAccess {
    public static final MigrationTimeouts TIMEOUTS = InMemoryMigrationTest.TIMEOUTS;

    private InMemoryMigrationTestAccess() {
    }
}
