package dev.livetap.actors;

/**
 * The answer to a state machine's {@code GetState} (the NIC's and the migration roles'): the name
 * of its current state as the diagrams in docs/architecture.md write it. Read-only: asking changes
 * nothing, so a test may ask before every delivery and compare what it sees with the diagram.
 */
public record StateName(String state) {
}
