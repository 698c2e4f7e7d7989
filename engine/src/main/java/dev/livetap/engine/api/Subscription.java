package dev.livetap.engine.api;

/** An event subscription; closing it stops the deliveries. Idempotent. */
@FunctionalInterface
public interface Subscription extends AutoCloseable {
    @Override
    void close();
}
